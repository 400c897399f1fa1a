"""VM requests and their life cycle (issue 4): selectors land here."""

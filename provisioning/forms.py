"""VM requests and their life cycle (issue 4): forms land here."""

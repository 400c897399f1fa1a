"""VM requests and their life cycle (issue 4): models land here."""

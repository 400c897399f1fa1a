"""VM requests and their life cycle (issue 4): services land here."""

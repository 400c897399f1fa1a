"""VM requests and their life cycle (issue 4): tasks land here."""

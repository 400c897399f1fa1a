"""VM requests and their life cycle (issue 4): views land here."""

"""postgres: filled in by the scale-out work."""

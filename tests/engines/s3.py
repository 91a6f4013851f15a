"""s3: filled in by the scale-out work."""

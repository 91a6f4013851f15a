"""Several nodes (supervisor.py each) behind nginx, all on the same engines."""

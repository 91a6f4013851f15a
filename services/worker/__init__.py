"""The job worker: consumes the Redis streams of shared.jobs (thumbnails,
welcome messages). Entry point: `python -m services.worker`."""

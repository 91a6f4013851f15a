"""The engines a scale-out deployment runs on, started (or made) by the tests
themselves: a PostgreSQL database (postgres.py), an S3 endpoint (s3.py, moto's
server mode) and a Redis master with a replica and three sentinels
(sentinel.py). Each module has a context manager any test or benchmark can use
and the pytest fixtures built on it (registered in tests/conftest.py)."""

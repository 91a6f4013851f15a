"""The operator's command line: `python supervisor.py COMMAND` (users, queue,
check, fsck, migrate). One process kind, one composition root: main.py."""

"""The master's parts: children (fork, pipes), heartbeats, crash policy, start
checks, sd_notify, process titles. `master.Master` puts them together; the
entry point (`supervisor.py`) hands it what each kind of child runs, so nothing
here imports `services/`."""

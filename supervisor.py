"""python supervisor.py: run Files Manager (the master, its API and job workers).

Exit codes: 0 clean shutdown, 1 forced or fatal, 2 bad command line or config,
3 start-up failed (port in use, Redis or the database unreachable), 128+N the
master died of signal N. See the README's "Operating" section.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from typing import Any

from shared.config import ConfigError, Settings, load_settings

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_START = 0, 1, 2, 3
COMMANDS = ("users", "queue", "check", "fsck", "migrate")  # services/cli: the operator's commands

DESCRIPTION = """\
Run Files Manager: one master process that binds the port once and supervises
API worker processes (all serving that socket) and job worker processes.

Signals to the master: SIGINT/SIGTERM graceful shutdown (a second one forces it,
exit 1); SIGHUP rolling reload (re-reads the config, new workers before old ones
retire); SIGTTIN/SIGTTOU one API worker more/less; SIGUSR2 upgrade (a new master
from the code on disk takes the socket over, then this one exits 0).
Socket activation: started with LISTEN_FDS=1 (systemd's .socket unit), the
master serves the socket at fd 3 instead of binding server.host/port.
Exit codes: 0 clean, 1 forced or fatal, 2 bad command line or config,
3 start-up failed (port in use, Redis or the database unreachable), 128+N killed by signal N.
Every setting also has an environment variable (see config.toml); flags win over both.

Operator commands (each with --help and --json): python supervisor.py
users | queue | check | fsck | migrate ...   (`serve`, or no command: run the service)"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="supervisor.py", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="PATH",
                        help="TOML configuration file (default: config.toml beside this script)")
    parser.add_argument("--host", metavar="ADDR", help="address to listen on (HOST)")
    parser.add_argument("--port", type=int, metavar="N", help="port to listen on (PORT)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="API worker processes; 0 = one per CPU (API_WORKERS)")
    parser.add_argument("--job-workers", type=int, metavar="N",
                        help="job worker processes; 0 = none (JOB_WORKERS)")
    parser.add_argument("--graceful-timeout", type=float, metavar="SECONDS",
                        help="seconds children get to stop before SIGKILL (GRACEFUL_TIMEOUT)")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                        help="LOG_LEVEL")
    parser.add_argument("--log-format", choices=("auto", "json", "console"), help="LOG_FORMAT")
    return parser.parse_args(argv)


def overrides_of(args: argparse.Namespace) -> dict[str, Any]:
    pairs = {
        "server.host": args.host, "server.port": args.port, "server.workers": args.workers,
        "worker.processes": args.job_workers,
        "supervisor.graceful_timeout": args.graceful_timeout,
        "log.level": args.log_level, "log.format": args.log_format,
    }
    return {key: value for key, value in pairs.items() if value is not None}


def bind(settings: Settings) -> socket.socket:
    """The one listening socket, bound before any child exists (no SO_REUSEPORT)."""
    host = settings.server.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, settings.server.port))
    sock.listen(2048)
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


def fail(code: int, message: str) -> int:
    print(f"supervisor.py: {message}", file=sys.stderr, flush=True)
    return code


def one_write_per_line() -> None:
    """Master and children share stdout: each log line must reach it in one
    write(2) (atomic on a pipe up to 4 KiB), even under PYTHONUNBUFFERED=1,
    where print() would write the line and its newline separately."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True, write_through=False)


def main(argv: list[str] | None = None) -> int:
    one_write_per_line()
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "serve":
        argv = argv[1:]
    elif argv and argv[0] in COMMANDS:
        from services.cli.main import run as run_command

        return run_command(argv)
    args = parse_args(argv)  # exits 2 on a bad command line (argparse's convention)
    overrides = overrides_of(args)

    def load() -> Settings:
        return load_settings(args.config, overrides=overrides)

    try:
        settings = load()
    except ConfigError as exc:
        return fail(EXIT_USAGE, f"configuration error: {exc}")

    from shared.logging import configure_logging, get_logger

    configure_logging(settings.log, role="master")
    log = get_logger("supervisor")

    from shared.metrics.directory import prepare_directory

    # Before anything imports prometheus_client (it picks its storage then) and before any child exists.
    metrics_dir = prepare_directory(settings.metrics)

    from shared.supervision.activation import ActivationError, address_of, passed_socket
    from shared.supervision.upgrade import upgrading_from

    configured = f"{settings.server.host}:{settings.server.port}"
    try:
        sock = passed_socket()
    except ActivationError as exc:
        log.error("master.activation_failed", error=str(exc))
        return fail(EXIT_START, f"socket activation: {exc}")
    if sock is None:
        try:
            sock = bind(settings)
        except OSError as exc:
            log.error("master.bind_failed", address=configured, error=exc.strerror)
            return fail(EXIT_START, f"cannot listen on {configured}: {exc.strerror}")
        log.info("master.socket", source="bound", address=address_of(sock))
    else:
        # The passed socket wins over server.host/port (systemd's ListenStream=,
        # or the old master's on an upgrade): `configured` shows what they asked.
        old = upgrading_from()
        log.info("master.socket", source="systemd" if old is None else "upgrade",
                 address=address_of(sock), configured=configured, **({"old_pid": old} if old else {}))

    from shared.metrics.server import MetricsServer, bind_metrics

    try:
        metrics_sock = bind_metrics(settings.metrics)
    except OSError as exc:
        where = f"{settings.metrics.host}:{settings.metrics.port}"
        log.error("master.bind_failed", address=where, error=exc.strerror, what="metrics.port")
        return fail(EXIT_START, f"cannot listen on {where} (metrics.port): {exc.strerror}")

    from shared.supervision.checks import StartCheckFailed, check_dependencies, warn_about_durability

    async def start_checks() -> None:
        await check_dependencies(settings)
        await warn_about_durability(settings)

    try:
        # Its own short-lived loop: gone (threads joined) before any fork.
        asyncio.run(start_checks())
    except StartCheckFailed as exc:
        log.error("master.start_failed", error=str(exc))
        return fail(EXIT_START, str(exc))

    # Imported here, in the master, so that forked children start with them loaded.
    from services.api.serve import run_api_worker
    from services.worker.child import run_job_worker
    from shared.supervision.master import Kind, Master, api_count, job_count

    master = Master(
        settings,
        [Kind("api", run_api_worker, api_count), Kind("job", run_job_worker, job_count)],
        sock,
        reload_settings=load,
    )
    if metrics_sock is not None and metrics_dir is not None:
        MetricsServer(metrics_sock, metrics_dir, settings).serve_with(master.grace)
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        code = runner.run(master.run())
    sock.close()
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before the master's own handlers (during the start checks)
        sys.exit(128 + 2)

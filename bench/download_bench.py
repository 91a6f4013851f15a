"""Large downloads: server CPU seconds per GiB sent for a 40 MB file (wrk -c4),
ours (ZeroCopyFileResponse on uvloop) against aiohttp's FileResponse on uvloop
and on the plain asyncio loop, and nginx (sendfile on) when it can be installed.

    .venv/bin/python bench/download_bench.py [--seconds 8]

Bar (performance.md): at most 1.5x nginx's CPU per GiB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, cpu_seconds, ensure_tool, free_port, nothing_left_behind, python_server, stop, wait_http

SIZE = 40 * 1024 * 1024


def run_wrk(url: str, seconds: int, pids: list[int]) -> dict[str, float]:
    binary = ensure_tool("wrk", "wrk")
    before = cpu_seconds(pids)
    out = subprocess.run([binary, "-t2", "-c4", f"-d{seconds}s", url], capture_output=True, text=True,
                         check=True).stdout
    cpu = cpu_seconds(pids) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    gib = requests * SIZE / 2**30
    return {"requests": requests, "GiB": gib, "GiB/s": gib / seconds, "cpu_s_per_GiB": cpu / gib if gib else 0}


@contextlib.contextmanager
def serve_file(kind: str, path: str):
    """One download server of `kind` (bench/download_servers.py); yields (file URL, pids)."""
    with python_server("download_servers.py", [kind, path], "/f") as (base, pids):
        yield base + "/f", pids


@contextlib.contextmanager
def nginx_server(folder: str):
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        with contextlib.suppress(Exception):
            ensure_tool("nginx", "nginx-light")
    if not os.path.exists(binary):
        yield None, []
        return
    port = free_port()
    conf = Path(folder) / "nginx.conf"
    conf.write_text(f"""
worker_processes 1; daemon off; pid {folder}/nginx.pid; error_log {folder}/error.log;
events {{ worker_connections 256; }}
http {{ access_log off; sendfile on; tcp_nopush on; client_body_temp_path {folder};
  proxy_temp_path {folder}; fastcgi_temp_path {folder}; uwsgi_temp_path {folder}; scgi_temp_path {folder};
  server {{ listen 127.0.0.1:{port}; location /f {{ alias {folder}/big.bin; default_type application/octet-stream; }} }} }}
""")
    proc = subprocess.Popen([binary, "-c", str(conf), "-p", folder], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/f")
        time.sleep(0.2)
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        yield f"http://127.0.0.1:{port}/f", [proc.pid, *map(int, children)]
    finally:
        stop(proc, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="download-bench-") as folder:
        os.chmod(folder, 0o755)
        path = os.path.join(folder, "big.bin")
        with open(path, "wb") as fh:
            fh.write(os.urandom(SIZE))
        os.chmod(path, 0o644)
        with nginx_server(folder) as (url, pids):
            if url:
                results["nginx (sendfile)"] = run_wrk(url, args.seconds, pids)
        for kind, label in (("ours-uvloop", "ours: zero-copy on uvloop"),
                            ("aiohttp-uvloop", "aiohttp FileResponse, uvloop"),
                            ("aiohttp-asyncio", "aiohttp FileResponse, asyncio")):
            with serve_file(kind, path) as (url, pids):
                results[label] = run_wrk(url, args.seconds, pids)
    peer = results.get("nginx (sendfile)") or results["aiohttp FileResponse, asyncio"]
    peer_name = "nginx" if "nginx (sendfile)" in results else "aiohttp on asyncio"
    print(f"{'server':32} {'GiB/s':>7} {'CPU s/GiB':>10} {'vs ' + peer_name:>14}")
    for name, r in results.items():
        print(f"{name:32} {r['GiB/s']:7.2f} {r['cpu_s_per_GiB']:10.3f} {r['cpu_s_per_GiB'] / peer['cpu_s_per_GiB']:14.2f}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "download_bench.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    with nothing_left_behind():
        main()

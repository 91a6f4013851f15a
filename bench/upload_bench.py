"""Streamed uploads: server CPU per GiB and RSS growth for one large upload.

    .venv/bin/python bench/upload_bench.py [--gib 2] [--rounds 2] [--modes multipart,tus] [--v1-uploads 8]

One upload of `--gib` GiB of random bytes (a 64 MiB block repeated) at a
time, sent by curl (pinned to CPU 0) to a server pinned to CPU 1, each case
in the same run, in alternating order round by round:

- **ours, multipart**: `POST /v2/files` of our service (`python supervisor.py`,
  one API worker, no job worker, its own redis-server), curl `-F file=@...`;
- **ours, tus**: the same bytes through `/v2/uploads` in 16 MiB PATCHes
  (bench/tus_client.py, which comes with the tus work: skipped with a note
  without it);
- **bare aiohttp -> file**: `bench/upload_peer.py`, a handler on uvloop writing
  `request.content` to a file as it arrives and fsyncing it (the Python
  ceiling); it gets the very same multipart body, unparsed;
- **nginx -> file**: Debian's nginx-light (scripts/bootstrap --bench installs
  it), one worker, `client_body_in_file_only on` and a 201 (the machine's
  ceiling). `return 201` alone makes nginx discard the body without writing
  it (checked: no file), so the location proxies, without the body, to a
  `return 201` of its own, which makes nginx read the whole body into its file
  first; the file's size is checked after each upload;
- **ours, v1 base64 JSON** (reference): `--v1-uploads` uploads of a 50 MiB
  file (66.7 MiB of JSON, under server.max_body_size), per GiB of content.

Server CPU is user+system time of the server's processes (for ours, the API
worker: the master and Redis do nothing per byte). RSS growth is the highest
VmRSS sampled every 10 ms during the upload minus VmRSS just before it.
Every upload must be answered 201 with every byte stored (size, and for ours
the SHA-256, checked). Bars (performance.md): a streamed upload at most 1.5x
the bare handler's CPU per GiB; an API worker's RSS up by under 50 MB; tus in
16 MiB chunks at most 1.3x the one-shot upload per GiB.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PYTHON,
    ROOT,
    cpu_seconds,
    ensure_tool,
    free_port,
    nothing_left_behind,
    pinned,
    python_server,
    redis_server,
    stop,
    wait_http,
)
from bench.upload_memory import RssSampler, children, sign_up, status_kib

MIB = 1024 * 1024
GIB = 1024 * MIB
BLOCK = 64 * MIB
TUS_CHUNK = 16 * MIB
V1_FILE = 50 * MIB
CLIENT_CPU, SERVER_CPU = 0, 1


# The tus case: bench/tus_client.py's tus_upload(base_url, token, path, chunk_size) -> the new
# file's v2 document, uploading `path` through /v2/uploads in PATCHes of `chunk_size` bytes (curl,
# pinned as the other clients). It comes with the tus work; without it the case is skipped, saying so.
try:
    from bench.tus_client import tus_upload
    TUS_READY = True
except ImportError:
    TUS_READY = False


# --- inputs -------------------------------------------------------------------

def make_source(folder: Path, size: int) -> tuple[Path, str]:
    """`size` bytes of a random block repeated (hashing cares, compression is not involved); (path, sha256)."""
    path = folder / "big.bin"
    block = os.urandom(BLOCK)
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        left = size
        while left:
            piece = block[:min(left, BLOCK)]
            fh.write(piece)
            digest.update(piece)
            left -= len(piece)
    return path, digest.hexdigest()


def make_v1_body(folder: Path) -> Path:
    path = folder / "v1.json"
    path.write_bytes(json.dumps({"name": "v1.bin", "type": "file",
                                 "data": base64.b64encode(os.urandom(V1_FILE)).decode()}).encode())
    return path


# --- clients (curl, pinned away from the servers) -----------------------------

def curl(args: list[str]) -> tuple[int, bytes]:
    with tempfile.NamedTemporaryFile() as out:
        done = subprocess.run([*pinned(CLIENT_CPU), ensure_tool("curl", "curl"), "-sS", "-o", out.name,
                               "-w", "%{http_code}", "-H", "Expect:", *args], capture_output=True, check=True)
        return int(done.stdout), Path(out.name).read_bytes()


def post_form(url: str, path: Path, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    head = [x for name, value in (headers or {}).items() for x in ("-H", f"{name}: {value}")]
    return curl([*head, "-F", f"file=@{path};filename={path.name}", url])


# --- servers ------------------------------------------------------------------

@contextlib.contextmanager
def our_service(redis_url: str, folder: Path) -> Iterator[tuple[str, int]]:
    """`python supervisor.py` with one API worker, pinned; yields (URL, the API worker's pid)."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "FOLDER_PATH": str(folder / "files"),
           "DB_URL": f"sqlite:///{folder / 'db.sqlite3'}", "REDIS_URL": redis_url,
           "API_WORKERS": "1", "JOB_WORKERS": "0", "LOG_FORMAT": "json", "LOG_LEVEL": "warning",
           "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "64"}
    proc = subprocess.Popen([*pinned(SERVER_CPU), PYTHON, str(ROOT / "supervisor.py")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/status", timeout=30)
        (worker,) = children(proc.pid)
        yield url, worker
    finally:
        stop(proc, 60)


@contextlib.contextmanager
def nginx_to_file(folder: Path) -> Iterator[tuple[str, list[int], Path] | None]:
    """nginx keeping each request body in a file of `folder`/body; None when it cannot be installed."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        with contextlib.suppress(Exception):
            ensure_tool("nginx", "nginx-light")
    if not os.path.exists(binary):
        yield None
        return
    bodies = folder / "body"  # nginx makes it its workers' (nobody) at start
    for up in (folder, folder.parent):
        os.chmod(up, 0o755)  # its workers reach it
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(f"""
worker_processes 1; daemon off; pid {folder}/nginx.pid; error_log {folder}/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; client_max_body_size 0; client_body_temp_path {bodies};
  proxy_temp_path {folder}; fastcgi_temp_path {folder}; uwsgi_temp_path {folder}; scgi_temp_path {folder};
  server {{ listen 127.0.0.1:{port};
    location = /upload {{ client_body_in_file_only on; proxy_pass http://127.0.0.1:{port}/created;
                          proxy_pass_request_body off; proxy_set_header Content-Length ""; }}
    location = /created {{ return 201; }}
    location = /status {{ return 200; }} }} }}
""")
    proc = subprocess.Popen([*pinned(SERVER_CPU), binary, "-c", str(conf), "-p", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/status")
        workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                  text=True).stdout.split()]
        yield f"http://127.0.0.1:{port}/upload", [proc.pid, *workers], bodies
    finally:
        stop(proc, 10)


# --- measuring ------------------------------------------------------------------

def measure(pids: list[int], rss_pid: int, content_bytes: int, send: Callable[[], None]) -> dict:
    os.sync()  # the previous case's writeback is not this one's
    before = status_kib(rss_pid, "VmRSS")
    sampler = RssSampler([rss_pid])
    sampler.start()
    cpu_before = cpu_seconds(pids)
    started = time.monotonic()
    try:
        send()
    finally:
        wall = time.monotonic() - started
        cpu = cpu_seconds(pids) - cpu_before
        sampler.done.set()
        sampler.join()
    gib = content_bytes / GIB
    return {"cpu_s_per_gib": round(cpu / gib, 3), "rss_growth_mib": round((sampler.peak[rss_pid] - before) / 1024, 1),
            "rss_before_mib": round(before / 1024, 1), "gib_per_s": round(gib / wall, 3), "wall_s": round(wall, 2)}


def remove_blobs(folder: Path) -> None:
    """The uploaded blobs, between uploads; not the tus parts' folder (empty once an upload is done)."""
    for blob in folder.iterdir():
        if blob.is_file():
            blob.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default="multipart,tus", help="our streamed cases: multipart, tus")
    parser.add_argument("--v1-uploads", type=int, default=8, help="50 MiB v1 uploads per round (0: none)")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this (e.g. ours)")
    args = parser.parse_args()
    size = int(args.gib * GIB)
    modes = args.modes.split(",")
    results: dict[str, list[dict]] = {}
    notes: list[str] = []

    with tempfile.TemporaryDirectory(prefix="upload-bench-") as tmp, redis_server(cpu=CLIENT_CPU) as redis_url:
        folder = Path(tmp)
        source, digest = make_source(folder, size)
        v1_body = make_v1_body(folder) if args.v1_uploads else None
        peer_folder = folder / "peer"
        peer_folder.mkdir()
        (folder / "ours").mkdir()
        (folder / "nginx").mkdir()
        with our_service(redis_url, folder / "ours") as (url, worker), \
                python_server("upload_peer.py", [str(peer_folder)], "/status", cpu=SERVER_CPU) as (peer, peer_pids), \
                nginx_to_file(folder / "nginx") as nginx:
            token = sign_up(url)
            blobs = folder / "ours" / "files"

            def ours_multipart() -> None:
                status, body = post_form(url + "/v2/files", source, {"X-Token": token})
                assert status == 201, body[:300]
                (doc,) = json.loads(body)["items"]
                assert (doc["size"], doc["sha256"]) == (size, digest), doc
                remove_blobs(blobs)

            def ours_tus() -> None:
                doc = tus_upload(url, token, source, TUS_CHUNK)
                assert (doc["size"], doc["sha256"]) == (size, digest), doc
                remove_blobs(blobs)

            def bare() -> None:
                status, body = post_form(peer + "/stream", source)
                assert status == 201 and json.loads(body)["received"] > size, body
                for written in peer_folder.iterdir():
                    written.unlink()

            def nginx_case() -> None:
                assert nginx is not None
                status, body = post_form(nginx[0], source)
                assert status == 201, body
                (written,) = nginx[2].iterdir()
                assert written.stat().st_size > size
                written.unlink()

            def v1() -> None:
                assert v1_body is not None
                for _ in range(args.v1_uploads):
                    status, body = curl(["-X", "POST", "-T", str(v1_body), "-H", "Content-Type: application/json",
                                         "-H", f"X-Token: {token}", url + "/files"])
                    assert status == 201, body
                remove_blobs(blobs)

            cases: list[tuple[str, list[int], int, int, Callable[[], None]]] = []
            if "multipart" in modes:
                cases.append(("ours, multipart", [worker], worker, size, ours_multipart))
            if "tus" in modes and TUS_READY:
                cases.append((f"ours, tus ({TUS_CHUNK // MIB} MiB chunks)", [worker], worker, size, ours_tus))
            elif "tus" in modes:
                notes.append("tus skipped: no bench/tus_client.py in this checkout (the tus work brings it)")
            cases.append(("bare aiohttp -> file", peer_pids, peer_pids[0], size, bare))
            if nginx is not None:
                cases.append(("nginx -> file", nginx[1], nginx[1][-1], size, nginx_case))
            else:
                notes.append("nginx skipped: it could not be installed (apt-get install nginx-light)")
            if v1_body is not None:
                cases.append(("ours, v1 base64 JSON (reference)", [worker], worker, V1_FILE * args.v1_uploads, v1))

            cases = [case for case in cases if args.only in case[0]]
            print(f"one upload of {size / GIB:.2f} GiB per case, {args.rounds} rounds")
            for round_no in range(args.rounds):
                for name, pids, rss_pid, content, send in cases if round_no % 2 == 0 else cases[::-1]:
                    result = measure(pids, rss_pid, content, send)
                    results.setdefault(name, []).append(result)
                    print(f"  round {round_no + 1} {name:34} {result}")

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    bare_cpu = median("bare aiohttp -> file", "cpu_s_per_gib") if "bare aiohttp -> file" in results else 1.0
    print(f"\n{'case':38} {'CPU s/GiB':>10} {'vs bare':>8} {'RSS growth MiB':>15} {'GiB/s':>7}")
    for name in results:
        print(f"{name:38} {median(name, 'cpu_s_per_gib'):10.3f} {median(name, 'cpu_s_per_gib') / bare_cpu:8.2f} "
              f"{max(r['rss_growth_mib'] for r in results[name]):15.1f} {median(name, 'gib_per_s'):7.2f}")
    tus = next((name for name in results if name.startswith("ours, tus")), None)
    if tus and "ours, multipart" in results:
        print(f"tus vs the one-shot multipart upload, CPU per GiB: "
              f"{median(tus, 'cpu_s_per_gib') / median('ours, multipart', 'cpu_s_per_gib'):.2f}")
    for note in notes:
        print(f"note: {note}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"upload_bench-{int(time.time())}.json").write_text(json.dumps(
        {"args": vars(args), "results": results, "notes": notes}, indent=2))


if __name__ == "__main__":
    with nothing_left_behind():
        main()

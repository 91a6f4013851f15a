"""Web UI paint benchmark: first contentful paint, DOMContentLoaded and the
moment the app has drawn its first view, for `/` on loopback in headless
Debian chromium (Playwright), cold and warm, against the same page as a
static file in the same run.

    .venv/bin/python bench/ui_paint_bench.py [--runs 30] [--latency 0]

(`--latency MS`: chromium's network emulation holds every answer MS longer,
to see the page over a real network: the module graph's requests then count.)

Cases, each a server process pinned to CPU 1 (Redis on CPU 0; chromium, whose
renderer, browser and network processes are the work measured, on either):

- **ours**: the whole app as an API worker serves it (bench/ui_servers.py
  `ours`: create_app, its runner options and listener; SQLite and a private
  redis-server), web/ as it is;
- **static peer**: the page as the app has drawn it (the DOM of `/` once the
  login view is there, its scripts and preloads taken out), its style sheets
  and icon, served by nginx-light (scripts/bootstrap --bench installs it;
  a bare aiohttp static handler when nginx cannot be had). Its first paint
  is the app's finished first view, with no script to run;
- **app by nginx**: our page byte for byte and web/ under /ui/<version>/, by
  the same nginx (gzip, the page no-cache, the rest immutable; no CSP): the
  same module graph from a server that costs next to nothing, which splits
  what our server adds from what the browser spends on the graph.

A run of a case: a new browser context (no cache, no connections) opens `/`
(cold), then reloads it (warm: the page revalidated, 304 for ours, the
immutable assets from the cache). The figures come from the browser's own
clock, from navigation start: `first-contentful-paint`, the navigation
entry's `domContentLoadedEventEnd`, and "view": when `#main` first holds an h1
(a MutationObserver added before the page's scripts run), which is when the
app is usable (the static peer has its h1 from the start). Each run takes the
cases in turn, in reverse order every other run; a figure is the median over
the runs, a ratio the median of the per-run ratios.

Bar (../shared/spec/web-ui.md): first paint on loopback within 300 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    ensure_tool,
    free_port,
    nothing_left_behind,
    pinned,
    python_server,
    redis_server,
    stop,
    wait_http,
)

SERVER_CPU, CLIENT_CPU = 1, 0
WEB = ROOT / "web"
VIEWPORT = {"width": 1280, "height": 800}
FIGURES = ("fcp", "dcl", "view")
# Before the page's scripts: when #main first holds an h1 (the app's view drawn), on the page's clock.
VIEW_PROBE = """
(() => {
  const seen = () => document.querySelector('#main h1');
  const mark = () => { if (window.__view === undefined && seen()) window.__view = performance.now(); };
  new MutationObserver(mark).observe(document, {childList: true, subtree: true});
  document.addEventListener('DOMContentLoaded', mark);
})();
"""
# The figures of the navigation that made this document, once its first paint is in.
READ_FIGURES = """
async () => {
  const fcp = () => performance.getEntriesByName('first-contentful-paint')[0];
  if (!fcp()) await new Promise((done) => new PerformanceObserver((_, observer) => {
    if (fcp()) { observer.disconnect(); done(); }
  }).observe({type: 'paint', buffered: true}));
  if (window.__view === undefined) await new Promise((done) => new MutationObserver(() => {
    if (document.querySelector('#main h1')) { window.__view = performance.now(); done(); }
  }).observe(document, {childList: true, subtree: true}));
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  return {fcp: fcp().startTime, dcl: nav.domContentLoadedEventEnd, view: window.__view,
          requests: 1 + resources.filter((r) => r.transferSize > 0).length,
          transferred: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0)};
}
"""


def own_code_sizes() -> dict[str, dict[str, int]]:
    """The app's own files (web/ but web/vendor/) by kind: bytes, and gzipped as served (level 9, each file)."""
    sizes: dict[str, dict[str, int]] = {}
    for path in sorted(p for p in WEB.rglob("*") if p.is_file() and (WEB / "vendor") not in p.parents):
        kind = {".js": "JS", ".css": "CSS"}.get(path.suffix, "page and icon")
        body = path.read_bytes()
        entry = sizes.setdefault(kind, {"files": 0, "bytes": 0, "gzipped": 0})
        entry["files"] += 1
        entry["bytes"] += len(body)
        entry["gzipped"] += len(gzip.compress(body, 9, mtime=0))
    sizes["JS + CSS"] = {key: sizes["JS"][key] + sizes["CSS"][key] for key in ("files", "bytes", "gzipped")}
    return sizes


def static_copy(folder: Path, dom: str, page: bytes, version: str) -> Path:
    """A folder for the peers: at / the drawn page as a static file (no script, no preload, assets at
    /css/ and /icon.svg) and its files; at /app/ our page as we send it, and web/ at /ui/<version>/."""
    peer = folder / "static"
    for name in ("css", "icon.svg"):
        source = WEB / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, peer / name)
    dom = re.sub(r"<script\b[^>]*>.*?</script>\s*", "", dom, flags=re.S)
    dom = re.sub(r'<link rel="modulepreload"[^>]*>\s*', "", dom)
    (peer / "index.html").write_text("<!DOCTYPE html>\n" + dom.replace(f"/ui/{version}/", "/"))
    (peer / "app").mkdir()
    (peer / "app" / "index.html").write_bytes(page)
    shutil.copytree(WEB, peer / "ui" / version)
    return peer


@contextlib.contextmanager
def nginx_static(folder: Path) -> Iterator[tuple[str, str] | None]:
    """nginx-light serving `folder` as ours serves the app (page no-cache, the rest immutable, gzip);
    None when it cannot be installed."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        with contextlib.suppress(Exception):
            ensure_tool("nginx", "nginx-light")
    if not os.path.exists(binary):
        yield None
        return
    for up in (folder, *folder.parents[:2]):
        os.chmod(up, 0o755)  # its workers (nobody) read the files
    port, work = free_port(), folder.parent / "nginx"
    work.mkdir()
    conf = work / "nginx.conf"
    conf.write_text(f"""
worker_processes 1; daemon off; pid {work}/nginx.pid; error_log {work}/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
  uwsgi_temp_path {work}; scgi_temp_path {work};
  types {{ text/html html; text/css css; image/svg+xml svg; text/javascript js; }}
  gzip on; gzip_comp_level 9; gzip_min_length 512; gzip_vary on; gzip_types text/css image/svg+xml text/javascript;
  server {{ listen 127.0.0.1:{port}; root {folder}; index index.html;
    location ~ \\.html$ {{ add_header Cache-Control no-cache; }}
    location / {{ add_header Cache-Control "public, max-age=31536000, immutable"; }} }} }}
""")
    proc = subprocess.Popen([*pinned(SERVER_CPU), binary, "-c", str(conf), "-p", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/")
        yield base, "nginx-light " + subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
    finally:
        stop(proc, 10)


def one_run(browser, url: str, latency_ms: float) -> dict[str, dict]:
    """A fresh context: `url` cold, then reloaded (warm); each request `latency_ms` late (chromium's emulation)."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(VIEW_PROBE)
        page = context.new_page()
        if latency_ms:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": latency_ms,
                                                           "downloadThroughput": -1, "uploadThroughput": -1})
        page.goto(url)
        cold = page.evaluate(READ_FIGURES)
        page.reload()
        warm = page.evaluate(READ_FIGURES)
        return {"cold": cold, "warm": warm}
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="ms added to every request by chromium's network emulation (0: loopback as it is)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.ui.chromium import launch_chromium

    with tempfile.TemporaryDirectory(prefix="ui-paint-bench-") as tmp_name, \
            redis_server(cpu=CLIENT_CPU) as redis_url, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        env = {**os.environ, "REDIS_URL": redis_url, "DB_URL": f"sqlite:///{tmp}/bench.sqlite3",
               "FOLDER_PATH": f"{tmp}/files", "LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)}
        ours = stack.enter_context(python_server("ui_servers.py", ["ours", str(WEB)], "/", env=env,
                                                 cpu=SERVER_CPU))[0]
        playwright = stack.enter_context(sync_playwright())
        browser = launch_chromium(playwright)
        stack.callback(browser.close)

        # The peers: the page as the app draws it, made static; the app's own files as they are.
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.goto(ours + "/")
        page.locator("#main h1").wait_for()
        dom = page.evaluate("() => document.documentElement.outerHTML")
        version = re.search(r"/ui/([0-9a-f]{16})/", dom)
        assert version, "the page names no asset version"
        context.close()
        peer = static_copy(tmp, dom, open_bytes(ours + "/"), version.group(1))
        nginx = stack.enter_context(nginx_static(peer))
        if nginx is None:
            static = stack.enter_context(python_server("ui_servers.py", ["static", str(peer)], "/",
                                                       cpu=SERVER_CPU))[0]
            peer_server = "a bare aiohttp static handler (nginx could not be installed)"
        else:
            static, peer_server = nginx
        servers = {"ours": ours + "/", "static peer": static + "/", "app by nginx": static + "/app/"}
        page_sizes = {name: len(open_bytes(url)) for name, url in servers.items()}

        for url in servers.values():  # warm-up: the servers' first answers, chromium's first processes
            one_run(browser, url, args.latency)
        runs: list[dict[str, dict]] = []
        started = time.monotonic()
        for number in range(args.runs):
            order = list(servers) if number % 2 == 0 else list(servers)[::-1]
            runs.append({name: one_run(browser, servers[name], args.latency) for name in order})
        elapsed = time.monotonic() - started
        chromium = browser.version

    report(runs, page_sizes, peer_server, chromium, elapsed, args.latency)


def open_bytes(url: str) -> bytes:
    """The body as sent with no Accept-Encoding."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read()


def report(runs: list[dict[str, dict]], page_sizes: dict[str, int], peer_server: str, chromium: str,
           elapsed: float, latency_ms: float) -> None:
    def values(case: str, state: str, figure: str) -> list[float]:
        return sorted(run[case][state][figure] for run in runs)

    def spread(case: str, state: str, figure: str) -> str:
        """median (10th-90th percentile)"""
        got = values(case, state, figure)
        return (f"{statistics.median(got):6.0f} ({got[len(got) // 10]:4.0f}-"
                f"{got[min(len(got) - 1, len(got) * 9 // 10)]:4.0f})")

    sizes = own_code_sizes()
    print(f"\n{len(runs)} runs in {elapsed:.0f} s; chromium {chromium}; peer: {peer_server}; "
          f"added latency {latency_ms:g} ms; load average {os.getloadavg()[0]:.1f}")
    print("The app's own code (web/ but web/vendor/), bytes / gzipped -9 per file:")
    for kind, entry in sizes.items():
        print(f"  {kind:14} {entry['files']:3} files {entry['bytes']:8,} / {entry['gzipped']:7,}")
    print(f"\nms from navigation start, median (10th-90th percentile)\n{'case':12} {'state':5} {'FCP':>17}"
          f" {'DOMContentLoaded':>17} {'view':>17} {'requests':>9} {'bytes':>8}   page bytes")
    for case in runs[0]:
        for state in ("cold", "warm"):
            last = runs[-1][case][state]
            print(f"{case:12} {state:5} {spread(case, state, 'fcp')} {spread(case, state, 'dcl')}"
                  f" {spread(case, state, 'view')} {last['requests']:9} {last['transferred']:8,}"
                  f"   {page_sizes[case]:,}")
    ratios: dict[str, float] = {}
    print("\nRatios, medians of the per-run ratios:")
    print(f"  {'':30}" + "".join(f"{state + ' ' + figure:>11}" for state in ("cold", "warm") for figure in FIGURES))
    for case, other in (("ours", "static peer"), ("ours", "app by nginx"), ("app by nginx", "static peer")):
        line = f"  {case + ' / ' + other:30}"
        for state in ("cold", "warm"):
            for figure in FIGURES:
                key = f"{case} / {other}, {state} {figure}"
                ratios[key] = statistics.median(run[case][state][figure] / run[other][state][figure] for run in runs)
                line += f"{ratios[key]:11.2f}"
        print(line)
    if not latency_ms:
        worst = max(statistics.median(values("ours", state, "fcp")) for state in ("cold", "warm"))
        print(f"\nBar: first paint within 300 ms on loopback: {'met' if worst <= 300 else 'MISSED'} "
              f"(ours, worst median {worst:.0f} ms)")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"ui_paint_bench{f'-{latency_ms:g}ms' if latency_ms else ''}.json").write_text(json.dumps({
        "runs": runs, "ratios": ratios, "sizes": sizes, "page_sizes": page_sizes, "peer": peer_server,
        "chromium": chromium, "latency_ms": latency_ms}, indent=2))


if __name__ == "__main__":
    with nothing_left_behind():
        main()

"""Web UI scroll benchmark: a folder of 10,000 files in the app's virtualised list
against the same 10,000 rows as a plain, static HTML table, scrolled top to
bottom in the same headless Chromium, in the same run.

    .venv/bin/python bench/ui_scroll_bench.py [--files 10000] [--step 480] [--rounds 2]

Needs the test extras (Playwright) and Debian's chromium, as tests/ui does.

The service is `python supervisor.py` (one API worker, no job worker) on a
private redis-server; the files go in over the API (multipart, 250 to a
request). Each case opens a fresh page at 1280x800 and scrolls the window from
the top to the bottom by `--step` pixels per animation frame (480 px is ten
48 px rows a frame, a fast fling), twice:

- **ours**: `#/files/<folder>`; the first pass loads the folder page by page
  (200 items a page, fetched as the end comes near, so some frames wait on the
  network at the end of what is loaded), the second scrolls back over what is
  loaded;
- **peer**: a static `<table>` of the same 10,000 rows (name, size, date, a
  48 px row height like ours), all in the DOM from the start: the obvious
  non-virtual page.

Recorded in the page: the time between consecutive requestAnimationFrame
callbacks (a frame's budget is 16.7 ms at 60 Hz; a delta of 33 ms is a
dropped frame) and long tasks (>50 ms, PerformanceObserver 'longtask'). Also:
the time from navigation to the first row painted, and the number of element
nodes in the document at the end. Rounds alternate the order of the cases;
each figure is the median over rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from html import escape
from pathlib import Path

import requests
from playwright.sync_api import Browser, Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, free_port, nothing_left_behind, redis_server, stop, wait_http
from tests.ui.chromium import launch_chromium

VIEWPORT = {"width": 1280, "height": 800}
TOKEN_KEY = "files-manager.token"  # web/js/session.js

# Scrolls the window to the bottom by `step` px a frame until an element matches `done` there;
# returns the frame deltas and long tasks seen meanwhile.
SCROLL = """async ({ step, done }) => {
  const finished = () => document.querySelector(done);
  const long = [];
  const observer = new PerformanceObserver((list) => long.push(...list.getEntries().map((e) => e.duration)));
  observer.observe({ type: 'longtask' });
  scrollTo(0, 0);
  const deltas = [];
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame((start) => {
    let last = start;
    const frame = (now) => {
      deltas.push(now - last);
      last = now;
      const bottom = document.documentElement.scrollHeight - innerHeight;
      if (scrollY >= bottom - 1 && finished()) return resolve();
      scrollTo(0, Math.min(bottom, scrollY + step));
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  })));
  await new Promise((resolve) => setTimeout(resolve, 100));  // long tasks are reported after they end
  observer.disconnect();
  return { deltas, long, nodes: document.getElementsByTagName('*').length };
}"""


@contextlib.contextmanager
def our_service(redis_url: str, folder: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "FOLDER_PATH": str(folder / "files"),
           "DB_URL": f"sqlite:///{folder / 'db.sqlite3'}", "REDIS_URL": redis_url,
           "API_WORKERS": "1", "JOB_WORKERS": "0", "LOG_FORMAT": "json", "LOG_LEVEL": "warning",
           "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "64"}
    proc = subprocess.Popen([PYTHON, str(ROOT / "supervisor.py")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/status", timeout=30)
        yield url
    finally:
        stop(proc, 60)


def fill(url: str, files: int) -> tuple[str, str, list[dict]]:
    """A user with a folder of `files` files: (token, folder id, the documents in name order)."""
    account = {"email": "bench@example.com", "password": "bench-password"}
    requests.post(f"{url}/v2/users", json=account, timeout=10).raise_for_status()
    token = requests.post(f"{url}/v2/sessions", json=account, timeout=10).json()["token"]
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    folder = http.post(f"{url}/v2/files", json={"name": "Big", "type": "folder", "parentId": "0"}, timeout=10)
    folder_id = folder.json()["id"]
    kinds = ["Report", "Invoice", "Photo notes", "Budget", "Meeting minutes", "Draft"]
    docs: list[dict] = []
    for start in range(0, files, 250):
        parts = [("file", (f"{kinds[i % len(kinds)]} {i:05d}.txt", b"x" * (i * 37 % 5000)))
                 for i in range(start, min(files, start + 250))]
        answer = http.post(f"{url}/v2/files", data={"parentId": folder_id}, files=parts, timeout=120)
        answer.raise_for_status()
        docs += answer.json()["items"]
    return token, folder_id, sorted(docs, key=lambda d: d["name"].casefold())


def peer_html(docs: list[dict]) -> str:
    rows = "".join(f"<tr><td>{escape(d['name'])}</td><td>{d['size']} B</td><td>{d['updatedAt']}</td></tr>"
                   for d in docs)
    return ("<!doctype html><meta charset=utf-8><style>body{font:15px system-ui;margin:0 1rem}"
            "table{width:100%;border-collapse:collapse}td{height:48px;padding:0 .5rem;border-bottom:1px solid #ddd}"
            f"</style><h1>Big</h1><table><tbody>{rows}</tbody></table>")


def scroll(page: Page, done: str, step: int) -> dict:
    """One pass, with the renderer main thread's time in tasks, script, style and layout (CDP
    Performance metrics): under other load on the machine, frame times move more than these."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    before = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    result = page.evaluate(SCROLL, {"step": step, "done": done})
    after = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    for name in ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration"):
        result[name] = (after[name] - before[name]) * 1000
    cdp.detach()
    return result


def run_ours(browser: Browser, url: str, token: str, folder_id: str, files: int, step: int) -> list[dict]:
    context = browser.new_context(base_url=url, viewport=VIEWPORT)
    page = context.new_page()
    page.goto("/")
    page.evaluate("([key, token]) => sessionStorage.setItem(key, token)", [TOKEN_KEY, token])
    start = time.perf_counter()
    page.goto(f"/#/files/{folder_id}", wait_until="commit")
    page.reload(wait_until="commit")
    page.wait_for_selector(".vlist-items .item")
    first = time.perf_counter() - start
    passes = [scroll(page, f'.item[aria-posinset="{files}"]', step) for _ in range(2)]
    for result in passes:
        result["first_row_s"] = first
    context.close()
    return passes


def run_peer(browser: Browser, html: str, step: int) -> list[dict]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    start = time.perf_counter()
    page.set_content(html)
    page.wait_for_selector("tr")
    first = time.perf_counter() - start
    passes = [scroll(page, "body", step) for _ in range(2)]
    for result in passes:
        result["first_row_s"] = first
    context.close()
    return passes


def summary(result: dict) -> dict:
    deltas = sorted(result["deltas"][1:])  # the first delta spans the set-up
    return {
        "frames": len(deltas),
        "p50_ms": statistics.median(deltas),
        "p95_ms": deltas[int(0.95 * (len(deltas) - 1))],
        "max_ms": deltas[-1],
        "over_33ms": sum(d > 33.4 for d in deltas),
        "long_tasks": len(result["long"]),
        "long_task_ms": sum(result["long"]),
        "nodes": result["nodes"],
        "first_row_ms": result["first_row_s"] * 1000,
        **{f"{name[:-8].lower()}_ms_per_frame": result[name] / len(result["deltas"])
           for name in ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--step", type=int, default=480, help="pixels scrolled per animation frame")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="ui-scroll-bench-") as tmp, redis_server() as redis_url, \
            our_service(redis_url, Path(tmp)) as url, sync_playwright() as playwright:
        began = time.perf_counter()
        token, folder_id, docs = fill(url, args.files)
        print(f"{args.files} files made over the API in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        html = peer_html(docs)
        browser = launch_chromium(playwright)
        try:
            for round_no in range(args.rounds):
                cases = [("ours", lambda: run_ours(browser, url, token, folder_id, args.files, args.step)),
                         ("peer", lambda: run_peer(browser, html, args.step))]
                for name, case in cases if round_no % 2 == 0 else reversed(cases):
                    for number, result in enumerate(case(), 1):
                        figures = summary(result)
                        runs.setdefault(f"{name} pass {number}", []).append(figures)
                        print(f"round {round_no + 1} {name} pass {number}: {json.dumps(figures)}", file=sys.stderr)
        finally:
            browser.close()

    keys = ["frames", "p50_ms", "p95_ms", "max_ms", "over_33ms", "long_tasks", "long_task_ms", "nodes", "first_row_ms",
            "task_ms_per_frame", "script_ms_per_frame", "recalcstyle_ms_per_frame", "layout_ms_per_frame"]
    table = {case: {key: statistics.median(r[key] for r in results) for key in keys} for case, results in runs.items()}
    print(f"\n{args.files} rows, {args.step} px a frame, median of {args.rounds} rounds\n")
    print("| case | frames | p50 | p95 | max | frames > 33 ms | long tasks (ms) | main thread/frame "
          "(script, style, layout) | elements | first row |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case, f in table.items():
        print(f"| {case} | {f['frames']:.0f} | {f['p50_ms']:.1f} ms | {f['p95_ms']:.1f} ms | {f['max_ms']:.0f} ms "
              f"| {f['over_33ms']:.0f} | {f['long_tasks']:.0f} ({f['long_task_ms']:.0f} ms) "
              f"| {f['task_ms_per_frame']:.1f} ms ({f['script_ms_per_frame']:.1f}, {f['recalcstyle_ms_per_frame']:.1f}, "
              f"{f['layout_ms_per_frame']:.1f}) | {f['nodes']:.0f} | {f['first_row_ms']:.0f} ms |")
    for number in (1, 2):
        ours, peer = table[f"ours pass {number}"], table[f"peer pass {number}"]
        print(f"pass {number}, ours / peer: p50 {ours['p50_ms'] / peer['p50_ms']:.2f}, p95 {ours['p95_ms'] / peer['p95_ms']:.2f}, "
              f"max {ours['max_ms'] / peer['max_ms']:.2f}, main thread/frame "
              f"{ours['task_ms_per_frame'] / peer['task_ms_per_frame']:.2f}, long tasks "
              f"{ours['long_tasks']:.0f} vs {peer['long_tasks']:.0f}")
    ours, peer = table["ours pass 1"], table["peer pass 1"]
    print(f"first row, ours / peer: {ours['first_row_ms'] / peer['first_row_ms']:.2f}; "
          f"elements {ours['nodes'] / peer['nodes']:.3f}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ui_scroll.json").write_text(json.dumps({"args": vars(args), "runs": runs, "table": table}, indent=2))


if __name__ == "__main__":
    with nothing_left_behind():
        main()

"""The web app's files, without a browser: what is vendored is what npm locked,
the app's own code keeps to its size budget and names only files that exist,
no file holds a construct the page's CSP or Trusted Types would refuse, and
the page and assets are served with their headers, gzip and 304s (the real
app, create_app, on a port of its own, its loop in a thread: Playwright's sync
API, which the other tests here use, owns this thread's loop; http.client
shows the bytes exactly as sent)."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from services.api.app import create_app
from services.api.edge import RUNNER_OPTIONS
from services.api.routes.ui import UI_CSP
from services.api.serve import listen
from services.api.ui_assets import ASSET_ROOT_MARK, UiAssets
from shared.config import LogSettings, Settings
from shared.logging import configure_logging

PROJECT = Path(__file__).resolve().parents[2]
WEB = PROJECT / "web"
VENDOR = WEB / "vendor"
TUS_JS = PROJECT / "tests" / "tus_js"
TUS_DIST = TUS_JS / "node_modules" / "tus-js-client" / "dist"
BUDGET = 150_000  # bytes: the app's own JS, CSS and markup, every area together (web/ but web/vendor/)

IMMUTABLE = "public, max-age=31536000, immutable"
SECURITY_HEADERS = {"Content-Security-Policy": UI_CSP, "X-Content-Type-Options": "nosniff",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}


def _own_files() -> list[Path]:
    return sorted(p for p in WEB.rglob("*") if p.is_file() and VENDOR not in p.parents)


# --- What is vendored -----------------------------------------------------------

@pytest.fixture(scope="module")
def tus_dist() -> Path:
    assert TUS_DIST.is_dir(), "tus-js-client is not installed: scripts/bootstrap --test (npm ci --prefix tests/tus_js)"
    return TUS_DIST


def _bundled_packages(source_map: Path) -> set[str]:
    """The npm packages whose code a bundle holds, by its source map's sources."""
    names = set()
    for source in json.loads(source_map.read_text())["sources"]:
        if "node_modules/" in source:
            parts = source.rsplit("node_modules/", 1)[1].split("/")
            names.add("/".join(parts[:2]) if parts[0].startswith("@") else parts[0])
    return names


def test_the_vendored_tus_client_is_the_locked_npm_build(tus_dist: Path):
    vendored = VENDOR / "tus-js-client"
    assert (vendored / "tus.min.js").read_bytes() == (tus_dist / "tus.min.js").read_bytes(), (
        "web/vendor/tus-js-client/tus.min.js differs from npm's: run scripts/vendor-web")
    locked = json.loads((TUS_JS / "package-lock.json").read_text())["packages"]["node_modules/tus-js-client"]
    installed = json.loads((tus_dist.parent / "package.json").read_text())["version"]
    assert installed == locked["version"], "tests/tus_js/node_modules is not the lock's: npm ci --prefix tests/tus_js"
    licences = (vendored / "LICENSES.txt").read_text()
    assert licences.startswith(f"tus-js-client {locked['version']} ")
    named = set(re.findall(r"^==== (\S+) ", licences, re.M))
    bundled = _bundled_packages(tus_dist / "tus.js.map")
    assert bundled, "the source map names no package: is it the bundle's?"
    assert {"tus-js-client", *bundled} <= named, f"LICENSES.txt misses {sorted(bundled - named)}: scripts/vendor-web"


# --- The app's own code ---------------------------------------------------------

def test_the_apps_own_code_is_within_its_budget():
    sizes = {p.relative_to(WEB).as_posix(): p.stat().st_size for p in _own_files()}
    total = sum(sizes.values())
    biggest = sorted(sizes.items(), key=lambda item: -item[1])[:5]
    assert total < BUDGET, f"web/ but web/vendor/ is {total} bytes (budget {BUDGET}); biggest: {biggest}"


# import ... from './x.js', export ... from './x.js', import './x.js', import('./x.js')
_IMPORT = re.compile(r"""(?:\bimport|\bexport)\s[^;'"`]*?\bfrom\s*(['"])(.+?)\1"""
                     r"""|\bimport\s*(['"])(.+?)\3|\bimport\s*\(\s*(['"])(.+?)\5\s*\)""", re.S)


def test_every_module_import_names_an_existing_file():
    modules = sorted((WEB / "js").rglob("*.js"))
    assert modules
    seen = 0
    for module in modules:
        for match in _IMPORT.finditer(module.read_text()):
            specifier = match.group(2) or match.group(4) or match.group(6)
            where = f"{module.relative_to(WEB)}: import {specifier!r}"
            # No build step and no import map (the CSP allows none inline): only relative URLs resolve.
            assert specifier.startswith(("./", "../")), f"{where}: only relative imports work here"
            target = (module.parent / specifier).resolve()
            assert target.is_file() and WEB in target.parents, f"{where}: no such file"
            seen += 1
    assert seen


def test_every_file_the_page_names_exists():
    page = (WEB / "index.html").read_text()
    named = re.findall(re.escape(ASSET_ROOT_MARK) + r"/([^\"'\s>]+)", page)
    assert "js/main.js" in named
    missing = [name for name in named if not (WEB / name).is_file()]
    assert not missing, f"index.html names files that are not under web/: {missing}"


# Each refused by the page's CSP or its Trusted Types (a TypeError, or a CSP violation report).
_EVERYWHERE = {
    "an HTML sink (Trusted Types)": r"\.(?:innerHTML|outerHTML|insertAdjacentHTML)\b"
                                    r"|\[\s*['\"`](?:innerHTML|outerHTML|insertAdjacentHTML)['\"`]\s*\]",
    "document.write": r"\bdocument\s*\.\s*write(?:ln)?\b",
    "eval": r"(?<![.\w$])eval\s*\(",
    "new Function": r"\bnew\s+Function\b",
}
_IN_SCRIPT = {
    "a style attribute set from script": r"setAttribute\(\s*['\"`]style['\"`]",
    "a style attribute through h()": r"[{,]\s*['\"]?style['\"]?\s*:",
}
_IN_MARKUP = {
    "a style attribute": r"<[^>]*\sstyle\s*=",
    "an inline <style>": r"<style\b",
    "an inline event handler": r"<[^>]*\son[a-z]+\s*=",
    "an inline script": r"<script\b(?![^>]*\ssrc=)",
}


def test_no_file_holds_what_the_pages_policy_refuses():
    found = []
    for path in sorted(p for p in WEB.rglob("*") if p.is_file()):
        rules = dict(_EVERYWHERE)
        if path.suffix in (".js", ".mjs"):
            rules.update(_IN_SCRIPT)
        elif path.suffix in (".html", ".svg"):
            rules.update(_IN_MARKUP)
        elif path.suffix not in (".css", ".txt", ".json"):
            continue
        text = path.read_text(errors="replace")
        for what, pattern in rules.items():
            for match in re.finditer(pattern, text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(PROJECT)}:{line}: {what}: {match.group(0)[:60]!r}")
    assert not found, "\n".join(found)


def test_the_pages_tag_follows_its_own_bytes(tmp_path: Path):
    assets = UiAssets.load()
    page = assets.page.plain.body.decode()
    assert "{{" not in page and f"/ui/{assets.version}/js/main.js" in page
    # A change to the page alone (no asset changed) is a new page, not a 304 of the old one.
    copy = tmp_path / "web"
    copy.mkdir()
    for path in WEB.rglob("*"):
        if path.is_file():
            (copy / path.relative_to(WEB)).parent.mkdir(parents=True, exist_ok=True)
            (copy / path.relative_to(WEB)).write_bytes(path.read_bytes())
    (copy / "index.html").write_text((WEB / "index.html").read_text().replace("<title>", "<title>New "))
    changed = UiAssets.load(copy)
    assert changed.version == assets.version
    assert changed.page.plain.etag != assets.page.plain.etag


# --- Served ---------------------------------------------------------------------

class Served:
    """The real app on 127.0.0.1:`port`, served from a thread of its own until stopped."""

    def __init__(self, settings: Settings) -> None:
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(settings),), daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    async def _serve(self, settings: Settings) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        app = create_app(settings)
        runner = web.AppRunner(app, handle_signals=False, **RUNNER_OPTIONS)
        try:
            await runner.setup()
            server = await listen(app, runner, host="127.0.0.1", port=0)
            self.port = server.sockets[0].getsockname()[1]
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            self._ready.set()
        await self._stop.wait()
        server.close()
        await runner.cleanup()

    def __enter__(self) -> Served:
        self._thread.start()
        assert self._ready.wait(30), "the app did not start"
        if self._error:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def fetch(self, path: str, method: str = "GET", **headers: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        """(status, headers, body as sent: never decompressed); no Accept-Encoding unless given."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name.replace("_", "-"), value)
            conn.endheaders()
            answer = conn.getresponse()
            return answer.status, answer.headers, answer.read()
        finally:
            conn.close()


@pytest.fixture
def served(settings: Settings) -> Iterator[Served]:
    # No request lines: the app writes each once its answer is sent, from its thread, which can be
    # after the test has ended and pytest has stopped capturing.
    configure_logging(LogSettings(level="warning", format="json"), cache=False, buffered=False)
    with Served(settings) as served:
        yield served


def _asset_urls(served: Served) -> list[str]:
    _, _, page = served.fetch("/")
    urls = re.findall(r'(?:src|href)="(/ui/[0-9a-f]{16}/[^"]+)"', page.decode())
    assert any(url.endswith("/js/main.js") for url in urls)
    return urls


def _url_of(served: Served, ending: str) -> str:
    return next(url for url in _asset_urls(served) if url.endswith(ending))


def _has_security_headers(headers: http.client.HTTPMessage, where: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (name, where)


def test_the_page_and_every_asset_carry_their_headers(served: Served):
    status, headers, _ = served.fetch("/", Accept_Encoding="gzip")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    _has_security_headers(headers, "/")
    assert headers["Cache-Control"] == "no-cache"
    assert headers["Vary"] == "Accept-Encoding"
    assert re.fullmatch(r'"[0-9a-f]{16}"', headers["ETag"])
    types = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
    for url in _asset_urls(served):
        status, headers, _ = served.fetch(url, Accept_Encoding="gzip")
        assert status == 200, url
        _has_security_headers(headers, url)
        assert headers["Cache-Control"] == IMMUTABLE
        assert headers["Vary"] == "Accept-Encoding"
        assert headers["Content-Type"] == f"{types[url.rsplit('.', 1)[1]]}; charset=utf-8", url


def test_text_is_gzipped_for_a_client_that_takes_gzip(served: Served):
    url = _url_of(served, "/js/main.js")
    _, plain, body = served.fetch(url)
    assert "Content-Encoding" not in plain
    assert int(plain["Content-Length"]) == len(body) > 512
    for accept in ("gzip", "gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.8", "x-gzip", "*", "GZIP;q=0.001"):
        _, packed, raw = served.fetch(url, Accept_Encoding=accept)
        assert packed.get("Content-Encoding") == "gzip", accept
        assert int(packed["Content-Length"]) == len(raw) < len(body), accept
        assert gzip.decompress(raw) == body, accept
        assert packed["ETag"] != plain["ETag"], "each encoding has its own tag"
    for accept in ("identity", "gzip;q=0", "gzip; q=0.000, deflate", "*;q=0", "br", "gzip;q=0, *",
                   "gzip;q=oops", ""):
        _, headers, raw = served.fetch(url, Accept_Encoding=accept)
        assert "Content-Encoding" not in headers, accept
        assert raw == body, accept
        assert headers["ETag"] == plain["ETag"], accept


def test_head_answers_the_headers_of_a_get(served: Served):
    for path in ("/", _url_of(served, ".css")):
        for accept in ("gzip", "identity"):
            _, got, body = served.fetch(path, Accept_Encoding=accept)
            status, head, nothing = served.fetch(path, "HEAD", Accept_Encoding=accept)
            assert status == 200
            assert nothing == b""
            assert int(head["Content-Length"]) == len(body)
            for name in ("Content-Type", "Content-Encoding", "ETag", "Cache-Control", "Vary", *SECURITY_HEADERS):
                assert head.get(name) == got.get(name), (path, accept, name)


def test_a_tag_the_client_holds_gets_a_304(served: Served):
    for path, cache_control in (("/", "no-cache"), (_url_of(served, "/js/main.js"), IMMUTABLE)):
        plain = served.fetch(path)[1]["ETag"]
        packed = served.fetch(path, Accept_Encoding="gzip")[1]["ETag"]
        for accept, tag, other in (("identity", plain, packed), ("gzip", packed, plain)):
            for held in (tag, f"W/{tag}", f'"0000000000000000", {tag}', f"{other},W/{tag}", "*"):
                status, headers, body = served.fetch(path, If_None_Match=held, Accept_Encoding=accept)
                assert status == 304, (path, accept, held)
                assert body == b""
                assert headers["ETag"] == tag
                assert headers["Cache-Control"] == cache_control
                assert headers["Vary"] == "Accept-Encoding"
                assert "Content-Encoding" not in headers
            for stale in (other, '"0000000000000000"', tag.strip('"'), f"{tag} garbage", f"x, {tag}"):
                status, headers, _ = served.fetch(path, If_None_Match=stale, Accept_Encoding=accept)
                assert status == 200, (path, accept, stale)
                assert headers["ETag"] == tag


def test_an_unknown_version_or_file_is_not_found(served: Served):
    version = _url_of(served, "/js/main.js").split("/")[2]
    for path in ("/ui/0123456789abcdef/js/main.js", f"/ui/{version}/js/nothing.js", f"/ui/{version}/index.html",
                 f"/ui/{version}/js/../index.html", f"/ui/{version}/js/%2E%2E/index.html", f"/ui/{version}/js",
                 f"/ui/{version}/.hidden", f"/ui/{version}/js//main.js"):
        status, headers, body = served.fetch(path)
        assert status == 404, path
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"error": "Not found"}

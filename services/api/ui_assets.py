"""The web app's files (`web/`), read once at start-up and served from memory.

Every asset URL carries the hash of the whole tree (`/ui/<version>/js/main.js`):
the assets are cached for good (`immutable`), a release is a new set of URLs,
and relative imports between the JavaScript modules keep working because the
tree moves as one. The page itself (`index.html`) names the current version
and is revalidated on every visit (`no-cache`), so a reload picks up a release.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
PAGE = "index.html"
# In index.html, replaced by the versioned asset root (/ui/<version>).
ASSET_ROOT_MARK = "{{ui}}"
_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
          ".png": "image/png", ".ico": "image/x-icon", ".woff2": "font/woff2", ".json": "application/json",
          ".txt": "text/plain", ".html": "text/html", ".webmanifest": "application/manifest+json"}
_TEXT = {"text/javascript", "text/css", "image/svg+xml", "application/json", "text/plain", "text/html",
         "application/manifest+json"}
# Not worth a Content-Encoding below this.
_GZIP_FROM = 512


@dataclass(frozen=True, slots=True)
class Encoded:
    """Bytes as sent, and their strong ETag (each encoding has its own)."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Encoded:
        return cls(body, f'"{hashlib.sha256(body).hexdigest()[:16]}"')


@dataclass(frozen=True, slots=True)
class Asset:
    plain: Encoded
    gzipped: Encoded | None  # None when compressing would not pay
    content_type: str
    charset: str | None


def _asset(body: bytes, content_type: str) -> Asset:
    text = content_type in _TEXT
    gzipped = None
    if text and len(body) >= _GZIP_FROM:
        packed = gzip.compress(body, 9, mtime=0)
        gzipped = packed if len(packed) < len(body) * 0.9 else None
    return Asset(Encoded.of(body), None if gzipped is None else Encoded.of(gzipped), content_type,
                 "utf-8" if text else None)


def _type_of(path: Path) -> str:
    return _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@dataclass(frozen=True, slots=True)
class UiAssets:
    version: str
    page: Asset  # index.html, its asset root filled in
    assets: dict[str, Asset]  # by path under web/, "/"-separated, the page excluded

    @classmethod
    def load(cls, root: Path = WEB_ROOT) -> UiAssets:
        """Blocking (reads and compresses every file): call it off the event loop."""
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        digest = hashlib.sha256()
        assets: dict[str, Asset] = {}
        for path in files:
            name = path.relative_to(root).as_posix()
            if name == PAGE:
                continue
            assets[name] = asset = _asset(path.read_bytes(), _type_of(path))
            digest.update(name.encode() + b"\0" + hashlib.sha256(asset.plain.body).digest())
        version = digest.hexdigest()[:16]
        page_text = (root / PAGE).read_text("utf-8").replace(ASSET_ROOT_MARK, f"/ui/{version}")
        return cls(version, _asset(page_text.encode(), "text/html"), assets)

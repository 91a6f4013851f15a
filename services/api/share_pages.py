"""The small HTML pages of /s/ share links: a file, a folder, the password
form, a dead or unknown link. Plain strings: every value that comes from a
user (names, messages) goes through `_e` (html.escape, quotes included), and
nothing else is interpolated but numbers and our own URLs.

Every page is served with PAGE_HEADERS: a Content-Security-Policy that runs
no script and frames nothing, loads images from this origin only and posts
forms only here; no Referer (the token is in the URL, and must not leak to
wherever a page's visitor goes next); never stored by a cache.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from aiohttp import web

PAGE_CSP = ("default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
# On every /s/ answer, content and JSON included.
SHARE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex, nofollow",
}
PAGE_HEADERS = {**SHARE_HEADERS, "Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY"}

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}
main{max-width:44rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:8px;
box-shadow:0 1px 3px #0002}
h1{font-size:1.3rem;margin:0 0 .5rem;overflow-wrap:anywhere}
.meta{color:#59636e;margin:0 0 1rem}
a.button,button{display:inline-block;padding:.5rem 1rem;border-radius:6px;border:0;
background:#0969da;color:#fff;text-decoration:none;font:inherit;cursor:pointer}
img.preview{display:block;max-width:100%;margin:0 0 1rem;border-radius:4px}
table{width:100%;border-collapse:collapse}td{padding:.4rem;border-top:1px solid #d1d9e0}
td.size{text-align:right;color:#59636e;white-space:nowrap}td img{width:2.5rem;vertical-align:middle}
nav{margin:0 0 1rem;overflow-wrap:anywhere}.error{color:#cf222e}
input{font:inherit;padding:.4rem;margin:0 .5rem .5rem 0}
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} byte{'' if size == 1 else 's'}"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">'
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>")


def page_response(text: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                        headers={**PAGE_HEADERS, **(headers or {})})


@dataclass(frozen=True, slots=True)
class Entry:
    """A row of a folder page."""

    name: str
    url: str  # ours: /s/<token>/<id>
    is_folder: bool
    size: int | None
    thumbnail: bool


def file_page(name: str, size: int | None, url: str, preview: bool, downloads_left: int | None) -> str:
    meta = human_size(size)
    if downloads_left is not None:
        meta += f" · {downloads_left} download{'s' if downloads_left != 1 else ''} left"
    image = f'<img class="preview" src="{_e(url)}?size=500" alt="">' if preview else ""
    return _page(name, f"<h1>{_e(name)}</h1><p class=\"meta\">{_e(meta)}</p>{image}"
                       f'<a class="button" href="{_e(url)}?download=1">Download</a>')


def folder_page(name: str, crumbs: list[tuple[str, str]], entries: list[Entry], next_url: str | None) -> str:
    """`crumbs`: (name, url) from the linked folder down to this one's parent."""
    nav = "".join(f'<a href="{_e(url)}">{_e(crumb)}</a> / ' for crumb, url in crumbs)
    rows = []
    for entry in entries:
        icon = f'<img src="{_e(entry.url)}?size=100" alt="" loading="lazy">' if entry.thumbnail else ""
        label = _e(entry.name) + ("/" if entry.is_folder else "")
        size = "" if entry.is_folder else _e(human_size(entry.size))
        download = "" if entry.is_folder else f' <a href="{_e(entry.url)}?download=1">download</a>'
        rows.append(f'<tr><td>{icon} <a href="{_e(entry.url)}">{label}</a></td>'
                    f'<td class="size">{size}{download}</td></tr>')
    table = f"<table>{''.join(rows)}</table>" if rows else '<p class="meta">This folder is empty.</p>'
    more = f'<p><a class="button" href="{_e(next_url)}">More</a></p>' if next_url else ""
    return _page(name, f"<nav>{nav}</nav><h1>{_e(name)}/</h1>{table}{more}")


def password_page(action: str, message: str | None) -> str:
    error = f'<p class="error" role="alert">{_e(message)}</p>' if message else ""
    return _page("Password required",
                 "<h1>Password required</h1>"
                 '<p class="meta">Whoever shared this asks for a password.</p>'
                 f'{error}<form method="post" action="{_e(action)}">'
                 '<label for="password">Password</label><br>'
                 '<input id="password" name="password" type="password" required maxlength="1024"'
                 ' autocomplete="current-password" autofocus>'
                 '<button type="submit">Open</button></form>')


def error_page(message: str) -> str:
    return _page(message, f"<h1>{_e(message)}</h1>"
                          '<p class="meta">Ask whoever shared this link for a new one.</p>')

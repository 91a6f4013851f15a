"""The small HTML pages of /s/ share links: a file, a folder, the password
form, a dead or unknown link. They wear the web app's look: its stylesheets
from /ui/<version>/ (base.css for colours, type, buttons and the card;
share-page.css for these pages), the same top bar and icons.

Plain strings: every value that comes from a user (names, messages) goes
through `_e` (html.escape, quotes included), and nothing else is
interpolated but numbers and our own URLs.

Every page is served with PAGE_HEADERS: a Content-Security-Policy that runs
no script, takes styles only from this origin's files (no inline style) and
frames nothing, loads images from this origin only and posts forms only
here; no Referer (the token is in the URL, and must not leak to wherever a
page's visitor goes next); never stored by a cache.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from aiohttp import web

from .keys import UI_ASSETS

PAGE_CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")
# On every /s/ answer, content and JSON included.
SHARE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
    "X-Robots-Tag": "noindex, nofollow",
}
PAGE_HEADERS = {**SHARE_HEADERS, "Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY"}

# The app's icons (web/js/dom.js), drawn with strokes by share-page.css.
_ICONS = {
    "folder": "M3 6.5A2.5 2.5 0 0 1 5.5 4h4l2 2.5h7A2.5 2.5 0 0 1 21 9v8.5a2.5 2.5 0 0 1-2.5 2.5h-13A2.5 2.5 0 0 1 "
              "3 17.5z",
    "file": "M6 2.5h8l5 5V20a1.5 1.5 0 0 1-1.5 1.5h-11A1.5 1.5 0 0 1 5 20V4a1.5 1.5 0 0 1 1-1.5zM13.5 3v5h5",
    "image": "M4 4h16v16H4zM4 16l5-5 4 4 3-3 4 4M15.5 8.5a1.5 1.5 0 1 0 0 .01",
    "download": "M12 4v11M7 10.5l5 5 5-5M4 20h16",
    "lock": "M6 11h12v9.5H6zM8.5 11V8a3.5 3.5 0 0 1 7 0v3",
    "gone": "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM5.6 5.6l12.8 12.8",
}


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _icon(name: str) -> str:
    return (f'<svg class="icon icon-{name}" viewBox="0 0 24 24" aria-hidden="true" focusable="false">'
            f'<path d="{_ICONS[name]}"/></svg>')


def human_size(size: int | None) -> str:
    """As the app writes sizes (web/js/format.js humanSize)."""
    if size is None:
        return ""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}" if value < 10 else f"{round(value)} {unit}"


@dataclass(frozen=True, slots=True)
class Page:
    """A page's title and the inside of its card."""

    title: str
    body: str
    kind: str = "file"  # a class of the card: file, folder, password, error


def _document(page: Page, ui: str) -> str:
    """`ui`: the app's asset root, /ui/<version>."""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            '<meta name="color-scheme" content="light dark">'
            '<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex">'
            f"<title>{_e(page.title)} · Files</title>"
            f'<link rel="icon" href="{ui}/icon.svg" type="image/svg+xml">'
            f'<link rel="stylesheet" href="{ui}/css/base.css">'
            f'<link rel="stylesheet" href="{ui}/css/share-page.css">'
            '</head><body class="share-page">'
            '<header class="topbar"><a class="brand" href="/">'
            f'<svg class="brand-mark" viewBox="0 0 24 24" aria-hidden="true"><path d="{_ICONS["folder"]}"/></svg>'
            '<span>Files</span></a><span class="share-tag">Shared with you</span></header>'
            f'<main><div class="card share-card share-{page.kind}">{page.body}</div></main>'
            "</body></html>")


def page_response(request: web.Request, page: Page, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    text = _document(page, f"/ui/{request.app[UI_ASSETS].version}")
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


def _heading(icon: str, name: str, meta: str) -> str:
    meta_line = f'<p class="meta">{_e(meta)}</p>' if meta else ""
    return f'<div class="share-head">{_icon(icon)}<div><h1>{_e(name)}</h1>{meta_line}</div></div>'


def file_page(name: str, size: int | None, url: str, preview: bool, downloads_left: int | None) -> Page:
    meta = human_size(size)
    if downloads_left is not None:
        meta += f" · {downloads_left} download{'s' if downloads_left != 1 else ''} left"
    image = f'<div class="preview-box"><img class="preview" src="{_e(url)}?size=500" alt=""></div>' if preview else ""
    return Page(name, _heading("image" if preview else "file", name, meta) + image +
                f'<a class="button primary download" href="{_e(url)}?download=1">{_icon("download")}Download</a>')


def folder_page(name: str, crumbs: list[tuple[str, str]], entries: list[Entry], next_url: str | None) -> Page:
    """`crumbs`: (name, url) from the linked folder down to this one's parent."""
    nav = ""
    if crumbs:
        nav = ('<nav class="crumbs" aria-label="Folder path">'
               + "".join(f'<a href="{_e(url)}">{_e(crumb)}</a><span aria-hidden="true">/</span>'
                         for crumb, url in crumbs) + "</nav>")
    rows = []
    for entry in entries:
        if entry.thumbnail:
            thumb = f'<img src="{_e(entry.url)}?size=100" alt="" loading="lazy">'
        else:
            thumb = _icon("folder" if entry.is_folder else "file")
        size, download = "", ""
        if not entry.is_folder:
            size = _e(human_size(entry.size))
            download = (f'<a class="button icon" href="{_e(entry.url)}?download=1" '
                        f'aria-label="Download {_e(entry.name)}">{_icon("download")}</a>')
        rows.append(f'<tr><td class="thumb">{thumb}</td><td class="name"><a href="{_e(entry.url)}">'
                    f'{_e(entry.name)}</a></td><td class="size">{size}</td><td class="get">{download}</td></tr>')
    table = ('<p class="meta">This folder is empty.</p>' if not rows else
             f'<table class="share-items"><caption class="visually-hidden">Items in {_e(name)}</caption>'
             '<thead><tr><th scope="col"><span class="visually-hidden">Thumbnail</span></th>'
             '<th scope="col">Name</th><th scope="col" class="size">Size</th>'
             '<th scope="col"><span class="visually-hidden">Download</span></th></tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table>")
    more = f'<p class="more"><a class="button" href="{_e(next_url)}">More</a></p>' if next_url else ""
    return Page(name, nav + _heading("folder", name, "") + table + more, "folder")


def password_page(action: str, message: str | None) -> Page:
    error = f'<p class="form-error" role="alert">{_e(message)}</p>' if message else ""
    return Page("Password required",
                _heading("lock", "Password required", "Whoever shared this asks for a password.") +
                f'{error}<form method="post" action="{_e(action)}">'
                '<div class="field"><label for="password">Password</label>'
                '<input id="password" name="password" type="password" required maxlength="1024"'
                ' autocomplete="current-password" autofocus></div>'
                '<button class="primary" type="submit">Open</button></form>', "password")


_WHY = {
    404: "Nothing is shared at this address. Check the link, or ask whoever shared it for a new one.",
    410: "This link has expired, was revoked or has been used up. Ask whoever shared it for a new one.",
}


def error_page(message: str, status: int) -> Page:
    why = _WHY.get(status, "Check the address and try again.")
    return Page(message, f'<div class="share-head">{_icon("gone")}<div><h1>{_e(message)}</h1>'
                         f'<p class="meta">{_e(why)}</p></div></div>', "error")

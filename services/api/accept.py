"""What a client asks for in `Accept` (is it a browser navigating to a page?)
and `Accept-Encoding` (may the bytes be gzipped?)."""

from __future__ import annotations

_HTML = frozenset({"text/html", "application/xhtml+xml"})
_MAX_HEADER = 2048  # browsers send a few hundred bytes; past this nobody is a browser


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def prefers_html(accept: str | None) -> bool:
    """Whether HTML is named (not through a wildcard) and ranked at least as
    high as any other type named: a browser's navigation (`text/html,...,
    */*;q=0.8`) but not an <img> (`image/webp,*/*`), curl (`*/*`) or an API
    client (`application/json`)."""
    if not accept or len(accept) > _MAX_HEADER:
        return False
    html, other = 0.0, 0.0
    for item in accept.split(","):
        media, *params = item.split(";")
        media = media.strip().lower()
        if not media or "*" in media:
            continue
        q = _quality(params)
        if media in _HTML:
            html = max(html, q)
        else:
            other = max(other, q)
    return html > 0 and html >= other


def accepts_coding(accept_encoding: str | None, coding: str) -> bool:
    """Whether `Accept-Encoding` takes the content-coding `coding` (lower case,
    e.g. gzip): named (or as `x-<coding>`) with q > 0, or, when not named, `*`
    with q > 0. No header, or one past any browser's size: identity only."""
    if not accept_encoding or len(accept_encoding) > _MAX_HEADER:
        return False
    named: float | None = None
    anything = 0.0
    for item in accept_encoding.split(","):
        name, *params = item.split(";")
        name = name.strip().lower()
        if name in (coding, f"x-{coding}"):
            named = max(named or 0.0, _quality(params))
        elif name == "*":
            anything = max(anything, _quality(params))
    return (anything if named is None else named) > 0

"""The query parameters of v2 lists (api-v2.md, Conventions): one value each,
an empty one counts as absent, and anything else not understood is a 400
saying what would be."""

from __future__ import annotations

from aiohttp import web

from shared.errors import Invalid
from shared.storage import Order

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
LIMIT_MESSAGE = f"Invalid limit: expected a whole number from 1 to {MAX_LIMIT}"

SORTS: dict[str, Order] = {
    "name": Order("name"),
    "-name": Order("name", descending=True),
    "updatedAt": Order("updated_at"),
    "-updatedAt": Order("updated_at", descending=True),
    "size": Order("size"),
    "-size": Order("size", descending=True),
}
SORT_MESSAGE = f"Invalid sort: use {', '.join(SORTS)}"


def query_param(request: web.Request, name: str) -> str | None:
    """The parameter's one value, None when absent or empty."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise Invalid(f"Invalid {name}: given more than once")
    return values[0] if values and values[0] != "" else None


def limit_param(request: web.Request) -> int:
    raw = query_param(request, "limit")
    if raw is None:
        return DEFAULT_LIMIT
    # ASCII digits only (str.isdigit takes other scripts' digits); a few of them.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_LIMIT))) or not 1 <= int(raw) <= MAX_LIMIT:
        raise Invalid(LIMIT_MESSAGE)
    return int(raw)


def order_param(request: web.Request) -> Order:
    raw = query_param(request, "sort")
    if raw is None:
        return SORTS["name"]
    order = SORTS.get(raw)
    if order is None:
        raise Invalid(SORT_MESSAGE)
    return order

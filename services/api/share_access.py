"""Who may see what through a share link: the token to its live link and
file, the password's cookie, and an item of a folder link (confined to the
folder: reached only when the linked folder is among its live ancestors).

Nothing is cached: a link revoked, used up or trashed stops at the next
request, in every process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from shared.domain import links as rules
from shared.domain.secret import ServerSecret
from shared.errors import Gone, NotFound, PasswordRequired
from shared.storage import FileRecord, ShareLink

from .client_address import is_https
from .keys import REDIS, SETTINGS, STORAGE

UNLOCK_COOKIE = "fm_share"


@dataclass(frozen=True, slots=True)
class Shared:
    """A live link and its live file (or folder)."""

    token: str
    link: ShareLink
    root: FileRecord

    @property
    def url(self) -> str:
        return f"/s/{self.token}"


async def open_link(request: web.Request) -> Shared:
    """The link of the URL's token: NotFound when no link has it, Gone
    ("Link expired") when revoked, expired, used up, or its file trashed or purged."""
    token = request.match_info["token"]
    if not rules.is_token(token):
        raise NotFound()
    storage = request.app[STORAGE]
    link = await storage.link_by_token_hash(rules.token_hash(token))
    if link is None:
        raise NotFound()
    rules.check_alive(link, time.time())
    root = await storage.file_with_trashed(link.user_id, link.file_id)
    if root is None or root.is_trashed:
        raise Gone()
    return Shared(token, link, root)


async def unlock_key(request: web.Request) -> bytes:
    return await ServerSecret(request.app[REDIS]).key(rules.UNLOCK_PURPOSE)


async def require_unlocked(request: web.Request, shared: Shared) -> None:
    """PasswordRequired unless the link has no password or the request
    carries this link's unexpired unlock cookie."""
    if shared.link.password_hash is None:
        return
    value = request.cookies.get(UNLOCK_COOKIE)
    if not value or not rules.is_unlocked(await unlock_key(request), shared.link, value, time.time()):
        raise PasswordRequired()


async def set_unlocked(request: web.Request, response: web.StreamResponse, shared: Shared) -> None:
    """The cookie that opens this link in this browser for an hour: sent back
    only to this link's URLs, never by a request another site starts, never
    readable by a script; Secure when the client came over HTTPS."""
    now = time.time()
    value, expires = rules.unlock_value(await unlock_key(request), shared.link, now)
    secure = is_https(request, request.app[SETTINGS].server.trusted_proxies)
    response.set_cookie(UNLOCK_COOKIE, value, path=shared.url, max_age=max(1, expires - int(now)),
                        httponly=True, secure=secure, samesite="Strict")


async def item_of(request: web.Request, shared: Shared, file_id: str) -> tuple[FileRecord, list[FileRecord]]:
    """An item a folder link reaches, and the folders from the linked one
    down to its parent. NotFound for a file link, and for anything not live
    below the linked folder (another folder's, another user's, trashed)."""
    root = shared.root
    if root.type != "folder":
        raise NotFound()
    if file_id == root.id:
        return root, []
    storage = request.app[STORAGE]
    record = await storage.file_of_user(shared.link.user_id, file_id)  # live only
    if record is None:
        raise NotFound()
    chain = await storage.ancestors(shared.link.user_id, record.id)
    ids = [folder.id for folder in chain]
    if root.id not in ids:
        raise NotFound()
    below = chain[ids.index(root.id):]
    if any(folder.is_trashed for folder in below):
        raise NotFound()
    return record, below

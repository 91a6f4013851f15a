"""create_app(settings): the one composition root of the API.

Each resource has its own cleanup_ctx, opened in order at start-up and closed
in reverse at shutdown; handlers reach them through typed AppKeys.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from redis.exceptions import RedisError

from shared.attempts import AttemptLimiter, Limit
from shared.config import Settings
from shared.domain.accounts import Accounts
from shared.domain.cursors import CursorKey
from shared.enqueuer import Enqueuer
from shared.logging import flush_logs
from shared.open_blobs import open_blob_store
from shared.passwords import PasswordHasher
from shared.redis_client import open_redis
from shared.redis_get import PipelinedGet
from shared.storage import open_configured_storage
from shared.tokens import TokenStore

from . import openapi
from .drain import Drain
from .edge import edge_middleware
from .errors import log_request_error
from .inflight import BODY_BUDGET, BodyBudget
from .keys import (
    ACCOUNTS,
    BLOBS,
    CURSORS,
    DRAIN,
    ENQUEUER,
    ERROR_REPORTER,
    LOGINS,
    PASSWORDS,
    REDIS,
    SETTINGS,
    SIGNUPS,
    STORAGE,
    TOKENS,
    UI_ASSETS,
    USERS,
)
from .metrics import record_unreplicated, start_recording
from .routes import (
    accounts,
    auth,
    file_data,
    files,
    health,
    links,
    metrics,
    shares,
    status,
    tus,
    ui,
    users,
    v2_files,
    v2_upload,
)
from .timeouts import HEAD_TIMEOUTS, HeadTimeouts
from .ui_assets import UiAssets
from .user_cache import UserCache


async def _storage(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].storage
    app[STORAGE] = await open_configured_storage(settings)
    yield
    await app[STORAGE].close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[REDIS] = redis = open_redis(settings.redis.url)
    app[ENQUEUER] = enqueuer = Enqueuer(redis, settings.redis.replica_wait_timeout,
                                        on_unreplicated=record_unreplicated)
    fast = PipelinedGet(settings.redis.url) if PipelinedGet.supports(settings.redis.url) else None
    app[TOKENS] = TokenStore(redis, settings.security.token_ttl, cached=fast)
    security = settings.security
    app[LOGINS] = AttemptLimiter(
        redis, "login",
        per_address=Limit(security.login_max_failures_per_address, security.login_failure_window),
        per_account=Limit(security.login_max_failures, security.login_failure_window),
    )
    app[SIGNUPS] = AttemptLimiter(redis, "signup", per_address=Limit(security.signup_max_per_address,
                                                                       security.signup_window))
    yield
    await enqueuer.aclose()
    if fast is not None:
        await fast.aclose()
    await redis.aclose()


async def _cursor_key(app: web.Application) -> AsyncIterator[None]:
    app[CURSORS] = cursors = CursorKey(app[REDIS])
    # Read once now; if Redis does not answer, the first list request reads it.
    with contextlib.suppress(RedisError, OSError):
        await cursors.load()
    yield


async def _passwords(app: web.Application) -> AsyncIterator[None]:
    security = app[SETTINGS].security
    app[PASSWORDS] = hasher = PasswordHasher(
        security.argon2_time_cost, security.argon2_memory_kib, security.hash_threads
    )
    yield
    hasher.close()


async def _accounts(app: web.Application) -> AsyncIterator[None]:
    app[ACCOUNTS] = Accounts(app[STORAGE], app[PASSWORDS], app[TOKENS], app[ENQUEUER], app[LOGINS],
                              app[SIGNUPS])
    yield


async def _blobs(app: web.Application) -> AsyncIterator[None]:
    async with open_blob_store(app[SETTINGS]) as blobs:
        app[BLOBS] = blobs
        yield


async def _ui_assets(app: web.Application) -> AsyncIterator[None]:
    app[UI_ASSETS] = await asyncio.to_thread(UiAssets.load)
    yield


async def _request_log(app: web.Application) -> AsyncIterator[None]:
    yield
    flush_logs()  # request lines are buffered for up to 0.1 s


def create_app(settings: Settings) -> web.Application:
    drain = Drain()
    head_timeouts = HeadTimeouts(settings.server.header_timeout)
    app = web.Application(
        middlewares=[edge_middleware(drain, head_timeouts)],
        client_max_size=settings.server.max_body_size,
    )
    app[HEAD_TIMEOUTS] = head_timeouts
    app[SETTINGS] = settings
    app[USERS] = UserCache()
    app[ERROR_REPORTER] = log_request_error
    app[DRAIN] = drain
    app[BODY_BUDGET] = BodyBudget(settings.server.max_inflight_body_bytes)
    tus.install(app)
    health.install(app)
    app.cleanup_ctx.extend([_request_log, _storage, _redis, _cursor_key, _passwords, _accounts, _blobs, _ui_assets])
    start_recording(settings)
    for module in (status, health, users, auth, files, file_data, accounts, v2_upload, v2_files, tus, links,
                   shares, ui, metrics, openapi):
        app.router.add_routes(module.routes)
    return app

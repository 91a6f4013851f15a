"""Typed application keys: what the composition root puts in the app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from shared.attempts import AttemptLimiter
from shared.blob_store import BlobStore
from shared.config import Settings
from shared.domain.accounts import Accounts
from shared.domain.cursors import CursorKey
from shared.enqueuer import Enqueuer
from shared.passwords import PasswordHasher
from shared.storage import Storage
from shared.tokens import TokenStore
from shared.upload_parts import RunningHashes

from .drain import Drain
from .ui_assets import UiAssets
from .user_cache import UserCache

SETTINGS = web.AppKey("settings", Settings)
STORAGE = web.AppKey("storage", Storage)
REDIS = web.AppKey("redis", Redis)
ENQUEUER = web.AppKey("enqueuer", Enqueuer)  # every job of this process goes through it
TOKENS = web.AppKey("tokens", TokenStore)
PASSWORDS = web.AppKey("passwords", PasswordHasher)
BLOBS: web.AppKey[BlobStore] = web.AppKey("blobs")
USERS = web.AppKey("users", UserCache)
# Where an unexpected exception in a request is reported, once: a log line by
# default; the graceful-application core's error hooks in an API worker.
ErrorReporter = Callable[..., Any]
ERROR_REPORTER: web.AppKey[ErrorReporter] = web.AppKey("error_reporter")
DRAIN = web.AppKey("drain", Drain)
# Brute-force limits (shared.attempts): logins (every route that checks a password), sign-ups.
LOGINS = web.AppKey("logins", AttemptLimiter)
SIGNUPS = web.AppKey("signups", AttemptLimiter)
ACCOUNTS = web.AppKey("accounts", Accounts)
# The sha256 so far of the tus uploads this process is taking in (shared.upload_parts).
RUNNING_HASHES = web.AppKey("running_hashes", RunningHashes)
# v2 list cursors, under the key shared through Redis (shared/domain/cursors.py).
CURSORS = web.AppKey("cursors", CursorKey)
# The web app's files (services/api/ui_assets.py), read once at start-up.
UI_ASSETS = web.AppKey("ui_assets", UiAssets)

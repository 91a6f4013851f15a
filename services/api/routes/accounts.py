"""v2 accounts: POST /v2/users, POST /v2/sessions, DELETE /v2/sessions/current,
GET /v2/users/me, PUT /v2/users/me/password (api-v2.md, "Accounts").
The rules are shared.domain.accounts'; these handlers read the wire."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shared.domain.accounts import (
    MAX_GIVEN_EMAIL_LENGTH,
    MAX_GIVEN_PASSWORD_LENGTH,
    check_signup_open,
    given_text,
    valid_email,
    valid_new_password,
)
from shared.domain.quotas import effective_quota

from ..auth import current_user, request_token
from ..bodies import json_object
from ..client_address import client_address
from ..keys import ACCOUNTS, SETTINGS, STORAGE
from ..views import account_view, json_response, session_view

routes = web.RouteTableDef()

# Credentials only: a password is at most 4096 characters, each at most
# 12 bytes as JSON (a surrogate pair's two \u escapes).
ACCOUNT_BODY_LIMIT = 64 * 1024


async def _body(request: web.Request) -> dict[str, Any]:
    return await json_object(request, ACCOUNT_BODY_LIMIT)


def _address(request: web.Request) -> str:
    return client_address(request, request.app[SETTINGS].server.trusted_proxies)


@routes.post("/v2/users")
async def sign_up(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    check_signup_open(settings.security.signup)  # 403 before anything is read
    body = await _body(request)
    email = valid_email(body.get("email"))
    password = valid_new_password(body.get("password"))
    user = await request.app[ACCOUNTS].sign_up(email, password, _address(request))
    quota = effective_quota(user.quota_bytes, settings.storage.default_quota)
    return json_response(account_view(user, quota, 0), status=201)


@routes.post("/v2/sessions")
async def log_in(request: web.Request) -> web.Response:
    body = await _body(request)
    email = given_text(body.get("email"), "email", MAX_GIVEN_EMAIL_LENGTH)
    password = given_text(body.get("password"), "password", MAX_GIVEN_PASSWORD_LENGTH)
    session = await request.app[ACCOUNTS].log_in(email, password, _address(request))
    return json_response(session_view(session), status=201)


@routes.delete("/v2/sessions/current")
async def log_out(request: web.Request) -> web.Response:
    user = await current_user(request)
    await request.app[ACCOUNTS].log_out(request_token(request), user.id)
    return web.Response(status=204)


@routes.get("/v2/users/me")
async def me(request: web.Request) -> web.Response:
    user = await current_user(request)
    usage = await request.app[STORAGE].usage(user.id)  # fresh: the cached user's quota may be old
    quota = effective_quota(usage.quota_bytes, request.app[SETTINGS].storage.default_quota)
    return json_response(account_view(user, quota, usage.used_bytes))


@routes.put("/v2/users/me/password")
async def change_password(request: web.Request) -> web.Response:
    user = await current_user(request)
    body = await _body(request)
    current = given_text(body.get("currentPassword"), "currentPassword", MAX_GIVEN_PASSWORD_LENGTH)
    new = valid_new_password(body.get("newPassword"), "newPassword")
    await request.app[ACCOUNTS].change_password(user.id, current, new, _address(request), request_token(request))
    return web.Response(status=204)

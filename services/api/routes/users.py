"""POST /users (sign up) and GET /users/me."""

from __future__ import annotations

import contextlib

from aiohttp import web

from shared.errors import EmailTaken, Invalid
from shared.jobs import enqueue, welcome_job

from ..auth import current_user
from ..bodies import json_object
from ..client_address import client_address
from ..keys import PASSWORDS, REDIS, SETTINGS, SIGNUPS, STORAGE
from ..views import json_response, user_view

routes = web.RouteTableDef()

MAX_EMAIL_LENGTH = 320
MAX_PASSWORD_LENGTH = 4096


def _text_field(body: dict, name: str, missing: str, max_length: int) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise Invalid(missing)
    if not isinstance(value, str):
        raise Invalid(f"Invalid {name}: expected a string")
    if len(value) > max_length:
        raise Invalid(f"Invalid {name}: longer than {max_length} characters")
    return value


@routes.post("/users")
async def create_user(request: web.Request) -> web.Response:
    body = await json_object(request)
    email = _text_field(body, "email", "Missing email", MAX_EMAIL_LENGTH)
    password = _text_field(body, "password", "Missing password", MAX_PASSWORD_LENGTH)
    # Every well-formed sign-up counts, taken or not (429 before any hashing).
    await request.app[SIGNUPS].attempt(None, client_address(request, request.app[SETTINGS].server.trusted_proxies))
    storage = request.app[STORAGE]
    if await storage.user_by_email(email) is not None:
        raise EmailTaken()  # before hashing: no point paying for it
    password_hash = await request.app[PASSWORDS].hash(password)
    user = await storage.create_user(email, password_hash)  # EmailTaken on a race
    try:
        await enqueue(request.app[REDIS], welcome_job(user.id))
    except BaseException:
        # A failed request leaves nothing behind: no user without its welcome job.
        with contextlib.suppress(Exception):
            await storage.delete_user(user.id)
        raise
    return json_response(user_view(user), status=201)


@routes.get("/users/me")
async def me(request: web.Request) -> web.Response:
    return json_response(user_view(await current_user(request)))

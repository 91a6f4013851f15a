"""POST /users (sign up) and GET /users/me."""

from __future__ import annotations

from aiohttp import web

from shared.domain.accounts import MAX_GIVEN_EMAIL_LENGTH, MAX_GIVEN_PASSWORD_LENGTH, check_signup_open
from shared.errors import Invalid

from ..auth import current_user
from ..bodies import json_object
from ..client_address import client_address
from ..keys import ACCOUNTS, SETTINGS
from ..views import json_response, user_view

routes = web.RouteTableDef()


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
    settings = request.app[SETTINGS]
    check_signup_open(settings.security.signup)  # 403 before anything is read
    body = await json_object(request)
    email = _text_field(body, "email", "Missing email", MAX_GIVEN_EMAIL_LENGTH)
    password = _text_field(body, "password", "Missing password", MAX_GIVEN_PASSWORD_LENGTH)
    address = client_address(request, settings.server.trusted_proxies)
    user = await request.app[ACCOUNTS].sign_up(email, password, address)
    return json_response(user_view(user), status=201)


@routes.get("/users/me")
async def me(request: web.Request) -> web.Response:
    return json_response(user_view(await current_user(request)))

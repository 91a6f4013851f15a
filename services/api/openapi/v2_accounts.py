"""The v2 account operations (api-v2.md, "Accounts"), as served by
routes/accounts.py: every status each can answer, and exactly the inputs
each accepts."""

from __future__ import annotations

from shared.domain.accounts import (
    EMAIL_PATTERN,
    MAX_EMAIL_LENGTH,
    MAX_GIVEN_EMAIL_LENGTH,
    MAX_GIVEN_PASSWORD_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
)

from ..routes.accounts import ACCOUNT_BODY_LIMIT
from .parts import (
    TIME,
    V2_BODY_TIMEOUT,
    V2_INSUFFICIENT_STORAGE,
    V2_TOKEN,
    V2_TOO_MANY_ATTEMPTS,
    V2_UNAUTHORIZED,
    V2_UNAVAILABLE,
    Json,
    coded_error,
    empty_answer,
    json_answer,
    json_body,
    operation,
    ref,
)

TAG = "v2 accounts"

SCHEMAS: Json = {
    "Account": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "email", "createdAt", "quotaBytes", "usedBytes"],
        "properties": {
            "id": ref("schemas", "Id"),
            "email": {"type": "string", "minLength": 1},
            "createdAt": TIME,
            "quotaBytes": {"type": ["integer", "null"], "minimum": 0,
                           "description": "The bytes the user's live and trashed files may take: their own "
                                          "quota, else storage.default_quota; null is unlimited"},
            "usedBytes": {"type": "integer", "minimum": 0, "description": "Live and trashed files' bytes, now"},
        },
    },
    "Session": {
        "type": "object", "additionalProperties": False, "required": ["token", "expiresAt"],
        "properties": {"token": {"type": "string", "minLength": 1,
                                 "description": "Send it as X-Token or Authorization: Bearer, never in a URL"},
                       "expiresAt": TIME},
    },
}

_NEW_PASSWORD = {"type": "string", "minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH}
_GIVEN_PASSWORD = {"type": "string", "maxLength": MAX_GIVEN_PASSWORD_LENGTH}
_TOO_LARGE = coded_error(f"The body is over {ACCOUNT_BODY_LIMIT} bytes",
                         (f"Request body too large: Maximum request body size {ACCOUNT_BODY_LIMIT} exceeded, "
                          f"actual body size {ACCOUNT_BODY_LIMIT + 1}", "too_large"))
_JSON_400 = (("Invalid JSON body: expected an object", "invalid"),)
_BODY_NOTE = (f"The body is at most {ACCOUNT_BODY_LIMIT} bytes; an empty body is `{{}}`. Members not named "
              "here are ignored.")

PATHS: Json = {
    "/v2/users": {"post": operation(
        "createAccount", "Sign up", tag=TAG,
        description="Refused (403) at once when security.signup is closed. Then the email and the password "
                    "are checked, then the sign-up limit per client address (429, shared with POST /users), "
                    "then whether the email is taken, in any case and with spaces around it (409). "
                    + _BODY_NOTE,
        body=json_body({"type": "object", "required": ["email", "password"], "properties": {
            "email": {"type": "string", "maxLength": MAX_EMAIL_LENGTH, "pattern": EMAIL_PATTERN,
                      "description": "One @, a domain with a dot, no spaces or control characters"},
            "password": _NEW_PASSWORD}},
            {"signUp": {"email": "ann@example.com", "password": "correct horse battery"}}),
        responses={"201": json_answer("Created; a welcome job is enqueued", ref("schemas", "Account")),
                   "400": coded_error("Invalid input", ("Invalid email", "invalid_email"),
                                      ("Password too short", "password_too_short"),
                                      ("Password too long", "password_too_long"),
                                      ("Invalid password: expected a string", "invalid"), *_JSON_400),
                   "403": coded_error("Sign-up is closed (security.signup): only the operator adds users",
                                      ("Sign-up is closed", "signup_closed")),
                   "408": V2_BODY_TIMEOUT,
                   "409": coded_error("The email is taken", ("Already exist", "already_exists")),
                   "413": _TOO_LARGE, "429": V2_TOO_MANY_ATTEMPTS, "503": V2_UNAVAILABLE,
                   "507": V2_INSUFFICIENT_STORAGE},
    )},
    "/v2/sessions": {"post": operation(
        "createSession", "Log in: email and password for a token", tag=TAG,
        description="Failed logins are counted per (account, client address) and per client address, with "
                    "GET /connect's; past the limit every attempt is 429 until the window ends, a right "
                    "password too. An unknown email and a wrong password get the same answer in the same "
                    "time. " + _BODY_NOTE,
        body=json_body({"type": "object", "required": ["email", "password"], "properties": {
            "email": {"type": "string", "maxLength": MAX_GIVEN_EMAIL_LENGTH},
            "password": _GIVEN_PASSWORD}},
            {"logIn": {"email": "ann@example.com", "password": "correct horse battery"}}),
        responses={"201": json_answer("A new token", ref("schemas", "Session")),
                   "400": coded_error("Invalid input", ("Missing email", "invalid"),
                                      ("Invalid password: expected a string", "invalid"), *_JSON_400),
                   "401": coded_error("Unknown email or wrong password; or the right ones of an account "
                                      "the operator disabled", ("Unauthorized", "unauthorized"),
                                      ("Account disabled", "account_disabled")),
                   "408": V2_BODY_TIMEOUT, "413": _TOO_LARGE, "429": V2_TOO_MANY_ATTEMPTS,
                   "503": V2_UNAVAILABLE, "507": V2_INSUFFICIENT_STORAGE},
    )},
    "/v2/sessions/current": {"delete": operation(
        "deleteSession", "Log out: the token stops working at once, in every process", tag=TAG, security=V2_TOKEN,
        responses={"204": empty_answer("Logged out"), "401": V2_UNAUTHORIZED, "503": V2_UNAVAILABLE},
    )},
    "/v2/users/me": {"get": operation(
        "getAccount", "The caller, with their quota and the bytes they use", tag=TAG, security=V2_TOKEN,
        responses={"200": json_answer("The caller", ref("schemas", "Account")), "401": V2_UNAUTHORIZED,
                   "503": V2_UNAVAILABLE},
    )},
    "/v2/users/me/password": {"put": operation(
        "changePassword", "Change the password; every other token of the user stops working at once", tag=TAG,
        security=V2_TOKEN,
        description="The token is checked first, then the body, then the failed-login limit (a wrong current "
                    "password counts as a failed login), then the current password. The token that made the "
                    "change goes on working. " + _BODY_NOTE,
        body=json_body({"type": "object", "required": ["currentPassword", "newPassword"], "properties": {
            "currentPassword": _GIVEN_PASSWORD, "newPassword": _NEW_PASSWORD}},
            {"change": {"currentPassword": "correct horse battery", "newPassword": "battery staple horse"}}),
        responses={"204": empty_answer("Changed"),
                   "400": coded_error("Invalid input", ("Password too short", "password_too_short"),
                                      ("Password too long", "password_too_long"),
                                      ("Missing currentPassword", "invalid"), *_JSON_400),
                   "401": V2_UNAUTHORIZED,
                   "403": coded_error("The current password is wrong", ("Wrong password", "wrong_password")),
                   "408": V2_BODY_TIMEOUT, "413": _TOO_LARGE, "429": V2_TOO_MANY_ATTEMPTS,
                   "503": V2_UNAVAILABLE, "507": V2_INSUFFICIENT_STORAGE},
    )},
}

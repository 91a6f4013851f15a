"""GET /openapi.json: the contract as an OpenAPI 3.1 document."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shared.blobs import THUMBNAIL_WIDTHS

from .views import json_response

routes = web.RouteTableDef()


def _error(description: str, *messages: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
    content = {"application/json": {"schema": schema}}
    if messages:
        content["application/json"]["examples"] = {
            m.replace(" ", "_").replace("'", ""): {"value": {"error": m}} for m in messages
        }
    return {"description": description, "content": content}


def _json(description: str, ref: str | dict) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ref}"} if isinstance(ref, str) else ref
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_TOKEN: list[dict[str, list[str]]] = [{"token": []}]
_UNAUTHORIZED = _error("Missing, unknown or expired token", "Unauthorized")
_NOT_FOUND = _error("Not the caller's file, or no such file", "Not found")
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
       "description": "A file id (24 hex digits); a malformed id is simply not found"}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Files Manager",
        "version": "1.0.0",
        "description": "Users, tokens, files and folders, public sharing and thumbnails. "
        "Every error body is {\"error\": \"<message>\"}.",
    },
    "components": {
        "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "X-Token"},
                            "basic": {"type": "http", "scheme": "basic"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "string"}}},
            "User": {"type": "object", "required": ["id", "email"],
                     "properties": {"id": {"type": "string"}, "email": {"type": "string"}}},
            "File": {
                "type": "object",
                "required": ["id", "userId", "name", "type", "isPublic", "parentId"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string"},
                    "userId": {"type": "string"},
                    "name": {"type": "string"},
                    "type": {"enum": ["folder", "file", "image"]},
                    "isPublic": {"type": "boolean"},
                    "parentId": {"oneOf": [{"const": 0}, {"type": "string"}],
                                 "description": "0 at the root, else the parent folder's id"},
                },
            },
        },
    },
    "paths": {
        "/status": {"get": {"summary": "Whether Redis and the database answer",
                            "responses": {"200": _json("Always 200", {
                                "type": "object",
                                "properties": {"redis": {"type": "boolean"}, "db": {"type": "boolean"}}})}}},
        "/stats": {"get": {"summary": "How many users and files",
                           "responses": {"200": _json("Counts", {
                               "type": "object",
                               "properties": {"users": {"type": "integer"}, "files": {"type": "integer"}}})}}},
        "/users": {"post": {
            "summary": "Sign up",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"email": {"type": "string"}, "password": {"type": "string"}}}}}},
            "responses": {"201": _json("Created; a welcome job is enqueued", "User"),
                          "400": _error("Invalid input", "Missing email", "Missing password", "Already exist")}}},
        "/users/me": {"get": {"summary": "The caller", "security": _TOKEN,
                              "responses": {"200": _json("The user", "User"), "401": _UNAUTHORIZED}}},
        "/connect": {"get": {"summary": "Log in: Basic credentials for a 24-hour token", "security": [{"basic": []}],
                             "responses": {"200": _json("A token", {
                                 "type": "object", "properties": {"token": {"type": "string"}}}),
                                 "401": _UNAUTHORIZED}}},
        "/disconnect": {"get": {"summary": "Log out: delete the token", "security": _TOKEN,
                                "responses": {"204": {"description": "Deleted"}, "401": _UNAUTHORIZED}}},
        "/files": {
            "post": {
                "summary": "Create a folder, or upload a file or image (base64 in JSON)", "security": _TOKEN,
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        "name": {"type": "string"}, "type": {"enum": ["folder", "file", "image"]},
                        "parentId": {"oneOf": [{"const": 0}, {"type": "string"}]},
                        "isPublic": {"type": "boolean"}, "data": {"type": "string", "contentEncoding": "base64"}}}}}},
                "responses": {"201": _json("Created; an image gets a thumbnails job", "File"),
                              "400": _error("Invalid input", "Missing name", "Missing type", "Missing data",
                                            "Parent not found", "Parent is not a folder"),
                              "401": _UNAUTHORIZED,
                              "413": _error("Body larger than the configured limit")}},
            "get": {
                "summary": "The caller's files in a folder, 20 per page", "security": _TOKEN,
                "parameters": [
                    {"name": "parentId", "in": "query", "schema": {"type": "string", "default": "0"}},
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}],
                "responses": {"200": _json("A page of files",
                                           {"type": "array", "items": {"$ref": "#/components/schemas/File"}}),
                              "400": _error("Invalid page"), "401": _UNAUTHORIZED}},
        },
        "/files/{id}": {"get": {"summary": "One of the caller's files", "security": _TOKEN, "parameters": [_ID],
                                "responses": {"200": _json("The file", "File"), "401": _UNAUTHORIZED,
                                              "404": _NOT_FOUND}}},
        "/files/{id}/publish": {"put": {"summary": "Make a file public", "security": _TOKEN, "parameters": [_ID],
                                        "responses": {"200": _json("The updated file", "File"),
                                                      "401": _UNAUTHORIZED, "404": _NOT_FOUND}}},
        "/files/{id}/unpublish": {"put": {"summary": "Make a file private", "security": _TOKEN, "parameters": [_ID],
                                          "responses": {"200": _json("The updated file", "File"),
                                                        "401": _UNAUTHORIZED, "404": _NOT_FOUND}}},
        "/files/{id}/data": {"get": {
            "summary": "The content, or a thumbnail; public files need no token",
            "security": [{}, {"token": []}],
            "parameters": [_ID, {"name": "size", "in": "query", "schema": {"enum": [str(w) for w in THUMBNAIL_WIDTHS]}},
                           {"name": "Range", "in": "header", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "The bytes, Content-Type from the file's name",
                                  "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
                          "206": {"description": "Part of the bytes (Range)"},
                          "304": {"description": "Not modified (If-None-Match / If-Modified-Since)"},
                          "400": _error("A folder, or an invalid size", "A folder doesn't have content"),
                          "404": _NOT_FOUND}}},
        "/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": {"description": "OpenAPI 3.1",
                                                        "content": {"application/json": {}}}}}},
    },
}


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(SPEC)

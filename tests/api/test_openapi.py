"""/openapi.json against the code, without a live service: every route is
documented and every documented operation routed, and the patterns the
document states agree with the parsers they stand for. (The live check, every
answer against the document, is test_openapi_schemathesis.py.)"""

from __future__ import annotations

import re

import jsonschema_rs
import orjson
from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from services.api.app import create_app
from services.api.edge import RUNNER_OPTIONS
from services.api.json_upload import UploadScanner
from services.api.openapi import SPEC, v1, v2_uploads
from services.api.tus_headers import parse_checksum, parse_metadata
from shared.errors import Invalid

DOCUMENTED = {(method.upper(), path) for path, ops in SPEC["paths"].items() for method in ops}


async def test_the_document_is_served(aiohttp_client, aiohttp_server, settings):
    client = await aiohttp_client(await aiohttp_server(create_app(settings), **RUNNER_OPTIONS))
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == SPEC
    assert SPEC["openapi"] == "3.1.0"


def test_every_route_is_documented_and_every_operation_routed(settings):
    routed = {(route.method, route.resource.canonical) for route in create_app(settings).router.routes()}
    assert {(method, path) for method, path in routed if method != "HEAD"} == {
        (method, path) for method, path in DOCUMENTED if method != "HEAD"}


def test_head_is_answered_where_the_document_says(settings):
    """Every GET answers HEAD (but v1.NO_HEAD's), and a HEAD of its own (tus) is documented as one."""
    routed = {(route.method, route.resource.canonical) for route in create_app(settings).router.routes()}
    gets = {path for method, path in DOCUMENTED if method == "GET"}
    heads = {path for method, path in DOCUMENTED if method == "HEAD"}
    assert not gets & heads
    assert {path for method, path in routed if method == "HEAD"} == (gets - set(v1.NO_HEAD)) | heads
    for path in v1.NO_HEAD:
        assert "HEAD is not answered (405)" in SPEC["paths"][path]["get"]["description"]


def test_every_operation_has_an_id_and_every_link_names_one():
    ids = [op["operationId"] for ops in SPEC["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)) == len(DOCUMENTED)
    for ops in SPEC["paths"].values():
        for op in ops.values():
            for answer in op["responses"].values():
                for link in answer.get("links", {}).values():
                    assert link["operationId"] in ids


# --- The base64 of an upload's `data` --------------------------------------
_DATA = {"type": "string", "pattern": v1.BASE64_PATTERN}
_VALIDATOR = jsonschema_rs.validator_for(_DATA)


def _upload_accepts(data: str, chunk: int) -> bool:
    """Whether POST /files takes `data` as base64, the body arriving `chunk` bytes at a time."""
    body = orjson.dumps({"name": "a", "type": "file", "data": data})
    scanner = UploadScanner()
    for start in range(0, len(body), chunk):
        scanner.feed(body[start:start + chunk])
    return scanner.end().data_is_base64


@hypothesis_settings(derandomize=True, max_examples=3000, deadline=None)
@given(data=st.text(alphabet="AQgw09+/=\t\n\x0b\x0c\r -_é\x00", max_size=13), chunk=st.sampled_from([1, 2, 3, 7, 4096]))
def test_the_documented_base64_is_what_an_upload_accepts(data, chunk):
    documented = _VALIDATOR.is_valid(data)
    assert documented == (re.fullmatch(v1.BASE64_PATTERN, data) is not None)  # what schemathesis generates from
    assert documented == _upload_accepts(data, chunk), data


def test_the_base64_examples():
    for valid in ["", " ", "aGk=", "aGk=\n", "a G k =", "aGVsbG8=", "AA==", "AB==", "AAAA\r\nAAAA"]:
        assert _VALIDATOR.is_valid(valid) and _upload_accepts(valid, 4096), valid
    for invalid in ["a", "aGk", "aGk==", "=", "AA==AA==", "aGk=x", "aG-k", "aGk\u00e9", "AAAA===="]:
        assert not _VALIDATOR.is_valid(invalid) and not _upload_accepts(invalid, 4096), invalid


# --- tus: Upload-Metadata and Upload-Checksum, as tus_headers.py reads them --
_METADATA = jsonschema_rs.validator_for({"type": "string", "pattern": v2_uploads.METADATA_PATTERN})
_CHECKSUM = jsonschema_rs.validator_for({"type": "string", "pattern": v2_uploads.CHECKSUM_PATTERN})


def _read(parse, name: str, value: str):
    """What the parser makes of the header `name: value`, or None when it refuses it (400)."""
    try:
        return parse(make_mocked_request("POST", "/v2/uploads", headers={name: value}))
    except Invalid:
        return None


def _keys(metadata: str) -> list[str]:
    return [element.strip(" \t").partition(" ")[0] for element in metadata.split(",")]


@hypothesis_settings(derandomize=True, max_examples=200, deadline=None)
@given(value=st.from_regex(v2_uploads.METADATA_PATTERN, fullmatch=True))
def test_documented_metadata_is_read(value):
    assert _METADATA.is_valid(value)
    keys = _keys(value)
    pairs = _read(parse_metadata, "Upload-Metadata", value)
    if len(set(keys)) == len(keys):  # a key given twice: a rule the pattern cannot state
        assert pairs is not None and list(pairs) == keys and pairs["filename"], value
    else:
        assert pairs is None


@hypothesis_settings(derandomize=True, max_examples=1500, deadline=None)
@given(value=st.text(alphabet="filenam eA=Q,\t+/ék", max_size=40))
def test_metadata_the_parser_takes_with_a_filename_first_is_documented(value):
    documented = _METADATA.is_valid(value)
    assert documented == (re.fullmatch(v2_uploads.METADATA_PATTERN, value) is not None)
    pairs = _read(parse_metadata, "Upload-Metadata", value)
    if documented:
        assert pairs is not None or len(set(_keys(value))) < len(_keys(value)), value
    elif pairs is not None:
        assert _keys(value)[0] != "filename" or not pairs["filename"], value


@hypothesis_settings(derandomize=True, max_examples=600, deadline=None)
@given(value=st.one_of(st.from_regex(v2_uploads.CHECKSUM_PATTERN, fullmatch=True),
                       st.text(alphabet="sha1md5 2A+/=\t", max_size=50)))
def test_the_documented_checksum_is_what_the_parser_takes(value):
    documented = _CHECKSUM.is_valid(value)
    assert documented == (re.fullmatch(v2_uploads.CHECKSUM_PATTERN, value) is not None)
    assert documented == (_read(parse_checksum, "Upload-Checksum", value) is not None), value

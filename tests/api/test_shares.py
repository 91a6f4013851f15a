"""Public share links: GET/POST /s/<token>[/<fileId>] (api-v2.md, "Share
links"): content with the safe headers, pages for browsers, counted
downloads, dead links, passwords and their cookie, folder links confined to
their folder. The owner's side is test_v2_links.py."""

from __future__ import annotations

import asyncio
import html
import re
import time
from http.cookies import SimpleCookie

import pytest

from services.api.app import create_app
from shared.blobs import thumbnail_path
from shared.storage import Storage
from shared.storage.base import blob_name
from tests.conftest import IMAGES

from .conftest import Account
from .share_links import (
    BROWSER,
    PAGE_CSP,
    forget_cookies,
    new_file,
    new_link,
    stored_link,
    trash,
)
from .uploads import put_blob

GONE = {"error": "Link expired", "code": "link_expired"}
HOSTILE = "<script>alert(\"x\")</script> & 'quotes'.txt"


async def downloads(client, account: Account, link: dict) -> int:
    resp = await client.get(f"/v2/files/{link['fileId']}/links", headers=account.headers)
    return next(item["downloads"] for item in (await resp.json())["items"] if item["id"] == link["id"])


def assert_page_headers(resp) -> None:
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.headers["Content-Security-Policy"] == PAGE_CSP
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "private, no-store"


# ------------------------------------------------------------------ a file


async def test_a_file_link_serves_the_content_safely(client, alice: Account):
    record = await new_file(client, alice, "notes.txt", b"0123456789")
    link = await new_link(client, alice, record["id"])
    resp = await client.get(link["url"])  # no token header: anyone with the URL
    assert resp.status == 200
    assert await resp.read() == b"0123456789"
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"].startswith("sandbox;")
    assert resp.headers["Content-Disposition"] == "inline; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "private, no-store"
    etag = resp.headers["ETag"]

    resp = await client.get(link["url"], headers={"Range": "bytes=2-4"})
    assert resp.status == 206 and await resp.read() == b"234"
    resp = await client.get(link["url"], headers={"If-None-Match": etag})
    assert resp.status == 304
    resp = await client.get(link["url"] + "?download=1")
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert await resp.read() == b"0123456789"
    resp = await client.head(link["url"])
    assert resp.status == 200 and resp.headers["Content-Length"] == "10"
    # Every GET of the content counted (a range and a 304 too); the HEAD not.
    assert await downloads(client, alice, link) == 4

    for query in ("?size=12", "?download=maybe"):
        resp = await client.get(link["url"] + query)
        assert resp.status == 400 and (await resp.json())["code"] == "invalid"
    # A file link reaches nothing below it.
    assert (await client.get(f"{link['url']}/{record['id']}")).status == 404


async def test_an_html_or_svg_file_is_an_attachment(client, alice: Account):
    record = await new_file(client, alice, "page.html", b"<script>alert(1)</script>")
    link = await new_link(client, alice, record["id"])
    resp = await client.get(link["url"])
    assert resp.status == 200
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "sandbox" in resp.headers["Content-Security-Policy"]


async def test_a_browser_gets_a_page_which_costs_no_download(client, alice: Account):
    record = await new_file(client, alice, HOSTILE, b"x" * 2048)
    link = await new_link(client, alice, record["id"], maxDownloads=3)
    for _ in range(5):
        resp = await client.get(link["url"], headers=BROWSER)
        assert resp.status == 200
    assert_page_headers(resp)
    page = await resp.text()
    assert "<script>" not in page and "alert(\"x\")" not in page
    assert html.escape(HOSTILE, quote=True) in page
    assert "2.0 KB" in page and "3 downloads left" in page
    assert f'href="{link["url"]}?download=1"' in page
    assert "<img" not in page  # not an image
    assert await downloads(client, alice, link) == 0
    resp = await client.get(link["url"] + "?download=1", headers=BROWSER)  # the button: a download
    assert resp.status == 200 and await resp.read() == b"x" * 2048
    assert await downloads(client, alice, link) == 1


async def test_an_images_page_previews_its_thumbnail_which_is_not_a_download(client, alice: Account,
                                                                            storage: Storage, backend_settings):
    data = (IMAGES / "hopper.jpg").read_bytes()
    record = await new_file(client, alice, "hopper.jpg", data, type_="image")
    link = await new_link(client, alice, record["id"], maxDownloads=1)
    assert (await client.get(link["url"] + "?size=500")).status == 404  # no thumbnail yet
    page = await (await client.get(link["url"], headers=BROWSER)).text()
    assert "<img" not in page

    stored = await storage.file_of_user(alice.id, record["id"])
    put_blob(backend_settings, thumbnail_path(blob_name(stored.local_path), 500), b"thumbnail bytes")
    await storage.set_thumbnails(record["id"], stored.local_path)
    page = await (await client.get(link["url"], headers=BROWSER)).text()
    assert f'<img class="preview" src="{link["url"]}?size=500" alt="">' in page
    for _ in range(3):
        resp = await client.get(link["url"] + "?size=500")
        assert resp.status == 200 and await resp.read() == b"thumbnail bytes"
        assert resp.headers["Content-Type"] == "image/jpeg"
    assert await downloads(client, alice, link) == 0
    resp = await client.get(link["url"])
    assert resp.status == 200 and await resp.read() == data
    assert (await client.get(link["url"])).status == 410
    assert (await client.get(link["url"] + "?size=500")).status == 410  # a used-up link shows nothing


# ----------------------------------------------------------- counted, dead


async def test_max_downloads_under_concurrency_exactly_n_succeed(client, alice: Account):
    record = await new_file(client, alice, "big.bin", b"z" * 100_000)
    link = await new_link(client, alice, record["id"], maxDownloads=5)

    async def fetch() -> int:
        resp = await client.get(link["url"])
        body = await resp.read()
        if resp.status == 200:
            assert body == b"z" * 100_000
        else:
            assert resp.status == 410 and body
        return resp.status

    statuses = await asyncio.gather(*(fetch() for _ in range(20)))
    assert sorted(statuses) == [200] * 5 + [410] * 15
    assert await downloads(client, alice, link) == 5
    resp = await client.get(link["url"], headers=BROWSER)
    assert resp.status == 410
    assert_page_headers(resp)
    assert "Link expired" in await resp.text()


async def test_an_expired_link_is_410(client, alice: Account, storage: Storage):
    record = await new_file(client, alice)
    url = await stored_link(storage, alice, record["id"], expires_at=time.time() - 1)
    resp = await client.get(url)
    assert resp.status == 410 and await resp.json() == GONE
    assert resp.headers["Referrer-Policy"] == "no-referrer" and resp.headers["Cache-Control"] == "private, no-store"
    resp = await client.get(url, headers=BROWSER)
    assert resp.status == 410 and "Link expired" in await resp.text()
    assert (await client.post(url, json={"password": "x"})).status == 410
    live = await stored_link(storage, alice, record["id"], expires_at=time.time() + 60)
    assert (await client.get(live)).status == 200


async def test_a_trashed_files_links_are_410_and_a_purged_ones_404(client, alice: Account):
    kept = await new_file(client, alice, "kept.txt", b"kept")
    record = await new_file(client, alice)
    link = await new_link(client, alice, record["id"])
    await trash(client, alice, record["id"])
    assert (await client.get(link["url"])).status == 410
    resp = await client.post(f"/v2/files/{record['id']}/restore", headers=alice.headers)
    assert resp.status == 200
    assert (await client.get(link["url"])).status == 200  # back: the link was never revoked
    await trash(client, alice, record["id"], permanent=True)
    # Purged for good, with its links (Storage.purge_file): the token is unknown now.
    resp = await client.get(link["url"])
    assert resp.status == 404
    other = await new_link(client, alice, kept["id"])
    assert (await client.get(other["url"])).status == 200


@pytest.mark.parametrize("path", [
    "/s/AAAAAAAAAAAAAAAAAAAAAA", "/s/short", "/s/" + "A" * 23, "/s/" + "A" * 4000, "/s/%00%01",
    "/s/..%2F..%2Fetc", "/s/" + "é" * 22, "/s/AAAAAAAAAAAAAAAAAAAAAA/" + "0" * 24, "/s/",
])
async def test_unknown_or_malformed_tokens_are_404(client, path: str):
    resp = await client.get(path)
    assert resp.status == 404
    assert (await resp.json())["code"] == "not_found"
    resp = await client.get(path, headers=BROWSER)
    assert resp.status == 404


async def test_a_token_past_the_request_line_limit_is_a_4xx(client):
    resp = await client.get("/s/" + "A" * 20_000)
    assert 400 <= resp.status < 500


# -------------------------------------------------------------- passwords


def unlock_cookie(resp) -> str:
    [header] = resp.headers.getall("Set-Cookie")
    cookie = SimpleCookie(header)["fm_share"]
    return cookie.value


async def test_a_password_then_an_hours_cookie(client, alice: Account):
    record = await new_file(client, alice, "secret.txt", b"the secret")
    link = await new_link(client, alice, record["id"], password="open sesame")
    url = link["url"]
    resp = await client.get(url)
    assert resp.status == 401
    assert await resp.json() == {"error": "Password required", "code": "password_required"}
    resp = await client.get(url, headers=BROWSER)
    assert resp.status == 401
    assert_page_headers(resp)
    page = await resp.text()
    assert f'<form method="post" action="{url}">' in page and 'name="password"' in page

    resp = await client.post(url, data={"password": "wrong"}, allow_redirects=False)
    assert resp.status == 401 and "Wrong password" in await resp.text()
    assert "Set-Cookie" not in resp.headers
    resp = await client.post(url, json={"password": "wrong"})
    assert resp.status == 401 and await resp.json() == {"error": "Wrong password", "code": "wrong_password"}

    resp = await client.post(url, data={"password": "open sesame"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == url
    header = resp.headers["Set-Cookie"]
    morsel = SimpleCookie(header)["fm_share"]
    assert morsel["path"] == url and morsel["max-age"] == "3600"
    assert morsel["httponly"] is True and morsel["samesite"] == "Strict"
    assert not morsel["secure"]  # plain HTTP here: a Secure cookie would never come back
    value = morsel.value
    forget_cookies(client)

    resp = await client.get(url, headers={"Cookie": f"fm_share={value}"})
    assert resp.status == 200 and await resp.read() == b"the secret"
    resp = await client.post(url, json={"password": "open sesame"})
    assert resp.status == 204 and unlock_cookie(resp)
    forget_cookies(client)
    assert (await client.get(url)).status == 401  # no cookie, no content


async def test_forged_or_borrowed_cookies_are_refused(client, alice: Account):
    record = await new_file(client, alice, "secret.txt", b"the secret")
    mine = await new_link(client, alice, record["id"], password="pw-one")
    theirs = await new_link(client, alice, record["id"], password="pw-two")
    resp = await client.post(theirs["url"], json={"password": "pw-two"})
    assert resp.status == 204
    borrowed = unlock_cookie(resp)
    forget_cookies(client)
    _, expires, mac = borrowed.split(".")
    forged = [
        borrowed,  # another link's, valid there
        f"{mine['id']}.{expires}.{mac}",  # moved to this link
        f"{mine['id']}.{int(expires) + 86400}.{mac}",
        f"{mine['id']}.{expires}.{'0' * 64}",
        f"{mine['id']}.9999999999.{mac}",
        "", "x" * 4000, "%00",
    ]
    for value in forged:
        resp = await client.get(mine["url"], headers={"Cookie": f"fm_share={value}"})
        assert resp.status == 401, value
    resp = await client.get(theirs["url"], headers={"Cookie": f"fm_share={borrowed}"})
    assert resp.status == 200


async def test_a_revoked_links_cookie_opens_nothing(client, alice: Account):
    record = await new_file(client, alice)
    link = await new_link(client, alice, record["id"], password="pw")
    resp = await client.post(link["url"], json={"password": "pw"})
    value = unlock_cookie(resp)
    forget_cookies(client)
    assert (await client.delete(f"/v2/links/{link['id']}", headers=alice.headers)).status == 204
    resp = await client.get(link["url"], headers={"Cookie": f"fm_share={value}"})
    assert resp.status == 410


async def test_wrong_passwords_are_limited_as_logins_are(client, alice: Account):
    record = await new_file(client, alice)
    link = await new_link(client, alice, record["id"], password="right")
    other = await new_link(client, alice, record["id"], password="right")
    for _ in range(10):
        assert (await client.post(link["url"], json={"password": "wrong"})).status == 401
    resp = await client.post(link["url"], json={"password": "right"})  # counted before checked
    assert resp.status == 429
    assert await resp.json() == {"error": "Too many attempts", "code": "too_many_attempts"}
    assert 1 <= int(resp.headers["Retry-After"]) <= 900
    resp = await client.post(link["url"], data={"password": "right"}, allow_redirects=False)
    assert resp.status == 429 and "Too many attempts" in await resp.text()
    assert resp.headers["Retry-After"]
    # Per (link, address): another link from the same address still opens.
    assert (await client.post(other["url"], json={"password": "right"})).status == 204


@pytest.mark.parametrize(("body", "headers", "message"), [
    (b"", {"Content-Type": "application/json"}, "Missing password"),
    (b'{"password": ""}', {"Content-Type": "application/json"}, "Missing password"),
    (b'{"password": 12}', {"Content-Type": "application/json"}, "Invalid password"),
    (b'{"password": "' + b"x" * 1025 + b'"}', {"Content-Type": "application/json"}, "Invalid password"),
    (b"{", {"Content-Type": "application/json"}, "Invalid JSON body"),
    (b"[1]", {"Content-Type": "application/json"}, "Invalid JSON body"),
    (b"password=%FF%FE", {"Content-Type": "application/x-www-form-urlencoded"}, "Invalid form body"),
    (b"password=\xe9", {"Content-Type": "application/x-www-form-urlencoded"}, "Invalid form body"),
    (b"&".join([b"a=1"] * 40), {"Content-Type": "application/x-www-form-urlencoded"}, "Invalid form body"),
    (b"password=", {"Content-Type": "application/x-www-form-urlencoded"}, "Missing password"),
    (b"other=1", {"Content-Type": "application/x-www-form-urlencoded"}, "Unknown field: other"),
    (b'{"password": "pw", "x": 1}', {"Content-Type": "application/json"}, "Unknown field: x (use password)"),
    (b"password=pw", {"Content-Type": "text/plain"}, "Invalid body"),
])
async def test_bad_password_bodies_are_400_and_not_counted(client, alice: Account, body, headers, message):
    record = await new_file(client, alice)
    link = await new_link(client, alice, record["id"], password="pw")
    for _ in range(11):  # never counted as attempts: the right password still opens after
        resp = await client.post(link["url"], data=body, headers=headers)
        assert resp.status == 400
        if headers["Content-Type"] == "application/x-www-form-urlencoded":  # a browser's form: a page
            assert_page_headers(resp)
            assert f"<h1>{message}" in await resp.text()
        else:
            answer = await resp.json()
            assert answer["code"] == "invalid" and answer["error"].startswith(message), answer
    assert (await client.post(link["url"], json={"password": "pw"})).status == 204


async def test_a_link_without_password_needs_no_unlocking(client, alice: Account):
    record = await new_file(client, alice)
    link = await new_link(client, alice, record["id"])
    resp = await client.post(link["url"], json={"password": "anything"})
    assert resp.status == 204 and "Set-Cookie" not in resp.headers
    resp = await client.post(link["url"], data={"password": "x"}, allow_redirects=False)
    assert resp.status == 303 and "Set-Cookie" not in resp.headers
    # The body is checked all the same.
    resp = await client.post(link["url"], json={"password": 5})
    assert resp.status == 400


async def test_query_parameters_are_checked_whatever_the_link_leads_to(client, alice: Account):
    folder = await new_file(client, alice, "f", type_="folder")
    record = await new_file(client, alice)
    for target in (folder, record):
        link = await new_link(client, alice, target["id"])
        for query in ("?size=7", "?download=2", "?limit=0", "?limit=x", "?sort=up", "?limit=1&limit=2"):
            resp = await client.get(link["url"] + query)
            assert resp.status == 400, (target["type"], query)
        # Valid but meant for the other kind: no effect.
        extra = "?limit=5&sort=-size" if target is record else "?size=100&download=1"
        assert (await client.get(link["url"] + extra)).status == 200


async def test_the_cookie_is_secure_behind_a_trusted_https_proxy(settings, aiohttp_client):
    import ipaddress

    from .conftest import sign_up

    app = create_app(settings.replace(server={"trusted_proxies": (ipaddress.ip_network("127.0.0.1/32"),)}))
    client = await aiohttp_client(app)
    alice = await sign_up(client, "alice@example.com", "alice-pw")
    record = await new_file(client, alice)
    link = await new_link(client, alice, record["id"], password="pw")
    resp = await client.post(link["url"], json={"password": "pw"}, headers={"X-Forwarded-Proto": "https"})
    assert resp.status == 204
    assert SimpleCookie(resp.headers["Set-Cookie"])["fm_share"]["secure"] is True


# ------------------------------------------------------------ a folder


async def folder_tree(client, alice: Account) -> dict:
    """shared/ {a.txt, b.txt, sub/ {deep.txt}}, outside.txt at the root, secret/ {s.txt}."""
    shared = await new_file(client, alice, "shared", type_="folder")
    sub = await new_file(client, alice, "sub", type_="folder", parent_id=shared["id"])
    tree = {
        "shared": shared, "sub": sub,
        "a": await new_file(client, alice, "a.txt", b"aaa", parent_id=shared["id"]),
        "b": await new_file(client, alice, HOSTILE, b"bbb", parent_id=shared["id"]),
        "deep": await new_file(client, alice, "deep.txt", b"deep", parent_id=sub["id"]),
        "outside": await new_file(client, alice, "outside.txt", b"out"),
    }
    secret = await new_file(client, alice, "secret", type_="folder")
    tree["secret"] = secret
    tree["s"] = await new_file(client, alice, "s.txt", b"sss", parent_id=secret["id"])
    return tree


async def test_a_folder_link_lists_and_serves_what_is_inside(client, alice: Account):
    tree = await folder_tree(client, alice)
    link = await new_link(client, alice, tree["shared"]["id"])
    url = link["url"]
    resp = await client.get(url, headers={"Accept": "application/json"})
    assert resp.status == 200
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    body = await resp.json()
    assert (body["id"], body["name"], body["path"], body["next"]) == (tree["shared"]["id"], "shared", [], None)
    # Folders first, then by name ("<" sorts before "a").
    assert [(i["name"], i["type"], i["size"]) for i in body["items"]] == [
        ("sub", "folder", 0), (HOSTILE, "file", 3), ("a.txt", "file", 3)]
    for item in body["items"]:
        assert item["url"] == f"{url}/{item['id']}"
        assert set(item) == {"id", "name", "type", "size", "mimeType", "updatedAt", "hasThumbnails", "url"}

    resp = await client.get(f"{url}/{tree['a']['id']}")
    assert resp.status == 200 and await resp.read() == b"aaa"
    sub = await (await client.get(f"{url}/{tree['sub']['id']}")).json()
    assert sub["path"] == [{"id": tree["shared"]["id"], "name": "shared", "url": url}]
    assert [i["name"] for i in sub["items"]] == ["deep.txt"]
    resp = await client.get(sub["items"][0]["url"])
    assert resp.status == 200 and await resp.read() == b"deep"
    resp = await client.get(f"{url}/{tree['shared']['id']}")  # the linked folder itself
    assert (await resp.json())["name"] == "shared"


async def test_nothing_outside_the_folder_is_reachable(client, alice: Account, bob: Account):
    tree = await folder_tree(client, alice)
    bobs = await new_file(client, bob, "bob.txt", b"bob")
    link = await new_link(client, alice, tree["sub"]["id"])  # the subfolder
    url = link["url"]
    for name in ("shared", "a", "b", "outside", "secret", "s"):
        resp = await client.get(f"{url}/{tree[name]['id']}")
        assert resp.status == 404, name
        assert (await client.get(f"{url}/{tree[name]['id']}?download=1", headers=BROWSER)).status == 404
    for file_id in (bobs["id"], "0" * 24, "0", "..", "nope", "x" * 500):
        assert (await client.get(f"{url}/{file_id}")).status == 404, file_id
    assert (await client.get(f"{url}/{tree['deep']['id']}")).status == 200


async def test_trashed_items_leave_the_folder_link(client, alice: Account):
    tree = await folder_tree(client, alice)
    link = await new_link(client, alice, tree["shared"]["id"])
    await trash(client, alice, tree["a"]["id"])
    await trash(client, alice, tree["sub"]["id"])
    body = await (await client.get(link["url"], headers={"Accept": "application/json"})).json()
    assert [i["name"] for i in body["items"]] == [HOSTILE]
    for name in ("a", "sub", "deep"):
        assert (await client.get(f"{link['url']}/{tree[name]['id']}")).status == 404, name
    await trash(client, alice, tree["shared"]["id"])
    assert (await client.get(link["url"])).status == 410
    assert (await client.get(f"{link['url']}/{tree['b']['id']}")).status == 410


async def test_downloads_inside_a_folder_link_count_against_it(client, alice: Account):
    tree = await folder_tree(client, alice)
    link = await new_link(client, alice, tree["shared"]["id"], maxDownloads=2)
    assert (await client.get(f"{link['url']}/{tree['a']['id']}")).status == 200
    assert (await client.get(f"{link['url']}/{tree['deep']['id']}")).status == 200
    assert (await client.get(f"{link['url']}/{tree['a']['id']}")).status == 410
    assert (await client.get(link["url"], headers={"Accept": "application/json"})).status == 410


async def test_a_folder_page_for_browsers_escapes_every_name(client, alice: Account):
    tree = await folder_tree(client, alice)
    link = await new_link(client, alice, tree["shared"]["id"])
    resp = await client.get(link["url"], headers=BROWSER)
    assert resp.status == 200
    assert_page_headers(resp)
    page = await resp.text()
    assert "<script>" not in page
    assert html.escape(HOSTILE, quote=True) in page
    assert f'href="{link["url"]}/{tree["sub"]["id"]}"' in page
    assert f'href="{link["url"]}/{tree["a"]["id"]}?download=1"' in page
    sub = await (await client.get(f"{link['url']}/{tree['sub']['id']}", headers=BROWSER)).text()
    assert f'<a href="{link["url"]}">shared</a>' in sub and "deep.txt" in sub


async def test_a_folder_link_pages_with_cursors_bound_to_it(client, alice: Account):
    folder = await new_file(client, alice, "many", type_="folder")
    names = [f"f{i:02}.txt" for i in range(7)]
    for name in names:
        await new_file(client, alice, name, b"x", parent_id=folder["id"])
    link = await new_link(client, alice, folder["id"])
    other = await new_link(client, alice, folder["id"])
    seen, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = await (await client.get(link["url"] + query, headers={"Accept": "application/json"})).json()
        seen += [i["name"] for i in body["items"]]
        cursor = body["next"]
        if cursor is None:
            break
        # Bound to this link: another link of the same folder refuses it, as an edited one.
        edited = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
        for url, value in ((other["url"], cursor), (link["url"], edited)):
            resp = await client.get(f"{url}?limit=3&cursor={value}")
            assert resp.status == 400 and (await resp.json())["error"] == "Invalid cursor"
    assert seen == names
    page = await (await client.get(link["url"] + "?limit=3", headers=BROWSER)).text()
    more = re.search(r'href="([^"]+)">More</a>', page).group(1)
    assert more.startswith(link["url"] + "?limit=3&amp;cursor=")
    for query in ("?limit=0", "?limit=abc", "?sort=bogus", "?cursor=%%%"):
        assert (await client.get(link["url"] + query)).status == 400, query

"""GET /files/:id, GET /files (paging), PUT publish/unpublish: always the caller's own."""

from __future__ import annotations

import pytest

from .conftest import upload


async def test_show_own_file(client, alice):
    created = await upload(client, alice, name="a.txt", type="file", data="aGk=")
    resp = await client.get(f"/files/{created['id']}", headers=alice.headers)
    assert resp.status == 200
    assert await resp.json() == created


async def test_show_without_token(client, alice):
    created = await upload(client, alice, name="a.txt", type="file", data="aGk=")
    resp = await client.get(f"/files/{created['id']}")
    assert resp.status == 401
    assert await resp.json() == {"error": "Unauthorized"}


async def test_show_another_users_file_is_not_found(client, alice, bob):
    created = await upload(client, alice, name="a.txt", type="file", data="aGk=", isPublic=True)
    resp = await client.get(f"/files/{created['id']}", headers=bob.headers)
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


@pytest.mark.parametrize("file_id", ["0123456789abcdef01234567", "nope", "0" * 25, "zzzzzzzzzzzzzzzzzzzzzzzz"])
async def test_show_unknown_or_malformed_id_is_not_found(client, alice, file_id):
    resp = await client.get(f"/files/{file_id}", headers=alice.headers)
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


async def test_list_root_by_default(client, alice):
    folder = await upload(client, alice, name="docs", type="folder")
    top = await upload(client, alice, name="a.txt", type="file", data="aGk=")
    await upload(client, alice, name="inner.txt", type="file", data="aGk=", parentId=folder["id"])
    resp = await client.get("/files", headers=alice.headers)
    assert resp.status == 200
    assert await resp.json() == [folder, top]
    resp = await client.get("/files?parentId=0", headers=alice.headers)
    assert await resp.json() == [folder, top]


async def test_list_a_folder(client, alice):
    folder = await upload(client, alice, name="docs", type="folder")
    inner = await upload(client, alice, name="inner.txt", type="file", data="aGk=", parentId=folder["id"])
    resp = await client.get(f"/files?parentId={folder['id']}", headers=alice.headers)
    assert await resp.json() == [inner]


@pytest.mark.parametrize("parent", ["0123456789abcdef01234567", "garbage", "{\"$ne\":0}"])
async def test_list_unknown_parent_is_an_empty_list(client, alice, parent):
    await upload(client, alice, name="a.txt", type="file", data="aGk=")
    resp = await client.get("/files", params={"parentId": parent}, headers=alice.headers)
    assert resp.status == 200
    assert await resp.json() == []


async def test_list_shows_only_the_callers_files(client, alice, bob):
    await upload(client, bob, name="bobs.txt", type="file", data="aGk=", isPublic=True)
    folder = await upload(client, bob, name="bobs", type="folder")
    await upload(client, bob, name="in.txt", type="file", data="aGk=", parentId=folder["id"])
    assert await (await client.get("/files", headers=alice.headers)).json() == []
    resp = await client.get(f"/files?parentId={folder['id']}", headers=alice.headers)
    assert await resp.json() == []


async def test_list_without_token(client):
    resp = await client.get("/files")
    assert resp.status == 401
    assert await resp.json() == {"error": "Unauthorized"}


async def test_pages_of_twenty_in_a_stable_order(client, alice):
    folder = await upload(client, alice, name="many", type="folder")
    created = [
        await upload(client, alice, name=f"f{i}", type="folder", parentId=folder["id"]) for i in range(45)
    ]
    pages = []
    for page in range(4):
        resp = await client.get("/files", params={"parentId": folder["id"], "page": str(page)},
                                headers=alice.headers)
        pages.append(await resp.json())
    assert [len(p) for p in pages] == [20, 20, 5, 0]
    assert pages[0] + pages[1] + pages[2] == created
    again = await (await client.get("/files", params={"parentId": folder["id"], "page": "1"},
                                    headers=alice.headers)).json()
    assert again == pages[1]


# "\u0663" is ARABIC-INDIC DIGIT THREE: a digit to str.isdecimal, not to the document's [0-9].
@pytest.mark.parametrize("page", ["-1", "abc", "1.5", "+1", " 1", "\u0663", "1\uff11"])
async def test_invalid_page_is_a_clear_400(client, alice, page):
    resp = await client.get("/files", params={"page": page}, headers=alice.headers)
    assert resp.status == 400
    assert await resp.json() == {"error": "Invalid page: expected a whole number from 0"}


@pytest.mark.parametrize("page", ["99999999999999999999", "9" * 5000])  # int() refuses past 4300 digits
async def test_a_huge_page_is_empty(client, alice, page):
    await upload(client, alice, name="a", type="folder")
    resp = await client.get("/files", params={"page": page}, headers=alice.headers)
    assert resp.status == 200
    assert await resp.json() == []


@pytest.mark.parametrize("page", ["", "0", "000", "0" * 5000])
async def test_an_empty_or_zero_page_is_the_first(client, alice, page):
    created = await upload(client, alice, name="a", type="folder")
    resp = await client.get("/files", params={"page": page}, headers=alice.headers)
    assert resp.status == 200
    assert await resp.json() == [created]


async def test_leading_zeros_name_the_same_page(client, alice):
    for i in range(21):
        await upload(client, alice, name=f"f{i}", type="folder")
    second = await (await client.get("/files", params={"page": "1"}, headers=alice.headers)).json()
    resp = await client.get("/files", params={"page": "0" * 5000 + "1"}, headers=alice.headers)
    assert resp.status == 200
    assert await resp.json() == second and len(second) == 1


async def test_publish_and_unpublish(client, alice):
    created = await upload(client, alice, name="a.txt", type="file", data="aGk=")
    resp = await client.put(f"/files/{created['id']}/publish", headers=alice.headers)
    assert resp.status == 200
    assert await resp.json() == {**created, "isPublic": True}
    resp = await client.put(f"/files/{created['id']}/publish", headers=alice.headers)
    assert resp.status == 200 and (await resp.json())["isPublic"] is True  # idempotent
    resp = await client.put(f"/files/{created['id']}/unpublish", headers=alice.headers)
    assert resp.status == 200
    assert await resp.json() == {**created, "isPublic": False}
    resp = await client.put(f"/files/{created['id']}/unpublish", headers=alice.headers)
    assert resp.status == 200 and (await resp.json())["isPublic"] is False
    shown = await (await client.get(f"/files/{created['id']}", headers=alice.headers)).json()
    assert shown["isPublic"] is False


@pytest.mark.parametrize("action", ["publish", "unpublish"])
async def test_publish_someone_elses_file_is_not_found_and_changes_nothing(client, alice, bob, action):
    created = await upload(client, alice, name="a.txt", type="file", data="aGk=", isPublic=action == "unpublish")
    resp = await client.put(f"/files/{created['id']}/{action}", headers=bob.headers)
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}
    shown = await (await client.get(f"/files/{created['id']}", headers=alice.headers)).json()
    assert shown == created


@pytest.mark.parametrize("action", ["publish", "unpublish"])
async def test_publish_without_token(client, alice, action):
    created = await upload(client, alice, name="a.txt", type="file", data="aGk=")
    resp = await client.put(f"/files/{created['id']}/{action}")
    assert resp.status == 401


@pytest.mark.parametrize("action", ["publish", "unpublish"])
async def test_publish_unknown_or_malformed_id(client, alice, action):
    for file_id in ("0123456789abcdef01234567", "bad"):
        resp = await client.put(f"/files/{file_id}/{action}", headers=alice.headers)
        assert resp.status == 404
        assert await resp.json() == {"error": "Not found"}

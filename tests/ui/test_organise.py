"""Acting on files and folders in a real browser: rename, move, delete and
undo, the trash, the image preview, downloads. Items are made over the API;
every outcome is checked over the API too, not only on the screen."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Locator, Page, expect

from .conftest import Account, Live, PageWatch, new_account, open_signed_in, shoot

IMAGES = Path(__file__).resolve().parents[1] / "images"


class Api:
    """The account's files over the v2 API."""

    def __init__(self, live: Live, account: Account) -> None:
        self.url = live.url
        self.headers = {"Authorization": f"Bearer {account.token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.url}{path}", headers=self.headers, timeout=10, **kwargs)

    def folder(self, name: str, parent: str = "0") -> dict[str, Any]:
        answer = self.call("POST", "/v2/files", json={"name": name, "type": "folder", "parentId": parent})
        answer.raise_for_status()
        return answer.json()

    def upload(self, name: str, content: bytes, parent: str = "0") -> dict[str, Any]:
        answer = self.call("POST", "/v2/files", data={"parentId": parent}, files={"file": (name, content)})
        answer.raise_for_status()
        item: dict[str, Any] = answer.json()["items"][0]
        return item

    def get(self, item: dict[str, Any]) -> requests.Response:
        return self.call("GET", f"/v2/files/{item['id']}")

    def trash(self) -> list[dict[str, Any]]:
        answer = self.call("GET", "/v2/trash")
        answer.raise_for_status()
        items: list[dict[str, Any]] = answer.json()["items"]
        return items


def signed_in(page: Page, live: Live) -> Api:
    account = new_account(live)
    open_signed_in(page, account)
    return Api(live, account)


def act(page: Page, name: str, label: str) -> None:
    """The item's menu in the folder view, then one of its actions."""
    page.get_by_role("button", name=f"Actions for {name}", exact=True).click()
    page.get_by_role("menuitem", name=label, exact=True).click()


def dialog(page: Page, title: str) -> Locator:
    return page.get_by_role("dialog", name=title)


def toast(page: Page, text: str) -> Locator:
    return page.locator("#toasts .toast").filter(has_text=text)


def test_rename_selects_the_name_and_shows_an_invalid_one_in_the_dialog(page: Page, live: Live, page_watch: PageWatch):
    api = signed_in(page, live)
    item = api.upload("notes.txt", b"hello")
    page.reload()
    act(page, "notes.txt", "Rename")
    box = dialog(page, "Rename “notes.txt”")
    field = box.get_by_label("Name")
    expect(field).to_have_value("notes.txt")
    expect(field).to_be_focused()
    # The name without its extension is selected, ready to be typed over.
    assert field.evaluate("input => input.value.slice(input.selectionStart, input.selectionEnd)") == "notes"

    page_watch.expect_status(400)
    field.fill("a/b")
    box.get_by_role("button", name="Rename").click()
    expect(box.get_by_role("alert")).to_have_text("Invalid name")
    assert api.get(item).json()["name"] == "notes.txt"

    field.fill("plans.txt")
    field.press("Enter")
    expect(box).to_be_hidden()
    assert api.get(item).json()["name"] == "plans.txt"
    expect(page.get_by_role("button", name="Actions for plans.txt")).to_be_visible()


def test_move_to_a_folder_chosen_in_the_dialog(page: Page, live: Live, page_watch: PageWatch):
    api = signed_in(page, live)
    api.folder("Archive")
    photos = api.folder("Photos")
    year = api.folder("2024", photos["id"])
    api.folder("Summer", year["id"])
    report = api.upload("report.txt", b"numbers")
    page.reload()

    act(page, "report.txt", "Move to…")
    box = dialog(page, "Move “report.txt”")
    folders = box.get_by_role("list", name="Folders")
    expect(folders.get_by_role("button")).to_have_text(["Archive", "Photos"])
    # Already at the root: moving "here" would change nothing.
    expect(box.get_by_role("button", name="Move here")).to_be_disabled()
    folders.get_by_role("button", name="Photos").click()
    expect(folders.get_by_role("button")).to_have_text(["2024"])
    expect(box.get_by_role("navigation", name="Folder path")).to_have_text(re.compile(r"My files\s*/?\s*Photos"))
    expect(box.get_by_role("button", name="Move here")).to_be_enabled()
    shoot(page, "move-dialog-desktop")
    folders.get_by_role("button", name="2024").click()
    expect(folders.get_by_role("button")).to_have_text(["Summer"])
    # Up again through the path, then down.
    box.get_by_role("navigation", name="Folder path").get_by_role("button", name="Photos").click()
    folders.get_by_role("button", name="2024").click()
    expect(folders.get_by_role("button")).to_have_text(["Summer"])
    box.get_by_role("button", name="Move here").click()
    expect(box).to_be_hidden()
    expect(toast(page, "Moved “report.txt” to “2024”")).to_be_visible()
    assert api.get(report).json()["parentId"] == year["id"]
    expect(page.get_by_role("button", name="Actions for report.txt")).to_have_count(0)

    # A folder cannot be chosen as its own destination...
    act(page, "Photos", "Move to…")
    box = dialog(page, "Move “Photos”")
    expect(box.get_by_role("button", name="Photos (being moved)")).to_be_disabled()
    box.get_by_role("button", name="Cancel").click()
    expect(box).to_be_hidden()
    # ...and when it is asked anyway (a drop onto itself), the API's refusal is shown.
    page_watch.expect_status(400)
    version = page.locator("script[type=module]").get_attribute("src")
    page.evaluate("([src, item]) => import(src.replace('main.js', 'moves.js')).then((m) => m.moveTo([item], item.id))",
                  [version, photos])
    expect(toast(page, "Could not move “Photos”: Cannot move a folder into itself")).to_be_visible()
    assert api.get(photos).json()["parentId"] == 0


def test_delete_moves_to_the_trash_and_undo_brings_it_back(page: Page, live: Live):
    api = signed_in(page, live)
    item = api.upload("draft.txt", b"words")
    page.reload()
    act(page, "draft.txt", "Delete")
    note = toast(page, "Moved “draft.txt” to the trash")
    expect(note).to_be_visible()
    expect(page.get_by_role("button", name="Actions for draft.txt")).to_have_count(0)
    assert api.get(item).json()["trashedAt"] is not None
    note.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("button", name="Actions for draft.txt")).to_be_visible()
    assert api.get(item).json()["trashedAt"] is None
    assert api.trash() == []


def test_the_trash_restores_deletes_for_good_and_empties(page: Page, live: Live):
    api = signed_in(page, live)
    old = api.upload("old.txt", b"a" * 1500)
    bad = api.upload("bad.txt", b"b")
    folder = api.folder("Stuff")
    api.upload("inside.txt", b"c", folder["id"])
    for item in (old, bad, folder):
        api.call("DELETE", f"/v2/files/{item['id']}").raise_for_status()
    page.goto("/#/trash")
    expect(page.get_by_role("heading", name="Trash")).to_be_visible()
    rows = page.get_by_role("list", name="Deleted items").get_by_role("listitem")
    # Newest first, with what each is and when it was deleted.
    expect(rows).to_have_count(3)
    expect(rows.locator(".trash-name")).to_have_text(["Stuff", "bad.txt", "old.txt"])
    expect(rows.nth(0)).to_contain_text("Folder · Deleted")
    expect(rows.nth(2)).to_contain_text("1.5 KB · Deleted")
    shoot(page, "trash-desktop")

    rows.filter(has_text="old.txt").get_by_role("button", name="Restore").click()
    expect(toast(page, "Restored “old.txt”")).to_be_visible()
    expect(rows).to_have_count(2)
    assert api.get(old).json()["trashedAt"] is None

    rows.filter(has_text="bad.txt").get_by_role("button", name="Delete for good").click()
    confirm = dialog(page, "Delete for good?")
    expect(confirm).to_contain_text("“bad.txt” will be deleted for good")
    confirm.get_by_role("button", name="Delete for good").click()
    expect(rows).to_have_count(1)
    assert api.get(bad).status_code == 404

    page.get_by_role("button", name="Empty trash").click()
    dialog(page, "Empty the trash?").get_by_role("button", name="Empty trash").click()
    expect(page.get_by_text("The trash is empty.")).to_be_visible()
    expect(page.get_by_role("button", name="Empty trash")).to_be_hidden()
    assert api.trash() == []
    assert api.get(folder).status_code == 404
    assert api.get(old).json()["trashedAt"] is None


REVOKED = """() => {
  window.revoked = [];
  const revoke = URL.revokeObjectURL;
  URL.revokeObjectURL = (url) => { window.revoked.push(url); revoke.call(URL, url); };
}"""
# A function (not an expression: Playwright would eval that, which the page's CSP refuses).
LOADED = """() => {
  const img = document.querySelector('dialog.preview img');
  return img && !img.hidden && img.complete && img.naturalWidth > 0 && img.src.startsWith('blob:');
}"""


def test_the_preview_shows_images_full_size_from_blob_urls(page: Page, live: Live):
    api = signed_in(page, live)
    api.upload("flower.jpg", (IMAGES / "flower.jpg").read_bytes())
    api.upload("hopper.jpg", (IMAGES / "hopper.jpg").read_bytes())
    api.upload("readme.txt", b"not an image")
    page.reload()
    page.evaluate(REVOKED)
    act(page, "flower.jpg", "Open")
    expect(dialog(page, "flower.jpg")).to_be_visible()
    box = page.get_by_role("dialog")  # named after the image shown
    image = box.get_by_role("img", name="flower.jpg")
    expect(image).to_be_visible()
    page.wait_for_function(LOADED)
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [480, 360]
    expect(box).to_contain_text("33 KB · 1 of 2")
    expect(box.get_by_role("button", name="Close")).to_be_focused()
    shoot(page, "preview-desktop")
    first = image.get_attribute("src")

    page.keyboard.press("ArrowRight")
    expect(box.get_by_role("heading")).to_have_text("hopper.jpg")
    page.wait_for_function(LOADED)
    second = box.get_by_role("img", name="hopper.jpg").get_attribute("src")
    assert second != first and page.evaluate("window.revoked") == [first]
    page.keyboard.press("ArrowRight")
    expect(box.get_by_role("heading")).to_have_text("flower.jpg")
    page.wait_for_function(LOADED)  # else Escape may abort its fetch: no URL made, none to revoke

    page.keyboard.press("Escape")
    expect(box).to_be_hidden()
    expect(page.locator("dialog")).to_have_count(0)
    revoked = page.evaluate("window.revoked")
    assert len(revoked) == 3 and len(set(revoked)) == 3 and first in revoked and second in revoked


def test_the_preview_fits_a_phone(phone_page: Page, live: Live):
    page = phone_page
    api = signed_in(page, live)
    api.upload("flower.jpg", (IMAGES / "flower.jpg").read_bytes())
    page.reload()
    act(page, "flower.jpg", "Open")
    box = dialog(page, "flower.jpg")
    page.wait_for_function(LOADED)
    shoot(page, "preview-phone")
    shown = box.get_by_role("img", name="flower.jpg").bounding_box()
    assert shown and 0 < shown["width"] <= 360 and shown["x"] >= 0
    for name in ("Download", "Close"):
        button = box.get_by_role("button", name=name).bounding_box()
        assert button and button["x"] + button["width"] <= 360
    box.get_by_role("button", name="Close").click()
    expect(box).to_be_hidden()


def test_download_saves_the_exact_bytes_without_the_token_in_a_url(page: Page, live: Live):
    api = signed_in(page, live)
    big = os.urandom(3_000_000)  # big enough for the progress toast's streamed read
    api.upload("data.bin", big)
    api.upload("small.csv", b"a,b\n1,2\n")
    page.reload()
    token = api.headers["Authorization"].split()[1]
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))

    with page.expect_download() as info:
        act(page, "data.bin", "Download")
    download = info.value
    assert download.suggested_filename == "data.bin"
    assert Path(download.path()).read_bytes() == big

    with page.expect_download() as info:  # opening a file that is not an image downloads it
        act(page, "small.csv", "Open")
    assert Path(info.value.path()).read_bytes() == b"a,b\n1,2\n"
    assert any("/content?download=1" in url for url in urls)
    assert not any(token in url for url in urls)


def test_the_trash_pages_through_many_items(page: Page, live: Live):
    api = signed_in(page, live)
    for n in range(101):
        folder = api.folder(f"old {n:03}")
        api.call("DELETE", f"/v2/files/{folder['id']}").raise_for_status()
    page.goto("/#/trash")
    rows = page.get_by_role("list", name="Deleted items").get_by_role("listitem")
    expect(rows).to_have_count(100)
    expect(rows.first).to_contain_text("old 100")
    page.get_by_role("button", name="Show more").click()
    expect(rows).to_have_count(101)
    expect(rows.last).to_contain_text("old 000")
    expect(page.get_by_role("button", name="Show more")).to_be_hidden()

"""The whole journey of the web UI spec, as a person does it, in one browser:
sign up, log in, folders, uploads (a 10 MB file and an image, whose thumbnail
appears), rename, move, publish, a share link opened in a second browser
with no token, delete, restore, empty the trash, log out. Then the same
person on a 360 px phone. Screenshots of the main screens are written on the way.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import requests
from playwright.sync_api import Browser, Locator, Page, expect

from .conftest import PASSWORD, Live, PageWatch, new_context, shoot

IMAGES = Path(__file__).resolve().parents[1] / "images"


def item(page: Page, name: str) -> Locator:
    return page.locator("main li.item").filter(has=page.get_by_text(name, exact=True))


def act(page: Page, name: str, label: str) -> None:
    page.get_by_role("button", name=f"Actions for {name}", exact=True).click()
    page.get_by_role("menuitem", name=label, exact=True).click()


def new_folder(page: Page, name: str) -> None:
    page.get_by_role("button", name="New folder").click()
    page.get_by_label("Folder name").fill(name)
    page.get_by_role("button", name="Create").click()
    expect(item(page, name)).to_be_visible()


def listing(live: Live, token: str, parent_id: str) -> dict[str, dict]:
    answer = requests.get(f"{live.url}/v2/files", params={"parentId": parent_id, "limit": 1000},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
    answer.raise_for_status()
    return {entry["name"]: entry for entry in answer.json()["items"]}


def token_of(page: Page) -> str:
    token = page.evaluate("() => sessionStorage.getItem('files-manager.token')")
    assert token
    return str(token)


def test_the_whole_journey(browser: Browser, page: Page, live: Live, page_watch: PageWatch, tmp_path: Path):
    email = "ada@example.com"
    big = tmp_path / "dataset.bin"
    big.write_bytes(os.urandom(10 * 1024 * 1024))
    photo = tmp_path / "flower.jpg"
    shutil.copy(IMAGES / "flower.jpg", photo)
    notes = tmp_path / "notes.txt"
    notes.write_text("Things to pack\n")

    # Sign up, which logs in; log out; log in again.
    page.goto("/")
    shoot(page, "journey-login-desktop")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    token = token_of(page)

    # Folders, then three files into one of them (the file picker, as a person uses it).
    new_folder(page, "Holidays")
    new_folder(page, "Archive")
    page.get_by_role("link", name="Holidays").click()
    expect(page.get_by_role("heading", name="Holidays")).to_be_visible()
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload files").click()
    chooser.value.set_files([str(big), str(photo), str(notes)])
    uploads = page.get_by_role("region", name="Uploads")
    expect(uploads).to_contain_text("3 of 3 uploaded", timeout=60_000)
    holidays_id = listing(live, token, "0")["Holidays"]["id"]
    stored = listing(live, token, holidays_id)
    assert stored["dataset.bin"]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert stored["flower.jpg"]["type"] == "image"
    # The worker makes the thumbnail; the list shows it by itself, from a blob: URL.
    thumb = item(page, "flower.jpg").locator(".thumb img")
    expect(thumb).to_be_visible(timeout=30_000)
    assert thumb.get_attribute("src").startswith("blob:")
    page.get_by_role("button", name="Clear finished").click()
    expect(page.locator("#quota")).to_have_text("11 MB used")  # the top bar's usage followed the uploads
    shoot(page, "journey-folder-desktop")

    # Preview the image full size.
    item(page, "flower.jpg").get_by_role("button", name="flower.jpg", exact=True).click()
    preview = page.get_by_role("dialog", name="flower.jpg")
    expect(preview.get_by_role("img", name="flower.jpg")).to_be_visible()
    shoot(page, "journey-preview-desktop")
    page.keyboard.press("Escape")
    expect(preview).to_be_hidden()

    # Rename, then move into the other folder with the dialog.
    act(page, "notes.txt", "Rename")
    page.get_by_role("dialog").get_by_role("textbox").fill("packing list.txt")
    page.get_by_role("dialog").get_by_role("button", name="Rename").click()
    expect(item(page, "packing list.txt")).to_be_visible()
    act(page, "packing list.txt", "Move to…")
    move = page.get_by_role("dialog", name="Move “packing list.txt”")
    move.get_by_role("button", name="Archive").click()
    move.get_by_role("button", name="Move here").click()
    expect(item(page, "packing list.txt")).to_have_count(0)
    archive_id = listing(live, token, "0")["Archive"]["id"]
    assert "packing list.txt" in listing(live, token, archive_id)

    # Publish the image: its public address works without a token.
    act(page, "flower.jpg", "Publish")
    public = page.get_by_role("textbox", name="Public address").input_value()
    assert requests.get(public, timeout=10).content == photo.read_bytes()
    page.get_by_role("button", name="Done").click()

    # A share link with a password, opened in a second browser that has no token.
    act(page, "dataset.bin", "Share link…")
    share = page.get_by_role("dialog")
    share.get_by_label("Password").fill("open sesame")
    share.get_by_role("button", name="Create link").click()
    link = share.get_by_role("textbox", name="New link").input_value()
    shoot(page, "journey-share-dialog-desktop")
    share.get_by_role("button", name="Done").click()
    stranger_watch = PageWatch()
    stranger_watch.expect_status(401)
    stranger = new_context(browser, live, stranger_watch)
    try:
        visitor = stranger.new_page()
        visitor.goto(link)
        visitor.get_by_label("Password").fill("open sesame")
        visitor.get_by_role("button", name="Open").click()
        expect(visitor.get_by_role("heading", name="dataset.bin")).to_be_visible()
        with visitor.expect_download() as download:
            visitor.get_by_role("link", name="Download").click()
        assert Path(download.value.path()).read_bytes() == big.read_bytes()
        assert stranger.cookies() and not visitor.evaluate("() => sessionStorage.length")
    finally:
        stranger.close()
    assert not stranger_watch.problems, stranger_watch.problems

    # Delete to the trash, restore from it; delete again and empty the trash.
    act(page, "dataset.bin", "Delete")
    expect(item(page, "dataset.bin")).to_have_count(0)
    page.get_by_role("link", name="Trash").click()
    expect(page.get_by_role("heading", name="Trash")).to_be_visible()
    shoot(page, "journey-trash-desktop")
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_text("The trash is empty.")).to_be_visible()
    assert "dataset.bin" in listing(live, token, holidays_id)
    page.get_by_role("link", name="My files").click()
    page.get_by_role("link", name="Holidays").click()
    act(page, "dataset.bin", "Delete")
    expect(item(page, "dataset.bin")).to_have_count(0)
    page.get_by_role("link", name="Trash").click()
    page.get_by_role("button", name="Empty trash").click()
    page.get_by_role("dialog").get_by_role("button", name="Empty trash").click()
    expect(page.get_by_text("The trash is empty.")).to_be_visible()
    assert "dataset.bin" not in listing(live, token, holidays_id)

    # Log out: the token is gone from the tab and refused by the API.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('files-manager.token')") is None
    assert requests.get(f"{live.url}/v2/users/me", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code == 401


def no_sideways_scroll(page: Page) -> None:
    """Nothing on the screen is wider than the phone."""
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide at 360 px"


def test_the_journey_on_a_phone(phone_page: Page, live: Live, tmp_path: Path):
    page = phone_page
    photo = tmp_path / "flower.jpg"
    shutil.copy(IMAGES / "flower.jpg", photo)
    long_name = tmp_path / ("a rather long file name that would not fit on a phone screen " * 2).strip()
    long_name.write_bytes(b"x" * 5000)

    page.goto("/#/signup")
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    no_sideways_scroll(page)
    token = token_of(page)

    new_folder(page, "Photos")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload files").tap()
    chooser.value.set_files([str(photo), str(long_name)])
    expect(page.get_by_role("region", name="Uploads")).to_contain_text("2 of 2 uploaded", timeout=30_000)
    shoot(page, "journey-uploads-phone")
    page.get_by_role("button", name="Clear finished").tap()
    expect(item(page, "flower.jpg").locator(".thumb img")).to_be_visible(timeout=30_000)
    no_sideways_scroll(page)
    shoot(page, "journey-folder-phone")

    act(page, "flower.jpg", "Move to…")
    move = page.get_by_role("dialog", name="Move “flower.jpg”")
    move.get_by_role("button", name="Photos").tap()
    move.get_by_role("button", name="Move here").tap()
    expect(item(page, "flower.jpg")).to_have_count(0)
    page.get_by_role("link", name="Photos").tap()
    expect(page.get_by_role("heading", name="Photos")).to_be_visible()
    page.get_by_role("button", name="Grid").tap()
    expect(item(page, "flower.jpg").locator(".thumb img")).to_be_visible(timeout=30_000)
    no_sideways_scroll(page)
    shoot(page, "journey-grid-phone")

    act(page, "flower.jpg", "Share link…")
    page.get_by_role("dialog").get_by_role("button", name="Create link").tap()
    expect(page.get_by_role("textbox", name="New link")).to_have_value(re.compile("/s/"))
    no_sideways_scroll(page)
    shoot(page, "journey-share-phone")
    page.get_by_role("dialog").get_by_role("button", name="Done").tap()

    page.get_by_role("searchbox", name="Search files by name").fill("flower")
    page.get_by_role("searchbox", name="Search files by name").press("Enter")
    expect(page.get_by_role("heading", name="Results for “flower”")).to_be_visible()
    expect(item(page, "flower.jpg")).to_be_visible()
    no_sideways_scroll(page)
    shoot(page, "journey-search-phone")

    photos_id = listing(live, token, "0")["Photos"]["id"]
    assert "flower.jpg" in listing(live, token, photos_id)

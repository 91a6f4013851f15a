"""Sharing in the web UI (web/js/sharing.js) and the public /s/ pages
(services/api/share_pages.py): a link made in the dialog opens in a second
browser with no token (its password, its preview, its download, its counter,
its revocation), a shared folder's page, publishing, the pages' look and
policy."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import requests
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response, expect

from tests.conftest import IMAGES

from .conftest import Account, Live, PageWatch, new_account, new_context, open_signed_in, shoot

HOPPER = (IMAGES / "hopper.jpg").read_bytes()
LIGHT_BG = "rgb(246, 247, 249)"  # --bg in web/css/base.css


# ------------------------------------------------------------------ helpers


def api(live: Live, account: Account, method: str, path: str, **kwargs) -> requests.Response:
    answer = requests.request(method, f"{live.url}{path}", headers={"Authorization": f"Bearer {account.token}"},
                              timeout=10, **kwargs)
    answer.raise_for_status()
    return answer


def upload(live: Live, account: Account, name: str, data: bytes, parent_id: str | int = 0) -> dict:
    answer = api(live, account, "POST", "/v2/files", data={"parentId": str(parent_id)}, files={"file": (name, data)})
    return answer.json()["items"][0]


def folder(live: Live, account: Account, name: str, parent_id: str | int = 0) -> dict:
    return api(live, account, "POST", "/v2/files", json={"name": name, "type": "folder", "parentId": parent_id}).json()


def document(live: Live, account: Account, file_id: str) -> dict:
    return api(live, account, "GET", f"/v2/files/{file_id}").json()


def wait_for_thumbnails(page: Page, account: Account, file_id: str) -> None:
    """Until the job worker has made the image's thumbnails (asked from the page, every 100 ms)."""
    page.wait_for_function(
        """async ([id, token]) => {
             const answer = await fetch(`/v2/files/${id}`, {headers: {Authorization: `Bearer ${token}`}});
             return (await answer.json()).hasThumbnails;
           }""", arg=[file_id, account.token], polling=100)


def labels_for(page: Page, item: dict) -> list[str]:
    """The labels item_actions.js gives `item`'s menu (the module main.js loaded)."""
    return page.evaluate("""async (item) => {
        const root = document.querySelector('script[type=module]').src.replace(/js\\/main\\.js$/, '');
        return (await import(`${root}js/item_actions.js`)).actionsFor(item).map((a) => a.label);
      }""", item)


def run_action(page: Page, item: dict, label: str) -> None:
    """Runs `item`'s action `label` as its menu would (the folder view's menu is another area's)."""
    assert label in labels_for(page, item)
    page.evaluate("""async ([item, label]) => {
        const root = document.querySelector('script[type=module]').src.replace(/js\\/main\\.js$/, '');
        (await import(`${root}js/item_actions.js`)).actionsFor(item).find((a) => a.label === label).run(item);
      }""", [item, label])


def share_dialog(page: Page, item: dict) -> Locator:
    run_action(page, item, "Share link…")
    dialog = page.get_by_role("dialog", name=f"Share “{item['name']}”")
    expect(dialog).to_be_visible()
    return dialog


def create_link(page: Page, dialog: Locator, *, expiry: str | None = None, password: str = "",
                limit: str = "") -> str:
    """Fills the dialog's form and makes the link; its absolute URL, read from the field."""
    if expiry:
        dialog.get_by_label("Expires in").select_option(label=expiry)
    dialog.get_by_label("Password").fill(password)
    dialog.get_by_label("Download limit").fill(limit)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/links")) as made:
        dialog.get_by_role("button", name="Create link").click()
    assert made.value.status == 201
    field = dialog.get_by_label("New link")
    expect(field).to_be_focused()
    url = field.input_value()
    assert url == page.evaluate("location.origin") + made.value.json()["url"]
    assert field.evaluate("el => el.readOnly && el.selectionStart === 0 && el.selectionEnd === el.value.length")
    return url


def assert_looks_like_the_app(page: Page, answer: Response | None) -> None:
    """The /s/ page: the app's stylesheets applied, no inline style (the policy forbids it), no script."""
    assert answer is not None
    policy = answer.headers["content-security-policy"]
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy and "script-src" not in policy
    assert answer.headers["referrer-policy"] == "no-referrer" and answer.headers["cache-control"] == "private, no-store"
    assert page.locator("style, [style], script").count() == 0
    sheets = page.evaluate("[...document.styleSheets].map((s) => new URL(s.href).pathname)")
    assert [re.sub(r"/ui/[0-9a-f]{16}/", "/ui/*/", s) for s in sheets] == ["/ui/*/css/base.css",
                                                                           "/ui/*/css/share-page.css"]
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == LIGHT_BG
    expect(page.get_by_role("link", name="Files")).to_be_visible()  # the app's top bar


def stranger(browser: Browser, live: Live, watch: PageWatch, *, phone: bool = False) -> tuple[BrowserContext, Page]:
    """Another browser: no token, no cookie, watched as the fixtures' pages are."""
    context = new_context(browser, live, watch, phone=phone)
    return context, context.new_page()


# ------------------------------------------------------------------ a file's link, end to end


def test_a_link_with_a_password_and_a_limit_opens_in_another_browser_until_revoked(
        page: Page, context: BrowserContext, browser: Browser, live: Live, page_watch: PageWatch):
    owner = new_account(live)
    image = upload(live, owner, "hopper.jpg", HOPPER)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_signed_in(page, owner)
    wait_for_thumbnails(page, owner, image["id"])

    dialog = share_dialog(page, image)
    expect(dialog.get_by_label("Expires in")).to_have_value("604800")  # 7 days unless chosen
    expect(dialog.get_by_label("Password")).to_have_attribute("autocomplete", "new-password")
    expect(dialog.get_by_text("No links yet.")).to_be_visible()
    url = create_link(page, dialog, expiry="1 day", password="open sesame", limit="3")
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_role("status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == url
    [made] = api(live, owner, "GET", f"/v2/files/{image['id']}/links").json()["items"]
    assert made["hasPassword"] and made["maxDownloads"] == 3
    row = dialog.get_by_role("listitem")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("0 of 3 downloads")
    expect(row.get_by_text("password", exact=True)).to_be_visible()
    shoot(page, "share-dialog-desktop")

    other, visitor = stranger(browser, live, page_watch)
    page_watch.expect_status(401)
    answer = visitor.goto(url)
    assert answer is not None and answer.status == 401
    expect(visitor.get_by_role("heading", name="Password required")).to_be_visible()
    assert_looks_like_the_app(visitor, answer)
    visitor.get_by_label("Password").fill("open says me")
    with visitor.expect_response(lambda r: r.request.method == "POST") as wrong:
        visitor.get_by_role("button", name="Open").click()
    assert wrong.value.status == 401
    expect(visitor.get_by_role("alert")).to_have_text("Wrong password")
    visitor.get_by_label("Password").fill("open sesame")
    visitor.get_by_role("button", name="Open").click()

    expect(visitor.get_by_role("heading", name="hopper.jpg")).to_be_visible()
    expect(visitor.get_by_text("3 downloads left")).to_be_visible()
    preview = visitor.locator("img.preview")
    expect(preview).to_be_visible()
    visitor.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    shoot(visitor, "share-page-desktop")
    visitor.emulate_media(color_scheme="dark")
    assert visitor.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(15, 17, 21)"  # --bg, dark
    shoot(visitor, "share-page-dark")
    visitor.emulate_media(color_scheme="light")
    with visitor.expect_download() as download:
        visitor.get_by_role("link", name="Download").click()
    assert Path(download.value.path()).read_bytes() == HOPPER
    assert download.value.suggested_filename == "hopper.jpg"

    dialog.get_by_role("button", name="Refresh").click()
    expect(row).to_contain_text("1 of 3 downloads")
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    confirm = page.get_by_role("dialog", name="Revoke this link?")
    confirm.get_by_role("button", name="Revoke").click()
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_role("button")).to_have_count(0)
    expect(dialog.get_by_label("New link")).to_be_hidden()
    expect(page.get_by_role("heading", name="Links")).to_be_focused()

    page_watch.expect_status(410, 404)
    answer = visitor.reload()
    assert answer is not None and answer.status == 410
    expect(visitor.get_by_role("heading", name="Link expired")).to_be_visible()
    expect(visitor.get_by_text("Ask whoever shared it for a new one.")).to_be_visible()
    assert_looks_like_the_app(visitor, answer)
    shoot(visitor, "share-gone-desktop")
    answer = visitor.goto("/s/" + "A" * 22)  # no such link
    assert answer is not None and answer.status == 404
    expect(visitor.get_by_role("heading", name="Not found")).to_be_visible()
    other.close()


def test_the_password_page_and_the_file_page_on_a_phone(page: Page, browser: Browser, live: Live,
                                                        page_watch: PageWatch):
    owner = new_account(live)
    image = upload(live, owner, "a picture with a rather long name, to wrap on a phone.jpg", HOPPER)
    open_signed_in(page, owner)
    wait_for_thumbnails(page, owner, image["id"])
    url = create_link(page, share_dialog(page, image), password="pw")

    other, phone = stranger(browser, live, page_watch, phone=True)
    page_watch.expect_status(401)
    phone.goto(url)
    expect(phone.get_by_label("Password")).to_be_focused()  # autofocus
    phone.get_by_label("Password").fill("wrong")
    phone.get_by_role("button", name="Open").click()
    expect(phone.get_by_role("alert")).to_have_text("Wrong password")
    shoot(phone, "share-password-phone")
    phone.get_by_label("Password").fill("pw")
    phone.get_by_role("button", name="Open").click()
    expect(phone.get_by_role("heading", name=image["name"])).to_be_visible()
    preview = phone.locator("img.preview")
    phone.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    download = phone.get_by_role("link", name="Download")
    assert preview.bounding_box()["width"] <= 360 and download.bounding_box()["width"] > 250  # full width
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the screen
    shoot(phone, "share-page-phone")
    other.close()


# ------------------------------------------------------------------ a folder


def test_a_shared_folder_lists_its_items_and_opens_them(page: Page, browser: Browser, live: Live,
                                                        page_watch: PageWatch):
    owner = new_account(live)
    holiday = folder(live, owner, "Holiday")
    image = upload(live, owner, "hopper.jpg", HOPPER, holiday["id"])
    upload(live, owner, "notes.txt", b"sun, sea", holiday["id"])
    more = folder(live, owner, "more", holiday["id"])
    upload(live, owner, "deep.txt", b"deeper", more["id"])
    open_signed_in(page, owner)
    wait_for_thumbnails(page, owner, image["id"])

    assert "Publish" not in labels_for(page, holiday)  # a folder has no content to publish
    dialog = share_dialog(page, holiday)
    expect(dialog).to_contain_text("the page lists its items")
    url = create_link(page, dialog)
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()

    other, phone = stranger(browser, live, page_watch, phone=True)
    answer = phone.goto(url)
    expect(phone.get_by_role("heading", name="Holiday")).to_be_visible()
    assert_looks_like_the_app(phone, answer)
    rows = phone.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(4)  # the header, then folders first
    expect(rows.nth(1)).to_contain_text("more")
    thumbnail = rows.filter(has_text="hopper.jpg").locator("img")
    phone.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    shoot(phone, "share-folder-phone")

    with phone.expect_download() as download:
        phone.get_by_role("link", name="Download notes.txt").click()
    assert Path(download.value.path()).read_bytes() == b"sun, sea"
    phone.get_by_role("link", name="more", exact=True).click()
    expect(phone.get_by_role("heading", name="more")).to_be_visible()
    phone.get_by_role("navigation", name="Folder path").get_by_role("link", name="Holiday").click()
    phone.get_by_role("link", name="hopper.jpg", exact=True).click()
    expect(phone.get_by_role("heading", name="hopper.jpg")).to_be_visible()
    expect(phone.locator("img.preview")).to_be_visible()
    other.close()


# ------------------------------------------------------------------ publishing


def test_publish_shows_the_public_address_and_unpublish_takes_it_back(page: Page, live: Live):
    owner = new_account(live)
    notes = upload(live, owner, "notes.txt", b"for everyone")
    public_url = f"{live.url}/files/{notes['id']}/data"
    assert requests.get(public_url, timeout=10).status_code == 404  # private: not found without a token
    open_signed_in(page, owner)
    assert "Unpublish" not in labels_for(page, notes)
    # As over plain http to a LAN address: no clipboard API, so Copy selects the text and says how.
    page.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined})")

    with page.expect_event("requestfinished", lambda r: r.method == "PATCH"):
        run_action(page, notes, "Publish")
    dialog = page.get_by_role("dialog", name="“notes.txt” is public")
    field = dialog.get_by_label("Public address")
    expect(field).to_have_value(public_url)
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_role("status")).to_have_text(re.compile(r"^Press (Ctrl\+C|⌘C) to copy$"))
    expect(field).to_be_focused()
    assert field.evaluate("el => el.selectionEnd - el.selectionStart") == len(public_url)
    published = document(live, owner, notes["id"])
    assert published["isPublic"] is True
    served = requests.get(public_url, timeout=10)  # no token
    assert served.status_code == 200 and served.content == b"for everyone"
    dialog.get_by_role("button", name="Done").click()

    labels = labels_for(page, published)
    assert "Unpublish" in labels and "Publish" not in labels and "Public link…" in labels
    run_action(page, published, "Unpublish")
    expect(page.get_by_role("status").filter(has_text="“notes.txt” is no longer public.")).to_be_visible()
    assert document(live, owner, notes["id"])["isPublic"] is False
    assert requests.get(public_url, timeout=10).status_code == 404


def test_files_changed_is_announced_after_publishing(page: Page, live: Live):
    owner = new_account(live)
    notes = upload(live, owner, "notes.txt", b"x")
    open_signed_in(page, owner)
    page.evaluate("""async () => {
        const root = document.querySelector('script[type=module]').src.replace(/js\\/main\\.js$/, '');
        const events = await import(`${root}js/events.js`);
        window.changed = [];
        events.on('files-changed', (detail) => window.changed.push(detail));
      }""")
    run_action(page, notes, "Publish")
    expect(page.get_by_role("dialog", name="“notes.txt” is public")).to_be_visible()
    assert page.evaluate("window.changed") == [{"parentIds": ["0"]}]


# ------------------------------------------------------------------ the server's limit


def test_an_expiry_past_the_servers_limit_shows_its_message(browser: Browser, start_live: Callable[..., Live],
                                                            page_watch: PageWatch):
    live = start_live(LINKS_MAX_EXPIRY="86400")
    owner = new_account(live)
    notes = upload(live, owner, "notes.txt", b"x")
    context = new_context(browser, live, page_watch, phone=True)
    page = open_signed_in(context.new_page(), owner)
    dialog = share_dialog(page, notes)
    page_watch.expect_status(400)
    dialog.get_by_role("button", name="Create link").click()  # 7 days: more than this server allows
    expect(dialog.get_by_role("alert")).to_have_text(
        "Links on this server last at most 1 day: choose a shorter time.")
    expect(dialog.get_by_label("New link")).to_have_count(0)
    shoot(page, "share-dialog-phone")
    create_link(page, dialog, expiry="1 day")
    expect(dialog.get_by_role("alert")).to_be_hidden()
    context.close()
    assert not page_watch.problems, "\n".join(page_watch.problems)

"""Uploads in the web UI: tus through the vendored tus-js-client against the
real /v2/uploads, with the panel's rows, the queue, folders kept as trees,
cancel, retry after the network drops, resume after a reload, and refusals
shown on their row."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, Request, Route, expect

from tests.conftest import IMAGES

from .conftest import Account, Live, PageWatch, new_account, new_context, open_signed_in, shoot

MIB = 1024 * 1024
CHUNK_KEY = "files-manager.upload-chunk-size"  # web/js/uploads.js


def small_chunks(page: Page) -> None:
    """Uploads in 1 MiB chunks from now on (uploads.js reads the size from localStorage)."""
    page.evaluate("([key, size]) => localStorage.setItem(key, size)", [CHUNK_KEY, str(MIB)])


def signed_in_with_small_chunks(page: Page, live: Live) -> Account:
    """A new account's app, open, uploading in 1 MiB chunks."""
    account = new_account(live)
    open_signed_in(page, account)
    small_chunks(page)
    return account


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def random_file(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


def listing(live: Live, account: Account, parent_id: str = "0") -> dict[str, dict]:
    """The folder's items by name, over the API."""
    answer = requests.get(f"{live.url}/v2/files", params={"parentId": parent_id, "limit": "1000"},
                          headers={"Authorization": f"Bearer {account.token}"}, timeout=10)
    answer.raise_for_status()
    return {item["name"]: item for item in answer.json()["items"]}


def panel(page: Page) -> Locator:
    return page.get_by_role("region", name="Uploads")


def row(page: Page, name: str) -> Locator:
    return panel(page).get_by_role("listitem").filter(has_text=name)


def offset(request: Request) -> int:
    return int(request.headers.get("upload-offset", "-1"))


def stored_uploads(page: Page) -> tuple[list[str], str | None]:
    """tus-js-client's records (keys `tus::...`) and ours (web/js/uploads.js) of unfinished uploads."""
    return tuple(page.evaluate("""() => [Object.keys(localStorage).filter((k) => k.startsWith('tus::')),
                                        localStorage.getItem('files-manager.uploads')]"""))  # type: ignore[return-value]


def is_patch(at: int = 0) -> Callable[[Request], bool]:
    return lambda request: request.method == "PATCH" and offset(request) >= at


class Hold:
    """Holds back the PATCH requests at or past `at` bytes (the server never
    sees them) until released: an upload stopped half-way, for as long as a test needs."""

    def __init__(self, page: Page, at: int) -> None:
        self.page, self.at, self.held = page, at, list[Route]()
        page.route("**/v2/uploads/*", self.handle)

    def handle(self, route: Route) -> None:
        if is_patch(self.at)(route.request):
            self.held.append(route)
        else:
            route.continue_()

    def wait(self) -> Request:
        """Until a PATCH is held: the server has the bytes before `at` then. Each
        round trip to the page lets Playwright deliver the events it has."""
        deadline = time.monotonic() + 10
        while not self.held:
            assert time.monotonic() < deadline, f"no PATCH at {self.at} or past it"
            self.page.evaluate("0")
        return self.held[0].request

    def stop(self) -> None:
        """The page gave up the held requests (a reload, a log-out): let later ones through."""
        self.held.clear()
        self.page.unroute("**/v2/uploads/*", self.handle)

    def release(self) -> None:
        for route in self.held:
            route.continue_()
        self.held.clear()
        self.page.unroute("**/v2/uploads/*", self.handle)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "upload"
    folder.mkdir()
    return folder


def test_several_files_upload_at_once_each_on_its_row(page: Page, live: Live, images: Path):
    account = signed_in_with_small_chunks(page, live)
    big = random_file(images, "big.bin", 10 * 1000 * 1000)
    photo = images / "hopper.jpg"
    shutil.copy(IMAGES / "hopper.jpg", photo)
    notes = images / "notes.txt"
    notes.write_text("Shopping: milk, eggs.\n")
    paper = random_file(images, "paper.pdf", 300_000)
    files = [big, photo, notes, paper]

    hold = Hold(page, 4 * MIB)
    page.get_by_label("Files to upload").set_input_files([str(f) for f in files])
    hold.wait()
    for done in (photo, notes, paper):
        expect(row(page, done.name)).to_contain_text("Done")
    expect(row(page, "big.bin")).to_contain_text("41 %")
    expect(panel(page)).to_contain_text("3 of 4 uploaded")
    shoot(page, "uploads-desktop")
    hold.release()
    expect(row(page, "big.bin")).to_contain_text("Done")
    expect(panel(page)).to_contain_text("4 of 4 uploaded")

    items = listing(live, account)
    assert {name: items[name]["sha256"] for name in items} == {f.name: sha256(f) for f in files}
    assert items["hopper.jpg"]["type"] == "image"


def test_a_folder_arrives_as_its_tree_into_a_same_named_folder(page: Page, live: Live, tmp_path: Path):
    account = new_account(live)
    album = tmp_path / "album"
    (album / "2024" / "june").mkdir(parents=True)
    files = {"cover.jpg": album / "cover.jpg", "a.txt": album / "2024" / "a.txt",
             "b.bin": album / "2024" / "june" / "b.bin", "c.bin": album / "2024" / "june" / "c.bin"}
    shutil.copy(IMAGES / "flower.jpg", files["cover.jpg"])
    files["a.txt"].write_text("a\n")
    random_file(album / "2024" / "june", "b.bin", 70_000)
    random_file(album / "2024" / "june", "c.bin", 1)
    existing = requests.post(f"{live.url}/v2/files", json={"name": "album", "type": "folder", "parentId": "0"},
                             headers={"Authorization": f"Bearer {account.token}"}, timeout=10).json()
    open_signed_in(page, account)

    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v2/files")):
        page.get_by_label("Folder to upload").set_input_files(str(album))
    for name in files:
        expect(row(page, name)).to_contain_text("Done")
    expect(panel(page)).to_contain_text("4 of 4 uploaded")

    root = listing(live, account)
    assert list(root) == ["album"] and root["album"]["id"] == existing["id"]
    top = listing(live, account, existing["id"])
    assert set(top) == {"2024", "cover.jpg"} and top["2024"]["type"] == "folder"
    year = listing(live, account, top["2024"]["id"])
    assert set(year) == {"june", "a.txt"}
    june = listing(live, account, year["june"]["id"])
    found = {**top, **year, **june}
    assert {name: found[name]["sha256"] for name in files} == {name: sha256(path) for name, path in files.items()}


def test_a_folder_dropped_from_the_desktop_keeps_its_tree(page: Page, live: Live, tmp_path: Path):
    account = new_account(live)
    trip = tmp_path / "trip"
    (trip / "day 1").mkdir(parents=True)
    (trip / "empty").mkdir()
    shutil.copy(IMAGES / "hopper.jpg", trip / "day 1" / "hopper.jpg")
    (trip / "plan.txt").write_text("go\n")
    loose = tmp_path / "loose.txt"
    loose.write_text("loose\n")
    holidays = requests.post(f"{live.url}/v2/files", json={"name": "Holidays", "type": "folder", "parentId": "0"},
                             headers={"Authorization": f"Bearer {account.token}"}, timeout=10).json()
    open_signed_in(page, account, f"#/files/{holidays['id']}")

    # The browser's own drag of OS files (real file system entries, folders included).
    cdp = page.context.new_cdp_session(page)
    drag = {"x": 600, "y": 300, "data": {"items": [], "files": [str(trip), str(loose)], "dragOperationsMask": 1}}
    cdp.send("Input.dispatchDragEvent", {"type": "dragEnter", **drag})
    cdp.send("Input.dispatchDragEvent", {"type": "dragOver", **drag})
    expect(page.get_by_text("Drop to upload to Holidays")).to_be_visible()
    shoot(page, "uploads-drop-overlay")
    cdp.send("Input.dispatchDragEvent", {"type": "drop", **drag})
    expect(page.get_by_text("Drop to upload to Holidays")).to_be_hidden()
    for name in ("hopper.jpg", "plan.txt", "loose.txt"):
        expect(row(page, name)).to_contain_text("Done")

    assert set(listing(live, account)) == {"Holidays"}
    here = listing(live, account, holidays["id"])
    assert set(here) == {"trip", "loose.txt"}
    inside = listing(live, account, here["trip"]["id"])
    assert set(inside) == {"day 1", "empty", "plan.txt"}
    assert listing(live, account, inside["empty"]["id"]) == {}
    day = listing(live, account, inside["day 1"]["id"])
    assert day["hopper.jpg"]["sha256"] == sha256(IMAGES / "hopper.jpg")


def test_a_cancelled_upload_leaves_nothing_on_the_server(page: Page, live: Live, images: Path):
    account = signed_in_with_small_chunks(page, live)
    big = random_file(images, "movie.mp4", 8 * MIB)
    hold = Hold(page, 2 * MIB)
    page.get_by_label("Files to upload").set_input_files(str(big))
    upload_url = hold.wait().url
    head = requests.head(upload_url, headers={"Authorization": f"Bearer {account.token}", "Tus-Resumable": "1.0.0"},
                         timeout=10)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == str(2 * MIB)

    row(page, "movie.mp4").get_by_role("button", name="Cancel upload of movie.mp4").focus()
    with page.expect_response(lambda r: r.request.method == "DELETE" and r.url == upload_url) as deleted:
        page.keyboard.press("Enter")
    assert deleted.value.status == 204
    expect(row(page, "movie.mp4")).to_contain_text("Cancelled")
    # The button went with the upload: the focus moved on, to the panel's own.
    expect(panel(page).get_by_role("button", name="Hide the list of uploads")).to_be_focused()
    expect(panel(page)).to_contain_text("0 of 0 uploaded")
    head = requests.head(upload_url, headers={"Authorization": f"Bearer {account.token}", "Tus-Resumable": "1.0.0"},
                         timeout=10)
    assert head.status_code == 404
    assert listing(live, account) == {}
    assert stored_uploads(page) == ([], "[]")

    panel(page).get_by_role("button", name="Clear finished").click()
    expect(panel(page)).to_be_hidden()


def test_an_upload_cut_off_by_the_network_completes_on_retry(page: Page, live: Live, images: Path,
                                                             page_watch: PageWatch):
    page_watch.expect_network_failure("ERR_INTERNET_DISCONNECTED")
    account = signed_in_with_small_chunks(page, live)
    big = random_file(images, "backup.tar", 6 * MIB + 123)
    hold = Hold(page, 2 * MIB)
    page.get_by_label("Files to upload").set_input_files(str(big))
    hold.wait()
    page.context.set_offline(True)
    hold.held.pop().abort("internetdisconnected")
    expect(row(page, "backup.tar")).to_contain_text("Connection lost")
    expect(panel(page)).to_contain_text("0 of 1 uploaded · 1 failed")
    hold.release()
    page.context.set_offline(False)

    with page.expect_request(is_patch()) as resumed:
        row(page, "backup.tar").get_by_role("button", name="Retry upload of backup.tar").click()
    assert offset(resumed.value) == 2 * MIB
    expect(row(page, "backup.tar")).to_contain_text("Done")
    assert listing(live, account)["backup.tar"]["sha256"] == sha256(big)


def test_an_upload_resumes_after_a_reload_from_where_it_stopped(page: Page, live: Live, images: Path):
    account = signed_in_with_small_chunks(page, live)
    big = random_file(images, "disk.img", 40 * MIB + 5)
    hold = Hold(page, 3 * MIB)
    page.get_by_label("Files to upload").set_input_files(str(big))
    upload_url = hold.wait().url

    page.reload()
    expect(row(page, "disk.img")).to_contain_text("Interrupted at 7 %")
    expect(panel(page)).to_contain_text("0 of 1 uploaded · 1 interrupted")
    hold.held.clear()  # the reload ended them; the next PATCH is held too
    creations: list[Request] = []
    page.on("request", lambda r: creations.append(r) if r.method == "POST" and "/v2/uploads" in r.url else None)
    with page.expect_file_chooser() as chooser:
        row(page, "disk.img").get_by_role("button", name="Resume upload of disk.img").click()
    chooser.value.set_files(str(big))
    first = hold.wait()
    assert first.url == upload_url and offset(first) == 3 * MIB
    expect(row(page, "disk.img")).to_contain_text("Resuming at 7 %")
    hold.release()
    expect(row(page, "disk.img")).to_contain_text("Done", timeout=30_000)
    assert creations == []
    assert listing(live, account)["disk.img"]["sha256"] == sha256(big)
    assert stored_uploads(page) == ([], "[]")


def test_the_wrong_file_is_refused_and_an_interrupted_upload_can_be_discarded(page: Page, live: Live, images: Path):
    account = signed_in_with_small_chunks(page, live)
    big = random_file(images, "disk.img", 4 * MIB)
    other = random_file(images, "other.img", 10)
    hold = Hold(page, 2 * MIB)
    page.get_by_label("Files to upload").set_input_files(str(big))
    upload_url = hold.wait().url
    page.reload()
    hold.stop()

    with page.expect_file_chooser() as chooser:
        row(page, "disk.img").get_by_role("button", name="Resume upload of disk.img").click()
    chooser.value.set_files(str(other))
    expect(row(page, "disk.img")).to_contain_text("That is not the same file: choose “disk.img” (4.2 MB).")
    with page.expect_response(lambda r: r.request.method == "DELETE" and r.url == upload_url) as deleted:
        row(page, "disk.img").get_by_role("button", name="Discard upload of disk.img").click()
    assert deleted.value.status == 204
    expect(panel(page)).to_be_hidden()
    page.reload()
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    expect(panel(page)).to_be_hidden()
    assert listing(live, account) == {}


@pytest.fixture
def small_service(browser: Browser, start_live: Callable[..., Live],
                  page_watch: PageWatch) -> Iterator[tuple[Live, Page]]:
    """A service whose files may be up to 100 kB and whose users have 50 kB, and a page on it."""
    live = start_live(MAX_FILE_SIZE="100000", DEFAULT_QUOTA="50000")
    context = new_context(browser, live, page_watch)
    yield live, context.new_page()
    context.close()
    assert not page_watch.problems, "\n".join(page_watch.problems)


def test_refusals_show_on_their_row(small_service: tuple[Live, Page], page_watch: PageWatch, images: Path):
    live, page = small_service
    page_watch.expect_status(507)
    account = new_account(live)
    open_signed_in(page, account)
    small = random_file(images, "small.txt", 1000)
    huge = random_file(images, "huge.bin", 200_000)
    medium = random_file(images, "medium.bin", 60_000)
    creations: list[Request] = []
    page.on("request", lambda r: creations.append(r) if r.method == "POST" and "/v2/uploads" in r.url else None)

    page.get_by_label("Files to upload").set_input_files([str(small), str(huge), str(medium)])
    expect(row(page, "small.txt")).to_contain_text("Done")
    expect(row(page, "huge.bin")).to_contain_text("Too large: files may be up to 100 KB.")
    expect(row(page, "medium.bin")).to_contain_text("Not enough space: your storage quota is full.")
    expect(panel(page)).to_contain_text("1 of 3 uploaded · 2 failed")
    expect(row(page, "huge.bin").get_by_role("button")).to_have_count(0)
    expect(row(page, "medium.bin").get_by_role("button", name="Retry upload of medium.bin")).to_be_visible()
    shoot(page, "upload-error-desktop")
    assert len(creations) == 2  # the one too large never left the browser
    assert set(listing(live, account)) == {"small.txt"}

    panel(page).get_by_role("button", name="Clear finished").click()
    expect(panel(page).get_by_role("listitem")).to_have_count(0)
    expect(panel(page)).to_be_hidden()


def test_an_upload_after_the_session_ended_says_so(page: Page, live: Live, page_watch: PageWatch, images: Path):
    page_watch.expect_status(401)
    account = new_account(live)
    open_signed_in(page, account)
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    requests.delete(f"{live.url}/v2/sessions/current", headers={"Authorization": f"Bearer {account.token}"},
                    timeout=10).raise_for_status()
    page.get_by_label("Files to upload").set_input_files(str(random_file(images, "late.txt", 10)))
    expect(row(page, "late.txt")).to_contain_text("Your session has ended. Log in again, then retry.")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_uploads_on_a_phone(phone_page: Page, live: Live, images: Path):
    page = phone_page
    signed_in_with_small_chunks(page, live)
    shutil.copy(IMAGES / "flower.jpg", images / "flower.jpg")
    files = [images / "flower.jpg", random_file(images, "a rather long name for a video file.mp4", 5 * MIB),
             random_file(images, "song.ogg", 1_500_000)]
    hold = Hold(page, 2 * MIB)
    page.get_by_label("Files to upload").set_input_files([str(f) for f in files])
    hold.wait()
    expect(row(page, "flower.jpg")).to_contain_text("Done")
    expect(row(page, "song.ogg")).to_contain_text("Done")
    expect(row(page, "video file")).to_contain_text("40 %")
    box = panel(page).bounding_box()
    assert box and box["x"] == 0 and box["width"] == 360 and box["y"] + box["height"] == 740
    shoot(page, "uploads-phone")

    panel(page).get_by_role("button", name="Hide the list of uploads").click()
    expect(panel(page).get_by_role("list")).to_be_hidden()
    hold.release()
    expect(panel(page)).to_contain_text("3 of 3 uploaded")
    panel(page).get_by_role("button", name="Show the list of uploads").click()
    expect(row(page, "video file")).to_contain_text("Done")


def test_a_log_out_clears_the_panel_and_the_upload_waits_for_its_owner(page: Page, live: Live, images: Path):
    owner, other = new_account(live), new_account(live)
    open_signed_in(page, owner)
    small_chunks(page)
    big = random_file(images, "thesis.pdf", 3 * MIB)
    hold = Hold(page, 2 * MIB)
    page.get_by_label("Files to upload").set_input_files(str(big))
    hold.wait()
    page.get_by_role("button", name="Log out").click()
    expect(panel(page)).to_be_hidden()
    hold.stop()

    open_signed_in(page, other)
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    expect(panel(page)).to_be_hidden()
    session = requests.post(f"{live.url}/v2/sessions", json={"email": owner.email, "password": owner.password},
                            timeout=10)
    owner = Account(owner.email, owner.password, session.json()["token"])  # the log-out ended the first one
    open_signed_in(page, owner)
    expect(row(page, "thesis.pdf")).to_contain_text("Interrupted at 66 %")
    with page.expect_file_chooser() as chooser:
        row(page, "thesis.pdf").get_by_role("button", name="Resume upload of thesis.pdf").click()
    chooser.value.set_files(str(big))
    expect(row(page, "thesis.pdf")).to_contain_text("Done")
    assert listing(live, owner)["thesis.pdf"]["sha256"] == sha256(big)

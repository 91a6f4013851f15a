"""Browsing files: folders with breadcrumbs, sort, list and grid, endless
virtualised scroll over cursor pages, search, thumbnails, keyboard, a missing folder."""

from __future__ import annotations

import re
from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from .conftest import Account, Live, PageWatch, new_account, open_signed_in, shoot

IMAGES = Path(__file__).resolve().parents[1] / "images"
BLOB = re.compile(r"^blob:")


class Api:
    """The account's v2 API over HTTP, to make what a test browses."""

    def __init__(self, live: Live, account: Account) -> None:
        self.url = live.url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {account.token}"

    def folder(self, name: str, parent: str = "0") -> str:
        answer = self.http.post(f"{self.url}/v2/files", json={"name": name, "type": "folder", "parentId": parent},
                                timeout=10)
        answer.raise_for_status()
        return answer.json()["id"]

    def files(self, parent: str, files: list[tuple[str, bytes]]) -> list[dict]:
        """Several files in one multipart request."""
        parts = [("file", (name, content)) for name, content in files]
        answer = self.http.post(f"{self.url}/v2/files", data={"parentId": parent}, files=parts, timeout=60)
        answer.raise_for_status()
        return answer.json()["items"]

    def image(self, parent: str, name: str, source: str = "hopper.jpg") -> dict:
        return self.files(parent, [(name, (IMAGES / source).read_bytes())])[0]


def names(page: Page) -> list[str]:
    """The names of the rows rendered, top to bottom."""
    return page.evaluate("""() => [...document.querySelectorAll('.vlist-items .item')]
        .sort((a, b) => a.dataset.index - b.dataset.index).map((li) => li.querySelector('.label').textContent)""")


def rows(page: Page):
    return page.locator(".vlist-items .item")


def row(page: Page, index: int):
    """The row of the `index`th item (the DOM order of rows may differ while scrolling)."""
    return page.locator(f'.vlist-items .item[data-index="{index}"]')


def test_breadcrumbs_lead_up_the_tree_and_the_list_shows_each_item(page: Page, live: Live):
    account = new_account(live)
    api = Api(live, account)
    documents = api.folder("Documents")
    api.folder("Photos")
    api.folder("Music")
    reports = api.folder("Reports", documents)
    year = api.folder("2024", reports)
    api.files("0", [("Budget 2025.xlsx", b"x" * 48_213), ("notes.txt", b"remember the milk\n"),
                    ("Presentation final v3.pdf", b"%PDF" + b"0" * 1_204_000)])
    api.image("0", "Lake at dawn.jpg", "flower.jpg")
    api.image("0", "hopper.jpg")
    api.image("0", "Portrait.webp", "hopper.webp")
    api.files(year, [("Q1.csv", b"a,b\n1,2\n")])

    open_signed_in(page, account, f"#/files/{year}")
    expect(page.get_by_role("heading", name="2024", level=1)).to_be_visible()
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs.get_by_role("link")).to_have_text(["My files", "Documents", "Reports"])
    expect(page.get_by_role("button", name="Q1.csv", exact=True)).to_be_visible()

    crumbs.get_by_role("link", name="Documents").click()
    expect(page.get_by_role("heading", name="Documents", level=1)).to_be_visible()
    expect(page).to_have_url(re.compile(f"#/files/{documents}$"))
    expect(crumbs.get_by_role("link")).to_have_text(["My files"])
    page.get_by_role("link", name="Reports", exact=True).click()
    expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()
    crumbs.get_by_role("link", name="My files").click()
    expect(page.get_by_role("heading", name="My files", level=1)).to_be_visible()
    expect(crumbs).to_be_hidden()

    # Folders first, then files by name; each row has its size, date and actions.
    expect(rows(page)).to_have_count(9)
    assert names(page)[:3] == ["Documents", "Music", "Photos"]
    row = rows(page).filter(has_text="Presentation final v3.pdf")
    expect(row.locator(".size")).to_have_text("1.2 MB")
    expect(row.get_by_role("button", name="Actions for Presentation final v3.pdf")).to_have_attribute(
        "aria-haspopup", "menu")
    for image in ("Lake at dawn.jpg", "hopper.jpg", "Portrait.webp"):
        expect(rows(page).filter(has_text=image).locator("img")).to_have_attribute("src", BLOB, timeout=20_000)
    shoot(page, "files-list-desktop")


def test_sorting_changes_the_order_and_folders_stay_first(page: Page, live: Live):
    account = new_account(live)
    api = Api(live, account)
    api.folder("Zebra folder")
    api.files("0", [("b-medium.bin", b"m" * 5_000), ("a-small.bin", b"s" * 10), ("c-large.bin", b"l" * 90_000)])
    open_signed_in(page, account)
    expect(rows(page)).to_have_count(4)
    assert names(page) == ["Zebra folder", "a-small.bin", "b-medium.bin", "c-large.bin"]

    sort = page.get_by_label("Sort by")
    sort.select_option(label="Largest")
    expect(row(page, 1)).to_contain_text("c-large.bin")
    assert names(page) == ["Zebra folder", "c-large.bin", "b-medium.bin", "a-small.bin"]
    sort.select_option(label="Name Z\u2013A")
    expect(row(page, 1)).to_contain_text("c-large.bin")
    sort.select_option(label="Smallest")
    expect(row(page, 1)).to_contain_text("a-small.bin")
    assert names(page) == ["Zebra folder", "a-small.bin", "b-medium.bin", "c-large.bin"]
    page.reload()  # the chosen order is remembered
    expect(page.get_by_label("Sort by")).to_have_value("size")


def test_the_grid_shows_big_thumbnails_and_the_choice_is_remembered(page: Page, live: Live):
    account = new_account(live)
    api = Api(live, account)
    api.folder("Holidays")
    api.folder("Scans")
    for name, source in [("Flower.jpg", "flower.jpg"), ("Hopper.jpg", "hopper.jpg"), ("Hopper.webp", "hopper.webp"),
                         ("Transparent.png", "transparent.png"),
                         ("Orientation.png", "exif_imagemagick_orientation.png")]:
        api.image("0", name, source)
    api.files("0", [("Report.pdf", b"%PDF-1.4 " * 3000), ("notes.txt", b"hello")])
    open_signed_in(page, account)
    grid = page.get_by_role("button", name="Grid")
    list_button = page.get_by_role("button", name="List")
    expect(list_button).to_have_attribute("aria-pressed", "true")
    first = row(page, 0).bounding_box()
    assert first and first["width"] > 600  # a full-width row

    grid.click()
    expect(grid).to_have_attribute("aria-pressed", "true")
    expect(list_button).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".browser.grid")).to_be_visible()
    boxes = [row(page, i).bounding_box() for i in range(3)]
    assert boxes[0]["y"] == boxes[1]["y"] == boxes[2]["y"]  # tiles side by side
    for name in ("Flower.jpg", "Hopper.jpg", "Transparent.png"):
        expect(rows(page).filter(has_text=name).locator("img")).to_have_attribute("src", BLOB, timeout=20_000)
    shoot(page, "files-grid-desktop")
    # Arrows move across the tiles, and down a row of them.
    row(page, 0).get_by_role("link", name="Holidays").focus()
    page.keyboard.press("ArrowRight")
    expect(row(page, 1).get_by_role("link", name="Scans")).to_be_focused()
    scans = row(page, 1).bounding_box()
    page.keyboard.press("ArrowDown")
    below = page.locator(".item:focus-within")
    expect(below).to_contain_text("Report.pdf")  # 9 items, 6 to a row: index 7
    box = below.bounding_box()
    assert box["x"] == scans["x"] and box["y"] > scans["y"] + scans["height"]
    page.reload()
    expect(page.get_by_role("button", name="Grid")).to_have_attribute("aria-pressed", "true")


def test_a_folder_of_a_thousand_items_scrolls_to_the_end_a_page_at_a_time(page: Page, live: Live):
    account = new_account(live)
    api = Api(live, account)
    big = api.folder("Big")
    total = 1_050
    for start in range(0, total, 150):
        api.files(big, [(f"item-{i:05d}.txt", str(i).encode()) for i in range(start, min(total, start + 150))])

    pages: list[str] = []
    page.on("request", lambda r: pages.append(r.url) if f"parentId={big}" in r.url else None)
    open_signed_in(page, account, f"#/files/{big}")
    expect(page.get_by_role("button", name="item-00000.txt", exact=True)).to_be_visible()
    most = 0
    last = page.get_by_role("button", name=f"item-{total - 1:05d}.txt", exact=True)
    for _ in range(5):  # at the end of what is loaded, the next page comes
        with page.expect_response(lambda r: "cursor=" in r.url):
            page.evaluate("scrollTo(0, document.documentElement.scrollHeight)")
        most = max(most, rows(page).count())
    page.evaluate("scrollTo(0, document.documentElement.scrollHeight)")
    expect(last).to_be_in_viewport()
    most = max(most, rows(page).count())
    # 200 a page: the first, then five more, each once (open_signed_in's reload may ask for the first twice).
    cursors = [url for url in pages if "cursor=" in url]
    assert len(cursors) == len(set(cursors)) == 5, "\n".join(pages)
    assert 15 <= most <= 40, f"{most} rows in the DOM"  # a screenful (800 px / 48 px) and a margin
    expect(row(page, total - 1)).to_have_attribute("aria-setsize", str(total))
    expect(row(page, total - 1)).to_have_attribute("aria-posinset", str(total))
    expect(rows(page).last).to_have_attribute("aria-posinset", str(total))  # the DOM in reading order again
    # Back at the top, the first rows are there again and the last ones are gone.
    page.evaluate("scrollTo(0, 0)")
    expect(page.get_by_role("button", name="item-00000.txt", exact=True)).to_be_visible()
    expect(last).to_have_count(0)


def test_search_finds_items_in_every_folder(page: Page, live: Live):
    account = new_account(live)
    api = Api(live, account)
    trips = api.folder("Trips")
    italy = api.folder("Italy 2023", trips)
    work = api.folder("Work")
    api.files("0", [("Holiday budget.xlsx", b"1" * 12_000), ("Groceries.txt", b"milk")])
    api.files(italy, [("holiday-rome.txt", b"Colosseum"), ("Venice.txt", b"canals")])
    api.image(italy, "HOLIDAY beach.jpg", "flower.jpg")
    api.files(work, [("Holiday rota.pdf", b"%PDF" * 900)])
    api.folder("Holiday ideas", work)
    open_signed_in(page, account)
    expect(page.get_by_role("heading", name="My files")).to_be_visible()

    search = page.get_by_role("searchbox", name="Search files by name")
    search.fill("holiday")
    search.press("Enter")
    expect(page.get_by_role("heading", name="Results for “holiday”")).to_be_visible()
    expect(rows(page)).to_have_count(5)
    assert set(names(page)) == {"Holiday ideas", "HOLIDAY beach.jpg", "Holiday budget.xlsx", "holiday-rome.txt",
                                "Holiday rota.pdf"}
    expect(rows(page).filter(has_text="holiday-rome.txt").locator(".where")).to_have_text("Italy 2023")
    expect(rows(page).filter(has_text="Holiday budget.xlsx").locator(".where")).to_have_text("My files")
    expect(rows(page).filter(has_text="Holiday rota.pdf").locator(".where")).to_have_text("Work")
    expect(rows(page).filter(has_text="HOLIDAY beach.jpg").locator("img")).to_have_attribute("src", BLOB,
                                                                                             timeout=20_000)
    shoot(page, "search-desktop")
    rows(page).filter(has_text="holiday-rome.txt").locator(".where").click()
    expect(page.get_by_role("heading", name="Italy 2023", level=1)).to_be_visible()

    search.fill("no such name")
    search.press("Enter")
    expect(page.get_by_text("Nothing here has a name containing “no such name”.")).to_be_visible()


def test_a_fresh_image_gets_its_thumbnail_without_a_reload(page: Page, live: Live):
    account = new_account(live)
    api = Api(live, account)
    album = api.folder("Album")
    open_signed_in(page, account, f"#/files/{album}")
    expect(page.get_by_text("This folder is empty. Drop files here or use Upload.")).to_be_visible()
    uploaded = api.image(album, "New photo.jpg", "flower.jpg")
    # What the uploads module does when a file has arrived: the shown folder refreshes.
    page.evaluate("""async ([url, folder]) => {
        (await import(url)).emit('files-changed', { parentIds: [folder] });
    }""", [app_module(page, "events.js"), album])
    row = rows(page).filter(has_text="New photo.jpg")
    expect(row).to_be_visible()
    expect(row.locator("img")).to_have_attribute("src", BLOB, timeout=30_000)
    assert uploaded["type"] == "image"


def test_the_list_works_from_the_keyboard(page: Page, live: Live):
    account = new_account(live)
    api = Api(live, account)
    parent = api.folder("Parent")
    api.folder("Child", parent)
    api.files(parent, [(f"file-{i:02d}.txt", b"x") for i in range(40)])
    open_signed_in(page, account, f"#/files/{parent}")
    child = page.get_by_role("link", name="Child", exact=True)
    expect(child).to_be_visible()

    # One tab stop in the list: Tab reaches the first row, then its actions, then leaves.
    page.get_by_role("button", name="Grid").focus()
    page.keyboard.press("Tab")
    expect(child).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Actions for Child")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("button", name="file-00.txt", exact=True)).to_be_focused()
    expect(child).to_have_attribute("tabindex", "-1")
    page.keyboard.press("End")
    expect(page.get_by_role("button", name="file-39.txt", exact=True)).to_be_focused()
    expect(page.get_by_role("button", name="file-39.txt", exact=True)).to_be_in_viewport()
    page.keyboard.press("PageUp")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.startswith("file-") and int(focused[5:7]) < 35
    page.keyboard.press("Home")
    expect(child).to_be_focused()

    # The actions menu: opened from the keyboard, closed with Escape, focus back on its button.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    menu = page.get_by_role("menu", name="Actions for Child")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("menuitem").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_have_count(0)
    actions = page.get_by_role("button", name="Actions for Child")
    expect(actions).to_be_focused()
    expect(actions).to_have_attribute("aria-expanded", "false")

    # Enter opens a folder; Backspace and Alt+Up go up.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Child", level=1)).to_be_visible()
    expect(page.get_by_text("This folder is empty.")).to_be_visible()
    page.get_by_role("button", name="New folder").click()
    page.get_by_label("Folder name").fill("Grandchild")
    page.get_by_role("button", name="Create").click()
    grandchild = page.get_by_role("link", name="Grandchild", exact=True)
    grandchild.focus()
    page.keyboard.press("Backspace")
    expect(page.get_by_role("heading", name="Parent", level=1)).to_be_visible()
    page.get_by_role("link", name="Child", exact=True).focus()
    page.keyboard.press("Alt+ArrowUp")
    expect(page.get_by_role("heading", name="My files", level=1)).to_be_visible()


def test_a_new_folder_with_a_bad_name_is_refused_in_the_dialog(page: Page, live: Live, page_watch: PageWatch):
    page_watch.expect_status(400)
    account = new_account(live)
    open_signed_in(page, account)
    expect(page.get_by_text("This folder is empty. Drop files here or use Upload.")).to_be_visible()
    page.get_by_role("button", name="New folder").click()
    dialog = page.get_by_role("dialog", name="New folder")
    dialog.get_by_label("Folder name").fill("a/b")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.get_by_role("alert")).to_have_text("Invalid name")
    dialog.get_by_label("Folder name").fill("Tax returns")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_role("link", name="Tax returns", exact=True)).to_be_visible()


def test_an_unknown_folder_says_so(page: Page, live: Live, page_watch: PageWatch):
    page_watch.expect_status(404)
    open_signed_in(page, new_account(live), "#/files/0123456789abcdef01234567")
    expect(page.get_by_text("This folder does not exist.")).to_be_visible()
    page.get_by_role("link", name="Go to My files").click()
    expect(page.get_by_role("heading", name="My files", level=1)).to_be_visible()


def test_rows_are_drop_targets_for_items_not_for_files_from_the_desktop(page: Page, live: Live):
    account = new_account(live)
    api = Api(live, account)
    target = api.folder("Target")
    api.files("0", [("moving.txt", b"x")])
    open_signed_in(page, account)
    expect(page.get_by_role("link", name="Target", exact=True)).to_be_visible()
    outcome = page.evaluate("""() => {
        const row = (name) => [...document.querySelectorAll('.item')].find((li) => li.textContent.includes(name));
        const fire = (el, type, dt) => el.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true,
            cancelable: true }));
        const items = new DataTransfer();
        fire(row('moving.txt'), 'dragstart', items);
        const sent = JSON.parse(items.getData('application/x-files-manager-items'));
        const accepted = !fire(row('Target').querySelector('.name'), 'dragover', items);
        const lit = row('Target').classList.contains('drop-over');
        const onItself = !fire(row('moving.txt'), 'dragover', items);
        fire(row('moving.txt'), 'dragend', items);
        const desktop = new DataTransfer();
        desktop.items.add(new File(['x'], 'a.txt'));
        let reached = false;
        const seen = () => { reached = true; };
        document.addEventListener('dragover', seen);
        fire(row('Target'), 'dragover', desktop);
        document.removeEventListener('dragover', seen);
        const desktopLit = row('Target').classList.contains('drop-over');
        const litAfter = row('Target').classList.contains('drop-over');
        return { sent, accepted, lit, onItself, reached, desktopLit, litAfter };
    }""")
    assert outcome["sent"]["ids"] == [outcome["sent"]["items"][0]["id"]]
    assert outcome["sent"]["items"][0]["name"] == "moving.txt"
    assert outcome["accepted"] and outcome["lit"]
    assert not outcome["onItself"] and not outcome["litAfter"]
    assert outcome["reached"] and not outcome["desktopLit"]  # desktop files: left to the uploads module
    assert target


def test_on_a_phone_each_row_shows_name_and_size_with_big_touch_targets(phone_page: Page, live: Live):
    account = new_account(live)
    api = Api(live, account)
    api.folder("Camera roll")
    api.folder("Documents")
    api.files("0", [("Boarding pass.pdf", b"%PDF" * 30_000), ("Shopping list.txt", b"eggs\n" * 20),
                    ("A file with a rather long name that will not fit.txt", b"long")])
    api.image("0", "Sunset.jpg", "flower.jpg")
    page = open_signed_in(phone_page, account)
    row = rows(page).filter(has_text="Boarding pass.pdf")
    expect(row.locator(".sub")).to_be_visible()
    expect(row.locator(".sub")).to_contain_text("120 KB")
    expect(row.locator(".size")).to_be_hidden()
    label, sub = row.locator(".label").bounding_box(), row.locator(".sub").bounding_box()
    assert sub["y"] >= label["y"] + label["height"] - 1  # two lines
    for control in [row.locator(".name"), row.locator(".more"), page.get_by_role("button", name="New folder"),
                    page.get_by_label("Sort by"), page.get_by_role("button", name="Grid")]:
        box = control.bounding_box()
        assert box and box["height"] >= 40 and box["width"] >= 40, control
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    expect(rows(page).filter(has_text="Sunset.jpg").locator("img")).to_have_attribute("src", BLOB, timeout=20_000)
    shoot(page, "files-phone")


def app_module(page: Page, name: str) -> str:
    """The URL of one of the app's modules (the same instance the app uses when imported)."""
    return page.evaluate("(name) => document.querySelector('script[type=module]').src.replace('main.js', name)", name)


def test_the_menu_and_keys_run_the_actions_others_register(page: Page, live: Live):
    account = new_account(live)
    api = Api(live, account)
    api.folder("Folder")
    api.files("0", [("report.txt", b"r"), ("second.txt", b"s")])
    open_signed_in(page, account)
    expect(page.get_by_role("button", name="report.txt", exact=True)).to_be_visible()
    # Ours first (lowest order), on keys no real action uses: the menu works with whatever else is there.
    page.evaluate("""async (url) => {
        const { registerAction } = await import(url);
        window.ran = [];
        const note = (id) => (item) => window.ran.push(`${id} ${item.name}`);
        registerAction({ id: 'open', label: 'Test open', when: (item) => item.type !== 'folder', run: note('open'),
            order: -3 });
        registerAction({ id: 'test-a', label: 'Test A', key: 'F7', run: note('a'), order: -2 });
        registerAction({ id: 'test-b', label: 'Test B', key: 'F8', danger: true, run: note('b'), order: -1 });
    }""", app_module(page, "item_actions.js"))

    def ran() -> list[str]:
        page.wait_for_function("window.ran.length > 0")
        return page.evaluate("window.ran.splice(0)")

    page.get_by_role("button", name="report.txt", exact=True).click()  # a file's name opens it
    assert ran() == ["open report.txt"]

    page.keyboard.press("F7")
    assert ran() == ["a report.txt"]
    page.keyboard.press("ArrowDown")
    page.keyboard.press("F8")
    assert ran() == ["b second.txt"]

    page.get_by_role("button", name="Actions for Folder").click()
    menu = page.get_by_role("menu", name="Actions for Folder")
    entries = menu.get_by_role("menuitem")
    expect(entries.first).to_have_accessible_name("Test A")  # no "Test open": not for folders
    expect(entries.first).to_have_attribute("aria-keyshortcuts", "F7")
    expect(entries.first).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("menuitem", name="Test B")).to_be_focused()
    page.keyboard.press("End")
    expect(entries.last).to_be_focused()
    page.keyboard.press("ArrowDown")  # wraps round
    expect(entries.first).to_be_focused()
    page.keyboard.press("Enter")
    expect(menu).to_have_count(0)
    assert ran() == ["a Folder"]
    expect(page.get_by_role("button", name="Actions for Folder")).to_be_focused()


def test_a_change_refreshes_the_folder_keeping_the_scroll_position_and_focus(page: Page, live: Live):
    account = new_account(live)
    api = Api(live, account)
    folder = api.folder("Many")
    api.files(folder, [(f"doc-{i:03d}.txt", b"x") for i in range(0, 400, 2)])
    open_signed_in(page, account, f"#/files/{folder}")
    expect(page.get_by_role("button", name="doc-000.txt", exact=True)).to_be_visible()
    page.evaluate("scrollTo(0, 48 * 100)")
    target = page.get_by_role("button", name="doc-220.txt", exact=True)
    target.focus()
    scrolled = page.evaluate("scrollY")

    api.files(folder, [("doc-221.txt", b"new"), ("doc-001.txt", b"new")])
    with page.expect_response(lambda r: f"parentId={folder}" in r.url):
        page.evaluate("""async ([url, folder]) => {
            (await import(url)).emit('files-changed', { parentIds: [folder] });
        }""", [app_module(page, "events.js"), folder])
    expect(page.get_by_role("button", name="doc-221.txt", exact=True)).to_be_visible()
    expect(target).to_be_focused()
    assert abs(page.evaluate("scrollY") - scrolled) <= 48
    page.evaluate("scrollTo(0, 0)")
    expect(row(page, 1)).to_contain_text("doc-001.txt")

"""axe-core (tests/axe, pinned by its lock) on every screen of the app, at
desktop and phone width and in dark mode: any violation of impact serious or
critical fails, each named with the elements it was found on.

The screens are a list (SCREENS): a new one is a line there. The account is
given a folder, a file and an item in the trash first, so the lists have rows.
These pages are opened with the CSP bypassed, the only way to run a script
the app did not ship (its Trusted Types would refuse axe's own DOM work too);
every other test keeps the policy, and this one still fails on any console
error, uncaught exception or 5xx.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .conftest import DESKTOP, PHONE, Account, Live, PageWatch, new_account, open_signed_in, shoot

AXE = Path(__file__).resolve().parents[1] / "axe" / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")


@dataclass(frozen=True)
class Screen:
    name: str
    route: str  # the hash route
    heading: str  # the view's h1, there once it has rendered
    signed_in: bool = True


SCREENS = [
    Screen("login", "#/login", "Log in", signed_in=False),
    Screen("signup", "#/signup", "Sign up", signed_in=False),
    Screen("files", "#/files/0", "My files"),
    Screen("trash", "#/trash", "Trash"),
    Screen("account", "#/account", "Account"),
]
VIEWPORTS = {
    "desktop": {"viewport": DESKTOP},
    "phone": {"viewport": PHONE, "is_mobile": True, "has_touch": True, "device_scale_factor": 2},
    "desktop-dark": {"viewport": DESKTOP, "color_scheme": "dark"},
}


@pytest.fixture(scope="module")
def axe_source() -> str:
    assert AXE.is_file(), "axe-core is not installed: scripts/bootstrap --test (npm ci --prefix tests/axe)"
    return AXE.read_text()


@pytest.fixture(params=list(VIEWPORTS))
def axe_context(request: pytest.FixtureRequest, browser: Browser, live: Live,
                page_watch: PageWatch) -> Iterator[tuple[str, BrowserContext]]:
    context = browser.new_context(base_url=live.url, bypass_csp=True, **VIEWPORTS[request.param])
    context.set_default_timeout(10_000)
    context.on("page", page_watch.watch)
    yield request.param, context
    context.close()
    assert not page_watch.problems, "\n".join(page_watch.problems)


def _with_items(live: Live, account: Account) -> Account:
    """A folder, a file in it and one at the top, and a file in the trash."""
    auth = {"Authorization": f"Bearer {account.token}"}
    made = {}
    for name, parent, data in (("Holidays", "0", None), ("notes.txt", "0", b"hello"), ("old.txt", "0", b"old")):
        body = {"name": name, "type": "folder" if data is None else "file", "parentId": parent}
        if data is not None:
            body["data"] = base64.b64encode(data).decode()
        answer = requests.post(f"{live.url}/files", json=body, headers={"X-Token": account.token}, timeout=10)
        answer.raise_for_status()
        made[name] = answer.json()["id"]
    requests.delete(f"{live.url}/v2/files/{made['old.txt']}", headers=auth, timeout=10).raise_for_status()
    return account


def _violations(page: Page, axe_source: str) -> list[dict]:
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=axe_source)
    return page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")


def _describe(screen: str, violation: dict) -> str:
    nodes = violation["nodes"]
    where = "; ".join(f"{' '.join(node['target'])}: {node['html'][:120]}" for node in nodes[:4])
    more = f" (and {len(nodes) - 4} more)" if len(nodes) > 4 else ""
    return f"{screen}: [{violation['impact']}] {violation['id']}: {violation['help']} at {where}{more}"


def test_no_screen_has_a_serious_accessibility_violation(axe_context: tuple[str, BrowserContext], live: Live,
                                                         axe_source: str):
    viewport, context = axe_context
    account = _with_items(live, new_account(live))
    page = context.new_page()
    failing, minor = [], []
    for screen in SCREENS:
        if screen.signed_in:
            open_signed_in(page, account, screen.route)
        else:
            page.goto(f"/{screen.route}")
        expect(page.get_by_role("heading", level=1, name=screen.heading)).to_be_visible()
        page.wait_for_load_state("networkidle")  # whatever the view fetches has arrived and been shown
        shoot(page, f"a11y-{screen.name}-{viewport}")
        for violation in _violations(page, axe_source):
            (failing if violation["impact"] in FAILING_IMPACTS else minor).append(_describe(screen.name, violation))
        if screen.signed_in:  # the next signed-out screen starts from a fresh tab's storage
            page.evaluate("() => sessionStorage.clear()")
    print("\n".join(["minor accessibility findings:", *minor] if minor else []))
    assert not failing, f"{len(failing)} serious or critical violation(s) at {viewport}:\n" + "\n".join(failing)

"""The web UI in a real browser: Debian's chromium driven by Playwright
against the real service (`python supervisor.py`, one API and one job worker).

Every page a test opens is watched: a console error, an uncaught exception, a
CSP violation or a 5xx answer fails the test, unless the test said it expects
that HTTP status (`page_watch.expect_status(401)` before a wrong password).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Response, sync_playwright

from tests.conftest import running_supervisor, service_env

from .chromium import launch_chromium

PROJECT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("FM_SCREENSHOTS", PROJECT / "build" / "screenshots"))
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
TOKEN_KEY = "files-manager.token"  # web/js/session.js
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Live:
    url: str
    env: dict[str, str]


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def start_live(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., Live]]:
    """start_live(**settings): the whole service, as an operator starts it, with extra settings
    as environment variables (`MAX_FILE_SIZE="1000"`); stopped (and checked to stop cleanly) at the end."""
    with contextlib.ExitStack() as stack:
        def start(**extra: str) -> Live:
            env = service_env(tmp_path, redis_url, API_WORKERS="1", JOB_WORKERS="1", WORKER_CLAIM_IDLE="1", **extra)
            stack.enter_context(running_supervisor(env, tmp_path / f"service-{env['PORT']}.log"))
            return Live(f"http://127.0.0.1:{env['PORT']}", env)
        yield start


@pytest.fixture
def live(start_live: Callable[..., Live]) -> Live:
    """The whole service with its default settings."""
    return start_live()


@dataclass
class PageWatch:
    """What went wrong in the browser while a test ran."""

    problems: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)
    expected_failures: set[str] = field(default_factory=set)

    def expect_status(self, *statuses: int) -> None:
        """The test provokes these HTTP statuses on purpose (the browser logs each as a console error)."""
        self.expected_statuses.update(statuses)

    def expect_network_failure(self, *errors: str) -> None:
        """The test cuts the network on purpose: the browser logs each request it
        could not send as a console error (`net::ERR_INTERNET_DISCONNECTED`)."""
        self.expected_failures.update(errors)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        status = re.search(r"status of (\d{3})", message.text)
        if status and int(status.group(1)) in self.expected_statuses:
            return
        failure = re.search(r"net::(ERR_[A-Z_]+)", message.text)
        if failure and failure.group(1) in self.expected_failures:
            return
        self.problems.append(f"console error: {message.text} at {message.location.get('url')}")

    def on_response(self, response: Response) -> None:
        if response.status >= 500 and response.status not in self.expected_statuses:
            self.problems.append(f"{response.status} from {response.request.method} {response.url}")

    def watch(self, page: Page) -> None:
        page.on("console", self.on_console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("response", self.on_response)


def new_context(browser: Browser, live: Live, watch: PageWatch, *, phone: bool = False) -> BrowserContext:
    if phone:
        context = browser.new_context(base_url=live.url, viewport=PHONE, is_mobile=True, has_touch=True,
                                      device_scale_factor=2)
    else:
        context = browser.new_context(base_url=live.url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    context.on("page", watch.watch)
    return context


@pytest.fixture
def page_watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def context(browser: Browser, live: Live, page_watch: PageWatch) -> Iterator[BrowserContext]:
    """A fresh browser profile at desktop size, watched."""
    context = new_context(browser, live, page_watch)
    yield context
    context.close()
    assert not page_watch.problems, "\n".join(page_watch.problems)


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def phone_page(browser: Browser, live: Live, page_watch: PageWatch) -> Iterator[Page]:
    """A fresh profile at 360 px wide with touch, watched."""
    context = new_context(browser, live, page_watch, phone=True)
    yield context.new_page()
    context.close()
    assert not page_watch.problems, "\n".join(page_watch.problems)


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    token: str


def new_account(live: Live, email: str | None = None) -> Account:
    """A user made over the API, with a session token."""
    email = email or f"user-{secrets.token_hex(4)}@example.com"
    requests.post(f"{live.url}/v2/users", json={"email": email, "password": PASSWORD}, timeout=10).raise_for_status()
    answer = requests.post(f"{live.url}/v2/sessions", json={"email": email, "password": PASSWORD}, timeout=10)
    answer.raise_for_status()
    return Account(email, PASSWORD, answer.json()["token"])


def open_signed_in(page: Page, account: Account, hash_route: str = "#/files/0") -> Page:
    """The app open at `hash_route` with `account`'s token in the tab's session storage, as after logging in."""
    page.goto("/")
    page.evaluate("([key, token]) => sessionStorage.setItem(key, token)", [TOKEN_KEY, account.token])
    page.goto(f"/{hash_route}")
    page.reload()
    return page


def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot, written to build/screenshots/ (or $FM_SCREENSHOTS)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False, animations="disabled", caret="initial")
    return path

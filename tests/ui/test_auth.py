"""Accounts in the browser: sign up, log in, log out, the account page and the quota bar."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, Request, Route, expect

from tests.conftest import PROJECT

from .conftest import PASSWORD, TOKEN_KEY, Account, Live, PageWatch, new_account, new_context, open_signed_in, shoot

IMAGES = Path(__file__).resolve().parents[1] / "images"
NEW_PASSWORD = "a new password, longer"


@pytest.fixture
def open_page(browser: Browser, start_live: Callable[..., Live],
              page_watch: PageWatch) -> Iterator[Callable[..., Page]]:
    """open_page(live, phone=False): a watched page on `live` (a service from start_live with its own settings)."""
    contexts = []

    def open_on(live: Live, *, phone: bool = False) -> Page:
        contexts.append(new_context(browser, live, page_watch, phone=phone))
        return contexts[-1].new_page()

    yield open_on
    for context in contexts:
        context.close()
    assert not page_watch.problems, "\n".join(page_watch.problems)


def token_in(page: Page) -> str | None:
    return page.evaluate("(key) => sessionStorage.getItem(key)", TOKEN_KEY)


def me(live: Live, token: str) -> requests.Response:
    return requests.get(f"{live.url}/v2/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def log_in_over_api(live: Live, email: str, password: str) -> requests.Response:
    return requests.post(f"{live.url}/v2/sessions", json={"email": email, "password": password}, timeout=10)


def fill_login(page: Page, email: str, password: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def upload(live: Live, account: Account, image: str) -> None:
    with (IMAGES / image).open("rb") as content:
        answer = requests.post(f"{live.url}/v2/files", headers={"Authorization": f"Bearer {account.token}"},
                               data={"parentId": "0"}, files={"file": (image, content, "image/jpeg")}, timeout=10)
    answer.raise_for_status()


def test_signing_up_lands_in_my_files(page: Page, live: Live):
    page.goto("/#/login")
    page.get_by_role("link", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"#/signup$"))
    expect(page.get_by_label("Email")).to_be_focused()
    expect(page.get_by_label("Email")).to_have_attribute("autocomplete", "username")
    expect(page.get_by_label("Password")).to_have_attribute("autocomplete", "new-password")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    expect(page).to_have_url(re.compile(r"#/files/0$"))
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    expect(page.locator("#quota")).to_have_text("0 B used")
    token = token_in(page)
    assert token and me(live, token).json()["email"] == "ada@example.com"


def test_sign_up_refusals_show_on_the_form(page: Page, page_watch: PageWatch, live: Live):
    taken = new_account(live)
    page_watch.expect_status(400, 409)
    page.goto("/#/signup")
    page.get_by_label("Email").fill(taken.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_have_text("An account with this email already exists.")

    page.get_by_label("Email").fill("ada@localhost")  # the browser takes it; the API wants a dot in the domain
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid email")
    expect(page).to_have_url(re.compile(r"#/signup$"))
    assert token_in(page) is None


def test_sign_up_closed_says_so(start_live: Callable[..., Live], open_page: Callable[..., Page],
                                page_watch: PageWatch):
    page = open_page(start_live(SIGNUP="closed"))
    page_watch.expect_status(403)
    page.goto("/#/signup")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_have_text("Sign-up is closed on this server.")


def test_log_out_ends_the_session_and_logging_in_again_works(page: Page, live: Live):
    account = new_account(live)
    open_signed_in(page, account)
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    with page.expect_response(lambda r: r.url.endswith("/v2/sessions/current")) as ended:
        page.get_by_role("button", name="Log out").click()
    assert ended.value.status == 204
    expect(page).to_have_url(re.compile(r"#/login$"))
    assert token_in(page) is None
    assert me(live, account.token).status_code == 401
    expect(page.locator("#quota")).to_be_hidden()

    expect(page.get_by_label("Email")).to_be_focused()
    expect(page.get_by_label("Password")).to_have_attribute("autocomplete", "current-password")
    fill_login(page, account.email, account.password)
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    token = token_in(page)
    assert token and token != account.token and me(live, token).status_code == 200


def test_an_account_made_on_v1_logs_in_whatever_its_email_looks_like(page: Page, live: Live):
    # v1 took any text as the email and any password: the browser must not refuse them before the server.
    legacy = {"email": "ada at home", "password": "short"}
    requests.post(f"{live.url}/users", json=legacy, timeout=10).raise_for_status()
    page.goto("/#/login")
    fill_login(page, legacy["email"], legacy["password"])
    expect(page.get_by_role("heading", name="My files")).to_be_visible()


def test_logging_out_without_the_server_still_forgets_the_token(page: Page, page_watch: PageWatch, live: Live):
    open_signed_in(page, new_account(live))
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    page.route("**/v2/sessions/current", lambda route: route.abort("connectionrefused"))
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"#/login$"))
    expect(page.locator("#toasts")).to_contain_text("Logged out in this tab")
    assert token_in(page) is None
    # The aborted request is the one console error this test provokes.
    page_watch.problems[:] = [p for p in page_watch.problems if "ERR_CONNECTION_REFUSED" not in p]


def test_a_wrong_password_says_so_and_the_button_waits_for_the_answer(page: Page, page_watch: PageWatch,
                                                                      live: Live):
    account = new_account(live)
    page_watch.expect_status(401)
    held: list[Route] = []
    page.route("**/v2/sessions", lambda route: held.append(route))
    page.goto("/#/login")
    fill_login(page, account.email, "not the password")
    button = page.get_by_role("button", name="Log in")
    expect(button).to_be_disabled()
    page.get_by_label("Password").press("Enter")  # a second submit while the first runs sends nothing
    assert len(held) == 1
    held[0].continue_()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(button).to_be_enabled()
    assert len(held) == 1
    expect(page).to_have_url(re.compile(r"#/login$"))
    assert token_in(page) is None


def test_a_disabled_account_is_told_so(page: Page, page_watch: PageWatch, live: Live):
    account = new_account(live)
    done = subprocess.run([sys.executable, str(PROJECT / "supervisor.py"), "users", "disable", account.email],
                          env={**os.environ, **live.env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page_watch.expect_status(401)
    page.goto("/#/login")
    fill_login(page, account.email, PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("This account is disabled: ask the operator.")
    assert token_in(page) is None


def test_a_server_out_of_reach_shows_on_the_form(page: Page, page_watch: PageWatch, live: Live):
    page.goto("/#/login")
    page.route("**/v2/sessions", lambda route: route.abort("connectionrefused"))
    fill_login(page, "ada@example.com", PASSWORD)
    expect(page.get_by_role("alert")).to_have_text("The server cannot be reached. Check the connection and try again.")
    expect(page.get_by_role("button", name="Log in")).to_be_enabled()
    page_watch.problems[:] = [p for p in page_watch.problems if "ERR_CONNECTION_REFUSED" not in p]


def test_too_many_failures_say_when_to_retry(start_live: Callable[..., Live], open_page: Callable[..., Page],
                                             page_watch: PageWatch):
    live = start_live(LOGIN_MAX_FAILURES="2")
    page = open_page(live)
    account = new_account(live)
    page_watch.expect_status(401, 429)
    page.goto("/#/login")
    for _ in range(2):
        with page.expect_response("**/v2/sessions") as answer:
            fill_login(page, account.email, "not the password")
        assert answer.value.status == 401
        expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    fill_login(page, account.email, account.password)
    retry = re.compile(r"^Too many attempts\. Try again in \d+ (seconds?|minutes)\.$")
    expect(page.get_by_role("alert")).to_have_text(retry)
    assert token_in(page) is None


def test_change_password(page: Page, page_watch: PageWatch, live: Live):
    account = new_account(live)
    elsewhere = log_in_over_api(live, account.email, account.password).json()["token"]
    open_signed_in(page, account, "#/account")
    expect(page.get_by_role("heading", name="Account")).to_be_visible()
    facts = page.get_by_role("region", name="Your account")
    expect(facts).to_contain_text(account.email)
    expect(facts).to_contain_text("Member since")

    requests_sent: list[Request] = []
    page.on("request", lambda r: requests_sent.append(r) if "/password" in r.url else None)
    page.get_by_label("Current password").fill(account.password)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat new password").fill(NEW_PASSWORD + "!")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("The new passwords do not match.")
    expect(page.get_by_label("Repeat new password")).to_be_focused()
    assert requests_sent == []

    page_watch.expect_status(403)
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("Repeat new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("The current password is wrong.")
    assert me(live, elsewhere).status_code == 200

    page.get_by_label("Current password").fill(account.password)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status").filter(has_text="Password changed")).to_contain_text("logged out")
    expect(page.get_by_role("alert")).to_be_hidden()
    expect(page.get_by_label("Current password")).to_have_value("")

    assert log_in_over_api(live, account.email, account.password).status_code == 401
    assert log_in_over_api(live, account.email, NEW_PASSWORD).status_code == 201
    assert me(live, elsewhere).status_code == 401
    assert me(live, account.token).status_code == 200  # this tab's session goes on
    page.reload()
    expect(page.get_by_role("region", name="Your account")).to_contain_text(account.email)
    expect(page).to_have_url(re.compile(r"#/account$"))


def test_the_quota_bar_follows_usage(start_live: Callable[..., Live], open_page: Callable[..., Page]):
    live = start_live(DEFAULT_QUOTA="40000")
    page = open_page(live)
    account = new_account(live)
    upload(live, account, "flower.jpg")  # 32,764 bytes: 82 %
    open_signed_in(page, account)
    quota = page.locator("#quota")
    bar = quota.get_by_role("progressbar", name="Storage used")
    expect(quota).to_have_text("33 KB of 40 KB")
    expect(bar).to_have_attribute("value", "32764")
    expect(bar).to_have_attribute("max", "40000")
    expect(quota.locator(".usage")).not_to_have_class(re.compile(r"\bwarn\b"))

    upload(live, account, "hopper.jpg")  # +6,412 bytes: 98 %
    fetches: list[Request] = []
    page.on("request", lambda r: fetches.append(r) if r.url.endswith("/v2/users/me") else None)
    # What an upload does when it ends: several in a burst make one fetch.
    page.evaluate("""async () => {
        const { emit } = await import(document.querySelector('script[type=module]').src);
        for (let i = 0; i < 3; i += 1) emit('usage-changed');
    }""")
    expect(quota).to_have_text("39 KB of 40 KB (almost full)")
    expect(quota.locator(".usage")).to_have_class(re.compile(r"\bwarn\b"))
    assert len(fetches) == 1

    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("region", name="Your account")).to_contain_text("39 KB of 40 KB")


def test_screens(page: Page, phone_page: Page):
    page.goto("/#/login")
    expect(page.get_by_label("Email")).to_be_focused()
    shoot(page, "login-desktop")
    phone_page.goto("/#/signup")
    expect(phone_page.get_by_label("Email")).to_be_focused()
    shoot(phone_page, "signup-phone")
    phone_page.goto("/#/login")
    expect(phone_page.get_by_role("heading", name="Log in")).to_be_visible()
    shoot(phone_page, "login-phone")


def test_account_screens(start_live: Callable[..., Live], open_page: Callable[..., Page]):
    live = start_live(DEFAULT_QUOTA="100000")
    account = new_account(live)
    upload(live, account, "flower.jpg")
    for phone, name in ((False, "account-desktop"), (True, "account-phone")):
        page = open_signed_in(open_page(live, phone=phone), account, "#/account")
        expect(page.get_by_role("region", name="Your account")).to_contain_text("33 KB of 100 KB")
        expect(page.locator("#quota")).to_have_text("33 KB of 100 KB")
        shoot(page, name)

"""The app's frame: served with its headers, loads with no error, routes by hash."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import Page, expect

from .conftest import Live, new_account, open_signed_in


def test_the_page_and_its_assets_are_served_with_a_strict_policy(live: Live):
    page = requests.get(f"{live.url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-cache"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "connect-src 'self'" in policy
    assets = re.findall(r'(?:src|href)="(/ui/[0-9a-f]{16}/[^"]+)"', page.text)
    assert assets and all(a.startswith(assets[0][:21]) for a in assets)
    for path in assets:
        answer = requests.get(f"{live.url}{path}", timeout=10)
        assert answer.status_code == 200, path
        assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    stale = requests.get(f"{live.url}/ui/0123456789abcdef/js/main.js", timeout=10)
    assert stale.status_code == 404


def test_a_visitor_is_sent_to_log_in(page: Page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"#/login$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_a_signed_in_person_sees_their_files(page: Page, live: Live):
    open_signed_in(page, new_account(live))
    expect(page.get_by_role("navigation", name="Places").get_by_role("link", name="My files")).to_be_visible()

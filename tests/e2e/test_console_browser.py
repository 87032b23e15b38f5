"""The console in real headless Chromium (Debian's package, driven by Playwright) against `make up`'s server."""

from __future__ import annotations

import os
import shutil
import threading

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = os.environ.get("TAKOS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield instance
        instance.close()


def test_console_signup_space_members_tokens(takos_server, browser):
    base = takos_server.url
    # A colleague to invite, created through the API.
    colleague = httpx.Client(base_url=base)
    csrf = colleague.get("/api/auth/csrf").json()["csrf_token"]
    assert colleague.post("/api/auth/signup", headers={"X-CSRFToken": csrf}, json={
        "username": "webmate", "email": "webmate@example.com", "password": "web pass phrase 1"}).status_code == 201

    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(f"{base}/")
    assert "/login" in page.url  # signed-out visitors land on sign-in
    page.click("text=Create an account")
    page.fill("input[name=username]", "webuser")
    page.fill("input[name=email]", "webuser@example.com")
    page.fill("input[name=password]", "short")
    page.click("button[type=submit]")
    assert page.locator(".field-errors").first.is_visible()  # weak password is explained, not a 500
    page.fill("input[name=password]", "a long web pass phrase")
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Welcome')")
    assert page.locator(".cards .card").count() == 1  # the personal space

    page.goto(f"{base}/spaces")
    page.fill("#new ~ form input[name=name]", "Web Team")
    page.click("#new ~ form button[type=submit]")
    page.wait_for_selector("h1:has-text('Web Team')")
    page.click("text=1 member")
    page.fill("input[name=who]", "webmate@example.com")
    page.select_option("form.stack select[name=role]", "editor")
    page.click("text=Add member")
    row = page.locator("tr[data-username=webmate]")
    row.wait_for()
    assert row.locator("select").input_value() == "editor"

    page.goto(f"{base}/settings/tokens")
    page.fill("input[name=name]", "browser token")
    page.click("text=Create token")
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("tak_pat_")
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/me").json()["username"] == "webuser"
    page.goto(f"{base}/settings/tokens")
    assert page.locator("#new-token").count() == 0  # shown once
    page.on("dialog", lambda d: d.accept())
    page.locator("tr:has-text('browser token') button:has-text('Revoke')").click()
    page.wait_for_selector("tr:has-text('browser token')", state="detached")  # htmx removed the row
    assert api.get("/api/me").status_code == 401

    page.goto(f"{base}/settings")
    page.fill("input[name=display_name]", "Web User")
    page.click("text=Save settings")
    page.wait_for_selector("text=Settings saved.")
    page.click("text=Sign out")
    page.wait_for_selector("h1:has-text('Sign in')")
    page.fill("input[name=login]", "webuser@example.com")
    page.fill("input[name=password]", "a long web pass phrase")
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Welcome, Web User')")
    page.close()


def test_cli_login_through_the_browser(takos_server, browser):
    from takos.cli.login import browser_login

    base = takos_server.url
    result: dict = {}
    urls: list[str] = []
    thread = threading.Thread(target=lambda: result.setdefault(
        "token", browser_login(base, open_browser=False, timeout=60, announce=lambda m: urls.append(m.split()[-1]))))
    thread.start()
    while not urls:
        thread.join(0.05)
    page = browser.new_page()
    page.goto(urls[0])
    if "/login" in page.url:
        page.click("text=Create an account")
        page.fill("input[name=username]", "cliweb")
        page.fill("input[name=email]", "cliweb@example.com")
        page.fill("input[name=password]", "cli web pass phrase")
        page.click("button[type=submit]")
    page.wait_for_selector("#approve")
    page.click("#approve")
    thread.join(30)
    assert result["token"].startswith("tak_pat_")
    me = httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {result['token']}"}).json()
    assert me["username"] == "cliweb"
    page.close()

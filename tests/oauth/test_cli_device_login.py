"""`takos login-device`: the CLI's device flow against the live server, approved in a browser session."""

from __future__ import annotations

import re
import threading
import time

import pytest

from takos.cli.commands import auth_device
from takos.cli.config import Config

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_cli_signs_in_by_device_flow_and_refreshes(live_server, browser, tmp_path, monkeypatch):
    monkeypatch.setenv("TAKOS_CONFIG", str(tmp_path / "config.json"))
    announced: list[str] = []
    result: dict = {}

    def run() -> None:
        try:
            result["token"] = auth_device.device_login(live_server.url, open_browser=False, announce=announced.append,
                                                       sleep=lambda s: time.sleep(0.2))
        except Exception as exc:  # surfaced by the assertion below
            result["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 20
    while not announced and time.monotonic() < deadline:
        time.sleep(0.05)
    code = re.search(r"code ([0-9A-V]{4}-[0-9A-V]{4})", announced[0]).group(1)
    page = browser.http.post("/oauth/device", data={
        "user_code": code, "csrfmiddlewaretoken": browser.form_csrf(browser.http.get("/oauth/device").text)})
    assert "takos CLI" in page.text
    browser.http.post("/oauth/device", data={"user_code": code.replace("-", ""), "decision": "allow",
                                             "csrfmiddlewaretoken": browser.form_csrf(page.text)})
    worker.join(30)
    assert "error" not in result, result
    token = result["token"]
    assert token["access_token"].startswith("tak_oat_")
    assert "repos:write" in token["scope"].split()

    config = Config(url=live_server.url, token=token["access_token"])
    config.save()
    auth_device.save_refresh_token(live_server.url, token)
    assert oct((tmp_path / "oauth.json").stat().st_mode & 0o777) == "0o600"
    assert auth_device.refresh_saved(config)
    assert config.token != token["access_token"] and config.token.startswith("tak_oat_")
    from takos.cli.client import ApiClient

    assert ApiClient(Config(url=live_server.url, token=config.token)).get("/api/me")["username"] == "alice"

"""Browser sessions on both drivers: Chromium in a browser container, driven over CDP."""

from __future__ import annotations

import pytest

from hosts.drivers import get_driver
from platform_app.models import BrowserSession
from tests.hosts.helpers import _hosts_urls, data_dir, driver_name, ensure_image, loopback_page  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.browser]


@pytest.fixture
def browser_driver(driver_name, settings):  # type: ignore[no-untyped-def]  # noqa: F811
    if driver_name == "docker":
        ensure_image("browser")
    # Tests serve their page on loopback; production refuses it unless the operator allows it.
    settings.TAKOS_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    return driver_name


def test_a_browser_session_loads_a_loopback_page(browser_driver, alice_api, alice, loopback_page) -> None:  # noqa: F811
    created = alice_api.post("/api/spaces/me/browser-sessions", {"url": loopback_page,
                                                                 "viewport": {"width": 800, "height": 600}})
    assert created.status_code == 201, created.content
    session = created.json()["session"]
    assert session["status"] == "active" and session["title"] == "Takos test page"
    assert session["driver"] == browser_driver
    sid = session["id"]

    html = alice_api.get(f"/api/browser-sessions/{sid}/html")
    assert html.status_code == 200 and "Hello from loopback" in html.json()["html"]

    shot = alice_api.get(f"/api/browser-sessions/{sid}/screenshot")
    assert shot.status_code == 200 and shot["Content-Type"] == "image/png"
    assert shot.content.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(shot.content[16:20], "big")
    assert width == 800
    assert BrowserSession.objects.get(pk=sid).last_screenshot

    typed = alice_api.post(f"/api/browser-sessions/{sid}/action", {"type": "type", "selector": "#name",
                                                                   "text": "takos"})
    assert typed.status_code == 200, typed.content
    assert alice_api.post(f"/api/browser-sessions/{sid}/action", {"type": "click", "selector": "#go"}).status_code == 200
    assert alice_api.post(f"/api/browser-sessions/{sid}/action", {"type": "scroll", "y": 500}).status_code == 200
    extracted = alice_api.post(f"/api/browser-sessions/{sid}/extract", {"selector": "#out"}).json()
    assert extracted["text"] == "clicked takos"
    missing = alice_api.post(f"/api/browser-sessions/{sid}/action", {"type": "click", "selector": "#nope"})
    assert missing.status_code == 400

    pdf = alice_api.post(f"/api/browser-sessions/{sid}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    goto = alice_api.post(f"/api/browser-sessions/{sid}/goto", {"url": loopback_page + "?again=1"})
    assert goto.status_code == 200 and goto.json()["url"].endswith("?again=1")

    closed = alice_api.delete(f"/api/browser-sessions/{sid}")
    assert closed.json()["session"]["status"] == "closed"
    assert get_driver(browser_driver).list(owner=f"browser:{sid}") == []
    assert alice_api.get(f"/api/browser-sessions/{sid}/html").status_code == 409


def test_navigation_to_internal_addresses_is_refused(browser_driver, alice_api, settings) -> None:
    settings.TAKOS_EGRESS_ALLOWED_HOSTS = []
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://127.0.0.1:1/",
                "http://[::1]/", "file:///etc/passwd"):
        response = alice_api.post("/api/spaces/me/browser-sessions", {"url": url})
        assert response.status_code == 403, (url, response.content)
    assert BrowserSession.objects.count() == 0  # refused before any container started


def test_browser_sessions_are_private_to_the_space(browser_driver, alice_api, bob_api, loopback_page) -> None:  # noqa: F811
    sid = alice_api.post("/api/spaces/me/browser-sessions", {}).json()["session"]["id"]
    try:
        assert bob_api.get(f"/api/browser-sessions/{sid}/html").status_code == 404
        assert bob_api.delete(f"/api/browser-sessions/{sid}").status_code == 404
        assert alice_api.get("/api/spaces/me/browser-sessions").json()["total"] == 1
    finally:
        alice_api.delete(f"/api/browser-sessions/{sid}")

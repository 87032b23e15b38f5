"""Console pages for sessions: live rows, actions, the latest browser screenshot."""

from __future__ import annotations

import pytest
from django.test import Client

from platform_app import browser_services
from platform_app.models import RuntimeSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_web(alice) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(alice)
    return client


def test_the_sessions_page_lists_live_rows_and_acts(alice, bob, alice_web, data_dir) -> None:
    from accounts.selectors import personal_space

    space = personal_space(alice)
    session = RuntimeSession.objects.create(space=space, user=alice, branch="main", status="stopped")
    page = alice_web.get("/sessions")
    assert page.status_code == 200
    assert f'data-session="{session.id}"' in page.content.decode() and 'hx-trigger="every 5s"' in page.content.decode()
    assert session.id in alice_web.get("/sessions/rows").content.decode()

    bob_web = Client()
    bob_web.force_login(bob)
    assert session.id not in bob_web.get("/sessions/rows").content.decode()
    assert bob_web.post(f"/sessions/{session.id}/discard").status_code == 404

    assert alice_web.post(f"/sessions/{session.id}/discard").status_code == 302
    assert RuntimeSession.objects.get(pk=session.id).status == "discarded"
    assert Client().get("/sessions").status_code == 302  # sign-in required


def test_the_browser_page_shows_the_latest_screenshot(alice, bob, alice_web, settings, data_dir,
                                                      loopback_page) -> None:
    settings.TAKOS_CONTAINER_DRIVER = "local"
    settings.TAKOS_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    session = browser_services.browser_session_create(user=alice, space_ref="me", url=loopback_page)
    try:
        page = alice_web.get(f"/browser-sessions/{session.id}")
        assert page.status_code == 200 and "No screenshot yet" in page.content.decode()
        assert alice_web.post(f"/browser-sessions/{session.id}/refresh").status_code == 302
        page = alice_web.get(f"/browser-sessions/{session.id}")
        assert "Takos test page" in page.content.decode() and "Latest screenshot" in page.content.decode()
        image = alice_web.get(f"/browser-sessions/{session.id}/screenshot.png")
        assert image.status_code == 200 and b"".join(image.streaming_content).startswith(b"\x89PNG")

        bob_web = Client()
        bob_web.force_login(bob)
        assert bob_web.get(f"/browser-sessions/{session.id}").status_code == 404
        assert bob_web.get(f"/browser-sessions/{session.id}/screenshot.png").status_code == 404
    finally:
        assert alice_web.post(f"/browser-sessions/{session.id}/close").status_code == 302


def test_the_admin_lists_containers_by_role_and_stops_one(alice, settings, data_dir) -> None:
    from hosts.drivers import ContainerSpec, get_driver
    from hosts.models import ContainerRecord
    from hosts.services import container_start

    settings.TAKOS_CONTAINER_DRIVER = "local"
    alice.is_staff = alice.is_superuser = True
    alice.save()
    admin = Client()
    admin.force_login(alice)
    handle = container_start(spec=ContainerSpec(role="runtime", image="default", owner="test:admin",
                                                command=["sleep", "60"]))
    page = admin.get("/admin/hosts/containerrecord/?role=runtime")
    assert page.status_code == 200 and handle.id[:16] in page.content.decode()
    response = admin.post("/admin/hosts/containerrecord/", {"action": "stop_containers",
                                                             "_selected_action": [handle.id]})
    assert response.status_code == 302
    assert ContainerRecord.objects.get(pk=handle.id).state == "stopped"
    assert get_driver().status(handle).state == "missing"

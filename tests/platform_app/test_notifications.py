"""Notifications: a row per event, preferences, mute, read state, and the run/mention hooks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.selectors import personal_space
from agents import services
from platform_app.models import Notification
from platform_app.notifications.services import notification_create
from tests.factories import make_team_space


@pytest.fixture
def run_done(alice):
    thread = services.thread_create(space=personal_space(alice), actor=alice, title="T")
    run = services.run_create(thread=thread, actor=alice, input={})
    lease = services.run_claim(run_id=run.id)
    services.run_complete(run=run, lease=lease, output="all good", usage={})
    return run


def test_a_finished_run_notifies_its_requester(alice_api, run_done):
    body = alice_api.get("/api/notifications").json()
    assert [n["type"] for n in body["notifications"]] == ["run.completed"]
    note = body["notifications"][0]
    assert note["data"]["run_id"] == run_done.id and note["body"] == "all good" and len(note["id"]) == 16
    assert alice_api.get("/api/notifications/unread-count").json() == {"unread_count": 1}
    assert alice_api.patch(f"/api/notifications/{note['id']}/read").status_code == 200
    assert alice_api.get("/api/notifications/unread-count").json() == {"unread_count": 0}


def test_a_cancelled_run_does_not_notify(alice):
    thread = services.thread_create(space=personal_space(alice), actor=alice)
    run = services.run_create(thread=thread, actor=alice, input={})
    services.run_cancel(run=run)
    assert not Notification.objects.exists()


def test_mentions_notify_space_members_only(alice, bob, charlie):
    space = make_team_space(alice, "Mention", bob="editor")
    thread = services.thread_create(space=space, actor=alice, title="Plans")
    services.message_create(thread=thread, role="user", content="@bob and @charlie, look", author=alice)
    assert list(Notification.objects.values_list("recipient__username", "type")) == [("bob", "thread.mention")]


def test_preferences_turn_a_type_off(alice, alice_api):
    response = alice_api.patch("/api/notifications/preferences",
                               {"updates": [{"type": "run.completed", "channel": "in_app", "enabled": False}]})
    assert response.status_code == 200
    prefs = {(p["type"], p["channel"]): p["enabled"] for p in response.json()["preferences"]}
    assert prefs[("run.completed", "in_app")] is False and prefs[("run.failed", "in_app")] is True
    assert notification_create(recipient=alice, type="run.completed", title="x") is None
    assert notification_create(recipient=alice, type="run.failed", title="y") is not None


def test_settings_mute_and_sequence(alice, alice_api):
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    assert alice_api.patch("/api/notifications/settings", {"muted_until": until}).json()["muted_until"]
    first = notification_create(recipient=alice, type="pr.comment", title="a")
    second = notification_create(recipient=alice, type="pr.comment", title="b")
    assert (first.seq, second.seq) == (1, 2)  # muted notifications are stored, just not pushed
    assert alice_api.post("/api/notifications/read-all").json()["updated"] == 2


def test_notifications_are_private(bob_api, run_done):
    note = Notification.objects.get()
    assert bob_api.patch(f"/api/notifications/{note.id}/read").status_code == 404
    assert bob_api.get("/api/notifications").json()["notifications"] == []


def test_notifications_need_authentication(anon_api):
    assert anon_api.get("/api/notifications").status_code == 401

"""Console pages (server-rendered, session login) and the admin for every agents model."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client

from agents import services
from agents.models import Run


@pytest.fixture
def alice_browser(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def test_thread_list_create_and_view(alice_browser, alice_space):
    page = alice_browser.get("/threads")
    assert page.status_code == 200 and b"New thread" in page.content
    created = alice_browser.post("/threads", {"space": alice_space.id, "title": "Console thread"})
    assert created.status_code == 302
    view = alice_browser.get(created["Location"])
    assert view.status_code == 200 and b"Console thread" in view.content and b"Send and run" in view.content


def test_send_and_run_then_the_page_streams_the_run(alice_browser, thread, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = alice_browser.post(f"/threads/{thread.id}", {"content": "hello", "multitask_strategy": "enqueue"})
    assert response.status_code == 302
    run = Run.objects.get(thread=thread)
    page = alice_browser.get(f"/threads/{thread.id}").content.decode()
    assert f'data-run="{run.id}"' in page and "/sse" in page and "Cancel run" in page
    cancelled = alice_browser.post(f"/threads/{thread.id}/runs/{run.id}/cancel")
    assert cancelled.status_code == 302
    assert Run.objects.get(pk=run.pk).status == "cancelled"


def test_another_tenants_thread_page_is_404(bob, thread):
    client = Client()
    client.force_login(bob)
    assert client.get(f"/threads/{thread.id}").status_code == 404


def test_memories_skills_and_notifications_pages(alice_browser, alice, thread):
    run = services.run_create(thread=thread, actor=alice, input={})
    lease = services.run_claim(run_id=run.id)
    services.run_complete(run=run, lease=lease, output="ok", usage={})
    assert b"Memories of" in alice_browser.get("/memories").content
    assert b"repo-explorer" in alice_browser.get("/skills").content
    page = alice_browser.get("/notifications").content
    assert b"Run completed" in page and b"/api/notifications/sse" in page


def test_shared_thread_page(alice, thread):
    services.message_create(thread=thread, role="user", content="visible to all", author=alice)
    _share, token = services.share_create(thread=thread, actor=alice)
    page = Client().get(f"/shared/{token}")
    assert page.status_code == 200 and b"visible to all" in page.content


@pytest.mark.parametrize("model_name", ["thread", "message", "run", "runevent", "artifact", "tooloperation",
                                        "threadshare", "memory", "skill", "agenttask"])
def test_admin_changelists_load(admin_client, model_name, alice, thread):
    services.run_create(thread=thread, actor=alice, input={"message": "x"})
    assert admin.site.is_registered(next(m for m in admin.site._registry if m._meta.model_name == model_name))
    assert admin_client.get(f"/admin/agents/{model_name}/").status_code == 200


@pytest.mark.parametrize("model_name", ["notification", "notificationpreference", "notificationsettings",
                                        "deadletter"])
def test_notification_admin_changelists_load(admin_client, model_name):
    assert admin_client.get(f"/admin/platform_app/{model_name}/").status_code == 200


def test_admin_cancel_action(admin_client, alice, thread):
    run = services.run_create(thread=thread, actor=alice, input={})
    response = admin_client.post("/admin/agents/run/", {"action": "cancel_runs", "_selected_action": [run.id]})
    assert response.status_code == 302
    assert Run.objects.get(pk=run.pk).status == "cancelled"

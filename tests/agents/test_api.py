"""Agent APIs: shapes, roles, tenancy (another tenant's objects are 404), multitask strategies."""

from __future__ import annotations

import pytest

from agents import services
from agents.models import Run
from tests.factories import make_team_space


@pytest.fixture
def run(alice, thread) -> Run:
    return services.run_create(thread=thread, actor=alice, input={"message": "hi"})


def test_it_creates_and_lists_threads(alice_api):
    created = alice_api.post("/api/spaces/me/threads", {"title": "First", "locale": "en"})
    assert created.status_code == 201
    thread = created.json()["thread"]
    assert thread["title"] == "First" and thread["status"] == "active" and thread["context_window"] == 50
    listed = alice_api.get("/api/spaces/me/threads").json()
    assert [t["id"] for t in listed["threads"]] == [thread["id"]]
    patched = alice_api.patch(f"/api/threads/{thread['id']}", {"context_window": 10})
    assert patched.status_code == 400
    assert alice_api.patch(f"/api/threads/{thread['id']}", {"status": "archived"}).json()["thread"]["status"] == "archived"


def test_messages_are_sequenced_and_do_not_start_a_run(alice_api, thread):
    for text in ("one", "two"):
        assert alice_api.post(f"/api/threads/{thread.id}/messages", {"content": text}).status_code == 201
    body = alice_api.get(f"/api/threads/{thread.id}/messages").json()
    assert [(m["sequence"], m["content"]) for m in body["messages"]] == [(1, "one"), (2, "two")]
    assert not Run.objects.filter(thread=thread).exists()


def test_run_create_returns_201_and_the_run(alice_api, thread, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_api.post(f"/api/threads/{thread.id}/runs", {"input": {"message": "go"}})
    assert response.status_code == 201
    run = response.json()["run"]
    assert run["status"] == "queued" and run["agent_type"] == "default" and run["multitask_strategy"] == "enqueue"
    # Inside the test case's transaction the create is not the outermost one: its task leaves at
    # commit (services._send_start; tests/agents/test_recovery.py shows the early push).
    assert len(callbacks) == 1
    got = alice_api.get(f"/api/runs/{run['id']}").json()
    assert got["run"]["id"] == run["id"] and got["role"] == "owner"
    events = alice_api.get(f"/api/runs/{run['id']}/events").json()
    assert events["run_status"] == "queued"
    assert [e["type"] for e in events["events"]] == ["run_status"]
    assert set(events["events"][0]) == {"id", "event_id", "run_id", "type", "data", "created_at"}


def test_multitask_reject_is_409(alice_api, thread, run):
    response = alice_api.post(f"/api/threads/{thread.id}/runs", {"multitask_strategy": "reject"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert response.json()["error"]["details"]["active_run_ids"] == [run.id]


def test_multitask_enqueue_waits_as_pending_then_starts(alice, alice_api, thread, run):
    second = alice_api.post(f"/api/threads/{thread.id}/runs", {"multitask_strategy": "enqueue"}).json()["run"]
    assert second["status"] == "pending"
    services.run_cancel(run=run)
    assert Run.objects.get(pk=second["id"]).status == "queued"


def test_multitask_interrupt_cancels_the_active_run(alice_api, thread, run):
    second = alice_api.post(f"/api/threads/{thread.id}/runs", {"multitask_strategy": "interrupt"}).json()["run"]
    run.refresh_from_db()
    assert run.status == "cancelled" and "Interrupted" in run.error
    assert second["status"] == "queued"
    assert run.events.last().type == "cancelled"


def test_multitask_rollback_deletes_the_active_run_and_its_messages(alice_api, thread, run):
    second = alice_api.post(f"/api/threads/{thread.id}/runs",
                            {"multitask_strategy": "rollback", "input": {"message": "again"}}).json()["run"]
    assert not Run.objects.filter(pk=run.pk).exists()
    assert second["status"] == "queued"
    contents = [m["content"] for m in alice_api.get(f"/api/threads/{thread.id}/messages").json()["messages"]]
    assert contents == ["again"]


def test_cancel_then_cancel_again_is_400(alice_api, run):
    first = alice_api.post(f"/api/runs/{run.id}/cancel")
    assert first.status_code == 200 and first.json()["run"]["status"] == "cancelled"
    again = alice_api.post(f"/api/runs/{run.id}/cancel")
    assert again.status_code == 400 and again.json()["error"]["code"] == "BAD_REQUEST"


def test_another_tenants_thread_run_artifact_and_stream_are_404(bob_api, alice, thread, run):
    artifact = services.artifact_create(run=run, type="doc", title="secret", content="x")
    for path in (f"/api/threads/{thread.id}", f"/api/threads/{thread.id}/messages", f"/api/runs/{run.id}",
                 f"/api/runs/{run.id}/events", f"/api/artifacts/{artifact.id}", f"/api/runs/{run.id}/artifacts",
                 f"/api/threads/{thread.id}/export"):
        response = bob_api.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert bob_api.post(f"/api/threads/{thread.id}/runs", {}).status_code == 404
    assert bob_api.post(f"/api/runs/{run.id}/cancel").status_code == 404
    assert bob_api.get("/api/spaces/alice/threads").status_code == 404


def test_a_viewer_reads_but_cannot_start_runs(alice, bob, bob_api):
    space = make_team_space(alice, "Crew", bob="viewer")
    thread = services.thread_create(space=space, actor=alice, title="t")
    assert bob_api.get(f"/api/threads/{thread.id}").status_code == 200
    response = bob_api.post(f"/api/threads/{thread.id}/runs", {})
    assert response.status_code == 403


def test_token_without_agents_execute_cannot_start_runs(alice, thread):
    from rest_framework.test import APIClient

    from auth_app.services import pat_create

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pat_create(user=alice, name='ro', scopes=['threads:read']).token}")
    assert client.get(f"/api/threads/{thread.id}").status_code == 200
    assert client.post(f"/api/threads/{thread.id}/runs", {}, format="json").status_code == 403


def test_parent_run_from_another_space_is_404(alice, alice_api, bob, thread):
    from accounts.selectors import personal_space

    bob_thread = services.thread_create(space=personal_space(bob), actor=bob)
    bob_run = services.run_create(thread=bob_thread, actor=bob, input={})
    response = alice_api.post(f"/api/threads/{thread.id}/runs", {"parent_run_id": bob_run.id})
    assert response.status_code == 404


def test_export_markdown_and_json(alice_api, alice, thread):
    services.message_create(thread=thread, role="user", content="Hello *world*", author=alice)
    md = alice_api.get(f"/api/threads/{thread.id}/export?format=markdown")
    assert md.status_code == 200 and "Hello *world*" in md.content.decode()
    js = alice_api.get(f"/api/threads/{thread.id}/export?format=json").json()
    assert js["messages"][0]["content"] == "Hello *world*"
    assert alice_api.get(f"/api/threads/{thread.id}/export?format=pdf").status_code == 400


def test_public_and_password_shares(alice_api, anon_api, alice, thread):
    services.message_create(thread=thread, role="user", content="shared text", author=alice)
    public = alice_api.post(f"/api/threads/{thread.id}/share", {"mode": "public"}).json()["share"]
    body = anon_api.get(f"/api/public/thread-shares/{public['token']}").json()
    assert body["messages"][0]["content"] == "shared text"
    secret = alice_api.post(f"/api/threads/{thread.id}/share", {"mode": "password", "password": "hunter22"}).json()
    token = secret["share"]["token"]
    assert anon_api.get(f"/api/public/thread-shares/{token}").status_code == 401
    assert anon_api.post(f"/api/public/thread-shares/{token}/access", {"password": "nope"}).status_code == 401
    assert anon_api.post(f"/api/public/thread-shares/{token}/access", {"password": "hunter22"}).status_code == 200
    alice_api.post(f"/api/threads/{thread.id}/shares/{public['id']}/revoke")
    assert anon_api.get(f"/api/public/thread-shares/{public['token']}").status_code == 404


def test_expired_share_is_404(alice_api, anon_api, thread):
    share = alice_api.post(f"/api/threads/{thread.id}/share", {"expires_at": "2020-01-01T00:00:00Z"}).json()["share"]
    assert anon_api.get(f"/api/public/thread-shares/{share['token']}").status_code == 404


def test_memories_crud_and_search(alice_api, bob_api):
    created = alice_api.post("/api/spaces/me/memories", {"type": "semantic", "content": "Tabs, not spaces"})
    assert created.status_code == 201
    memory_id = created.json()["memory"]["id"]
    assert alice_api.get("/api/spaces/me/memories/search?q=tabs").json()["memories"][0]["id"] == memory_id
    assert alice_api.patch(f"/api/memories/{memory_id}", {"importance": 0.9}).json()["memory"]["importance"] == 0.9
    assert bob_api.get(f"/api/memories/{memory_id}").status_code == 404
    assert alice_api.post("/api/spaces/me/memories", {"type": "bogus", "content": "x"}).status_code == 400
    assert alice_api.delete(f"/api/memories/{memory_id}").status_code == 200


def test_skills_official_catalog_and_custom(alice_api):
    official = alice_api.get("/api/spaces/me/official-skills").json()["skills"]
    assert {s["id"] for s in official} >= {"repo-explorer", "code-change"}
    assert alice_api.get("/api/spaces/me/official-skills/repo-explorer").status_code == 200
    created = alice_api.post("/api/spaces/me/skills", {"name": "tests-first", "instructions": "Write tests."})
    assert created.status_code == 201
    assert alice_api.post("/api/spaces/me/skills", {"name": "tests-first", "instructions": "x"}).status_code == 409
    skill_id = created.json()["skill"]["id"]
    assert alice_api.patch("/api/spaces/me/skills/tests-first", {"enabled": False}).json()["skill"]["enabled"] is False
    context = alice_api.get("/api/spaces/me/skills-context").json()["skills"]
    assert "tests-first" not in {s["name"] for s in context}
    assert alice_api.get(f"/api/spaces/me/skills/id/{skill_id}").json()["skill"]["name"] == "tests-first"
    assert alice_api.delete("/api/spaces/me/skills/tests-first").status_code == 200


def test_agent_tasks_and_plan(alice_api, django_capture_on_commit_callbacks):
    created = alice_api.post("/api/spaces/me/agent-tasks", {"title": "Ship it", "priority": "high"})
    assert created.status_code == 201
    task = created.json()["task"]
    assert task["status"] == "planned" and task["priority"] == "high"
    updated = alice_api.patch(f"/api/agent-tasks/{task['id']}", {"status": "in_progress"}).json()["task"]
    assert updated["started_at"] is not None
    with django_capture_on_commit_callbacks():
        planned = alice_api.post(f"/api/agent-tasks/{task['id']}/plan")
    assert planned.status_code == 201 and planned.json()["run"]["status"] == "queued"

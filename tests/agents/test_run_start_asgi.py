"""The run start served in front of Django (agents/api/run_start_asgi.py): what it takes on itself
and what it hands to the Django view. The full request path through daphne, and the parity of
every refusal with `POST .../runs`, are in test_runs_e2e.py."""

from __future__ import annotations

import json

import pytest

from accounts.selectors import personal_space
from agents import services
from agents.api.run_start_asgi import create, match
from agents.models import Message, Run, RunEvent
from auth_app.services import pat_create, service_token_create

pytestmark = pytest.mark.django_db(transaction=True)


def _scope(path: str, **headers: str) -> dict:
    return {"type": "http", "method": "POST", "path": path,
            "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


def test_only_bearer_json_run_starts_are_taken() -> None:
    path = "/api/threads/abc123def456/runs/stream"
    assert match(_scope(path, authorization="Bearer t", content_type="application/json; charset=utf-8")) == (
        "abc123def456")
    assert match(_scope(path, cookie="sessionid=x", content_type="application/json")) is None  # CSRF stays Django's
    assert match(_scope(path, authorization="Bearer t", content_type="text/plain")) is None
    assert match(_scope(path, authorization="Bearer t")) is None
    assert match(_scope("/api/threads/abc123def456/runs", authorization="Bearer t",
                        content_type="application/json")) is None
    assert match({**_scope(path, authorization="Bearer t", content_type="application/json"), "method": "GET"}) is None


def test_a_run_is_created_and_given_in_its_api_form(alice) -> None:
    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    token = pat_create(user=alice, name="t").token
    created = create(f"Bearer {token}", thread.id, json.dumps({"input": {"message": "hi"}}).encode())
    assert created is not None
    out, subscribed_before = created
    assert out["status"] == "queued" and subscribed_before is False
    run = Run.objects.get(pk=out["id"])
    assert run.requester_id == alice.pk and run.thread_id == thread.id
    assert Message.objects.filter(run=run, role="user", content="hi").count() == 1
    assert list(RunEvent.objects.filter(run=run).values_list("seq", "type")) == [(1, "run_status")]


def test_a_subscribed_start_uses_the_chosen_id_and_knows_its_first_event(alice) -> None:
    """The stream subscribes under the run's id while it is created; when that subscription came
    first, the stream starts from the event the create wrote instead of reading it back."""
    import threading

    from agents.api.streams import stream_rows
    from agents.streams import StreamItem

    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    token = pat_create(user=alice, name="t").token
    subscribed = threading.Event()
    subscribed.set()
    out, subscribed_before = create(f"Bearer {token}", thread.id, b"{}", "chosenid0001", subscribed)
    assert out["id"] == "chosenid0001" and subscribed_before is True
    assert [StreamItem(1, *services.first_event(out["status"]))] == stream_rows("chosenid0001", 0)


@pytest.mark.parametrize("body", [b"{nope", b"[1]", b'{"input": NaN}', b'{"multitask_strategy": "x"}',
                                  b'{"parent_run_id": "nosuchrun000"}', "{\"input\": \"\u00e9\"}".encode("latin-1")])
def test_bad_bodies_are_left_to_the_view(alice, body: bytes) -> None:
    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    token = pat_create(user=alice, name="t").token
    assert create(f"Bearer {token}", thread.id, body) is None
    assert not Run.objects.exists()


def test_refused_callers_are_left_to_the_view(alice, bob) -> None:
    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    body = b"{}"
    cases = {
        "no token": "Bearer",
        "malformed": "Bearer a b",
        "unknown": "Bearer tak_pat_nope",
        "another tenant": f"Bearer {pat_create(user=bob, name='b').token}",
        "missing scope": f"Bearer {pat_create(user=alice, name='ro', scopes=['threads:read']).token}",
        # A service principal acts for no user: the view refuses it.
        "service without user": f"Bearer {service_token_create(service_name='svc').token}",
    }
    for name, header in cases.items():
        assert create(header, thread.id, body) is None, name
    assert not Run.objects.exists()
    # and a service token acting for alice is alice
    acting = service_token_create(service_name="svc", user=alice).token
    assert create(f"Bearer {acting}", thread.id, body) is not None


def _sent_run_ids(broker) -> list[str]:  # type: ignore[no-untyped-def]
    import base64

    return [json.loads(base64.b64decode(json.loads(raw)["body"]))[1]["run_id"] for raw in broker.lrange("run", 0, -1)]


def test_the_task_leaves_before_the_thread_is_checked(alice, redis_broker) -> None:
    """Its LPUSH is written right after the token, and the reply read after the create: the worker's
    receive overlaps the thread's check, the validation and the create."""
    from django.db import connection

    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    token = pat_create(user=alice, name="t").token
    queued_at: list[tuple[str, int]] = []

    def watch(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if "agents_thread" in sql:
            queued_at.append((sql.split()[0], redis_broker.llen("run")))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        out, _ = create(f"Bearer {token}", thread.id, b'{"input": "hi"}', "firstsent001")
    assert queued_at and queued_at[0] == ("SELECT", 1)  # the thread lookup: the task had left
    assert _sent_run_ids(redis_broker) == ["firstsent001"] and out["status"] == "queued"


def test_a_refused_start_marks_its_task_abandoned(alice, bob, redis_broker) -> None:
    from takos import queue

    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    token = pat_create(user=bob, name="b").token
    assert create(f"Bearer {token}", thread.id, b"{}", "refused00001") is None  # the view's 404
    assert _sent_run_ids(redis_broker) == ["refused00001"]
    assert queue.abandoned("refused00001") and not Run.objects.exists()


def test_a_refused_start_whose_send_got_no_good_reply_is_marked_abandoned(alice, bob, redis_broker) -> None:
    """The early LPUSH's reply is an error (here WRONGTYPE; a broken connection may lose a reply
    after Redis took the task): with no run created the task is marked abandoned all the same."""
    from takos import queue

    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    token = pat_create(user=bob, name="b").token
    redis_broker.set("run", b"not a list")
    assert create(f"Bearer {token}", thread.id, b"{}", "refused00002") is None
    assert queue.abandoned("refused00002") and not Run.objects.exists()


def test_reject_sends_nothing_first(alice, redis_broker) -> None:
    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    token = pat_create(user=alice, name="t").token
    first, _ = create(f"Bearer {token}", thread.id, b'{"multitask_strategy": "reject"}', "rejectrun001")
    assert _sent_run_ids(redis_broker) == [first["id"]]
    assert create(f"Bearer {token}", thread.id, b'{"multitask_strategy": "reject"}', "rejectrun002") is None
    assert _sent_run_ids(redis_broker) == [first["id"]]  # the refused one sent nothing


def test_a_task_that_failed_to_leave_first_is_sent_after_the_create(alice, redis_broker, caplog) -> None:
    """Redis refuses the early LPUSH (the queue's key holds a string: WRONGTYPE); by the time the
    create is done the key is a list again, and the task is sent the usual way."""
    from django.db import connection

    from auth_app.authentication import resolve_token

    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    token = pat_create(user=alice, name="t").token
    resolve_token(token)  # cached: the create's first statement is the thread's, after the LPUSH
    redis_broker.set("run", b"not a list")

    def heal(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if redis_broker.type("run") == b"string":  # the early LPUSH has been refused by now
            redis_broker.delete("run")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(heal):
        out, _ = create(f"Bearer {token}", thread.id, b"{}", "latesent0001")
    assert out["status"] == "queued"
    assert "early send failed" in caplog.text  # it was refused, then
    assert _sent_run_ids(redis_broker) == ["latesent0001"]


def test_a_create_that_fails_after_its_task_left_marks_it_abandoned(alice, redis_broker, monkeypatch) -> None:
    """The task left before the create; the create's last statement fails: the caller that sent the
    task marks it abandoned (run_create leaves that to it), and no run exists."""
    from agents import events
    from takos import queue

    def broken(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the disk is full")

    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    token = pat_create(user=alice, name="t").token
    monkeypatch.setattr(events, "emit_known", broken)
    with pytest.raises(RuntimeError):
        create(f"Bearer {token}", thread.id, b"{}", "failedrun001")
    assert _sent_run_ids(redis_broker) == ["failedrun001"]
    assert queue.abandoned("failedrun001") and not Run.objects.filter(pk="failedrun001").exists()

"""The agent loop against the real /internal endpoints (in-process HTTP via Django's client)."""

from __future__ import annotations

import json

from agents import services
from agents.executor.loop import run_agent
from agents.models import Memory, Message, Run, RunEvent, ToolOperation
from tests.agents.conftest import claim_for_executor


def test_it_streams_a_reply_token_by_token_and_completes(alice, thread):
    run = services.run_create(thread=thread, actor=alice, input={"message": "hello there agent"})
    assert run_agent(claim_for_executor(run)) == 0
    run.refresh_from_db()
    assert run.status == "completed"
    assert run.output == 'Offline model reply: you said "hello there agent".'
    assert run.usage["outputTokens"] > 0
    types = list(RunEvent.objects.filter(run=run).values_list("type", flat=True))
    assert types[0] == "run_status" and types[1] == "started" and types[-1] == "completed"
    deltas = [e.data["delta"] for e in RunEvent.objects.filter(run=run, type="message") if "delta" in e.data]
    assert len(deltas) == 8 and "".join(deltas) == run.output
    seqs = list(RunEvent.objects.filter(run=run).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    roles = list(Message.objects.filter(thread=thread).values_list("role", flat=True))
    assert roles == ["user", "assistant"]


def test_it_calls_tools_and_writes_memory_and_artifact(alice, thread):
    text = 'remember: the deploy day is Friday\n/tool artifact_create {"type": "report", "title": "R", "content": "# hi"}'
    run = services.run_create(thread=thread, actor=alice, input={"message": text})
    assert run_agent(claim_for_executor(run)) == 0
    run.refresh_from_db()
    assert run.status == "completed", run.error
    assert Memory.objects.get(space=thread.space).content == "the deploy day is Friday"
    assert run.artifacts.get().title == "R"
    roles = list(Message.objects.filter(thread=thread).values_list("role", flat=True))
    assert roles == ["user", "assistant", "tool", "tool", "assistant"]
    assert run.output.startswith("Done. Tool results:")
    types = set(RunEvent.objects.filter(run=run).values_list("type", flat=True))
    assert {"tool_call", "tool_result", "artifact"} <= types


def test_a_replayed_attempt_repeats_no_message_and_no_side_effect(alice, thread):
    run = services.run_create(thread=thread, actor=alice, input={"message": "remember: only once"})
    first = claim_for_executor(run)
    # Attempt 1 dies after the tool ran: emulate by running the loop, then resetting the run
    # to queued the way the recovery cron does, and running attempt 2.
    assert run_agent(first) == 0
    Run.objects.filter(pk=run.pk).update(status="queued", service_id=None, completed_at=None)
    assert run_agent(claim_for_executor(run)) == 0
    assert Memory.objects.filter(space=thread.space).count() == 1
    assert ToolOperation.objects.filter(run=run).count() == 1
    assert Message.objects.filter(thread=thread, role="tool").count() == 1
    assert Message.objects.filter(thread=thread, role="assistant").count() == 2  # turn 0 + turn 1, not 4


def test_a_cancelled_run_makes_the_executor_stop_with_409(alice, thread):
    run = services.run_create(thread=thread, actor=alice, input={"message": "hi"})
    client = claim_for_executor(run)
    services.run_cancel(run=Run.objects.get(pk=run.pk))
    assert run_agent(client) == 0  # LeaseLost: quiet stop
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert RunEvent.objects.filter(run=run).last().type == "cancelled"
    assert not Message.objects.filter(thread=thread, role="assistant").exists()


def test_an_executor_of_another_run_is_404(alice, thread):
    run_a = services.run_create(thread=thread, actor=alice, input={"message": "a"})
    client = claim_for_executor(run_a)
    other = services.thread_create(space=thread.space, actor=alice)
    run_b = services.run_create(thread=other, actor=alice, input={"message": "b"})
    status, body = client.transport.post(f"/internal/runs/{run_b.id}/bootstrap", {"lease_version": 1})
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"


def test_tool_execute_is_idempotent_per_operation_key(alice, thread):
    from agents.tools import tool_execute

    run = services.run_create(thread=thread, actor=alice, input={})
    first = tool_execute(run=run, operation_key="k1", name="memory_write", arguments={"content": "x"})
    again = tool_execute(run=run, operation_key="k1", name="memory_write", arguments={"content": "x"})
    assert first["status"] == "completed" and again["replayed"] is True
    assert json.loads(again["output"]) == json.loads(first["output"])
    assert Memory.objects.count() == 1
    bad = tool_execute(run=run, operation_key="k2", name="memory_write", arguments={"content": ""})
    assert bad["status"] == "failed" and "content" in bad["error"]


def test_fast_tokens_are_batched_but_stay_one_event_each(alice, thread, settings):
    settings.TAKOS_OFFLINE_TOKEN_DELAY_MS = 0
    run = services.run_create(thread=thread, actor=alice, input={"message": "/tokens 450"})
    client = claim_for_executor(run)
    calls = []
    original = client.transport.post

    def counting(path, body):
        calls.append(path)
        return original(path, body)

    client.transport.post = counting
    assert run_agent(client) == 0
    run.refresh_from_db()
    assert run.status == "completed", run.error
    deltas = RunEvent.objects.filter(run=run, type="message", data__has_key="delta").count()
    assert deltas == 450
    assert sum(1 for p in calls if p.endswith("/events")) < 100  # batched requests, not one per token


def test_no_executor_event_lands_after_the_cancel(alice, thread):
    from agents import events
    from agents.executor.loop import LeaseLost

    run = services.run_create(thread=thread, actor=alice, input={"message": "hi"})
    client = claim_for_executor(run)
    client.event("progress", {"step": 1})
    services.run_cancel(run=run)
    # The check and the sequence reservation are one UPDATE: a late event is refused, not appended.
    assert events.emit_many(run_id=run.id, events=[("progress", {})], lease_version=client.lease_version) == []
    try:
        client.event("progress", {"step": 2})
    except LeaseLost:
        pass
    else:
        raise AssertionError("the executor was not told its lease is gone")
    types = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("type", flat=True))
    assert types == ["run_status", "started", "progress", "cancelled"]

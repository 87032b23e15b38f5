"""Lease claim, heartbeat and the recovery cron (service level)."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agents import services
from agents.models import Run
from agents.tasks import recover_runs


def test_claim_is_compare_and_set(alice, thread):
    run = services.run_create(thread=thread, actor=alice, input={})
    lease = services.run_claim(run_id=run.id)
    assert lease is not None
    assert services.run_claim(run_id=run.id) is None  # a redelivered task finds nothing to do
    assert services.run_heartbeat(run_id=run.id, lease=lease)
    assert not services.run_heartbeat(run_id=run.id, lease=("other", lease[1]))


def test_an_expired_lease_is_requeued_once_then_failed_with_the_reason(alice, thread, settings,
                                                                       django_capture_on_commit_callbacks):
    settings.TAKOS_RUN_LEASE_SECONDS = 60
    run = services.run_create(thread=thread, actor=alice, input={})
    services.run_claim(run_id=run.id)
    Run.objects.filter(pk=run.pk).update(service_heartbeat=timezone.now() - timedelta(seconds=61))
    with django_capture_on_commit_callbacks() as callbacks:
        assert recover_runs()["requeued"] == 1
    assert len(callbacks) >= 1
    run.refresh_from_db()
    assert run.status == "queued" and run.recovery_count == 1 and run.service_id is None
    old_version = run.lease_version
    lease = services.run_claim(run_id=run.id)
    assert lease[1] == old_version + 1
    Run.objects.filter(pk=run.pk).update(service_heartbeat=timezone.now() - timedelta(seconds=61))
    assert recover_runs()["failed"] == 1
    run.refresh_from_db()
    assert run.status == "failed" and "lease expired" in run.error
    assert run.events.last().type == "run.failed" and run.events.last().data["permanent"] is True


def test_a_fresh_lease_is_left_alone(alice, thread):
    run = services.run_create(thread=thread, actor=alice, input={})
    services.run_claim(run_id=run.id)
    assert recover_runs()["requeued"] == 0
    assert Run.objects.get(pk=run.pk).status == "running"


def test_completion_needs_the_current_lease(alice, thread):
    run = services.run_create(thread=thread, actor=alice, input={})
    lease = services.run_claim(run_id=run.id)
    assert not services.run_complete(run=run, lease=("stale", lease[1]), output="x", usage={})
    assert services.run_complete(run=run, lease=lease, output="x", usage={"inputTokens": 1})
    run.refresh_from_db()
    assert run.status == "completed" and run.events.last().type == "completed"


def test_a_task_whose_run_never_appears_ends_unclaimed(db, settings):
    """A run's task leaves before the create commits (services._send_start): a create that rolled
    back leaves a task that waits TAKOS_RUN_VISIBLE_SECONDS for the run, then does nothing."""
    from agents import tasks

    settings.TAKOS_RUN_VISIBLE_SECONDS = 0.1
    began = time.monotonic()
    assert tasks.claim("nosuchrun000") is None
    assert time.monotonic() - began >= 0.1


@pytest.mark.django_db(transaction=True)
def test_a_task_that_arrives_before_its_run_commits_claims_it(alice, thread):
    import threading

    from django.db import transaction

    from agents import tasks

    got: list = []
    with transaction.atomic():  # the create, not committed yet: other connections do not see the run
        run = services.run_create(thread=thread, actor=alice, input={})
        def claim() -> None:
            try:
                got.append(tasks.claim(run.id))
            finally:
                connection.close()  # this thread's own connection (else it outlives the test database)

        waiter = threading.Thread(target=claim)
        waiter.start()
        time.sleep(0.05)  # the task is waiting for a run that is not there yet
        assert waiter.is_alive()
    waiter.join(5)
    assert got and got[0] is not None
    assert Run.objects.get(pk=run.id).status == Run.Status.RUNNING


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (set in CI): the Redis broker")
@pytest.mark.django_db(transaction=True)  # no test-case transaction around the create: it is the outermost
def test_a_run_task_leaves_before_the_create_only_from_the_outermost_transaction(
        alice, thread, settings, monkeypatch):
    """The create's own transaction follows the push within a millisecond; inside a caller's
    transaction (which may outlast the task's wait for the row) the task leaves at commit."""
    import redis
    from django.db import transaction

    from takos import queue
    from takos.celery import app

    settings.CELERY_BROKER_URL = app.conf.broker_url = os.environ["REDIS_URL"]
    monkeypatch.setattr(queue, "_client", None)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.delete("run")
    queued_at: list[tuple[str, int]] = []

    def watch(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        queued_at.append((sql.split()[0], client.llen("run")))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        run = services.run_create(thread=thread, actor=alice, input={"message": "hi"})
    assert queued_at and all(queued for _, queued in queued_at)  # the task had left before the first statement
    assert any(verb == "INSERT" for verb, _ in queued_at)
    sent = json.loads(client.rpop("run"))
    assert json.loads(base64.b64decode(sent["body"]))[1] == {"run_id": run.id}
    services.run_cancel(run=run)

    with transaction.atomic():
        nested = services.run_create(thread=thread, actor=alice, input={"message": "again"})
        callbacks = list(transaction.get_connection().run_on_commit)
        assert client.llen("run") == 0  # not yet: the caller's transaction has not committed
    assert len(callbacks) == 1
    sent = json.loads(client.rpop("run"))
    assert json.loads(base64.b64decode(sent["body"]))[1] == {"run_id": nested.id}


@pytest.mark.parametrize("strategy", ["enqueue", "reject"])  # reject's task leaves inside the create
@pytest.mark.django_db(transaction=True)
def test_a_start_that_rolls_back_after_its_task_left_ends_the_task_at_once(alice, thread, settings, redis_broker,
                                                                          monkeypatch, strategy):
    from agents import events, tasks
    from takos import queue

    def broken(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(events, "emit_known", broken)  # the create's last statement fails
    with pytest.raises(RuntimeError):
        services.run_create(thread=thread, actor=alice, input={"message": "hi"}, multitask_strategy=strategy)
    assert redis_broker.llen("run") == 1  # it had left
    run_id = json.loads(base64.b64decode(json.loads(redis_broker.rpop("run"))["body"]))[1]["run_id"]
    assert not Run.objects.filter(pk=run_id).exists()
    assert queue.abandoned(run_id)
    settings.TAKOS_RUN_VISIBLE_SECONDS = 10
    began = time.monotonic()
    assert tasks.claim(run_id) is None
    assert time.monotonic() - began < 1  # not the whole visibility wait


@pytest.mark.django_db(transaction=True)
def test_reject_sends_no_task_before_the_thread_is_checked(alice, thread, redis_broker):
    from takos.api.errors import Conflict

    first = services.run_create(thread=thread, actor=alice, input={}, multitask_strategy="reject")
    assert redis_broker.llen("run") == 1
    with pytest.raises(Conflict):
        services.run_create(thread=thread, actor=alice, input={}, multitask_strategy="reject")
    assert redis_broker.llen("run") == 1  # the refused start sent nothing
    services.run_cancel(run=first)


@pytest.mark.django_db(transaction=True)
def test_an_early_task_for_a_run_that_must_wait_leaves_it_pending(alice, thread, redis_broker):
    from agents import tasks

    first = services.run_create(thread=thread, actor=alice, input={})
    second = services.run_create(thread=thread, actor=alice, input={})  # enqueue: waits for the first
    assert redis_broker.llen("run") == 2  # both left before their creates knew
    second.refresh_from_db()
    assert second.status == Run.Status.PENDING
    assert tasks.claim(second.id) is None  # its task ends; the run starts when the first ends
    assert Run.objects.get(pk=second.id).status == Run.Status.PENDING
    assert tasks.claim(first.id) is not None

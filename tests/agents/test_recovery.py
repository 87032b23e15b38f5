"""Lease claim, heartbeat and the recovery cron (service level)."""

from __future__ import annotations

from datetime import timedelta

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

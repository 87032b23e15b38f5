"""The deployment pipeline, rollout state machine and rollback on real local-driver runtimes.

Real parts: the git binary (commits in a bare repository), the local process driver (each
runtime is a real Python HTTP server on a loopback port) and the real database. Celery runs
inline (task_always_eager) so on-commit enqueues execute in the test.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from dispatch.models import DeploymentMetric
from workers import services as dep
from workers.models import Deployment, Rollout

pytestmark = pytest.mark.django_db(transaction=True)


def _deploy(alice, space, repo, **kwargs):  # type: ignore[no-untyped-def]
    deployment, created = dep.app_deployment_create(space=space, actor=alice, repo=repo, ref="main", **kwargs)
    assert created
    deployment.refresh_from_db()
    deployment.service.refresh_from_db()
    return deployment


def _get(deployment: Deployment, path: str = "/") -> httpx.Response:
    deployment.refresh_from_db()
    return httpx.get(deployment.endpoint + path, timeout=5)


def test_immediate_deploy_builds_starts_and_activates(alice, space, make_repo):
    repo, sha = make_repo("hello", version="1")
    d1 = _deploy(alice, space, repo)
    assert d1.status == "active", d1.step_error
    assert d1.commit_sha == sha and d1.version == 1 and d1.routing_weight == 100
    body = _get(d1).json()
    assert body["version"] == "1" and body["env"] == "hello"
    service = d1.service
    assert service.active_deployment_id == d1.pk and service.hostname == "hello.apps.localhost"
    assert service.status == "deployed"
    assert [e.event_type for e in d1.events.all()][:2] == ["created", "step_started"]
    # Running the task again is a no-op (the lease was released with a terminal status).
    assert dep.execute_deployment(d1.pk) == "active"


def test_a_version_whose_health_check_fails_never_gets_traffic(alice, space, make_repo, settings):
    settings.TAKOS_DEPLOY_START_TIMEOUT = 3
    repo, _ = make_repo("flaky", version="1")
    d1 = _deploy(alice, space, repo)
    make_repo.commit(repo, name="flaky", version="2", health="fail")
    d2 = _deploy(alice, space, repo)
    assert d2.status == "failed"
    assert "health check" in d2.step_error
    d2.service.refresh_from_db()
    assert d2.service.active_deployment_id == d1.pk
    assert not d2.endpoint  # its runtime was stopped


def test_canary_steps_up_while_healthy_then_promotes(alice, space, make_repo):
    repo, _ = make_repo("canary", version="1")
    d1 = _deploy(alice, space, repo)
    make_repo.commit(repo, name="canary", version="2", strategy="canary", steps="10, 50, 100", interval=60)
    d2 = _deploy(alice, space, repo)
    service = d2.service
    assert (d2.status, d2.routing_status, d2.routing_weight) == ("deploying", "canary", 10)
    assert (service.active_deployment_id, service.canary_deployment_id, service.canary_weight) == (d1.pk, d2.pk, 10)
    rollout = Rollout.objects.get(deployment=d2)
    assert rollout.baseline_id == d1.pk and rollout.state == "in_progress"
    assert dep.due_rollouts() == []  # not due before its interval
    Rollout.objects.filter(pk=rollout.pk).update(next_step_at=timezone.now())
    assert dep.due_rollouts() == [rollout.pk]
    assert dep.rollout_tick(rollout.pk) == "advanced"
    service.refresh_from_db()
    assert service.canary_weight == 50
    Rollout.objects.filter(pk=rollout.pk).update(next_step_at=timezone.now())
    assert dep.rollout_tick(rollout.pk) == "completed"
    service.refresh_from_db()
    d1.refresh_from_db()
    d2.refresh_from_db()
    assert service.active_deployment_id == d2.pk and service.canary_deployment_id is None
    assert service.fallback_deployment_id == d1.pk
    assert (d2.status, d1.status) == ("active", "superseded")
    assert d1.endpoint  # kept warm for an instant rollback (TAKOS_DEPLOY_KEEP_WARM=1)


def test_unhealthy_canary_is_rolled_back_automatically(alice, space, make_repo):
    repo, _ = make_repo("gate", version="1")
    d1 = _deploy(alice, space, repo)
    # Healthy at start (first probe), failing afterwards: the gate catches it mid-rollout.
    make_repo.commit(repo, name="gate", version="2", health="first", strategy="canary", steps="25, 100")
    d2 = _deploy(alice, space, repo)
    assert d2.routing_status == "canary"
    rollout = Rollout.objects.get(deployment=d2)
    Rollout.objects.filter(pk=rollout.pk).update(next_step_at=timezone.now())
    assert dep.rollout_tick(rollout.pk) == "rolled_back"
    d2.refresh_from_db()
    rollout.refresh_from_db()
    service = d2.service
    service.refresh_from_db()
    assert (d2.status, rollout.state) == ("rolled_back", "failed")
    assert "health check failed" in rollout.reason
    assert service.active_deployment_id == d1.pk and service.canary_deployment_id is None
    assert service.canary_weight == 0
    assert not d2.endpoint  # stopped (on commit)


def test_error_rate_from_dispatch_metrics_fails_the_gate(alice, space, make_repo):
    repo, _ = make_repo("errs", version="1")
    _deploy(alice, space, repo)
    make_repo.commit(repo, name="errs", version="2", strategy="canary", steps="25, 100")
    d2 = _deploy(alice, space, repo)
    rollout = Rollout.objects.get(deployment=d2)
    DeploymentMetric.objects.create(deployment=d2, bucket=timezone.now(), requests=10, errors=4)
    healthy, decision = dep.health_gate(rollout)
    assert not healthy and decision["error_rate"] == 0.4
    # Below min_requests (5 in the manifest) the error rate is not judged.
    DeploymentMetric.objects.all().delete()
    DeploymentMetric.objects.create(deployment=d2, bucket=timezone.now(), requests=3, errors=3)
    assert dep.health_gate(rollout)[0]
    # Old buckets (before the step) do not count.
    DeploymentMetric.objects.all().delete()
    DeploymentMetric.objects.create(deployment=d2, bucket=timezone.now() - timedelta(minutes=5), requests=50,
                                    errors=50)
    assert dep.health_gate(rollout)[0]


def test_manual_rollback_is_a_pointer_flip_to_the_warm_runtime(alice, space, make_repo):
    repo, _ = make_repo("flip", version="1")
    d1 = _deploy(alice, space, repo)
    make_repo.commit(repo, name="flip", version="2")
    d2 = _deploy(alice, space, repo)
    d1.refresh_from_db()
    container_before = d1.container_id
    service = d2.service
    service.refresh_from_db()
    target = dep.rollback_target(service)
    assert target.pk == d1.pk
    result = dep.rollback(service=service, actor=alice, target=target)
    assert result.status == "active" and result.is_rollback and result.rollback_from_version == 2
    assert result.container_id == container_before  # no rebuild, no restart
    service.refresh_from_db()
    d2.refresh_from_db()
    assert service.active_deployment_id == d1.pk and service.fallback_deployment_id == d2.pk
    assert d2.status == "rolled_back"
    from takos.api.errors import Conflict

    with pytest.raises(Conflict):
        dep.rollback(service=service, actor=alice, target=d1)


def test_rollback_restarts_a_stopped_runtime_from_kept_source(alice, space, make_repo):
    from workers.runtime import stop_runtime

    repo, _ = make_repo("cold", version="1")
    d1 = _deploy(alice, space, repo)
    make_repo.commit(repo, name="cold", version="2")
    d2 = _deploy(alice, space, repo)
    d1.refresh_from_db()
    stop_runtime(d1, reason="test: scaled to zero")
    service = d2.service
    service.refresh_from_db()
    result = dep.rollback(service=service, actor=alice, target=dep.rollback_target(service))
    assert result.pk == d1.pk and result.endpoint
    assert _get(result).json()["version"] == "1"


def test_idempotency_key_returns_the_first_deployment(alice, space, make_repo):
    repo, _ = make_repo("idem", version="1")
    first, created = dep.app_deployment_create(space=space, actor=alice, repo=repo, ref="main", idempotency_key="k1")
    again, created_again = dep.app_deployment_create(space=space, actor=alice, repo=repo, ref="main",
                                                     idempotency_key="k1")
    assert created and not created_again and again.pk == first.pk
    assert Deployment.objects.filter(service=first.service).count() == 1


def test_dispatch_starts_a_stopped_runtime_on_demand(alice, space, make_repo):
    """Scale to zero: the idle reaper stops the runtime, the next request through dispatch starts it."""
    import asyncio
    import json

    from dispatch.middleware import DispatchMiddleware, sessions
    from workers.models import DeploymentEvent

    repo, _ = make_repo("sleepy", version="1")
    d1 = _deploy(alice, space, repo)
    Deployment.objects.filter(pk=d1.pk).update(runtime_started_at=timezone.now() - timedelta(hours=2),
                                               last_request_at=timezone.now() - timedelta(hours=2))
    assert dep.reap_idle_runtimes() == 1
    d1.refresh_from_db()
    assert not d1.endpoint and DeploymentEvent.objects.filter(deployment=d1, event_type="scaled_to_zero").exists()

    sent: list[dict] = []

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        raise AssertionError("not for Django")

    async def run() -> None:
        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/", "query_string": b"",
                 "scheme": "http", "headers": [(b"host", b"sleepy.apps.localhost")], "client": ("127.0.0.1", 1)}
        try:
            await DispatchMiddleware(inner)(scope, receive, send)
        finally:
            await sessions.close_current()

    asyncio.run(run())
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert json.loads(body)["version"] == "1"
    d1.refresh_from_db()
    assert d1.endpoint


def test_console_shows_timeline_split_and_rolls_back(alice, space, make_repo, client):
    repo, _ = make_repo("consoled", version="1")
    d1 = _deploy(alice, space, repo)
    make_repo.commit(repo, name="consoled", version="2", strategy="canary", steps="30, 100", interval=60)
    d2 = _deploy(alice, space, repo)
    service = d2.service
    client.force_login(alice)
    page = client.get(f"/services/{service.pk}").content.decode()
    assert "v1 70%" in page and "v2 30%" in page and "Promote now" in page
    part = client.get(f"/services/{service.pk}?part=rollout", HTTP_HX_REQUEST="true").content.decode()
    assert part.startswith('<section id="rollout"') and 'hx-trigger="every 2s"' in part
    assert client.post(f"/services/{service.pk}/rollout/promote").status_code == 302
    service.refresh_from_db()
    assert service.active_deployment_id == d2.pk
    resp = client.post(f"/services/{service.pk}/rollback", {"target_id": d1.pk})
    assert resp.status_code == 302
    service.refresh_from_db()
    assert service.active_deployment_id == d1.pk
    page = client.get(f"/services/{service.pk}").content.decode()
    assert "v1 100%" in page and "rolled_back" in page


def test_dispatch_front_starts_a_stopped_or_dead_runtime_on_demand(alice, space, make_repo):
    """The same through the dispatch front (a real server on loopback); and a runtime that died while
    dispatch still has its endpoint is started again for the request that found it dead."""
    import http.client
    import json

    from dispatch.front import Front
    from hosts.drivers import get_driver
    from tests.dispatch.test_front import LoopThread
    from workers.runtime import handle_of

    repo, _ = make_repo("sleepy", version="1")
    d1 = _deploy(alice, space, repo)
    Deployment.objects.filter(pk=d1.pk).update(runtime_started_at=timezone.now() - timedelta(hours=2),
                                               last_request_at=timezone.now() - timedelta(hours=2))
    assert dep.reap_idle_runtimes() == 1
    lt = LoopThread(use_uvloop=True)
    front = Front(db_threads=1)
    lt.run(front.start("127.0.0.1", 0))
    port = front.server.sockets[0].getsockname()[1]

    def get() -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/", headers={"Host": "sleepy.apps.localhost"})
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, json.loads(body)

    try:
        status, body = get()  # scaled to zero: started on demand
        assert status == 200 and body["version"] == "1"
        d1.refresh_from_db()
        first_endpoint = d1.endpoint
        assert first_endpoint
        get_driver("local").stop(handle_of(d1), timeout=2)  # dies behind dispatch's back
        status, body = get()
        assert status == 200 and body["version"] == "1", body  # (a 502 once under load: its reason)
        d1.refresh_from_db()
        assert d1.endpoint and d1.endpoint != first_endpoint
    finally:
        def close_db() -> None:
            from django.db import connections

            connections.close_all()

        front.executor.submit(close_db).result(10)
        front.executor.shutdown(wait=True)

        async def stop() -> None:
            front.stop()

        lt.run(stop())
        lt.stop()

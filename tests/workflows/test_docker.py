"""The same workflow features on real Docker containers (takos-runtime image): one container per
job, steps run by the step runner inside it, logs streamed from the shared folder, cancel stops
the container. Skipped only when the Docker engine is unreachable (CI turns skips into failures)."""

from __future__ import annotations

import time

import pytest

from tests.hosts.helpers import docker_driver_or_skip, ensure_image
from tests.workflows.conftest import commit, execute_in_thread, job_log
from tests.workflows.test_execution import CI
from workflows import services
from workflows.models import WorkflowRun

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("eager")]


@pytest.fixture
def docker(settings):  # type: ignore[no-untyped-def]
    from hosts.drivers import reset_drivers

    docker_driver_or_skip()
    ensure_image("runtime")
    settings.TAKOS_CONTAINER_DRIVER = "docker"
    reset_drivers()
    yield
    reset_drivers()


def test_the_ci_workflow_runs_in_docker_containers(docker, repo, owner):
    from hosts.models import ContainerRecord

    services.secret_put(repo=repo, name="API_TOKEN", value="docker-secret-123")
    commit(repo, owner, {".takos/workflows/ci.yml": CI, "README.md": "hi"})
    run = WorkflowRun.objects.get(repo=repo)
    assert run.conclusion == "success", [(j.name, j.error, job_log(j)) for j in run.jobs.all()]
    build = run.jobs.get(job_key="build")
    log = job_log(build)
    assert "docker container" in log and "docker-secret-123" not in log and "token is ***" in log
    assert build.outputs == {"version": "1.2.1"}
    assert sorted(j.conclusion for j in run.jobs.filter(job_key="test")) == ["success"] * 3
    # Every job had its own container, and all were removed.
    records = ContainerRecord.objects.filter(owner__startswith="job:")
    assert records.count() == 4 and set(records.values_list("driver", flat=True)) == {"docker"}
    assert set(records.values_list("state", flat=True)) == {"stopped"}


def test_cancel_stops_the_docker_container(docker, repo, owner):
    from hosts.drivers import get_driver
    from takos.celery import app

    commit(repo, owner, {".takos/workflows/s.yml": "on: workflow_dispatch\njobs:\n  a:\n    runs-on: default\n"
                                                   "    steps:\n      - run: echo started; sleep 120\n"})
    app.conf.task_always_eager = False
    try:
        run = services.dispatch_run(repo=repo, actor=owner, workflow_ref="s")
    finally:
        app.conf.task_always_eager = True
    job = run.jobs.get()
    thread, result = execute_in_thread(job.id)
    deadline = time.monotonic() + 60
    while "\nstarted\n" not in job_log(job) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert get_driver().list(owner=f"job:{job.id}")
    services.cancel_run(run=run, reason="test")
    thread.join(60)
    assert result.get("c") == "cancelled"
    assert not get_driver().list(owner=f"job:{job.id}")


def test_matrix_from_needs_outputs_in_docker_containers(docker, repo, owner):
    from tests.workflows.test_execution import MATRIX_FROM_NEEDS

    commit(repo, owner, {".takos/workflows/m.yml": MATRIX_FROM_NEEDS})
    run = services.dispatch_run(repo=repo, actor=owner, workflow_ref="m")
    run.refresh_from_db()
    assert run.conclusion == "success", [(j.name, j.error, job_log(j)) for j in run.jobs.all()]
    assert sorted(j.name for j in run.jobs.filter(job_key="whole")) == [
        "whole (linux, 3.11)", "whole (linux, 3.12)", "whole (mac, 3.12)"]
    per = run.jobs.get(job_key="per-key", matrix_index=1)
    assert per.name == "per y" and "docker container" in job_log(per) and "item y fast of 3" in job_log(per)

"""`build.fromWorkflow` in the pipeline: the deployment waits for the workflow run at its commit, then
runs what the run's artifact holds.

Real parts: git commits, the local process driver (the runtime is a real Python HTTP server), the
database and default storage. The workflow run and its artifact are written as the workflows
slice stores them (its engine is exercised end to end in test_e2e_deploy.py); Celery runs inline.
"""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.workers.apps import APP_PY, workflow_app_files
from workers import services as dep

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def built_repo(alice, space):  # type: ignore[no-untyped-def]
    from repos import git
    from repos.services import repo_create

    repo = repo_create(space=space, actor=alice, name="built")
    files = {path: content.encode() for path, content in workflow_app_files(name="built").items()}
    sha = git.commit_files(repo, branch="main", files=files, message="v1", author_name="Alice",
                           author_email="alice@example.com")
    return repo, sha


def _run(repo, sha: str, *, status: str = "completed", conclusion: str = "success", artifact: bool = True):  # type: ignore[no-untyped-def]
    from workflows.models import WorkflowArtifact, WorkflowJob, WorkflowRun

    run = WorkflowRun.objects.create(repo=repo, workflow_path=".takos/workflows/build.yml", name="build",
                                     event="push", ref="refs/heads/main", sha=sha, status=status,
                                     conclusion=conclusion if status == "completed" else "", run_number=7)
    if artifact:
        job = WorkflowJob.objects.create(run=run, job_key="build", name="build")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr("app.py", APP_PY.format(version="from-artifact", health="ok"))
        key = default_storage.save(f"workflow-artifacts/{run.pk}/dist.zip", ContentFile(buf.getvalue()))
        WorkflowArtifact.objects.create(run=run, job=job, name="dist", r2_key=key, size_bytes=len(buf.getvalue()),
                                        file_count=1)
    return run


def test_waits_for_the_run_then_serves_the_artifact(alice, space, built_repo):
    repo, sha = built_repo
    deployment, _ = dep.app_deployment_create(space=space, actor=alice, repo=repo, ref="main")
    deployment.refresh_from_db()
    # No run yet: the deployment waits (pending, lease given back, not counted as an attempt).
    assert (deployment.status, deployment.deploy_state, deployment.attempts) == ("pending", "waiting_for_artifact", 0)
    assert deployment.artifact_kind == "workflow-artifact"
    waiting = deployment.events.get(event_type="waiting_for_artifact")
    assert "no run of .takos/workflows/build.yml" in waiting.message
    run = _run(repo, sha, status="in_progress")
    assert dep.execute_deployment(deployment.pk) == "waiting"
    assert deployment.events.filter(event_type="waiting_for_artifact").count() == 1  # said once
    run.delete()

    _run(repo, sha)
    assert dep.execute_deployment(deployment.pk) == "active"
    deployment.refresh_from_db()
    body = httpx.get(deployment.endpoint + "/", timeout=5).json()
    assert body["version"] == "from-artifact"  # the repository itself has only app.py.in
    fetched = deployment.events.get(event_type="artifact_fetched")
    assert "'dist' of workflow run #7" in fetched.message


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"conclusion": "failure"}, "concluded failure"),
    ({"artifact": False}, "has no artifact named 'dist'"),
])
def test_a_failed_run_or_missing_artifact_fails_the_deployment(alice, space, built_repo, kwargs, error):
    repo, sha = built_repo
    _run(repo, sha, **kwargs)
    deployment, _ = dep.app_deployment_create(space=space, actor=alice, repo=repo, ref="main")
    deployment.refresh_from_db()
    assert deployment.status == "failed" and error in deployment.step_error


def test_gives_up_after_the_wait(alice, space, built_repo, settings):
    settings.TAKOS_DEPLOY_ARTIFACT_WAIT = 0
    repo, _sha = built_repo
    deployment, _ = dep.app_deployment_create(space=space, actor=alice, repo=repo, ref="main")
    deployment.refresh_from_db()
    assert deployment.status == "failed" and "no workflow artifact in time" in deployment.step_error

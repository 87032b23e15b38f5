"""API tests: access rules (404 for other tenants, roles), secrets, dispatch, runs, logs by range,
cancel/rerun conflicts, registry sync and invalid files, commit statuses and required checks."""

from __future__ import annotations

import pytest

from tests.conftest import token_api
from tests.factories import UserFactory
from tests.workflows.conftest import commit
from workflows import crypto
from workflows.models import WorkflowRun, WorkflowSecret

pytestmark = pytest.mark.usefixtures("eager")

WF = """
name: Build
on:
  push:
  workflow_dispatch:
    inputs:
      level: {type: choice, options: [low, high], default: low}
jobs:
  test:
    runs-on: default
    steps:
      - run: echo "level=${{ inputs.level }} ${{ secrets.TOKEN }}"
"""


@pytest.fixture
def setup(repo, owner):  # type: ignore[no-untyped-def]
    from accounts.models import Membership

    viewer = UserFactory(username="viewer1", email="viewer1@example.com")
    editor = UserFactory(username="editor1", email="editor1@example.com")
    stranger = UserFactory(username="stranger1", email="stranger1@example.com")
    Membership.objects.create(space=repo.space, user=viewer, role="viewer")
    Membership.objects.create(space=repo.space, user=editor, role="editor")
    return {"owner": token_api(owner), "viewer": token_api(viewer), "editor": token_api(editor),
            "stranger": token_api(stranger), "repo": repo, "user": owner}


def test_secrets_are_admin_only_encrypted_and_never_returned(setup):
    repo, base = setup["repo"], f"/api/repos/{setup['repo'].id}/actions/secrets"
    assert setup["editor"].put(f"{base}/TOKEN", {"value": "v"}).status_code == 403
    assert setup["viewer"].get(base).status_code == 403
    assert setup["stranger"].get(base).status_code == 404
    bad = setup["owner"].put(f"{base}/lower-case", {"value": "v"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BAD_REQUEST"
    ok = setup["owner"].put(f"{base}/TOKEN", {"value": "super-secret-1"})
    assert ok.status_code == 200 and ok.json()["secret"]["name"] == "TOKEN"
    listed = setup["owner"].get(base).json()["secrets"]
    assert listed == [{"name": "TOKEN", "created_at": listed[0]["created_at"], "updated_at": listed[0]["updated_at"]}]
    row = WorkflowSecret.objects.get(repo=repo)
    assert "super-secret-1" not in row.encrypted_value and crypto.decrypt(row.encrypted_value) == "super-secret-1"
    assert setup["owner"].delete(f"{base}/TOKEN").status_code == 200
    assert setup["owner"].delete(f"{base}/TOKEN").status_code == 404


def test_dispatch_runs_list_detail_logs_and_access(setup):
    repo, owner = setup["repo"], setup["user"]
    setup["owner"].put(f"/api/repos/{repo.id}/actions/secrets/TOKEN", {"value": "hush-hush-99"})
    commit(repo, owner, {".takos/workflows/build.yml": WF})
    base = f"/api/repos/{repo.id}/actions/runs"
    assert setup["viewer"].post(base, {"workflow": "build"}).status_code == 403
    assert setup["stranger"].get(base).status_code == 404
    bad = setup["editor"].post(base, {"workflow": "build", "inputs": {"level": "max"}})
    assert bad.status_code == 400 and "one of" in bad.json()["error"]["message"]
    assert setup["editor"].post(base, {"workflow": "nope"}).status_code == 404
    created = setup["editor"].post(base, {"workflow": "build.yml", "inputs": {"level": "high"}})
    assert created.status_code == 201, created.content
    run_id = created.json()["run"]["id"]
    listed = setup["viewer"].get(base, {"event": "workflow_dispatch"}).json()
    assert [r["id"] for r in listed["runs"]] == [run_id] and listed["total"] == 1
    assert setup["viewer"].get(base, {"status": "success"}).json()["total"] == 2  # push + dispatch
    assert setup["viewer"].get(base, {"status": "weird"}).status_code == 400
    detail = setup["viewer"].get(f"{base}/{run_id}").json()["run"]
    assert detail["conclusion"] == "success" and detail["inputs"] == {"level": "high"} and detail["run_number"] == 2
    jobs = setup["viewer"].get(f"{base}/{run_id}/jobs").json()["jobs"]
    job_id = jobs[0]["id"]
    logs = setup["viewer"].get(f"/api/repos/{repo.id}/actions/jobs/{job_id}/logs")
    assert logs.status_code == 200 and b"level=high ***" in logs.content and b"hush-hush-99" not in logs.content
    part = setup["viewer"].get(f"/api/repos/{repo.id}/actions/jobs/{job_id}/logs", {"offset": 3, "limit": 10})
    assert part.content == logs.content[3:13] and part["X-Log-Next-Offset"] == "13"
    as_json = setup["viewer"].get(f"/api/repos/{repo.id}/actions/jobs/{job_id}/logs", {"format": "json"}).json()
    assert as_json["complete"] is True and as_json["size"] == len(logs.content)
    assert setup["stranger"].get(f"/api/repos/{repo.id}/actions/jobs/{job_id}/logs").status_code == 404
    events = setup["viewer"].get(f"{base}/{run_id}/events").json()
    assert events["events"][-1]["type"] == "workflow.run.completed"
    # Cancel after completion conflicts; rerun of a run without failures (failed only) conflicts.
    assert setup["editor"].post(f"{base}/{run_id}/cancel").status_code == 409
    assert setup["editor"].post(f"{base}/{run_id}/rerun", {"failed_only": True}).status_code == 409
    rerun = setup["editor"].post(f"{base}/{run_id}/rerun")
    assert rerun.status_code == 201 and rerun.json()["run"]["run_attempt"] == 2
    assert WorkflowRun.objects.get(pk=run_id).conclusion == "success"
    # Attempts: both listed; the first attempt's job (and its log) is still there, the run's
    # jobs are the second attempt's.
    attempts = setup["viewer"].get(f"{base}/{run_id}/attempts").json()
    assert attempts["run_attempt"] == 2
    assert [(a["run_attempt"], a["current"], a["conclusion"]) for a in attempts["attempts"]] == [
        (1, False, "success"), (2, True, "success")]
    now_jobs = setup["viewer"].get(f"{base}/{run_id}/jobs").json()
    assert now_jobs["run_attempt"] == 2 and now_jobs["jobs"][0]["id"] != job_id
    first = setup["viewer"].get(f"{base}/{run_id}/attempts/1").json()["attempt"]
    assert first["run_attempt"] == 1 and [j["id"] for j in first["jobs"]] == [job_id]
    assert [j["id"] for j in setup["viewer"].get(f"{base}/{run_id}/attempts/1/jobs").json()["jobs"]] == [job_id]
    assert [j["id"] for j in setup["viewer"].get(f"{base}/{run_id}/jobs", {"attempt": 1}).json()["jobs"]] == [job_id]
    old_job = setup["viewer"].get(f"/api/repos/{repo.id}/actions/jobs/{job_id}").json()["job"]
    assert old_job["run_attempt"] == 1 and old_job["conclusion"] == "success"
    assert setup["viewer"].get(f"/api/repos/{repo.id}/actions/jobs/{job_id}/logs").content == logs.content
    missing = setup["viewer"].get(f"{base}/{run_id}/attempts/3")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    assert setup["viewer"].get(f"{base}/{run_id}/jobs", {"attempt": "x"}).status_code == 400
    assert setup["viewer"].get(f"{base}/{run_id}/attempts/0").status_code == 404
    assert setup["stranger"].get(f"{base}/{run_id}/attempts").status_code == 404
    assert setup["stranger"].get(f"{base}/{run_id}/attempts/1/jobs").status_code == 404


def test_registry_sync_and_invalid_files_in_the_api(setup):
    repo, owner = setup["repo"], setup["user"]
    commit(repo, owner, {".takos/workflows/ok.yml": WF,
                         ".takos/workflows/broken.yml": "on: push\njobs: {a: {runs-on: default, steps: [{run: x}], tyop: 1}}"})
    listed = setup["viewer"].get(f"/api/repos/{repo.id}/workflows").json()["workflows"]
    by_path = {w["path"]: w for w in listed}
    assert by_path[".takos/workflows/ok.yml"]["is_valid"] and by_path[".takos/workflows/ok.yml"]["name"] == "Build"
    broken = by_path[".takos/workflows/broken.yml"]
    assert not broken["is_valid"] and "unknown key 'tyop'" in broken["errors"][0]
    # Only the valid workflow ran.
    assert list(WorkflowRun.objects.values_list("workflow_path", flat=True)) == [".takos/workflows/ok.yml"]
    detail = setup["viewer"].get(f"/api/repos/{repo.id}/workflows/.takos/workflows/ok.yml").json()["workflow"]
    assert "jobs" in detail["definition"]
    assert setup["viewer"].post(f"/api/repos/{repo.id}/workflows/sync-all").status_code == 403
    synced = setup["editor"].post(f"/api/repos/{repo.id}/workflows/.takos/workflows/broken.yml/sync")
    assert synced.status_code == 200 and synced.json()["workflow"]["is_valid"] is False
    assert setup["editor"].post(f"/api/repos/{repo.id}/workflows/sync").json()["workflows"]
    assert setup["editor"].delete(f"/api/repos/{repo.id}/workflows/.takos/workflows/broken.yml").status_code == 200
    assert setup["viewer"].get(f"/api/repos/{repo.id}/workflows/.takos/workflows/broken.yml").status_code == 404


def test_required_checks_block_merge_until_the_workflow_passes(setup, django_capture_on_commit_callbacks):
    from repos import services as repo_services
    from takos.api.errors import Conflict

    repo, owner = setup["repo"], setup["user"]
    gate = ("name: CI\non: [push, pull_request]\njobs:\n  test:\n    runs-on: default\n    steps:\n"
            "      - run: test ! -f broken\n")
    commit(repo, owner, {".takos/workflows/ci.yml": gate, "README": "x"})
    repo_services.branch_protect(repo=repo, name="main", is_protected=True, required_checks=["test"])
    repo_services.branch_create(repo=repo, actor=owner, name="feature", source="main")
    commit(repo, owner, {"broken": "1"}, branch="feature")
    with django_capture_on_commit_callbacks(execute=True):  # repos sends pull_request_changed on commit
        pr = repo_services.pull_request_create(repo=repo, actor=owner, title="Feature", head_branch="feature")
    pr_runs = WorkflowRun.objects.filter(event="pull_request")
    assert pr_runs.count() == 1 and pr_runs.get().conclusion == "failure"
    with pytest.raises(Conflict, match="test"):
        repo_services.pull_request_merge(pr=pr, actor=owner)
    statuses = setup["viewer"].get(f"/api/repos/{repo.id}/commits/feature/statuses").json()
    assert statuses["state"] == "failure" and {s["context"] for s in statuses["statuses"]} == {"CI", "CI / test"}
    commit(repo, owner, {"broken": None}, branch="feature", message="fix")  # push -> synchronize run
    assert WorkflowRun.objects.filter(event="pull_request").count() == 2
    assert WorkflowRun.objects.filter(event="pull_request").order_by("-created_at").first().conclusion == "success"
    pr.refresh_from_db()
    repo_services.pull_request_merge(pr=pr, actor=owner)
    pr.refresh_from_db()
    assert pr.status == "merged"


ART = """
on: push
jobs:
  a:
    runs-on: default
    steps:
      - run: mkdir out && echo data > out/f.txt && echo "secret=[${{ secrets.TOKEN }}]"
      - uses: takos/upload-artifact@v1
        with: {name: out, path: out, retention-days: 1}
"""


def test_artifacts_download_delete_and_retention(setup):
    from datetime import timedelta

    from django.core.files.storage import default_storage
    from django.utils import timezone

    from workflows import services
    from workflows.models import WorkflowArtifact

    repo, owner = setup["repo"], setup["user"]
    commit(repo, owner, {".takos/workflows/a.yml": ART})
    run = WorkflowRun.objects.get(repo=repo)
    artifact = WorkflowArtifact.objects.get(run=run)
    assert artifact.expires_at < timezone.now() + timedelta(days=1, minutes=1)
    url = f"/api/repos/{repo.id}/actions/artifacts/{artifact.id}"
    assert setup["stranger"].get(url).status_code == 404
    download = setup["viewer"].get(url)
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    assert setup["viewer"].delete(url).status_code == 403
    # Retention: beat's purge removes expired artifacts and their files.
    WorkflowArtifact.objects.filter(pk=artifact.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.purge_expired_artifacts() == 1
    assert not WorkflowArtifact.objects.exists() and not default_storage.exists(artifact.r2_key)


def test_runs_from_forks_get_no_secrets(setup):
    from workflows import services

    repo = setup["repo"]
    services.secret_put(repo=repo, name="TOKEN", value="never-for-forks")
    run = WorkflowRun(repo=repo, from_fork=True)
    assert services.secrets_for_run(run) == {}
    run.from_fork = False
    assert services.secrets_for_run(run) == {"TOKEN": "never-for-forks"}

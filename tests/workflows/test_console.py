"""Console pages: runs list with filters and registry errors, run page with graph and buttons,
dispatch form, cancel/rerun, secrets page (admin only)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory
from tests.workflows.conftest import commit
from workflows.models import WorkflowRun, WorkflowSecret

pytestmark = pytest.mark.usefixtures("eager")

WF = """
name: Pipeline
on:
  push:
  workflow_dispatch:
    inputs:
      target: {type: choice, options: [staging, prod], default: staging}
jobs:
  build:
    runs-on: default
    steps: [{run: echo build}]
  ship:
    needs: build
    runs-on: default
    steps: [{run: 'echo ship ${{ inputs.target }}'}]
"""


@pytest.fixture
def browser(owner):  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(owner)
    return client


def test_runs_run_page_dispatch_and_rerun(browser, repo, owner):
    commit(repo, owner, {".takos/workflows/p.yml": WF, ".takos/workflows/bad.yml": "jobs: [1"})
    page = browser.get(f"/repos/{repo.id}/actions")
    html = page.content.decode()
    assert page.status_code == 200 and "Pipeline #1" in html and "Invalid YAML" in html and "Run workflow" in html
    filtered = browser.get(f"/repos/{repo.id}/actions", {"event": "schedule"}).content.decode()
    assert "Pipeline #1" not in filtered
    wf_id = repo.workflows.get(path=".takos/workflows/p.yml").id
    resp = browser.post(f"/repos/{repo.id}/actions/dispatch", {"workflow": wf_id, "ref": "main",
                                                                "input_target": "prod"})
    run = WorkflowRun.objects.get(event="workflow_dispatch")
    assert resp.status_code == 302 and resp["Location"].endswith(f"/actions/runs/{run.id}")
    assert run.inputs == {"target": "prod"} and run.conclusion == "success"
    html = browser.get(f"/repos/{repo.id}/actions/runs/{run.id}").content.decode()
    assert 'aria-label="Job graph"' in html and "build" in html and "ship" in html and "Re-run all jobs" in html
    assert "/logs/sse" in html
    browser.post(f"/repos/{repo.id}/actions/runs/{run.id}/rerun")
    run.refresh_from_db()
    assert run.run_attempt == 2
    # The attempt selector: the latest attempt by default, the first one still shown as it ran.
    latest = browser.get(f"/repos/{repo.id}/actions/runs/{run.id}").content.decode()
    assert 'aria-label="Attempts"' in latest and "attempt 2 of 2" in latest and "#2 (latest)" in latest
    first_job = run.jobs.filter(run_attempt=1).first()
    assert first_job is not None and first_job.id not in latest
    first = browser.get(f"/repos/{repo.id}/actions/runs/{run.id}", {"attempt": 1}).content.decode()
    assert "attempt 1 of 2" in first and first_job.id in first and "Re-run all jobs" not in first
    assert browser.get(f"/repos/{repo.id}/actions/runs/{run.id}", {"attempt": 7}).status_code == 404


def test_secrets_page_is_admin_only(browser, repo, owner):
    from accounts.models import Membership

    # A value no random id or CSRF token on the page can contain by chance ("v1" once did).
    value = "secret-value-Q7!"
    resp = browser.post(f"/repos/{repo.id}/actions/secrets", {"name": "DEPLOY", "value": value, "action": "save"})
    assert resp.status_code == 302 and WorkflowSecret.objects.filter(repo=repo, name="DEPLOY").exists()
    page = browser.get(f"/repos/{repo.id}/actions/secrets").content.decode()
    assert "DEPLOY" in page and value not in page
    browser.post(f"/repos/{repo.id}/actions/secrets", {"name": "DEPLOY", "action": "delete"})
    assert not WorkflowSecret.objects.filter(repo=repo).exists()
    editor = UserFactory(username="ed2", email="ed2@example.com")
    Membership.objects.create(space=repo.space, user=editor, role="editor")
    other = Client()
    other.force_login(editor)
    assert other.get(f"/repos/{repo.id}/actions/secrets").status_code == 403
    outsider = UserFactory(username="out2", email="out2@example.com")
    third = Client()
    third.force_login(outsider)
    assert third.get(f"/repos/{repo.id}/actions").status_code == 404

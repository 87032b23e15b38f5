"""Migration 0002 (run attempts) on existing data: rows written by 0001 (where a re-run rewrote
the jobs in place) get their run's current attempt, so nothing is lost or hidden."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("workflows", "0001_initial")]
AFTER = [("workflows", "0002_run_attempts")]


@pytest.mark.django_db(transaction=True)
def test_existing_runs_jobs_and_artifacts_keep_their_current_attempt(repo):
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("workflows")
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state(BEFORE).apps
        Run = old.get_model("workflows", "WorkflowRun")
        Job = old.get_model("workflows", "WorkflowJob")
        Artifact = old.get_model("workflows", "WorkflowArtifact")
        fresh = Run.objects.create(repo_id=repo.id, workflow_path=".takos/workflows/a.yml", event="push",
                                   status="completed", conclusion="success")
        rerun = Run.objects.create(repo_id=repo.id, workflow_path=".takos/workflows/a.yml", event="push",
                                   status="completed", conclusion="failure", run_number=2, run_attempt=3)
        for run in (fresh, rerun):
            job = Job.objects.create(run=run, job_key="build", name="build", status="completed",
                                     conclusion=run.conclusion)
            Artifact.objects.create(run=run, job=job, name="dist", r2_key=f"k/{run.id}")
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps
        NewJob = new.get_model("workflows", "WorkflowJob")
        NewArtifact = new.get_model("workflows", "WorkflowArtifact")
        assert dict(NewJob.objects.values_list("run_id", "run_attempt")) == {fresh.id: 1, rerun.id: 3}
        assert dict(NewArtifact.objects.values_list("run_id", "run_attempt")) == {fresh.id: 1, rerun.id: 3}
        assert not NewJob.objects.filter(matrix_pending=True).exists()
        assert not NewJob.objects.filter(reused_from__isnull=False).exists()
        assert new.get_model("workflows", "WorkflowRunAttempt").objects.count() == 0
    finally:
        MigrationExecutor(connection).migrate(latest)
    # With the current code: the run's jobs are its current attempt's, and attempts 1-2 were
    # not kept (the old code overwrote them), which the API reports as 404, not a crash.
    from takos.api.errors import NotFound
    from workflows import selectors
    from workflows.models import WorkflowRun

    current = WorkflowRun.objects.get(pk=rerun.id)
    assert [j.job_key for j in selectors.jobs_for_run(current)] == ["build"]
    assert [a.run_attempt for a in selectors.attempts(current)] == [3]
    with pytest.raises(NotFound):
        selectors.attempt(current, 1)

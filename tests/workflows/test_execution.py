"""Runs executed in-process (eager Celery) on the local process driver: the job graph, matrix,
outputs, continue-on-error, secrets masking, artifacts, if: always(), invalid files, cancel."""

from __future__ import annotations

import time

import pytest

from tests.workflows.conftest import commit, execute_in_thread, job_log
from workflows import services
from workflows.models import Workflow, WorkflowArtifact, WorkflowJob, WorkflowRun

pytestmark = pytest.mark.usefixtures("eager")

CI = r"""
name: CI
on:
  push:
    branches: [main]
env:
  GREETING: hello
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.ver.outputs.version }}
    steps:
      - name: Version
        id: ver
        run: |
          echo "version=1.2.$GITHUB_RUN_NUMBER" >> "$GITHUB_OUTPUT"
          echo "token is ${{ secrets.API_TOKEN }}"
          echo "env token is $TOKEN"
        env:
          TOKEN: ${{ secrets.API_TOKEN }}
      - name: Flaky
        run: exit 3
        continue-on-error: true
      - run: |
          mkdir -p dist
          echo "built ${{ steps.ver.outputs.version }}" > dist/out.txt
      - uses: takos/upload-artifact@v1
        with:
          name: dist
          path: dist/
  test:
    needs: build
    runs-on: default
    strategy:
      matrix:
        n: [1, 2, 3]
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: dist
          path: got
      - run: |
          echo "n=${{ matrix.n }} v=${{ needs.build.outputs.version }} $GREETING"
          cat got/out.txt
          test -f README.md
"""


def test_push_runs_the_graph_with_matrix_outputs_artifacts_and_masked_secrets(repo, owner):
    services.secret_put(repo=repo, name="API_TOKEN", value="s3cr3t-value-XYZ")
    commit(repo, owner, {".takos/workflows/ci.yml": CI, "README.md": "hi"})
    run = WorkflowRun.objects.get(repo=repo)
    assert run.status == "completed" and run.conclusion == "success", run.error
    assert Workflow.objects.get(repo=repo).is_valid
    build = run.jobs.get(job_key="build")
    assert build.outputs == {"version": "1.2.1"}
    steps = list(build.steps.order_by("number"))
    assert [s.conclusion for s in steps] == ["success", "success", "success", "success"]
    assert steps[1].outcome == "failure" and steps[1].exit_code == 3  # continue-on-error
    log = job_log(build)
    assert "s3cr3t-value-XYZ" not in log
    assert "token is ***" in log and "env token is ***" in log
    tests = list(run.jobs.filter(job_key="test").order_by("matrix_index"))
    assert [j.name for j in tests] == ["test (1)", "test (2)", "test (3)"]
    assert all(j.conclusion == "success" for j in tests)
    for job, n in zip(tests, (1, 2, 3), strict=True):
        text = job_log(job)
        assert f"n={n} v=1.2.1 hello" in text and "built 1.2.1" in text
    assert WorkflowArtifact.objects.filter(run=run, name="dist").count() == 1
    events = list(run.events.values_list("type", flat=True))
    assert events[0] == "workflow.run.queued" and events[-1] == "workflow.run.completed"
    assert events.count("workflow.job.started") == 4


FAILING = r"""
on: push
jobs:
  a:
    runs-on: default
    steps:
      - run: echo before
      - run: exit 1
      - run: echo never
      - if: always()
        run: echo cleanup ran
      - if: failure()
        run: echo failure handler
  b:
    needs: a
    runs-on: default
    steps:
      - run: echo should not run
  c:
    needs: a
    if: always()
    runs-on: default
    steps:
      - run: echo "a was ${{ needs.a.result }}"
  d:
    needs: b
    if: failure()
    runs-on: default
    steps:
      - run: echo failure downstream
"""


def test_a_failing_step_fails_the_job_skips_dependants_and_always_still_runs(repo, owner):
    commit(repo, owner, {".takos/workflows/f.yml": FAILING})
    run = WorkflowRun.objects.get(repo=repo)
    assert run.conclusion == "failure"
    jobs = {j.job_key: j for j in run.jobs.all()}
    assert jobs["a"].conclusion == "failure"
    assert [s.conclusion for s in jobs["a"].steps.order_by("number")] == [
        "success", "failure", "skipped", "success", "success"]
    log = job_log(jobs["a"])
    assert "cleanup ran" in log and "failure handler" in log and "never" not in log.split("echo never")[-1]
    assert jobs["b"].conclusion == "skipped"
    assert jobs["c"].conclusion == "success" and "a was failure" in job_log(jobs["c"])
    assert jobs["d"].conclusion == "success"  # failure() sees the failed ancestor


def test_an_invalid_workflow_is_reported_not_run(repo, owner):
    commit(repo, owner, {".takos/workflows/bad.yml": "on: push\njobs:\n  a:\n    runs-on: default\n    stepz: []\n"})
    wf = Workflow.objects.get(repo=repo)
    assert not wf.is_valid and any("unknown key 'stepz'" in e for e in wf.errors)
    assert not WorkflowRun.objects.filter(repo=repo).exists()


def test_an_unknown_runs_on_label_fails_the_job_clearly(repo, owner):
    commit(repo, owner, {".takos/workflows/x.yml": "on: push\njobs:\n  a:\n    runs-on: gpu-xl\n    steps: [{run: echo}]\n"})
    job = WorkflowJob.objects.get(run__repo=repo)
    assert job.conclusion == "failure"
    assert "Unknown runs-on label 'gpu-xl'" in job.error and "default" in job.error
    assert "Unknown runs-on label" in job_log(job)


def test_dispatch_with_inputs_and_rerun_failed_jobs(repo, owner):
    wf = r"""
on:
  workflow_dispatch:
    inputs:
      who: {required: true}
      fail: {type: boolean, default: true}
jobs:
  ok:
    runs-on: default
    steps: [{run: 'echo "hi ${{ inputs.who }}"'}]
  maybe:
    runs-on: default
    steps: [{run: '${{ inputs.fail }} && test -f ok.txt || true; test "${{ inputs.fail }}" = false || test -f marker'}]
"""
    commit(repo, owner, {".takos/workflows/d.yml": wf})
    assert not WorkflowRun.objects.exists()  # no push trigger
    run = services.dispatch_run(repo=repo, actor=owner, workflow_ref="d", inputs={"who": "bob"})
    run.refresh_from_db()
    assert run.event == "workflow_dispatch" and run.inputs == {"who": "bob", "fail": True}
    assert run.conclusion == "failure"
    ok = run.jobs.get(job_key="ok")
    assert "hi bob" in job_log(ok)
    first_ok_started = ok.started_at
    commit(repo, owner, {"marker": "x"})  # not used by the rerun (same sha), so it fails again
    run = services.rerun_run(run=run, actor=owner, failed_only=True)
    run.refresh_from_db()
    assert run.run_attempt == 2 and run.conclusion == "failure"
    ok.refresh_from_db()
    assert ok.run_attempt == 1 and ok.started_at == first_ok_started  # attempt 1 is kept as it was
    carried = run.attempt_jobs().get(job_key="ok")
    assert carried.reused_from_id == ok.id and carried.started_at == first_ok_started
    run = services.rerun_run(run=run, actor=owner)
    run.refresh_from_db()
    again = run.attempt_jobs().get(job_key="ok")
    assert run.run_attempt == 3 and again.reused_from_id is None and again.started_at != first_ok_started
    assert run.jobs.count() == 6 and "hi bob" in job_log(ok)


RERUN = r"""
on: workflow_dispatch
jobs:
  build:
    runs-on: default
    outputs:
      stamp: ${{ steps.s.outputs.stamp }}
    steps:
      - id: s
        run: |
          echo "stamp=$(date +%s%N)" >> "$GITHUB_OUTPUT"
          mkdir -p out && echo "built in attempt $GITHUB_RUN_ATTEMPT" > out/b.txt
      - uses: takos/upload-artifact@v1
        with: {name: bin, path: out}
  check:
    needs: build
    runs-on: default
    steps:
      - uses: takos/download-artifact@v1
        with: {name: bin, path: got}
      - run: |
          echo "stamp ${{ needs.build.outputs.stamp }} attempt $GITHUB_RUN_ATTEMPT"
          cat got/b.txt
          test "$GITHUB_RUN_ATTEMPT" -ge 2
"""


def test_reruns_are_new_attempts_and_rerun_failed_reuses_results_outputs_and_artifacts(repo, owner):
    from django.core.files.storage import default_storage

    from workflows.models import WorkflowRunAttempt

    commit(repo, owner, {".takos/workflows/r.yml": RERUN})
    run = services.dispatch_run(repo=repo, actor=owner, workflow_ref="r")
    run.refresh_from_db()
    assert run.conclusion == "failure"
    build1, check1 = run.attempt_jobs().get(job_key="build"), run.attempt_jobs().get(job_key="check")
    assert (build1.conclusion, check1.conclusion) == ("success", "failure")
    stamp = build1.outputs["stamp"]
    log1 = job_log(check1)
    assert f"stamp {stamp} attempt 1" in log1 and "built in attempt 1" in log1
    art1 = WorkflowArtifact.objects.get(run=run, run_attempt=1)

    run = services.rerun_run(run=run, actor=owner, failed_only=True)
    run.refresh_from_db()
    assert run.run_attempt == 2 and run.conclusion == "success"
    archived = WorkflowRunAttempt.objects.get(run=run)
    assert (archived.run_attempt, archived.status, archived.conclusion) == (1, "completed", "failure")
    build2, check2 = run.attempt_jobs().get(job_key="build"), run.attempt_jobs().get(job_key="check")
    # build was not run again: a copy carries its result, outputs, steps, log and artifact.
    assert build2.pk != build1.pk and build2.reused_from_id == build1.pk and build2.conclusion == "success"
    assert build2.outputs == {"stamp": stamp} and build2.started_at == build1.started_at
    assert [s.conclusion for s in build2.steps.all()] == [s.conclusion for s in build1.steps.all()]
    assert job_log(build2) == job_log(build1) != ""
    log2 = job_log(check2)
    assert f"stamp {stamp} attempt 2" in log2 and "built in attempt 1" in log2
    art2 = WorkflowArtifact.objects.get(run=run, run_attempt=2)
    assert art2.pk != art1.pk and art2.r2_key == art1.r2_key and art2.job_id == build2.pk
    # Attempt 1 is untouched and still readable.
    check1.refresh_from_db()
    assert check1.conclusion == "failure" and job_log(check1) == log1
    # Deleting the carried-over artifact keeps the object attempt 1 still lists.
    services.artifact_delete(artifact=art2)
    assert default_storage.exists(art1.r2_key)

    run = services.rerun_run(run=run, actor=owner)
    run.refresh_from_db()
    build3 = run.attempt_jobs().get(job_key="build")
    assert run.run_attempt == 3 and run.conclusion == "success" and build3.reused_from_id is None
    assert build3.outputs["stamp"] != stamp
    assert f"stamp {build3.outputs['stamp']} attempt 3" in job_log(run.attempt_jobs().get(job_key="check"))
    assert list(WorkflowRunAttempt.objects.filter(run=run).values_list("run_attempt", "conclusion")) == [
        (1, "failure"), (2, "success")]
    assert run.jobs.count() == 6 and WorkflowArtifact.objects.filter(run=run).count() == 2
    assert job_log(check1) == log1
    # A deployment built from this run's artifact takes the latest attempt's.
    from types import SimpleNamespace

    from workers.artifacts import _find_artifact

    _, found = _find_artifact(SimpleNamespace(repo=repo, repo_id=repo.id, commit_sha=run.sha),
                              {"path": run.workflow_path, "artifact": "bin", "job": "build"})
    assert found is not None and found.run_attempt == 3 and found.job_id == build3.pk


MATRIX_FROM_NEEDS = r"""
on: workflow_dispatch
jobs:
  setup:
    runs-on: default
    outputs:
      matrix: ${{ steps.m.outputs.matrix }}
      list: ${{ steps.m.outputs.list }}
    steps:
      - id: m
        run: |
          echo 'matrix={"os": ["linux", "mac"], "py": ["3.11", "3.12"], "exclude": [{"os": "mac", "py": "3.11"}]}' >> "$GITHUB_OUTPUT"
          echo 'list=["x", "y", "z"]' >> "$GITHUB_OUTPUT"
  whole:
    needs: setup
    runs-on: default
    strategy:
      matrix: ${{ fromJSON(needs.setup.outputs.matrix) }}
    steps:
      - run: echo "whole ${{ matrix.os }}/${{ matrix.py }}"
  per-key:
    needs: setup
    runs-on: default
    name: per ${{ matrix.item }}
    strategy:
      matrix:
        item: ${{ fromJSON(needs.setup.outputs.list) }}
        mode: [fast]
    steps:
      - run: echo "item ${{ matrix.item }} ${{ matrix.mode }} of ${{ strategy.job-total }}"
  after:
    needs: [whole, per-key]
    runs-on: default
    steps:
      - run: echo "after ${{ needs.whole.result }} ${{ needs.per-key.result }}"
"""


def test_matrix_from_needs_outputs_expands_when_the_dependency_completes(repo, owner):
    commit(repo, owner, {".takos/workflows/m.yml": MATRIX_FROM_NEEDS})
    run = services.dispatch_run(repo=repo, actor=owner, workflow_ref="m")
    run.refresh_from_db()
    assert run.conclusion == "success", [(j.name, j.error) for j in run.jobs.all()]
    whole = list(run.jobs.filter(job_key="whole").order_by("matrix_index"))
    assert [j.matrix for j in whole] == [{"os": "linux", "py": "3.11"}, {"os": "linux", "py": "3.12"},
                                         {"os": "mac", "py": "3.12"}]
    assert [j.name for j in whole] == ["whole (linux, 3.11)", "whole (linux, 3.12)", "whole (mac, 3.12)"]
    assert not any(j.matrix_pending for j in run.jobs.all())
    assert "whole mac/3.12" in job_log(whole[2]) and all(j.steps.count() == 1 for j in whole)
    per = list(run.jobs.filter(job_key="per-key").order_by("matrix_index"))
    assert [j.name for j in per] == ["per x", "per y", "per z"]
    assert "item z fast of 3" in job_log(per[2])
    assert "after success success" in job_log(run.jobs.get(job_key="after"))


@pytest.mark.parametrize("output, message", [
    ("not json at all", "fromJSON(): the value is not valid JSON"),
    ("[1, 2]", "strategy.matrix must evaluate to a mapping"),
    ('{"os": []}', "matrix variable 'os' must be a non-empty list"),
])
def test_matrix_from_bad_needs_outputs_fails_the_job_with_a_clear_message(repo, owner, output, message):
    wf = (MATRIX_FROM_NEEDS.replace("echo 'matrix={", "echo 'unused={")
          .replace("      - id: m\n        run: |\n", "      - id: m\n        run: |\n"
                   f"          echo 'matrix={output}' >> \"$GITHUB_OUTPUT\"\n"))
    commit(repo, owner, {".takos/workflows/m.yml": wf})
    run = services.dispatch_run(repo=repo, actor=owner, workflow_ref="m")
    run.refresh_from_db()
    assert run.status == "completed" and run.conclusion == "failure"
    whole = run.jobs.get(job_key="whole")  # one row: never expanded
    assert whole.conclusion == "failure" and not whole.matrix_pending
    assert whole.error.startswith("Invalid matrix from the outputs of setup: ") and message in whole.error
    assert run.jobs.filter(job_key="per-key").count() == 3  # the other matrix still ran
    assert run.jobs.get(job_key="after").conclusion == "skipped"


def test_cancel_mid_step_stops_the_container(repo, owner, settings):
    from hosts.drivers import get_driver

    commit(repo, owner, {".takos/workflows/s.yml": "on: workflow_dispatch\njobs:\n  a:\n    runs-on: default\n"
                                                   "    steps:\n      - run: echo started; sleep 60\n"})
    from takos.celery import app

    app.conf.task_always_eager = False  # enqueue only; we execute the job in a thread below
    try:
        run = services.dispatch_run(repo=repo, actor=owner, workflow_ref="s.yml")
    finally:
        app.conf.task_always_eager = True
    job = run.jobs.get()
    thread, result = execute_in_thread(job.id)
    deadline = time.monotonic() + 20
    while "started" not in job_log(job) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "started" in job_log(job)
    assert get_driver().list(owner=f"job:{job.id}")
    t0 = time.monotonic()
    services.cancel_run(run=run, reason="test")
    thread.join(20)
    assert not thread.is_alive() and time.monotonic() - t0 < 10
    assert result["c"] == "cancelled"
    assert not get_driver().list(owner=f"job:{job.id}")
    run.refresh_from_db()
    assert run.status == "completed" and run.conclusion == "cancelled"


def test_concurrency_cancel_in_progress_cancels_the_older_run(repo, owner):
    wf = ("on: workflow_dispatch\nconcurrency:\n  group: deploy-${{ github.ref }}\n  cancel-in-progress: true\n"
          "jobs:\n  a:\n    runs-on: default\n    steps: [{run: echo}]\n")
    commit(repo, owner, {".takos/workflows/c.yml": wf})
    from takos.celery import app

    app.conf.task_always_eager = False  # keep the first run queued
    try:
        first = services.dispatch_run(repo=repo, actor=owner, workflow_ref="c")
        second = services.dispatch_run(repo=repo, actor=owner, workflow_ref="c")
    finally:
        app.conf.task_always_eager = True
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.concurrency_group == "deploy-refs/heads/main"
    assert first.status == "completed" and first.conclusion == "cancelled"
    assert second.status == "queued"


def test_logs_are_readable_while_the_step_still_runs(repo, owner):
    from takos.celery import app

    commit(repo, owner, {".takos/workflows/l.yml": "on: workflow_dispatch\njobs:\n  a:\n    runs-on: default\n"
                                                   "    steps:\n      - run: echo tick one; sleep 2; echo tick two\n"})
    app.conf.task_always_eager = False
    try:
        run = services.dispatch_run(repo=repo, actor=owner, workflow_ref="l")
    finally:
        app.conf.task_always_eager = True
    job = run.jobs.get()
    thread, _ = execute_in_thread(job.id)
    deadline = time.monotonic() + 20

    def live_log(job):  # type: ignore[no-untyped-def]
        # The test database is SQLite in memory with a shared cache, where a reader meeting the
        # executor thread's write lock fails at once ("table is locked"; busy_timeout does not
        # apply to shared-cache locks). Files in WAL mode, as in production, never refuse a reader.
        from django.db import OperationalError

        for _ in range(50):
            try:
                return job_log(job)
            except OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                time.sleep(0.02)
        return job_log(job)

    while "\ntick one\n" not in live_log(job) and time.monotonic() < deadline:
        time.sleep(0.02)
    seen_one = time.monotonic()
    assert "\ntick one\n" in live_log(job) and "\ntick two\n" not in live_log(job)
    while "\ntick two\n" not in live_log(job) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert time.monotonic() - seen_one > 1.5
    thread.join(20)


def _dispatch_queued(repo, owner, name):  # type: ignore[no-untyped-def]
    """Dispatch without executing (jobs stay queued and enqueued)."""
    from takos.celery import app

    app.conf.task_always_eager = False
    try:
        return services.dispatch_run(repo=repo, actor=owner, workflow_ref=name)
    finally:
        app.conf.task_always_eager = True


def test_job_concurrency_waits_then_cancel_in_progress_cancels(repo, owner):
    from workflows.executor import execute_job

    wait = ("on: workflow_dispatch\njobs:\n  deploy:\n    runs-on: default\n    concurrency: prod\n"
            "    steps: [{run: echo deploy}]\n")
    commit(repo, owner, {".takos/workflows/w.yml": wait})
    first = _dispatch_queued(repo, owner, "w")
    second = _dispatch_queued(repo, owner, "w")
    j1, j2 = first.jobs.get(), second.jobs.get()
    assert j1.enqueued_at is not None and j2.status == "waiting"
    from takos.celery import app

    app.conf.task_always_eager = False
    try:
        assert execute_job(j1.id) == "success"
    finally:
        app.conf.task_always_eager = True
    j2.refresh_from_db()
    assert j2.status == "queued" and j2.enqueued_at is not None  # released when the first one ended
    assert execute_job(j2.id) == "success"

    cancel = wait.replace("concurrency: prod", "concurrency: {group: prod2, cancel-in-progress: true}")
    commit(repo, owner, {".takos/workflows/w.yml": cancel})
    third = _dispatch_queued(repo, owner, "w")
    fourth = _dispatch_queued(repo, owner, "w")
    third.refresh_from_db()
    assert third.jobs.get().conclusion == "cancelled" and third.conclusion == "cancelled"
    assert fourth.jobs.get().enqueued_at is not None


def test_max_parallel_and_fail_fast(repo, owner):
    wf = ("on: workflow_dispatch\njobs:\n  m:\n    runs-on: default\n    strategy:\n      max-parallel: 1\n"
          "      matrix: {n: [1, 2, 3]}\n    steps: [{run: 'test ${{ matrix.n }} != 2'}]\n")
    commit(repo, owner, {".takos/workflows/m.yml": wf})
    run = _dispatch_queued(repo, owner, "m")
    jobs = list(run.jobs.order_by("matrix_index"))
    assert [j.enqueued_at is not None for j in jobs] == [True, False, False]
    from workflows.executor import execute_job

    execute_job(jobs[0].id)  # success -> the next one is enqueued (and, eagerly, run: it fails)
    run.refresh_from_db()
    jobs = list(run.jobs.order_by("matrix_index"))
    assert [j.conclusion for j in jobs] == ["success", "failure", "cancelled"]  # fail-fast cancelled n=3
    assert run.conclusion == "failure"


def test_recovery_requeues_a_job_whose_worker_died_then_fails_it(repo, owner, settings):
    from datetime import timedelta

    from django.utils import timezone

    commit(repo, owner, {".takos/workflows/r.yml": "on: workflow_dispatch\njobs:\n  a:\n    runs-on: default\n"
                                                   "    steps: [{run: echo recovered}]\n"})
    run = _dispatch_queued(repo, owner, "r")
    job = run.jobs.get()
    old = timezone.now() - timedelta(seconds=settings.TAKOS_WORKFLOW_LEASE_SECONDS + 5)
    WorkflowJob.objects.filter(pk=job.pk).update(status="in_progress", lease_id="dead-worker", heartbeat_at=old,
                                                 attempts=1)
    counts = services.recover_jobs()
    assert counts["requeued"] == 1
    job.refresh_from_db()
    assert job.conclusion == "success" and job.attempts == 2 and "recovered" in job_log(job)

    run2 = _dispatch_queued(repo, owner, "r")
    job2 = run2.jobs.get()
    WorkflowJob.objects.filter(pk=job2.pk).update(status="in_progress", lease_id="dead", heartbeat_at=old,
                                                  attempts=settings.TAKOS_WORKFLOW_MAX_ATTEMPTS)
    assert services.recover_jobs()["failed"] == 1
    job2.refresh_from_db()
    run2.refresh_from_db()
    assert job2.conclusion == "failure" and "stopped responding" in job2.error and run2.conclusion == "failure"


FEATURES = r"""
on: push
defaults:
  run:
    shell: bash
jobs:
  env:
    runs-on: default
    env:
      JOB_LEVEL: job
    steps:
      - run: |
          echo "FROM_STEP=carried" >> "$GITHUB_ENV"
          mkdir -p tools sub && printf '#!/bin/sh\necho tool-ran\n' > tools/mytool && chmod +x tools/mytool
          echo "$GITHUB_WORKSPACE/tools" >> "$GITHUB_PATH"
          {
            echo "multi<<EOF"
            echo "line 1"
            echo "line 2"
            echo "EOF"
          } >> "$GITHUB_OUTPUT"
        id: first
      - run: echo "$FROM_STEP $JOB_LEVEL ${{ env.JOB_LEVEL }}"; mytool; pwd
        working-directory: sub
      - if: contains(steps.first.outputs.multi, 'line 2')
        shell: python
        run: |
          import os
          print("python step", os.environ["GITHUB_REF_NAME"], os.environ["TAKOS_SHA"][:7])
      - run: sleep 30
        timeout-minutes: 0.02
        continue-on-error: true
  slow:
    runs-on: default
    timeout-minutes: 0.03
    steps:
      - run: sleep 30
"""


def test_env_path_outputs_shells_and_timeouts(repo, owner):
    commit(repo, owner, {".takos/workflows/f.yml": FEATURES})
    run = WorkflowRun.objects.get(repo=repo)
    env_job = run.jobs.get(job_key="env")
    log = job_log(env_job)
    assert env_job.conclusion == "success", log
    assert "carried job job" in log and "tool-ran" in log and log.count("/sub") >= 1
    assert "python step main" in log
    steps = list(env_job.steps.order_by("number"))
    assert steps[0].outputs == {"multi": "line 1\nline 2"}
    assert steps[3].outcome == "failure" and "timed out" in steps[3].error_message
    slow = run.jobs.get(job_key="slow")
    assert slow.conclusion == "failure" and "timeout" in slow.error.lower()
    assert slow.completed_at and (slow.completed_at - slow.started_at).total_seconds() < 20


def test_job_level_continue_on_error_does_not_fail_the_run(repo, owner):
    wf = ("on: push\njobs:\n  t:\n    runs-on: default\n    continue-on-error: ${{ matrix.experimental }}\n"
          "    strategy:\n      fail-fast: false\n      matrix:\n        experimental: [false]\n"
          "        include: [{experimental: true}]\n"
          "    steps: [{run: 'test ${{ matrix.experimental }} = false'}]\n")
    commit(repo, owner, {".takos/workflows/c.yml": wf})
    run = WorkflowRun.objects.get(repo=repo)
    assert sorted(j.conclusion for j in run.jobs.all()) == ["failure", "success"]
    assert run.conclusion == "success"

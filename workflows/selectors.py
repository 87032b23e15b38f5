"""Reads for workflows, always through a repository the caller may see (404 otherwise)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from repos.models import Repository
from repos.selectors import repo_for_user
from takos.api.errors import BadRequest, NotFound
from takos.api.ids import is_id
from workflows.models import (
    CommitStatus,
    Workflow,
    WorkflowArtifact,
    WorkflowJob,
    WorkflowRun,
    WorkflowRunAttempt,
    WorkflowRunEvent,
    WorkflowSecret,
)

RUN_STATUSES = {c for c, _ in WorkflowRun.Status.choices}


def repo(user: Any, repo_id: str, *, min_role: str = "viewer") -> Repository:
    return repo_for_user(user, repo_id, min_role=min_role)


def workflows_for_repo(repo: Repository) -> QuerySet[Workflow]:
    return Workflow.objects.filter(repo=repo).order_by("path")


def workflow(repo: Repository, path: str) -> Workflow:
    found = Workflow.objects.filter(repo=repo, path=path.strip("/")).first()
    if found is None:
        raise NotFound("Workflow not found.")
    return found


def runs_for_repo(repo: Repository, *, workflow: str = "", status: str = "", branch: str = "",
                  event: str = "") -> QuerySet[WorkflowRun]:
    qs = WorkflowRun.objects.filter(repo=repo).select_related("actor").order_by("-created_at")
    if workflow:
        qs = qs.filter(workflow_path__in=[workflow, f".takos/workflows/{workflow}"]) | qs.filter(name=workflow)
    if status:
        if status in RUN_STATUSES:
            qs = qs.filter(status=status)
        elif status in ("success", "failure", "cancelled", "skipped"):
            qs = qs.filter(conclusion=status)
        else:
            raise BadRequest(f"Unknown status '{status}'.", details={"fields": {"status": ["Unknown status."]}})
    if branch:
        qs = qs.filter(ref=f"refs/heads/{branch}")
    if event:
        qs = qs.filter(event=event)
    return qs


def run(repo: Repository, run_id: str) -> WorkflowRun:
    found = (WorkflowRun.objects.select_related("actor", "repo", "repo__space").filter(pk=run_id, repo=repo).first()
             if is_id(run_id) else None)
    if found is None:
        raise NotFound("Workflow run not found.")
    return found


def attempt_number(run: WorkflowRun, raw: Any) -> int:
    """An attempt of `run` from a path or query value (the current one when empty); 404 if unknown."""
    if raw in (None, ""):
        return run.run_attempt
    try:
        number = int(raw)
    except (TypeError, ValueError):
        raise BadRequest("'attempt' must be a positive integer.",
                         details={"fields": {"attempt": ["Must be a positive integer."]}}) from None
    if not 1 <= number <= run.run_attempt:
        raise NotFound(f"Run attempt {number} not found; this run has {run.run_attempt}.")
    return number


def attempts(run: WorkflowRun) -> list[Any]:
    """Earlier attempts (archived rows) then the current one (the run itself), oldest first."""
    return [*WorkflowRunAttempt.objects.filter(run=run).select_related("actor").order_by("run_attempt"), run]


def attempt(run: WorkflowRun, number: int) -> Any:
    if number == run.run_attempt:
        return run
    found = WorkflowRunAttempt.objects.select_related("actor").filter(run=run, run_attempt=number).first()
    if found is None:  # made before attempts were kept (migration 0002): its jobs were overwritten
        raise NotFound(f"Run attempt {number} was not kept.")
    return found


def jobs_for_run(run: WorkflowRun, attempt: int | None = None) -> QuerySet[WorkflowJob]:
    return run.attempt_jobs(attempt).prefetch_related("steps").order_by("created_at", "matrix_index")


def artifacts_for_run(run: WorkflowRun, attempt: int | None = None) -> QuerySet[WorkflowArtifact]:
    return run.artifacts.filter(run_attempt=attempt or run.run_attempt).select_related("run").order_by("created_at")


def job(repo: Repository, job_id: str) -> WorkflowJob:
    found = (WorkflowJob.objects.select_related("run").prefetch_related("steps")
             .filter(pk=job_id, run__repo=repo).first() if is_id(job_id) else None)
    if found is None:
        raise NotFound("Workflow job not found.")
    return found


def artifact(repo: Repository, artifact_id: str) -> WorkflowArtifact:
    found = (WorkflowArtifact.objects.select_related("run").filter(pk=artifact_id, run__repo=repo).first()
             if is_id(artifact_id) else None)
    if found is None:
        raise NotFound("Artifact not found.")
    return found


def secrets_for_repo(repo: Repository) -> QuerySet[WorkflowSecret]:
    return WorkflowSecret.objects.filter(repo=repo).order_by("name")


def events_after(run: WorkflowRun, after: int, limit: int = 2000) -> list[WorkflowRunEvent]:
    return list(WorkflowRunEvent.objects.filter(run=run, seq__gt=after).order_by("seq")[:limit])


def statuses_for_sha(repo: Repository, sha: str) -> QuerySet[CommitStatus]:
    return CommitStatus.objects.filter(repo=repo, sha=sha).order_by("context")

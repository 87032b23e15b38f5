"""Input serializers and output shapes (plain dicts) for the workflows API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from workflows.models import (
    CommitStatus,
    Workflow,
    WorkflowArtifact,
    WorkflowJob,
    WorkflowRun,
    WorkflowRunAttempt,
    WorkflowRunEvent,
    WorkflowSecret,
    WorkflowStep,
)


class DispatchIn(serializers.Serializer):
    workflow = serializers.CharField(max_length=500)
    ref = serializers.CharField(max_length=255, required=False, allow_blank=True)
    inputs = serializers.DictField(required=False, default=dict)


class RerunIn(serializers.Serializer):
    failed_only = serializers.BooleanField(required=False, default=False)


class SecretIn(serializers.Serializer):
    value = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=65536)


def _ts(value: Any) -> str | None:
    return value.isoformat() if value else None


def workflow_out(w: Workflow) -> dict[str, Any]:
    return {"id": w.id, "path": w.path, "name": w.display_name, "triggers": sorted((w.triggers or {}).keys()),
            "is_valid": w.is_valid, "errors": w.errors, "ref": w.ref, "sha": w.sha, "parsed_at": _ts(w.parsed_at),
            "created_at": _ts(w.created_at), "updated_at": _ts(w.updated_at)}


def workflow_detail(w: Workflow) -> dict[str, Any]:
    return {**workflow_out(w), "content": w.content, "definition": w.definition}


def run_out(r: WorkflowRun) -> dict[str, Any]:
    return {
        "id": r.id, "repo_id": r.repo_id, "workflow_id": r.workflow_id, "workflow_path": r.workflow_path,
        "name": r.name or r.workflow_path.rsplit("/", 1)[-1], "event": r.event, "ref": r.ref, "sha": r.sha,
        "actor": {"id": r.actor_id, "username": r.actor.username} if r.actor_id else None,
        "status": r.status, "conclusion": r.conclusion or None, "run_number": r.run_number,
        "run_attempt": r.run_attempt, "inputs": r.inputs, "concurrency_group": r.concurrency_group or None,
        "cancel_requested": r.cancel_requested_at is not None, "error": r.error or None,
        "queued_at": _ts(r.queued_at), "started_at": _ts(r.started_at), "completed_at": _ts(r.completed_at),
        "created_at": _ts(r.created_at), "last_event_id": r.last_event_seq,
    }


def step_out(s: WorkflowStep) -> dict[str, Any]:
    return {"id": s.id, "number": s.number, "name": s.name, "status": s.status, "conclusion": s.conclusion or None,
            "outcome": s.outcome or None, "run_command": s.run_command or None, "uses_action": s.uses_action or None,
            "exit_code": s.exit_code, "error_message": s.error_message or None, "log_offset": s.log_offset,
            "started_at": _ts(s.started_at), "completed_at": _ts(s.completed_at)}


def job_out(j: WorkflowJob, *, steps: bool = True) -> dict[str, Any]:
    data = {
        "id": j.id, "run_id": j.run_id, "job_key": j.job_key, "name": j.name, "matrix": j.matrix,
        "status": j.status, "conclusion": j.conclusion or None, "runner_id": j.runner_id or None,
        "runner_name": j.runner_name or None, "outputs": j.outputs, "error": j.error or None,
        "queued_at": _ts(j.queued_at), "started_at": _ts(j.started_at), "completed_at": _ts(j.completed_at),
        "logs_url": f"/api/repos/{j.run.repo_id}/actions/jobs/{j.id}/logs" if hasattr(j, "run") else None,
        "log_size": j.log_size, "attempts": j.attempts, "run_attempt": j.run_attempt,
        "reused_from": j.reused_from_id, "matrix_pending": j.matrix_pending,
    }
    if steps:
        data["steps"] = [step_out(s) for s in j.steps.all()]
    return data


def attempt_out(a: WorkflowRun | WorkflowRunAttempt, run: WorkflowRun) -> dict[str, Any]:
    """One attempt of a run: the run row for the current attempt, an archived row for earlier ones."""
    return {"run_id": run.id, "run_attempt": a.run_attempt, "current": a.run_attempt == run.run_attempt,
            "status": a.status, "conclusion": a.conclusion or None,
            "actor": {"id": a.actor_id, "username": a.actor.username} if a.actor_id else None,
            "error": a.error or None, "queued_at": _ts(a.queued_at), "started_at": _ts(a.started_at),
            "completed_at": _ts(a.completed_at)}


def artifact_out(a: WorkflowArtifact) -> dict[str, Any]:
    return {"id": a.id, "run_id": a.run_id, "run_attempt": a.run_attempt, "job_id": a.job_id, "name": a.name, "size_bytes": a.size_bytes,
            "file_count": a.file_count, "mime_type": a.mime_type, "expires_at": _ts(a.expires_at),
            "created_at": _ts(a.created_at),
            "download_url": f"/api/repos/{a.run.repo_id}/actions/artifacts/{a.id}"}


def secret_out(s: WorkflowSecret) -> dict[str, Any]:
    return {"name": s.name, "created_at": _ts(s.created_at), "updated_at": _ts(s.updated_at)}


def event_out(e: WorkflowRunEvent) -> dict[str, Any]:
    return {"id": e.seq, "type": e.type, "data": e.data, "created_at": _ts(e.created_at)}


def status_out(s: CommitStatus) -> dict[str, Any]:
    return {"context": s.context, "state": s.state, "description": s.description, "target_url": s.target_url,
            "run_id": s.run_id, "sha": s.sha, "updated_at": _ts(s.updated_at)}

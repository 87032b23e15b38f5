"""Expression contexts (`github`/`takos`, `needs`, `inputs`, ...) built from run and job rows."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings

from workflows.models import Conclusion, WorkflowJob, WorkflowRun


def ref_parts(ref: str) -> tuple[str, str]:
    """('main', 'branch') for refs/heads/main, ('v1', 'tag') for refs/tags/v1."""
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/"):], "branch"
    if ref.startswith("refs/tags/"):
        return ref[len("refs/tags/"):], "tag"
    return ref, ""


def github_context(run: WorkflowRun, *, job_key: str = "", workspace: str = "") -> dict[str, Any]:
    ref_name, ref_type = ref_parts(run.ref)
    repo = run.repo
    server = settings.TAKOS_PUBLIC_URL or settings.TAKOS_PROXY_URL
    payload = run.event_payload or {}
    pr = payload.get("pull_request") or {}
    return {
        "event_name": run.event, "event": payload, "ref": run.ref, "ref_name": ref_name, "ref_type": ref_type,
        "sha": run.sha, "repository": repo.full_name, "repository_id": repo.id, "repository_owner": repo.space.slug,
        "actor": run.actor.username if run.actor_id else "", "triggering_actor": run.actor.username if run.actor_id else "",
        "run_id": run.id, "run_number": run.run_number, "run_attempt": run.run_attempt,
        "workflow": run.name or run.workflow_path, "workflow_ref": f"{repo.full_name}/{run.workflow_path}@{run.ref}",
        "job": job_key, "workspace": workspace, "server_url": server, "api_url": f"{server}/api",
        "head_ref": pr.get("head", {}).get("ref", "") if isinstance(pr.get("head"), dict) else "",
        "base_ref": pr.get("base", {}).get("ref", "") if isinstance(pr.get("base"), dict) else "",
        "token": "", "action": "",
    }


def group_result(jobs: list[WorkflowJob]) -> str:
    """The `needs.<key>.result` of a (possibly matrix) job."""
    conclusions = [j.conclusion for j in jobs]
    if any(c == Conclusion.FAILURE for c in conclusions):
        return Conclusion.FAILURE
    if any(c == Conclusion.CANCELLED for c in conclusions):
        return Conclusion.CANCELLED
    if conclusions and all(c == Conclusion.SKIPPED for c in conclusions):
        return Conclusion.SKIPPED
    return Conclusion.SUCCESS


def jobs_by_key(jobs: list[WorkflowJob]) -> dict[str, list[WorkflowJob]]:
    grouped: dict[str, list[WorkflowJob]] = defaultdict(list)
    for job in jobs:
        grouped[job.job_key].append(job)
    return grouped


def needs_context(grouped: dict[str, list[WorkflowJob]], needs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in needs:
        members = sorted(grouped.get(key, []), key=lambda j: j.matrix_index)
        outputs: dict[str, Any] = {}
        for member in members:  # matrix jobs: later combinations win, like GitHub's last writer
            outputs.update({k: v for k, v in (member.outputs or {}).items() if v not in (None, "")})
        out[key] = {"result": group_result(members), "outputs": outputs}
    return out

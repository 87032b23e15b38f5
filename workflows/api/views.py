"""Workflows API (spec section 6: `R/workflows`, `R/actions/...`). Thin views: parse, one call, respond.

Reads follow the repository's visibility (anonymous for public repositories); writes need the
editor role, secrets the admin role.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse
from rest_framework import status
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Role
from takos.api.errors import BadRequest, NotFound
from takos.api.pagination import paginate
from takos.api.permissions import TokenScope
from takos.api.views import ApiView
from workflows import logs, selectors, services
from workflows.api import serializers as s

MAX_LOG_LIMIT = 4 * 1024 * 1024


class ReadAnonymousWriteAuthenticated(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_authenticated)


class WorkflowsView(ApiView):
    scope = "repos"
    permission_classes = [ReadAnonymousWriteAuthenticated, TokenScope]

    def repo(self, request: Request, repo_id: str, min_role: str = Role.VIEWER):  # type: ignore[no-untyped-def]
        return selectors.repo(request.user, repo_id, min_role=min_role)


# --- registry ---------------------------------------------------------------------------


class WorkflowListView(WorkflowsView):
    def get(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id)
        return Response({"workflows": [s.workflow_out(w) for w in selectors.workflows_for_repo(repo)]})


class WorkflowDetailView(WorkflowsView):
    def get(self, request: Request, repo_id: str, path: str) -> Response:
        repo = self.repo(request, repo_id)
        return Response({"workflow": s.workflow_detail(selectors.workflow(repo, path))})

    def delete(self, request: Request, repo_id: str, path: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        services.delete_workflow(workflow=selectors.workflow(repo, path))
        return Response({"success": True})


class WorkflowSyncView(WorkflowsView):
    def post(self, request: Request, repo_id: str, path: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        path = path.strip("/")
        if not path.startswith(services.WORKFLOW_DIR + "/"):
            path = f"{services.WORKFLOW_DIR}/{path}"
        workflow = services.sync_workflow(repo=repo, path=path, ref=request.query_params.get("ref") or None)
        if workflow is None:
            raise NotFound(f"{path} does not exist on the default branch.")
        return Response({"workflow": s.workflow_detail(workflow)})


class WorkflowSyncAllView(WorkflowsView):
    def post(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        workflows = services.sync_all(repo=repo, ref=request.query_params.get("ref") or None)
        return Response({"workflows": [s.workflow_out(w) for w in workflows]})


# --- runs -------------------------------------------------------------------------------


class RunListView(WorkflowsView):
    required_scopes = {"POST": "repos:write"}

    def get(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id)
        q = request.query_params
        qs = selectors.runs_for_repo(repo, workflow=q.get("workflow", ""), status=q.get("status", ""),
                                     branch=q.get("branch", ""), event=q.get("event", ""))
        page = paginate(request, qs, key="runs", serialize=lambda items: [s.run_out(r) for r in items],
                        default=50, maximum=200)
        page["workflow_runs"] = page["runs"]  # GitHub's name for the same list
        return Response(page)

    def post(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        data = self.parse(s.DispatchIn, request)
        run = services.dispatch_run(repo=repo, actor=request.user, workflow_ref=data["workflow"],
                                    ref=data.get("ref") or None, inputs=data.get("inputs") or {})
        return Response({"run": s.run_out(run)}, status=status.HTTP_201_CREATED)


class RunDetailView(WorkflowsView):
    def get(self, request: Request, repo_id: str, run_id: str) -> Response:
        repo = self.repo(request, repo_id)
        run = selectors.run(repo, run_id)
        jobs = [s.job_out(j, steps=False) for j in selectors.jobs_for_run(run)]
        return Response({"run": {**s.run_out(run), "jobs": jobs}})


class RunJobsView(WorkflowsView):
    """Jobs of the current attempt, or of `?attempt=n` (also at `runs/:id/attempts/:n/jobs`)."""

    def get(self, request: Request, repo_id: str, run_id: str, attempt: str | None = None) -> Response:
        repo = self.repo(request, repo_id)
        run = selectors.run(repo, run_id)
        number = selectors.attempt_number(run, attempt if attempt is not None else request.query_params.get("attempt"))
        return Response({"run_attempt": number, "jobs": [s.job_out(j) for j in selectors.jobs_for_run(run, number)]})


class RunAttemptListView(WorkflowsView):
    def get(self, request: Request, repo_id: str, run_id: str) -> Response:
        repo = self.repo(request, repo_id)
        run = selectors.run(repo, run_id)
        return Response({"run_attempt": run.run_attempt,
                         "attempts": [s.attempt_out(a, run) for a in selectors.attempts(run)]})


class RunAttemptView(WorkflowsView):
    def get(self, request: Request, repo_id: str, run_id: str, attempt: str) -> Response:
        repo = self.repo(request, repo_id)
        run = selectors.run(repo, run_id)
        number = selectors.attempt_number(run, attempt)
        jobs = [s.job_out(j, steps=False) for j in selectors.jobs_for_run(run, number)]
        return Response({"attempt": {**s.attempt_out(selectors.attempt(run, number), run), "jobs": jobs}})


class RunArtifactsView(WorkflowsView):
    """Artifacts of the current attempt (including those carried over by a re-run), or `?attempt=n`."""

    def get(self, request: Request, repo_id: str, run_id: str) -> Response:
        repo = self.repo(request, repo_id)
        run = selectors.run(repo, run_id)
        number = selectors.attempt_number(run, request.query_params.get("attempt"))
        return Response({"run_attempt": number,
                         "artifacts": [s.artifact_out(a) for a in selectors.artifacts_for_run(run, number)]})


class RunEventsView(WorkflowsView):
    """Polling fallback for the live streams: events after ?last_event_id=."""

    def get(self, request: Request, repo_id: str, run_id: str) -> Response:
        repo = self.repo(request, repo_id)
        run = selectors.run(repo, run_id)
        try:
            after = max(0, int(request.query_params.get("last_event_id") or 0))
        except ValueError:
            raise BadRequest("last_event_id must be an integer.") from None
        events = selectors.events_after(run, after)
        return Response({"events": [s.event_out(e) for e in events],
                         "last_event_id": events[-1].seq if events else after, "status": run.status})


class RunCancelView(WorkflowsView):
    def post(self, request: Request, repo_id: str, run_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        run = services.cancel_run(run=selectors.run(repo, run_id), reason=f"Cancelled by {request.user.username}.")
        return Response({"run": s.run_out(run)}, status=status.HTTP_202_ACCEPTED)


class RunRerunView(WorkflowsView):
    def post(self, request: Request, repo_id: str, run_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        data = self.parse(s.RerunIn, request)
        run = services.rerun_run(run=selectors.run(repo, run_id), actor=request.user,
                                 failed_only=data.get("failed_only", False))
        return Response({"run": s.run_out(run)}, status=status.HTTP_201_CREATED)


# --- jobs and logs ----------------------------------------------------------------------


class JobDetailView(WorkflowsView):
    def get(self, request: Request, repo_id: str, job_id: str) -> Response:
        repo = self.repo(request, repo_id)
        return Response({"job": s.job_out(selectors.job(repo, job_id))})


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer.") from None
    if value < 0:
        raise BadRequest(f"'{name}' must not be negative.")
    return value


class JobLogsView(WorkflowsView):
    """Bytes [offset, offset+limit) of the job log as text/plain (or JSON with ?format=json).

    Headers: X-Log-Offset, X-Log-Next-Offset, X-Log-Size (bytes known now), X-Log-Complete (the job
    ended, so the log will not grow; read on from X-Log-Next-Offset until it reaches X-Log-Size).
    """

    def get(self, request: Request, repo_id: str, job_id: str) -> HttpResponse | Response:
        repo = self.repo(request, repo_id)
        job = selectors.job(repo, job_id)
        offset = _int(request, "offset", 0)
        limit = min(_int(request, "limit", 1024 * 1024) or 1024 * 1024, MAX_LOG_LIMIT)
        data, size, complete = logs.read_range(job.id, offset, limit)
        next_offset = offset + len(data)
        done = complete  # the job ended: the log will not grow any more
        if request.query_params.get("format") == "json":
            return Response({"job_id": job.id, "offset": offset, "next_offset": next_offset, "size": size,
                             "complete": done, "logs": data.decode("utf-8", errors="replace")})
        response = HttpResponse(data, content_type="text/plain; charset=utf-8")
        response["X-Log-Offset"] = str(offset)
        response["X-Log-Next-Offset"] = str(next_offset)
        response["X-Log-Size"] = str(size)
        response["X-Log-Complete"] = "true" if done else "false"
        return response


# --- artifacts --------------------------------------------------------------------------


class ArtifactView(WorkflowsView):
    def get(self, request: Request, repo_id: str, artifact_id: str) -> FileResponse:
        repo = self.repo(request, repo_id)
        artifact = selectors.artifact(repo, artifact_id)
        try:
            handle = default_storage.open(artifact.r2_key, "rb")
        except FileNotFoundError:
            raise NotFound("The artifact's file is gone.") from None
        return FileResponse(handle, as_attachment=True, filename=f"{artifact.name}.zip",
                            content_type=artifact.mime_type)

    def delete(self, request: Request, repo_id: str, artifact_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        services.artifact_delete(artifact=selectors.artifact(repo, artifact_id))
        return Response({"success": True})


# --- secrets ----------------------------------------------------------------------------


class SecretListView(WorkflowsView):
    def get(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.ADMIN)
        return Response({"secrets": [s.secret_out(x) for x in selectors.secrets_for_repo(repo)]})


class SecretDetailView(WorkflowsView):
    def put(self, request: Request, repo_id: str, name: str) -> Response:
        repo = self.repo(request, repo_id, Role.ADMIN)
        data = self.parse(s.SecretIn, request)
        secret = services.secret_put(repo=repo, name=name, value=data["value"])
        return Response({"secret": s.secret_out(secret)})

    def delete(self, request: Request, repo_id: str, name: str) -> Response:
        repo = self.repo(request, repo_id, Role.ADMIN)
        services.secret_delete(repo=repo, name=name)
        return Response({"success": True})


# --- commit statuses --------------------------------------------------------------------


class CommitStatusesView(WorkflowsView):
    def get(self, request: Request, repo_id: str, sha: str) -> Response:
        from repos import git

        repo = self.repo(request, repo_id)
        resolved = git.resolve_ref(repo, sha) or sha
        statuses = [s.status_out(x) for x in selectors.statuses_for_sha(repo, resolved)]
        states = {x["state"] for x in statuses}
        combined = ("failure" if states & {"failure", "error"} else "pending" if "pending" in states or not states
                    else "success")
        return Response({"sha": resolved, "state": combined, "statuses": statuses})

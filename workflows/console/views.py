"""Console pages for Actions: runs list (filters, dispatch form, workflow registry), run page
(job graph, steps, live logs, rerun/cancel) and the secrets page. Same selectors and services
as the API; writes need the role the API asks for."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role, role_at_least
from repos import selectors as repo_selectors
from repos.api.serializers import clone_url
from repos.models import PullRequest
from takos.api.errors import ApiError, Forbidden, NotFound
from takos.console.helpers import attempt
from workflows import selectors, services
from workflows.contexts import ref_parts
from workflows.engine.definition import topological_order
from workflows.models import Workflow


def _access(request: HttpRequest, repo_id: str, min_role: str = Role.VIEWER) -> repo_selectors.RepoAccess:
    try:
        return repo_selectors.repo_access(request.user, repo_id, min_role=min_role)
    except NotFound:
        raise Http404("Repository not found") from None
    except Forbidden:
        raise PermissionDenied from None


def _ctx(request: HttpRequest, access: repo_selectors.RepoAccess, **extra: Any) -> dict[str, Any]:
    repo = access.repo
    return {
        "nav": "repos", "repo": repo, "role": access.role, "tab": "actions",
        "can_write": role_at_least(access.role, Role.EDITOR), "can_admin": role_at_least(access.role, Role.ADMIN),
        "clone_url": clone_url(repo, request), "starred": repo_selectors.is_starred(request.user, repo),
        "open_prs": PullRequest.objects.filter(repo=repo, status=PullRequest.Status.OPEN).count(), **extra,
    }


def runs(request: HttpRequest, repo_id: str) -> HttpResponse:
    access = _access(request, repo_id)
    repo = access.repo
    f = {k: request.GET.get(k, "") for k in ("workflow", "status", "branch", "event")}
    try:
        qs = selectors.runs_for_repo(repo, **f)
    except ApiError as exc:  # an unknown status value
        messages.error(request, str(exc.detail))
        qs = selectors.runs_for_repo(repo)
    rows = []
    for run in qs[:100]:
        rows.append({"run": run, "branch": ref_parts(run.ref)[0]})
    workflows = list(selectors.workflows_for_repo(repo))
    dispatchable = [w for w in workflows if w.is_valid and "workflow_dispatch" in (w.triggers or {})]
    return render(request, "workflows/runs.html", _ctx(
        request, access, rows=rows, filters=f, workflows=workflows, dispatchable=dispatchable,
        statuses=["queued", "in_progress", "waiting", "completed", "success", "failure", "cancelled"],
        events=["push", "pull_request", "workflow_dispatch", "schedule"]))


def _phases(run: Any, jobs: list[Any]) -> list[list[Any]]:
    """Jobs grouped in columns by depth in the `needs` graph (the job graph)."""
    jdefs = (run.definition or {}).get("jobs") or {}
    depth: dict[str, int] = {}
    for key in topological_order(jdefs) if jdefs else []:
        depth[key] = 1 + max((depth[n] for n in jdefs[key]["needs"] if n in depth), default=-1)
    columns: dict[int, list[Any]] = {}
    for job in jobs:
        columns.setdefault(depth.get(job.job_key, 0), []).append(job)
    return [columns[k] for k in sorted(columns)]


def run_detail(request: HttpRequest, repo_id: str, run_id: str) -> HttpResponse:
    access = _access(request, repo_id)
    try:
        run = selectors.run(access.repo, run_id)
    except NotFound:
        raise Http404("Run not found") from None
    try:
        number = selectors.attempt_number(run, request.GET.get("attempt"))
        shown = selectors.attempt(run, number)
    except ApiError:
        raise Http404("Run attempt not found") from None
    jobs = list(selectors.jobs_for_run(run, number))
    selected = next((j for j in jobs if j.id == request.GET.get("job")), None) or (jobs[0] if jobs else None)
    needs = {k: v.get("needs", []) for k, v in ((run.definition or {}).get("jobs") or {}).items()}
    return render(request, "workflows/run.html", _ctx(
        request, access, run=run, jobs=jobs, phases=_phases(run, jobs), selected=selected, needs=needs,
        artifacts=list(selectors.artifacts_for_run(run, number)), branch=ref_parts(run.ref)[0],
        attempt=number, shown=shown, latest=number == run.run_attempt,
        attempt_numbers=list(range(1, run.run_attempt + 1))))


@login_required
@require_POST
def run_cancel(request: HttpRequest, repo_id: str, run_id: str) -> HttpResponse:
    access = _access(request, repo_id, Role.EDITOR)
    run = selectors.run(access.repo, run_id)
    if attempt(request, lambda: services.cancel_run(run=run, reason=f"Cancelled by {request.user.username}.")):
        messages.success(request, "Cancellation requested.")
    return redirect("console-actions-run", repo_id, run_id)


@login_required
@require_POST
def run_rerun(request: HttpRequest, repo_id: str, run_id: str) -> HttpResponse:
    access = _access(request, repo_id, Role.EDITOR)
    run = selectors.run(access.repo, run_id)
    failed_only = request.POST.get("failed_only") == "1"
    if attempt(request, lambda: services.rerun_run(run=run, actor=request.user, failed_only=failed_only)):
        messages.success(request, "Re-run started.")
    return redirect("console-actions-run", repo_id, run_id)


@login_required
@require_POST
def dispatch(request: HttpRequest, repo_id: str) -> HttpResponse:
    access = _access(request, repo_id, Role.EDITOR)
    workflow = Workflow.objects.filter(repo=access.repo, pk=request.POST.get("workflow", "")).first()
    if workflow is None:
        messages.error(request, "Choose a workflow.")
        return redirect("console-actions", repo_id)
    spec = ((workflow.triggers or {}).get("workflow_dispatch") or {}).get("inputs") or {}
    inputs = {name: request.POST[f"input_{name}"] for name in spec if f"input_{name}" in request.POST}
    for name, item in spec.items():
        if item.get("type") == "boolean":
            inputs[name] = "true" if request.POST.get(f"input_{name}") else "false"
    run = attempt(request, lambda: services.dispatch_run(repo=access.repo, actor=request.user,
                                                         workflow_ref=workflow.path,
                                                         ref=request.POST.get("ref") or None, inputs=inputs))
    if run is None:
        return redirect("console-actions", repo_id)
    return redirect("console-actions-run", repo_id, run.id)


@login_required
@require_POST
def sync(request: HttpRequest, repo_id: str) -> HttpResponse:
    access = _access(request, repo_id, Role.EDITOR)
    found = services.sync_all(repo=access.repo)
    messages.success(request, f"Synced {len(found)} workflow file(s).")
    return redirect("console-actions", repo_id)


@login_required
def secrets_page(request: HttpRequest, repo_id: str) -> HttpResponse:
    access = _access(request, repo_id, Role.ADMIN)
    repo = access.repo
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        try:
            if request.POST.get("action") == "delete":
                services.secret_delete(repo=repo, name=name)
                messages.success(request, f"Deleted {name}.")
            else:
                services.secret_put(repo=repo, name=name, value=request.POST.get("value", ""))
                messages.success(request, f"Saved {name}.")
        except ApiError as exc:
            messages.error(request, str(exc.detail))
        return redirect("console-actions-secrets", repo_id)
    return render(request, "workflows/secrets.html",
                  _ctx(request, access, secrets=list(selectors.secrets_for_repo(repo))))

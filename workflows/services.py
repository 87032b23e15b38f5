"""Writes for workflows: registry sync, starting runs, the job graph, cancel/rerun, secrets,
events and commit statuses. Execution of a job lives in workflows.executor.

Every state change of a run goes through `advance_run` (enqueue ready jobs, skip jobs whose
`if` is false, finalise when all jobs are done). Enqueues and wake-ups happen on commit.
"""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from repos import git
from repos.models import PullRequest, Repository
from takos.api.errors import BadRequest, Conflict, NotFound
from workflows import crypto
from workflows.contexts import github_context, group_result, jobs_by_key, needs_context
from workflows.engine import expressions as ex
from workflows.engine.definition import ancestors, parse_workflow, topological_order
from workflows.engine.matrix import MatrixError, display_suffix, expand
from workflows.engine.triggers import InputError, dispatch_inputs, pull_request_matches, push_matches
from workflows.models import (
    CommitStatus,
    Conclusion,
    Workflow,
    WorkflowArtifact,
    WorkflowJob,
    WorkflowRun,
    WorkflowRunAttempt,
    WorkflowRunEvent,
    WorkflowSecret,
    WorkflowStep,
)

logger = logging.getLogger("takos.workflows")

WORKFLOW_DIR = ".takos/workflows"
SECRET_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
ZERO_SHA = "0" * 40
TERMINAL_EVENT = "workflow.run.completed"


# --- events ---------------------------------------------------------------------------

def run_group(run_id: str) -> str:
    return f"workflow-run-{run_id}"


def emit(run_id: str, type: str, data: dict[str, Any]) -> WorkflowRunEvent:
    """Append an event row (per-run sequence) and wake live readers after commit."""
    with transaction.atomic():
        WorkflowRun.objects.filter(pk=run_id).update(last_event_seq=F("last_event_seq") + 1)
        seq = WorkflowRun.objects.values_list("last_event_seq", flat=True).get(pk=run_id)
        event = WorkflowRunEvent.objects.create(run_id=run_id, seq=seq, type=type, data=data)
        transaction.on_commit(lambda: _wake(run_group(run_id)))
    return event


def _wake(group: str) -> None:
    from takos import layer

    layer.group_send(group, {"type": "wake"})  # best effort: the DB poll is the safety net


def job_out(job: WorkflowJob) -> dict[str, Any]:
    return {"id": job.id, "job_key": job.job_key, "name": job.name, "status": job.status,
            "conclusion": job.conclusion or None, "run_attempt": job.run_attempt}


# --- registry ---------------------------------------------------------------------------

def list_workflow_files(repo: Repository, ref: str) -> list[str]:
    return [e["path"] for e in git.list_tree(repo, ref, WORKFLOW_DIR)
            if e["type"] == "blob" and e["name"].endswith((".yml", ".yaml"))]


def sync_workflow(*, repo: Repository, path: str, ref: str | None = None) -> Workflow | None:
    """Re-parse one workflow file at `ref` (default branch); deletes the entry if the file is gone."""
    ref = ref or repo.default_branch
    sha = git.resolve_ref(repo, ref) or ""
    content = git.read_blob(repo, ref, path) if sha else None
    if content is None:
        Workflow.objects.filter(repo=repo, path=path).delete()
        return None
    result = parse_workflow(content)
    text = content.decode("utf-8", errors="replace")
    defaults = {
        "content": text, "definition": result.definition, "is_valid": result.valid, "errors": result.errors,
        "triggers": (result.definition or {}).get("on", {}),
        "name": ((result.definition or {}).get("name") or "")[:255], "ref": ref, "sha": sha,
        "parsed_at": timezone.now(),
    }
    workflow, _ = Workflow.objects.update_or_create(repo=repo, path=path, defaults=defaults)
    return workflow


def sync_all(*, repo: Repository, ref: str | None = None) -> list[Workflow]:
    ref = ref or repo.default_branch
    paths = list_workflow_files(repo, ref)
    Workflow.objects.filter(repo=repo).exclude(path__in=paths).delete()
    return [w for w in (sync_workflow(repo=repo, path=p, ref=ref) for p in paths) if w is not None]


def delete_workflow(*, workflow: Workflow) -> None:
    workflow.delete()


# --- secrets ----------------------------------------------------------------------------

def secret_put(*, repo: Repository, name: str, value: str) -> WorkflowSecret:
    if not SECRET_NAME_RE.match(name or ""):
        raise BadRequest("Secret names must match ^[A-Z_][A-Z0-9_]*$.",
                         details={"fields": {"name": ["Must match ^[A-Z_][A-Z0-9_]*$."]}})
    if name.startswith(("GITHUB_", "TAKOS_")):
        raise BadRequest("Secret names may not start with GITHUB_ or TAKOS_.")
    if len(value.encode()) > 64 * 1024:
        raise BadRequest("A secret may hold at most 64 KB.")
    secret, _ = WorkflowSecret.objects.update_or_create(
        repo=repo, name=name, defaults={"encrypted_value": crypto.encrypt(value)})
    return secret


def secret_delete(*, repo: Repository, name: str) -> None:
    deleted, _ = WorkflowSecret.objects.filter(repo=repo, name=name).delete()
    if not deleted:
        raise NotFound("Secret not found.")


def secrets_for_run(run: WorkflowRun) -> dict[str, str]:
    """Decrypted secrets for a run; none for runs triggered from forks."""
    if run.from_fork:
        return {}
    out = {}
    for secret in WorkflowSecret.objects.filter(repo_id=run.repo_id):
        try:
            out[secret.name] = crypto.decrypt(secret.encrypted_value)
        except crypto.SecretDecryptError:
            logger.warning("secret %s of repo %s cannot be decrypted", secret.name, run.repo_id)
    return out


# --- commit statuses ----------------------------------------------------------------------

_STATE = {Conclusion.SUCCESS: CommitStatus.State.SUCCESS, Conclusion.SKIPPED: CommitStatus.State.SUCCESS,
          Conclusion.FAILURE: CommitStatus.State.FAILURE, Conclusion.CANCELLED: CommitStatus.State.ERROR}


def set_status(*, run: WorkflowRun, context: str, conclusion: str | None, description: str = "") -> None:
    if not run.sha:
        return
    state = _STATE.get(conclusion, CommitStatus.State.PENDING) if conclusion else CommitStatus.State.PENDING
    CommitStatus.objects.update_or_create(
        repo_id=run.repo_id, sha=run.sha, context=context[:255],
        defaults={"state": state, "description": description[:255], "run": run,
                  "target_url": f"/repos/{run.repo_id}/actions/runs/{run.id}"})


def run_context_name(run: WorkflowRun) -> str:
    return run.name or run.workflow_path.rsplit("/", 1)[-1]


def job_context_name(run: WorkflowRun, job: WorkflowJob) -> str:
    return f"{run_context_name(run)} / {job.name}"


def pr_checks(repo: Repository, pr: PullRequest, required: list[str]) -> tuple[bool, str]:
    """Status checker for repos.services.required_checks_passed: each required name must have a
    successful status on the PR head commit (a context equal to the name, or '<workflow> / <name>')."""
    head = git.resolve_ref(repo, f"refs/heads/{pr.head_branch}")
    if head is None:
        return False, "The head branch no longer exists."
    statuses = list(CommitStatus.objects.filter(repo=repo, sha=head).order_by("-updated_at"))
    missing, failing = [], []
    for name in required:
        found = [s for s in statuses if s.context == name or s.context.endswith(f" / {name}")]
        if not found:
            missing.append(name)
        elif any(s.state != CommitStatus.State.SUCCESS for s in found):
            failing.append(name)
    if failing:
        return False, f"Required checks have not passed: {', '.join(failing)}."
    if missing:
        return False, f"Required checks have not run: {', '.join(missing)}."
    return True, ""


# --- starting runs ----------------------------------------------------------------------

def _render_group(raw: dict[str, Any] | None, contexts: dict[str, Any]) -> tuple[str, bool]:
    if not raw:
        return "", False
    evaluator = ex.Evaluator(contexts)
    group = ex.render_str(raw["group"], evaluator)
    cip = raw.get("cancel_in_progress", False)
    cip_value = ex.truthy(ex.render(cip, evaluator)) if isinstance(cip, str) else bool(cip)
    return group[:255], cip_value


def uses_needs(value: Any) -> bool:
    """Does a (possibly nested) definition value hold an expression that reads `needs`?"""
    if isinstance(value, dict):
        return any(uses_needs(v) for v in value.values())
    if isinstance(value, list):
        return any(uses_needs(v) for v in value)
    if not ex.has_expression(value):
        return False
    try:
        return any(kind == "expr" and "needs" in ex.contexts_used(ex.parse(text))
                   for kind, text in ex.split_template(value))
    except ex.ExpressionError:
        return False


def _combo_fields(key: str, jdef: dict[str, Any], contexts: dict[str, Any],
                  combo: dict[str, Any]) -> tuple[str, str, str]:
    """(name, runs-on label, error) of one matrix combination."""
    evaluator = ex.Evaluator({**contexts, "matrix": combo, "strategy": {}})
    try:
        name = ex.render_str(jdef["name"], evaluator) if jdef.get("name") else key + display_suffix(combo)
        return name[:255], ex.render_str(jdef.get("runs_on") or "", evaluator)[:100], ""
    except ex.ExpressionError as exc:
        return (key + display_suffix(combo))[:255], "", str(exc)


def _combo_job(run: WorkflowRun, key: str, jdef: dict[str, Any], contexts: dict[str, Any], combo: dict[str, Any],
               index: int, *, attempt: int, error: str = "", now: Any = None) -> WorkflowJob:
    """Insert the job row (and its step rows) of one matrix combination."""
    name, label, problem = _combo_fields(key, jdef, contexts, combo)
    job = WorkflowJob.objects.create(
        run=run, run_attempt=attempt, job_key=key, name=name, matrix=combo or None, matrix_index=index,
        runner_name=label, queued_at=now or timezone.now(), error=error or problem,
    )
    _step_rows(job, jdef)
    return job


def _step_rows(job: WorkflowJob, jdef: dict[str, Any]) -> None:
    WorkflowStep.objects.bulk_create([
        WorkflowStep(job=job, number=s["index"] + 1, name=s["name"][:255], run_command=s.get("run") or "",
                     uses_action=s.get("uses") or "")
        for s in jdef["steps"]
    ])


def _job_rows(run: WorkflowRun, definition: dict[str, Any], contexts: dict[str, Any], *,
              keys: set[str] | None = None, attempt: int = 1) -> None:
    """One job row per job (per matrix combination) and one step row per step, for the jobs in
    `keys` (all by default). A matrix that reads `needs` gets one pending row, expanded by
    `advance_run` once those jobs completed."""
    now = timezone.now()
    for key in topological_order(definition["jobs"]):
        if keys is not None and key not in keys:
            continue
        jdef = definition["jobs"][key]
        error = ""
        combos: list[dict[str, Any]] = [{}]
        strategy = jdef.get("strategy")
        if strategy and strategy.get("matrix") is not None:
            if uses_needs(strategy["matrix"]):
                pending = WorkflowJob.objects.create(run=run, run_attempt=attempt, job_key=key, name=key[:255],
                                                     matrix_pending=True, queued_at=now)
                _step_rows(pending, jdef)
                continue
            try:
                matrix = ex.render(strategy["matrix"], ex.Evaluator({**contexts, "needs": {}}))
                if not isinstance(matrix, dict):
                    raise MatrixError("strategy.matrix must evaluate to a mapping")
                combos = expand(matrix)
            except (MatrixError, ex.ExpressionError) as exc:
                error = f"Invalid matrix: {exc}"
                combos = [{}]
        for index, combo in enumerate(combos):
            _combo_job(run, key, jdef, {**contexts, "needs": {}}, combo, index, attempt=attempt, error=error,
                       now=now)


def _expand_pending_matrix(run: WorkflowRun, jdef: dict[str, Any], job: WorkflowJob,
                           grouped: dict[str, list[WorkflowJob]]) -> list[WorkflowJob]:
    """The needs of a `matrix: ${{ fromJSON(needs.x.outputs.y) }}` job completed: evaluate the
    matrix and turn the pending row into the first combination plus one new row per other one.
    Raises MatrixError (the job fails with that message) for bad JSON, a non-mapping, no values."""
    github = github_context(run, job_key=job.job_key)
    contexts = {"github": github, "takos": github, "inputs": run.inputs, "vars": {},
                "needs": needs_context(grouped, jdef["needs"])}
    try:
        matrix = ex.render(jdef["strategy"]["matrix"], ex.Evaluator(contexts))
    except ex.ExpressionError as exc:
        raise MatrixError(str(exc)) from None
    if not isinstance(matrix, dict):
        raise MatrixError(f"strategy.matrix must evaluate to a mapping, not {ex.to_json(matrix)[:200]}")
    combos = expand(matrix)
    # The pending row (with its steps) becomes the first combination; the others get new rows.
    job.name, job.runner_name, job.error = _combo_fields(job.job_key, jdef, contexts, combos[0])
    job.matrix, job.matrix_pending = combos[0] or None, False
    job.save(update_fields=["name", "runner_name", "error", "matrix", "matrix_pending", "updated_at"])
    now = timezone.now()
    return [job] + [_combo_job(run, job.job_key, jdef, contexts, combo, index, attempt=job.run_attempt, now=now)
                    for index, combo in enumerate(combos[1:], start=1)]


def create_run(*, repo: Repository, workflow_path: str, definition: dict[str, Any], event: str, ref: str, sha: str,
               actor: Any = None, inputs: dict[str, Any] | None = None, payload: dict[str, Any] | None = None,
               from_fork: bool = False, workflow: Workflow | None = None) -> WorkflowRun:
    """Insert a run with its jobs and steps, apply run concurrency, and schedule the first jobs."""
    with transaction.atomic():
        # Lock the repository row so run numbers per (repo, path) never collide.
        Repository.objects.select_for_update().filter(pk=repo.pk).first()
        number = (WorkflowRun.objects.filter(repo=repo, workflow_path=workflow_path)
                  .aggregate(n=Max("run_number"))["n"] or 0) + 1
        run = WorkflowRun.objects.create(
            repo=repo, workflow=workflow, workflow_path=workflow_path, name=(definition.get("name") or "")[:255],
            event=event, ref=ref, sha=sha, actor=actor if actor is not None and actor.is_authenticated else None,
            inputs=inputs or {}, run_number=number, definition=definition, event_payload=payload or {},
            from_fork=from_fork, queued_at=timezone.now(),
        )
        run.repo = repo
        contexts = {"github": github_context(run), "inputs": run.inputs, "vars": {}}
        contexts["takos"] = contexts["github"]
        if definition.get("run_name"):
            with contextlib.suppress(ex.ExpressionError):
                run.name = ex.render_str(definition["run_name"], ex.Evaluator(contexts))[:255] or run.name
        group, cancel_in_progress = "", False
        try:
            group, cancel_in_progress = _render_group(definition.get("concurrency"), contexts)
        except ex.ExpressionError as exc:
            run.error = f"concurrency: {exc}"
        run.concurrency_group = group
        run.save(update_fields=["name", "concurrency_group", "error"])
        _job_rows(run, definition, contexts)
        emit(run.id, "workflow.run.queued", {"run_id": run.id, "run_number": number, "event": event})
        set_status(run=run, context=run_context_name(run), conclusion=None, description="Queued")
        if group:
            others = WorkflowRun.objects.filter(repo=repo, concurrency_group=group).exclude(pk=run.pk).exclude(
                status__in=WorkflowRun.TERMINAL)
            if cancel_in_progress:
                for other in others:
                    cancel_run(run=other, reason=f"Cancelled by run #{number} in concurrency group '{group}'.")
            elif others.exists():
                # Only one run may wait per group: an older waiting one is replaced by this one.
                for other in others.filter(status=WorkflowRun.Status.WAITING):
                    cancel_run(run=other, reason=f"Replaced by run #{number} in concurrency group '{group}'.")
                if others.exclude(status=WorkflowRun.Status.WAITING).exists():
                    run.status = WorkflowRun.Status.WAITING
                    run.save(update_fields=["status"])
                    emit(run.id, "workflow.run.waiting", {"concurrency_group": group})
                    return run
        advance_run(run.id)
    return run


def _definition_at(repo: Repository, sha: str, path: str) -> dict[str, Any] | None:
    content = git.read_blob(repo, sha, path)
    if content is None:
        return None
    result = parse_workflow(content)
    return result.definition if result.valid else None


def _changed_paths(repo: Repository, old: str, new: str) -> list[str] | None:
    if not old or old == ZERO_SHA:
        return None
    proc = git.run(repo, "diff", "--name-only", "-z", old, new, check=False)
    if proc.returncode != 0:
        return None
    return [p.decode(errors="replace") for p in proc.stdout.split(b"\0") if p]


def _has_path_filters(definition: dict[str, Any]) -> bool:
    push = (definition.get("on") or {}).get("push") or {}
    return bool(push.get("paths") or push.get("paths_ignore"))


def on_push(*, repo: Repository, pusher: Any, ref_updates: list[tuple[str, str, str]],
            sync_registry: bool = True) -> list[WorkflowRun]:
    """Start matching `push` runs (and `synchronize` runs of open PRs whose head moved), then
    sync the registry when the default branch moved. Runs come first: they are what a pusher
    waits for."""
    runs: list[WorkflowRun] = []
    for ref, old, new in ref_updates:
        if new == ZERO_SHA or not ref.startswith(("refs/heads/", "refs/tags/")):
            continue
        changed: list[str] | None = None
        changed_known = False
        for path in list_workflow_files(repo, new):
            definition = _definition_at(repo, new, path)
            if definition is None:
                continue
            if ref.startswith("refs/heads/") and not changed_known and _has_path_filters(definition):
                changed, changed_known = _changed_paths(repo, old, new), True
            if not push_matches(definition["on"], ref, changed):
                continue
            workflow = Workflow.objects.filter(repo=repo, path=path).first()
            payload = {"ref": ref, "before": old, "after": new, "repository": {"id": repo.id, "full_name": repo.full_name},
                       "pusher": {"name": getattr(pusher, "username", "") if pusher else ""}}
            runs.append(create_run(repo=repo, workflow_path=path, definition=definition, event="push", ref=ref,
                                   sha=new, actor=pusher, payload=payload, workflow=workflow))
        # Pull requests whose head moved get `synchronize` runs.
        if ref.startswith("refs/heads/") and old != ZERO_SHA:
            for pr in PullRequest.objects.filter(repo=repo, head_branch=ref[len("refs/heads/"):],
                                                 status=PullRequest.Status.OPEN):
                runs.extend(on_pull_request(pr=pr, action="synchronize", actor=pusher))
    default_ref = f"refs/heads/{repo.default_branch}"
    if sync_registry and any(ref == default_ref for ref, _, _ in ref_updates):
        sync_all(repo=repo)
    return runs


def on_pull_request(*, pr: PullRequest, action: str, actor: Any = None) -> list[WorkflowRun]:
    """Start `pull_request` runs for the PR head (opened / synchronize / reopened / closed ...)."""
    repo = pr.repo
    head = git.resolve_ref(repo, f"refs/heads/{pr.head_branch}")
    if head is None:
        return []
    base = git.resolve_ref(repo, f"refs/heads/{pr.base_branch}")
    changed = None
    if base is not None:
        mb = git.merge_base(repo, base, head)
        changed = _changed_paths(repo, mb, head) if mb else None
    runs = []
    for path in list_workflow_files(repo, head):
        definition = _definition_at(repo, head, path)
        if definition is None or not pull_request_matches(definition["on"], action=action,
                                                          base_branch=pr.base_branch, changed=changed):
            continue
        payload = {"action": action, "number": pr.number, "pull_request": {
            "number": pr.number, "title": pr.title, "head": {"ref": pr.head_branch, "sha": head},
            "base": {"ref": pr.base_branch, "sha": base or ""}}}
        runs.append(create_run(
            repo=repo, workflow_path=path, definition=definition, event="pull_request",
            ref=f"refs/pull/{pr.number}/head", sha=head, actor=actor or pr.author, payload=payload,
            # Head branches live in the same repository here; a fork flag would come from the PR.
            from_fork=bool(getattr(pr, "head_repo_id", None) and pr.head_repo_id != repo.id),
            workflow=Workflow.objects.filter(repo=repo, path=path).first()))
    return runs


def dispatch_run(*, repo: Repository, actor: Any, workflow_ref: str, ref: str | None = None,
                 inputs: dict[str, Any] | None = None) -> WorkflowRun:
    """`workflow_dispatch`: `workflow_ref` is a path, a file name or the workflow's name."""
    ref = ref or repo.default_branch
    sha = git.resolve_ref(repo, ref)
    if sha is None:
        raise BadRequest(f"Ref '{ref}' does not exist.", details={"fields": {"ref": ["Unknown ref."]}})
    full_ref = ref if ref.startswith("refs/") else (
        f"refs/heads/{ref}" if git.resolve_ref(repo, f"refs/heads/{ref}") else f"refs/tags/{ref}")
    paths = list_workflow_files(repo, sha)
    wanted = workflow_ref.strip()
    path = next((p for p in paths if p == wanted or p.rsplit("/", 1)[-1] == wanted
                 or p.rsplit("/", 1)[-1].rsplit(".", 1)[0] == wanted), None)
    if path is None:
        registry = Workflow.objects.filter(repo=repo, name=wanted).first()
        path = registry.path if registry and registry.path in paths else None
    if path is None:
        raise NotFound(f"Workflow '{workflow_ref}' not found at {ref}.")
    content = git.read_blob(repo, sha, path) or b""
    result = parse_workflow(content)
    if not result.valid:
        raise BadRequest(f"The workflow {path} is invalid: {result.errors[0]}", details={"errors": result.errors})
    try:
        values = dispatch_inputs(result.definition["on"], inputs or {})
    except InputError as exc:
        raise BadRequest(str(exc), details={"fields": {"inputs": [str(exc)]}}) from None
    return create_run(repo=repo, workflow_path=path, definition=result.definition, event="workflow_dispatch",
                      ref=full_ref, sha=sha, actor=actor, inputs=values, payload={"inputs": values},
                      workflow=Workflow.objects.filter(repo=repo, path=path).first())


def schedule_tick(*, now: Any = None) -> list[WorkflowRun]:
    """Start `schedule` runs whose cron matches this minute (on the default branch; once per minute)."""
    from workflows.engine.filters import cron_matches

    now = (now or timezone.now()).replace(second=0, microsecond=0)
    runs = []
    for workflow in Workflow.objects.filter(is_valid=True).select_related("repo", "repo__space"):
        crons = (workflow.triggers or {}).get("schedule") or []
        if not any(cron_matches(item["cron"], now) for item in crons):
            continue
        if WorkflowRun.objects.filter(repo=workflow.repo, workflow_path=workflow.path, event="schedule",
                                      created_at__gte=now).exists():
            continue  # this minute already fired (beat may tick twice)
        repo = workflow.repo
        sha = git.resolve_ref(repo, f"refs/heads/{repo.default_branch}")
        definition = _definition_at(repo, sha, workflow.path) if sha else None
        if definition is None:
            continue
        runs.append(create_run(repo=repo, workflow_path=workflow.path, definition=definition, event="schedule",
                               ref=f"refs/heads/{repo.default_branch}", sha=sha, workflow=workflow,
                               payload={"schedule": [c["cron"] for c in crons]}))
    return runs


# --- the job graph ----------------------------------------------------------------------

def _complete_job(job: WorkflowJob, conclusion: str, *, error: str = "") -> None:
    now = timezone.now()
    job.status, job.conclusion, job.completed_at = WorkflowJob.Status.COMPLETED, conclusion, now
    job.matrix_pending = False  # a matrix that never got its values stays one row
    if error:
        job.error = error[:2000]
    job.save(update_fields=["status", "conclusion", "completed_at", "error", "matrix_pending", "updated_at"])
    WorkflowStep.objects.filter(job=job, status__in=[WorkflowStep.Status.PENDING]).update(
        status=WorkflowStep.Status.SKIPPED, conclusion=Conclusion.SKIPPED)


def _job_if(run: WorkflowRun, jdef: dict[str, Any], job: WorkflowJob,
            grouped: dict[str, list[WorkflowJob]]) -> bool:
    results = [group_result(grouped.get(k, [])) for k in ancestors(run.definition["jobs"], job.job_key)]
    status = ex.Status(success=all(r == Conclusion.SUCCESS for r in results),
                       failure=any(r == Conclusion.FAILURE for r in results),
                       cancelled=run.cancel_requested_at is not None)
    github = github_context(run, job_key=job.job_key)
    contexts = {"github": github, "takos": github, "inputs": run.inputs, "vars": {},
                "needs": needs_context(grouped, jdef["needs"])}
    return ex.condition(jdef.get("if"), ex.Evaluator(contexts, status=status))


def advance_run(run_id: str) -> None:
    """Move a run forward: skip or enqueue jobs whose needs are done; finalise when all are done."""
    from workflows import tasks

    with transaction.atomic():
        run = WorkflowRun.objects.select_for_update(of=("self",)).select_related("repo", "repo__space", "actor").filter(
            pk=run_id).first()
        if run is None or run.is_terminal or run.status == WorkflowRun.Status.WAITING:
            return
        jobs = list(run.attempt_jobs())
        changed = True
        while changed:
            changed = False
            grouped = jobs_by_key(jobs)
            for job in jobs:
                if job.status != WorkflowJob.Status.QUEUED or job.enqueued_at is not None:
                    continue
                jdef = run.definition["jobs"].get(job.job_key)
                if jdef is None:
                    _complete_job(job, Conclusion.FAILURE, error="The job is missing from the workflow snapshot.")
                    changed = True
                    continue
                if any(j.status != WorkflowJob.Status.COMPLETED for k in jdef["needs"] for j in grouped.get(k, [])):
                    continue
                if run.cancel_requested_at is not None:
                    _complete_job(job, Conclusion.CANCELLED)
                    changed = True
                    continue
                if job.error:  # matrix / name errors found at creation
                    _complete_job(job, Conclusion.FAILURE)
                    emit(run.id, "workflow.job.completed", job_out(job))
                    changed = True
                    continue
                try:
                    run_it = _job_if(run, jdef, job, grouped)
                except ex.ExpressionError as exc:
                    _complete_job(job, Conclusion.FAILURE, error=f"Error in 'if': {exc}")
                    emit(run.id, "workflow.job.completed", job_out(job))
                    changed = True
                    continue
                if not run_it:
                    _complete_job(job, Conclusion.SKIPPED)
                    emit(run.id, "workflow.job.completed", job_out(job))
                    changed = True
                    continue
                if job.matrix_pending:
                    try:
                        expanded = _expand_pending_matrix(run, jdef, job, grouped)
                    except MatrixError as exc:
                        error = f"Invalid matrix from the outputs of {', '.join(jdef['needs'])}: {exc}"
                        _complete_job(job, Conclusion.FAILURE, error=error)
                        set_status(run=run, context=job_context_name(run, job), conclusion=Conclusion.FAILURE,
                                   description=error[:200])
                        emit(run.id, "workflow.job.completed", job_out(job))
                        changed = True
                        continue
                    jobs.extend(expanded[1:])
                    emit(run.id, "workflow.job.matrix", {"job_key": job.job_key, "jobs": [job_out(j) for j in expanded]})
                    changed = True
                    break  # the job list grew: start the pass again
                if not _may_start(run, jdef, job, jobs, grouped):
                    continue
                job.enqueued_at = timezone.now()
                job.save(update_fields=["enqueued_at", "concurrency_group", "status", "updated_at"])
                job_id = job.id
                transaction.on_commit(lambda job_id=job_id: tasks.execute_job.delay(job_id))
        if all(j.status == WorkflowJob.Status.COMPLETED for j in jobs):
            _finalize(run, jobs)


def _active(job: WorkflowJob) -> bool:
    return job.status == WorkflowJob.Status.IN_PROGRESS or (
        job.status == WorkflowJob.Status.QUEUED and job.enqueued_at is not None)


def _may_start(run: WorkflowRun, jdef: dict[str, Any], job: WorkflowJob, jobs: list[WorkflowJob],
               grouped: dict[str, list[WorkflowJob]]) -> bool:
    """`strategy.max-parallel` and job-level `concurrency`: False keeps the job back for now."""
    max_parallel = (jdef.get("strategy") or {}).get("max_parallel")
    if max_parallel and sum(1 for j in grouped.get(job.job_key, []) if _active(j)) >= max_parallel:
        return False
    if not jdef.get("concurrency"):
        return True
    github = github_context(run, job_key=job.job_key)
    contexts = {"github": github, "takos": github, "inputs": run.inputs, "vars": {}, "matrix": job.matrix or {},
                "needs": needs_context(grouped, jdef["needs"]), "strategy": {}}
    try:
        group, cancel_in_progress = _render_group(jdef["concurrency"], contexts)
    except ex.ExpressionError:
        return True
    if not group:
        return True
    job.concurrency_group = group
    others = WorkflowJob.objects.filter(run__repo_id=run.repo_id, concurrency_group=group).exclude(pk=job.pk).filter(
        Q(status=WorkflowJob.Status.IN_PROGRESS) | Q(status=WorkflowJob.Status.QUEUED, enqueued_at__isnull=False))
    if not others.exists():
        return True
    if cancel_in_progress:
        reason = f"Cancelled by a newer job in concurrency group '{group}'."
        for other in others.select_related("run"):
            if other.status == WorkflowJob.Status.QUEUED and other.lease_id == "":
                _complete_job(other, Conclusion.CANCELLED, error=reason)
                emit(other.run_id, "workflow.job.completed", job_out(other))
                other_run = other.run_id
                transaction.on_commit(lambda other_run=other_run: advance_run(other_run))
            else:
                WorkflowJob.objects.filter(pk=other.pk).update(error=reason)  # its executor stops it
        return True
    job.status = WorkflowJob.Status.WAITING
    job.save(update_fields=["status", "concurrency_group", "updated_at"])
    emit(run.id, "workflow.job.waiting", {**job_out(job), "concurrency_group": group})
    return False


def _release_group(job: WorkflowJob) -> None:
    """A job of a concurrency group ended: the oldest waiting job of that group may start."""
    if not job.concurrency_group:
        return
    waiting = WorkflowJob.objects.filter(run__repo_id=job.run.repo_id, concurrency_group=job.concurrency_group,
                                         status=WorkflowJob.Status.WAITING).order_by("created_at").first()
    if waiting is not None:
        WorkflowJob.objects.filter(pk=waiting.pk).update(status=WorkflowJob.Status.QUEUED)
        run_id = waiting.run_id
        transaction.on_commit(lambda: advance_run(run_id))


def _failure_allowed(run: WorkflowRun, job: WorkflowJob) -> bool:
    """Job-level `continue-on-error` (often `${{ matrix.experimental }}`): its failure does not fail the run."""
    cont = (run.definition["jobs"].get(job.job_key) or {}).get("continue_on_error", False)
    if isinstance(cont, str):
        github = github_context(run, job_key=job.job_key)
        try:
            return ex.truthy(ex.render(cont, ex.Evaluator({"github": github, "takos": github, "inputs": run.inputs,
                                                           "vars": {}, "matrix": job.matrix or {}, "needs": {},
                                                           "strategy": {}})))
        except ex.ExpressionError:
            return False
    return bool(cont)


def _finalize(run: WorkflowRun, jobs: list[WorkflowJob]) -> None:
    conclusions = {j.conclusion for j in jobs
                   if not (j.conclusion == Conclusion.FAILURE and _failure_allowed(run, j))}
    if run.cancel_requested_at is not None:
        conclusion = Conclusion.CANCELLED
    elif Conclusion.FAILURE in conclusions:
        conclusion = Conclusion.FAILURE
    elif Conclusion.CANCELLED in conclusions:
        conclusion = Conclusion.CANCELLED
    else:
        conclusion = Conclusion.SUCCESS
    now = timezone.now()
    updated = WorkflowRun.objects.filter(pk=run.pk).exclude(status__in=WorkflowRun.TERMINAL).update(
        status=WorkflowRun.Status.COMPLETED, conclusion=conclusion, completed_at=now, updated_at=now)
    if not updated:
        return
    run.status, run.conclusion, run.completed_at = WorkflowRun.Status.COMPLETED, conclusion, now
    set_status(run=run, context=run_context_name(run), conclusion=conclusion, description=f"Run {conclusion}")
    emit(run.id, TERMINAL_EVENT, {"run_id": run.id, "status": run.status, "conclusion": conclusion,
                                  "run_attempt": run.run_attempt})
    if run.concurrency_group:
        waiting = WorkflowRun.objects.filter(repo_id=run.repo_id, concurrency_group=run.concurrency_group,
                                             status=WorkflowRun.Status.WAITING).order_by("created_at").first()
        if waiting is not None:
            WorkflowRun.objects.filter(pk=waiting.pk).update(status=WorkflowRun.Status.QUEUED)
            emit(waiting.id, "workflow.run.queued", {"run_id": waiting.id, "after": run.id})
            waiting_id = waiting.id
            transaction.on_commit(lambda: advance_run(waiting_id))


def job_finished(*, job: WorkflowJob, conclusion: str, error: str = "") -> None:
    """Called by the executor when a job ends; records statuses and advances the run."""
    with transaction.atomic():
        _complete_job(job, conclusion, error=error)
        run = job.run
        set_status(run=run, context=job_context_name(run, job), conclusion=conclusion,
                   description=error[:200] if error else f"Job {conclusion}")
        emit(run.id, "workflow.job.completed", job_out(job))
        _release_group(job)
        strategy = (run.definition["jobs"].get(job.job_key) or {}).get("strategy") or {}
        if conclusion == Conclusion.FAILURE and job.matrix is not None and strategy.get("fail_fast", True) is not False:
            # fail-fast: the other combinations of this matrix are cancelled.
            for other in run.attempt_jobs(job.run_attempt).filter(job_key=job.job_key).exclude(pk=job.pk).exclude(
                    status=WorkflowJob.Status.COMPLETED):
                if other.status == WorkflowJob.Status.QUEUED and other.lease_id == "":
                    _complete_job(other, Conclusion.CANCELLED, error="Cancelled by fail-fast.")
                    emit(run.id, "workflow.job.completed", job_out(other))
                else:
                    WorkflowJob.objects.filter(pk=other.pk).update(error="Cancelled by fail-fast.")
    advance_run(job.run_id)


# --- cancel / rerun -------------------------------------------------------------------------

def cancel_run(*, run: WorkflowRun, reason: str = "") -> WorkflowRun:
    """Request cancellation: queued jobs end now; running jobs are stopped by their executor."""
    if run.is_terminal:
        raise Conflict("The run has already completed.")
    with transaction.atomic():
        now = timezone.now()
        WorkflowRun.objects.filter(pk=run.pk, cancel_requested_at__isnull=True).update(
            cancel_requested_at=now, error=reason[:2000] or F("error"))
        run.refresh_from_db()
        for job in run.attempt_jobs().filter(status__in=[WorkflowJob.Status.QUEUED, WorkflowJob.Status.WAITING],
                                             lease_id=""):
            _complete_job(job, Conclusion.CANCELLED)
            set_status(run=run, context=job_context_name(run, job), conclusion=Conclusion.CANCELLED)
            emit(run.id, "workflow.job.completed", job_out(job))
        emit(run.id, "workflow.run.cancelling", {"run_id": run.id, "reason": reason})
        if run.status == WorkflowRun.Status.WAITING:
            WorkflowRun.objects.filter(pk=run.pk).update(status=WorkflowRun.Status.QUEUED)
            run.status = WorkflowRun.Status.QUEUED
        jobs = list(run.attempt_jobs())
        if all(j.status == WorkflowJob.Status.COMPLETED for j in jobs):
            _finalize(run, jobs)
    run.refresh_from_db()
    return run


def _carry_over(job: WorkflowJob, attempt: int) -> WorkflowJob:
    """Copy a successful job (its steps and artifacts) into a new attempt: re-running failed jobs
    reuses its result, outputs, log and artifacts instead of running it again."""
    source_id = job.reused_from_id or job.id
    copy = WorkflowJob.objects.create(
        run_id=job.run_id, run_attempt=attempt, reused_from_id=source_id, job_key=job.job_key, name=job.name,
        matrix=job.matrix, matrix_index=job.matrix_index, status=job.status, conclusion=job.conclusion,
        runner_id=job.runner_id, runner_name=job.runner_name, queued_at=job.queued_at, started_at=job.started_at,
        completed_at=job.completed_at, logs_r2_key=job.logs_r2_key, log_size=job.log_size, outputs=job.outputs,
        error=job.error, enqueued_at=job.enqueued_at, attempts=job.attempts,
    )
    WorkflowStep.objects.bulk_create([
        WorkflowStep(job=copy, number=st.number, name=st.name, status=st.status, conclusion=st.conclusion,
                     outcome=st.outcome, run_command=st.run_command, uses_action=st.uses_action,
                     exit_code=st.exit_code, error_message=st.error_message, outputs=st.outputs,
                     log_offset=st.log_offset, started_at=st.started_at, completed_at=st.completed_at)
        for st in job.steps.all()
    ])
    WorkflowArtifact.objects.bulk_create([
        WorkflowArtifact(run_id=a.run_id, run_attempt=attempt, job=copy, name=a.name, r2_key=a.r2_key,
                         size_bytes=a.size_bytes, file_count=a.file_count, mime_type=a.mime_type,
                         expires_at=a.expires_at)
        for a in WorkflowArtifact.objects.filter(run_id=job.run_id, run_attempt=job.run_attempt, job=job)
    ])
    return copy


def rerun_run(*, run: WorkflowRun, actor: Any = None, failed_only: bool = False) -> WorkflowRun:
    """A new attempt of a completed run: all jobs, or the failed/cancelled ones and their
    dependants. The finished attempt stays readable (its jobs, steps, logs and artifacts keep
    their rows); with `failed_only`, the other jobs are carried over with their results."""
    if not run.is_terminal:
        raise Conflict("The run is still in progress; cancel it first or wait for it to finish.")
    with transaction.atomic():
        locked = WorkflowRun.objects.select_for_update(of=("self",)).select_related("repo", "repo__space", "actor")\
            .filter(pk=run.pk).first()
        if locked is None or not locked.is_terminal:
            raise Conflict("The run is still in progress; cancel it first or wait for it to finish.")
        run = locked
        jobs = list(run.attempt_jobs().prefetch_related("steps"))
        keys = set(run.definition["jobs"])
        if failed_only:
            bad = {j.job_key for j in jobs if j.conclusion in (Conclusion.FAILURE, Conclusion.CANCELLED)}
            if not bad:
                raise Conflict("The run has no failed jobs to re-run.")
            keys = set(bad)
            for key in run.definition["jobs"]:
                if ancestors(run.definition["jobs"], key) & bad:
                    keys.add(key)
        previous = run.run_attempt
        try:
            with transaction.atomic():
                WorkflowRunAttempt.objects.create(
                    run=run, run_attempt=previous, status=run.status, conclusion=run.conclusion, actor=run.actor,
                    queued_at=run.queued_at, started_at=run.started_at, completed_at=run.completed_at,
                    error=run.error)
        except IntegrityError:  # SQLite has no row locks: another re-run got here first
            raise Conflict("The run is being re-run already.") from None
        attempt = previous + 1
        now = timezone.now()
        WorkflowRun.objects.filter(pk=run.pk).update(
            status=WorkflowRun.Status.QUEUED, conclusion="", started_at=None, completed_at=None,
            cancel_requested_at=None, run_attempt=attempt, queued_at=now, error="",
            actor=actor if actor is not None and actor.is_authenticated else run.actor, updated_at=now)
        run.refresh_from_db()
        for job in jobs:
            if job.job_key not in keys:
                _carry_over(job, attempt)
        contexts = {"github": github_context(run), "inputs": run.inputs, "vars": {}}
        contexts["takos"] = contexts["github"]
        _job_rows(run, run.definition, contexts, keys=keys, attempt=attempt)
        set_status(run=run, context=run_context_name(run), conclusion=None, description="Re-run queued")
        emit(run.id, "workflow.run.queued", {"run_id": run.id, "run_attempt": attempt, "failed_only": failed_only})
        advance_run(run.id)
    run.refresh_from_db()
    return run


# --- artifacts ------------------------------------------------------------------------------

def artifact_delete(*, artifact: WorkflowArtifact) -> None:
    from django.core.files.storage import default_storage

    key = artifact.r2_key
    artifact.delete()
    if WorkflowArtifact.objects.filter(r2_key=key).exists():
        return  # a re-run carried it over: another attempt still lists the same object
    transaction.on_commit(lambda: default_storage.delete(key) if default_storage.exists(key) else None)


def purge_expired_artifacts(*, now: Any = None, batch: int = 500) -> int:
    """Delete artifacts past their retention (batch of 500 per call; beat calls it hourly)."""
    now = now or timezone.now()
    count = 0
    for artifact in WorkflowArtifact.objects.filter(expires_at__lt=now)[:batch]:
        artifact_delete(artifact=artifact)
        count += 1
    return count


# --- recovery ----------------------------------------------------------------------------

def recover_jobs(*, now: Any = None) -> dict[str, int]:
    """Jobs whose executor stopped heartbeating are requeued (or failed after MAX_ATTEMPTS);
    jobs enqueued long ago but never claimed are enqueued again (a lost broker message)."""
    from workflows import tasks

    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0, "reenqueued": 0}
    stale = now - timedelta(seconds=settings.TAKOS_WORKFLOW_LEASE_SECONDS)
    for job in WorkflowJob.objects.filter(status=WorkflowJob.Status.IN_PROGRESS).filter(
            Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)).select_related("run")[:50]:
        _stop_job_containers(job.id)
        lost = WorkflowJob.objects.filter(pk=job.pk, lease_id=job.lease_id, status=WorkflowJob.Status.IN_PROGRESS)
        if job.attempts >= settings.TAKOS_WORKFLOW_MAX_ATTEMPTS or job.run.cancel_requested_at is not None:
            if lost.update(lease_id=""):
                job.refresh_from_db()
                conclusion = Conclusion.CANCELLED if job.run.cancel_requested_at else Conclusion.FAILURE
                job_finished(job=job, conclusion=conclusion,
                             error="" if conclusion == Conclusion.CANCELLED else
                             "The job's worker stopped responding and the job ran out of attempts.")
                counts["failed"] += 1
            continue
        if lost.update(status=WorkflowJob.Status.QUEUED, lease_id="", heartbeat_at=None, enqueued_at=now):
            from workflows.logs import delete_log

            delete_log(job)
            WorkflowStep.objects.filter(job=job).update(status=WorkflowStep.Status.PENDING, conclusion="", outcome="",
                                                        exit_code=None, started_at=None, completed_at=None)
            emit(job.run_id, "workflow.job.requeued", {"id": job.id, "attempts": job.attempts})
            job_id = job.id
            transaction.on_commit(lambda job_id=job_id: tasks.execute_job.delay(job_id))
            counts["requeued"] += 1
    lost_msgs = WorkflowJob.objects.filter(status=WorkflowJob.Status.QUEUED, enqueued_at__lt=now - timedelta(minutes=10))
    for job_id in lost_msgs.values_list("id", flat=True)[:50]:
        WorkflowJob.objects.filter(pk=job_id).update(enqueued_at=now)
        transaction.on_commit(lambda job_id=job_id: tasks.execute_job.delay(job_id))
        counts["reenqueued"] += 1
    # Runs whose jobs all finished but that were never finalised (a crash between the two writes).
    for run_id in WorkflowRun.objects.filter(status__in=[WorkflowRun.Status.QUEUED, WorkflowRun.Status.IN_PROGRESS],
                                             updated_at__lt=now - timedelta(minutes=1)).exclude(
            jobs__status__in=[WorkflowJob.Status.QUEUED, WorkflowJob.Status.IN_PROGRESS,
                              WorkflowJob.Status.WAITING]).values_list("id", flat=True)[:50]:
        advance_run(run_id)
    return counts


def _stop_job_containers(job_id: str) -> None:
    from hosts.drivers import DriverError, DriverUnavailable, get_driver

    try:
        driver = get_driver()
        for handle in driver.list(owner=f"job:{job_id}"):
            driver.stop(handle, timeout=5)
    except (DriverError, DriverUnavailable):
        logger.warning("could not stop containers of job %s", job_id, exc_info=True)


def job_container_wanted(job_id: str, handle: Any) -> bool:
    """hosts recovery owner check for "job:<id>" containers."""
    return WorkflowJob.objects.filter(pk=job_id, status=WorkflowJob.Status.IN_PROGRESS).exists()

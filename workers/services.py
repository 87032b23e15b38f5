"""Writes for apps and deployments: create, run the pipeline, roll out, roll back, custom domains.

Traffic moves only by changing the service's pointers (`active_deployment`,
`canary_deployment` + `canary_weight`, `fallback_deployment`) in one transaction with the
service row locked; dispatch drops its cached route when the `routes_changed` hook fires
on commit. A rollback is such a pointer flip to a runtime that is still warm (or started
from its kept source), never a rebuild.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import shutil
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Space, User
from services.crypto import decrypt, encrypt, encrypt_json
from services.models import Service
from services.selectors import runtime_env
from takos.api.errors import BadRequest, Conflict, NotFound
from workers import runtime as rt
from workers.artifacts import ArtifactPending
from workers.manifest import MANIFEST_PATH, Manifest, ManifestError, RolloutConfig, Workload, parse_manifest
from workers.manifest import validate_steps as _validate_steps
from workers.models import (
    App,
    Deployment,
    DeploymentEvent,
    ManagedToken,
    Rollout,
    RuntimeSettings,
)

logger = logging.getLogger("takos.workers")
S = Deployment.Status


def event(deployment: Deployment, event_type: str, message: str = "", *, step: str = "", actor: User | None = None,
          details: dict[str, Any] | None = None) -> DeploymentEvent:
    return DeploymentEvent.objects.create(deployment=deployment, event_type=event_type, step_name=step,
                                          message=message[:2000], actor=actor, details=details or {})


def _announce(service: Service) -> None:
    from dispatch.services import announce_service

    announce_service(service)


ARTIFACT_POLL_SECONDS = 2


def _enqueue(deployment_id: str) -> None:
    from workers.tasks import execute_deployment

    transaction.on_commit(lambda: execute_deployment.delay(deployment_id))


# --- creating deployments ----------------------------------------------------------------------


@dataclass
class DeploySource:
    """What to run: a repository commit (source, optionally built by a workflow) or an image."""

    kind: str  # source | container-image | workflow-artifact
    image: str = ""
    run: str = ""
    port: int = 8080
    repo: Any = None
    ref: str = ""
    ref_type: str = ""
    commit_sha: str = ""
    workload: dict[str, Any] | None = None  # validated manifest workload snapshot


def workload_snapshot(workload: Workload) -> dict[str, Any]:
    return {
        "name": workload.name, "kind": workload.kind, "image": workload.image, "run": workload.run,
        "port": workload.port, "fromWorkflow": workload.from_workflow, "env": workload.env,
        "healthCheck": {"path": workload.health.path, "interval": workload.health.interval,
                        "timeout": workload.health.timeout, "startTimeout": workload.health.start_timeout},
        "scale": {"min": workload.scale_min, "max": workload.scale_max, "concurrency": workload.concurrency},
    }


def _env_snapshot(service: Service, workload: dict[str, Any] | None) -> dict[str, str]:
    env = dict((workload or {}).get("env") or {})
    env.update(runtime_env(service))
    for token in ManagedToken.objects.filter(service=service):
        env[token.env_name] = decrypt(token.token_encrypted)
    return env


def rollout_config(strategy: str | None, steps: Any, interval: Any, defaults: RolloutConfig | None = None,
                   canary_weight: int | None = None) -> RolloutConfig:
    cfg = RolloutConfig(**vars(defaults)) if defaults else RolloutConfig()
    if strategy:
        if strategy == "direct":
            strategy = "immediate"
        if strategy not in ("immediate", "canary"):
            raise BadRequest("strategy must be immediate (direct) or canary.")
        cfg.strategy = strategy
    if steps is not None:
        def fail(msg: str) -> None:
            raise BadRequest(f"steps {msg}.", details={"fields": {"steps": [msg]}})

        cfg.steps = _validate_steps(steps, fail) or cfg.steps
    elif canary_weight is not None:
        cfg.steps = [int(canary_weight), 100]
    if interval is not None:
        try:
            cfg.interval = max(0.1, float(interval))
        except (TypeError, ValueError):
            raise BadRequest("interval must be a number of seconds.") from None
    return cfg


def deployment_create(*, service: Service, actor: User | None, source: DeploySource, rollout: RolloutConfig,
                      idempotency_key: str = "", message: str = "") -> tuple[Deployment, bool]:
    """Create a pending deployment and enqueue it; returns (deployment, created).

    The same non-empty `idempotency_key` on the same service returns the first deployment.
    """
    if idempotency_key:
        existing = Deployment.objects.filter(service=service, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    workload = source.workload or {}
    try:
        with transaction.atomic():
            locked = Service.objects.select_for_update().get(pk=service.pk)
            version = locked.current_version + 1
            locked.current_version = version
            if locked.status in (Service.Status.PENDING, Service.Status.FAILED, Service.Status.STOPPED) \
                    and locked.active_deployment_id is None:
                locked.status = Service.Status.BUILDING
            locked.save(update_fields=["current_version", "status", "updated_at"])
            deployment = Deployment.objects.create(
                service=locked, space_id=locked.space_id, version=version, strategy=rollout.strategy,
                artifact_kind=source.kind, image=source.image, run_command=source.run, port=source.port,
                repo=source.repo, ref=source.ref, ref_type=source.ref_type, commit_sha=source.commit_sha,
                artifact_ref=f"{locked.slug}-v{version}",
                manifest={**workload, "rollout": {"strategy": rollout.strategy, "steps": rollout.steps,
                                                  "interval": rollout.interval,
                                                  "maxErrorRate": rollout.max_error_rate,
                                                  "minRequests": rollout.min_requests}},
                env_snapshot_encrypted=encrypt_json(_env_snapshot(locked, workload)),
                idempotency_key=idempotency_key or None, deploy_message=message[:500], deployed_by=actor,
            )
            event(deployment, "created", f"v{version} queued ({rollout.strategy})", actor=actor)
            _enqueue(deployment.id)
    except IntegrityError:
        if idempotency_key:
            existing = Deployment.objects.filter(service=service, idempotency_key=idempotency_key).first()
            if existing is not None:
                return existing, False
        raise Conflict("Another deployment was created at the same time; retry.") from None
    return deployment, True


def read_manifest(repo: Any, ref: str) -> tuple[str, Manifest]:
    from repos import git

    sha = git.resolve_ref(repo, ref)
    if sha is None:
        raise BadRequest(f"The ref {ref!r} does not exist in the repository.", details={"fields": {"ref": ["Unknown."]}})
    text = git.read_blob(repo, sha, MANIFEST_PATH)
    if text is None:
        raise BadRequest(f"{MANIFEST_PATH} is missing at {ref}.", code="MANIFEST_MISSING")
    try:
        return sha, parse_manifest(text)
    except ManifestError as exc:
        raise BadRequest(f"{MANIFEST_PATH} is invalid: {exc}",
                         details={"issues": [i.as_dict() for i in exc.issues]}) from None


def app_for(*, space: Space, manifest: Manifest, repo: Any, actor: User | None) -> App:
    """The app named by the manifest in this space, with its service (created on first deploy)."""
    from services.services import free_slug, service_create

    try:
        return _app_for(space=space, manifest=manifest, repo=repo, actor=actor, free_slug=free_slug,
                        service_create=service_create)
    except IntegrityError:
        raise Conflict("The app is being created by another deployment right now; retry.") from None


def _app_for(*, space: Space, manifest: Manifest, repo: Any, actor: User | None, free_slug: Any,
             service_create: Any) -> App:
    with transaction.atomic():
        app = App.objects.select_for_update().filter(space=space, name=manifest.name).first()
        if app is None:
            app = App.objects.create(space=space, name=manifest.name, repo=repo,
                                     description=str(manifest.raw.get("spec", {}).get("description", ""))[:500])
        if app.service_id is None:
            primary = manifest.primary
            service = service_create(space=space, actor=actor, slug=free_slug(manifest.name, space),
                                     service_type=Service.Type.APP if primary.kind == "worker"
                                     else Service.Type.SERVICE, workload=primary.name, repo=repo)
            app.service = service
        if repo is not None and app.repo_id != repo.pk:
            app.repo = repo
        app.save()
    return app


def workload_services(*, app: App, manifest: Manifest, repo: Any, actor: User | None) -> dict[str, Service]:
    """A service per manifest workload: the primary one is the app's (`<app>` hostname), every other
    workload gets its own, `<app>-<workload>`, found again by (app, workload) on later deploys."""
    from services.services import free_slug, service_create

    assert app.service is not None
    primary = manifest.primary.name
    out = {primary: app.service}
    if app.service.group_id != app.pk:
        Service.objects.filter(pk=app.service.pk).update(group_id=app.pk)
    for name, workload in manifest.workloads.items():
        if name == primary:
            continue
        service = Service.objects.filter(space=app.space, group_id=app.pk, workload=name).first()
        if service is None:
            service = service_create(space=app.space, actor=actor, slug=free_slug(f"{manifest.name}-{name}", app.space),
                                     service_type=Service.Type.APP if workload.kind == "worker"
                                     else Service.Type.SERVICE, group_id=app.pk, workload=name, repo=repo)
        out[name] = service
    return out


def app_deployment_create(*, space: Space, actor: User, repo: Any, ref: str, ref_type: str = "",
                          strategy: str | None = None, steps: Any = None, interval: Any = None,
                          idempotency_key: str = "", message: str = "") -> tuple[Deployment, bool]:
    """Deploy the app described by `.takos/app.yml` at `ref` of `repo` (in `space`).

    Every workload of the manifest is deployed, each on its own service (hostname, health check,
    rollout and rollback); the primary workload's deployment is returned, with all of them in
    `.workload_deployments`."""
    if repo.space_id != space.pk:
        raise NotFound("Repository not found.")
    sha, manifest = read_manifest(repo, ref)
    app = app_for(space=space, manifest=manifest, repo=repo, actor=actor)
    services = workload_services(app=app, manifest=manifest, repo=repo, actor=actor)
    cfg = rollout_config(strategy, steps, interval, defaults=manifest.rollout)
    primary_name = manifest.primary.name
    results: dict[str, tuple[Deployment, bool]] = {}
    for name in [primary_name, *(n for n in manifest.workloads if n != primary_name)]:
        workload = manifest.workloads[name]
        source = DeploySource(kind=workload.artifact_kind, image=workload.image, run=workload.run,
                              port=workload.port, repo=repo, ref=ref, ref_type=ref_type, commit_sha=sha,
                              workload={**workload_snapshot(workload), "app": manifest.name,
                                        "appVersion": manifest.version})
        key = idempotency_key if name == primary_name or not idempotency_key else f"{idempotency_key}:{name}"
        results[name] = deployment_create(service=services[name], actor=actor, source=source, rollout=cfg,
                                          idempotency_key=key,
                                          message=message or f"{manifest.name} {manifest.version}")
    deployment, created = results[primary_name]
    deployment.workload_deployments = [d for d, _ in results.values()]  # type: ignore[attr-defined]
    return deployment, created


# --- the pipeline (runs in the `deployment` queue) ---------------------------------------------


def claim(deployment_id: str) -> Deployment | None:
    """Take the lease on a pending deployment (or one whose lease expired); None if someone else has it."""
    now = timezone.now()
    token = secrets.token_hex(8)
    lease = now + timedelta(seconds=settings.TAKOS_DEPLOY_LEASE_SECONDS)
    from django.db.models import Q

    claimable = Q(status=S.PENDING) | (Q(status__in=[S.BUILDING, S.DEPLOYING]) & Q(lease_expires_at__lt=now))
    updated = Deployment.objects.filter(claimable, pk=deployment_id).update(
        status=S.BUILDING, deploy_state="building", lease_token=token, lease_expires_at=lease, started_at=now)
    if not updated:
        return None
    deployment = Deployment.objects.select_related("service", "repo").get(pk=deployment_id)
    Deployment.objects.filter(pk=deployment_id).update(attempts=deployment.attempts + 1)
    return deployment


def _prepare_artifact(deployment: Deployment) -> None:
    """Unpack what the runtime runs into the deployment's kept source folder."""
    src = rt.source_dir(deployment.id)
    if src.exists():
        shutil.rmtree(src)
    if deployment.artifact_kind == Deployment.ArtifactKind.IMAGE:
        return
    if deployment.repo is None or not deployment.commit_sha:
        raise rt.RuntimeError_("the deployment has no source commit")
    from repos import git

    git.archive(deployment.repo, deployment.commit_sha, src)
    if deployment.artifact_kind == Deployment.ArtifactKind.WORKFLOW:
        from workers.artifacts import fetch_workflow_artifact

        event(deployment, "artifact_fetched", fetch_workflow_artifact(deployment, src), step="build")


def _wait_for_artifact(deployment: Deployment, why: str) -> str:
    """The workflow that builds the artifact is still running: give the lease back and look again later.

    The task re-queues itself (ARTIFACT_POLL_SECONDS) instead of sleeping in the worker, so the
    workflow's own jobs can run on the same worker; after TAKOS_DEPLOY_ARTIFACT_WAIT seconds the
    deployment fails."""
    from workers.tasks import execute_deployment as task

    if (timezone.now() - deployment.created_at).total_seconds() > settings.TAKOS_DEPLOY_ARTIFACT_WAIT:
        _fail(deployment, f"no workflow artifact in time: {why}", step="build")
        return S.FAILED
    first = not deployment.events.filter(event_type="waiting_for_artifact").exists()
    with transaction.atomic():
        # Undo the claim: a wait is not an attempt (the recovery cron gives up after 3 attempts).
        Deployment.objects.filter(pk=deployment.pk, lease_token=deployment.lease_token).update(
            status=S.PENDING, deploy_state="waiting_for_artifact", lease_token="", lease_expires_at=None,
            attempts=deployment.attempts)
        if first:
            event(deployment, "waiting_for_artifact", why, step="build")
        # Tasks that run inline (eager) would come straight back here; the recovery cron re-queues
        # pending deployments in that mode.
        if not task.app.conf.task_always_eager:
            transaction.on_commit(lambda: task.apply_async((deployment.pk,), countdown=ARTIFACT_POLL_SECONDS))
    return "waiting"


def _fail(deployment: Deployment, message: str, *, step: str) -> None:
    with transaction.atomic():
        Deployment.objects.filter(pk=deployment.pk).update(
            status=S.FAILED, deploy_state="failed", step_error=message[:4000], completed_at=timezone.now(),
            lease_token="", lease_expires_at=None, routing_status=Deployment.Routing.ARCHIVED, routing_weight=0)
        event(deployment, "failed", message, step=step)
        Service.objects.filter(pk=deployment.service_id, active_deployment__isnull=True).update(
            status=Service.Status.FAILED)
    rt.stop_runtime(deployment, reason="deployment failed")


def execute_deployment(deployment_id: str) -> str:
    """Build, start and health-check the runtime, then route traffic (immediately or as a canary).

    Safe to run twice: only the holder of the lease proceeds. Returns the final status.
    """
    deployment = claim(deployment_id)
    if deployment is None:
        return Deployment.objects.filter(pk=deployment_id).values_list("status", flat=True).first() or "missing"
    step = "build"
    try:
        if not deployment.events.filter(event_type="waiting_for_artifact").exists():
            event(deployment, "step_started", "preparing the artifact", step=step)
        try:
            _prepare_artifact(deployment)
        except ArtifactPending as pending:
            return _wait_for_artifact(deployment, str(pending))
        event(deployment, "step_completed", step=step)
        step = "deploy_runtime"
        Deployment.objects.filter(pk=deployment.pk).update(status=S.DEPLOYING, deploy_state="deploying_runtime")
        event(deployment, "step_started", "starting the runtime and waiting for its health check", step=step)
        with rt.runtime_lock(deployment.id):
            endpoint = rt.start_runtime(deployment)
        event(deployment, "step_completed", f"healthy at {endpoint}", step=step)
    except Exception as exc:  # anything here fails the deployment; traffic never moved
        logger.exception("deployment %s failed at %s", deployment_id, step)
        _fail(deployment, str(exc) or type(exc).__name__, step=step)
        return S.FAILED
    step = "routing"
    deployment.refresh_from_db()
    cfg = (deployment.manifest or {}).get("rollout") or {}
    with transaction.atomic():
        service = Service.objects.select_for_update().get(pk=deployment.service_id)
        if deployment.status != S.DEPLOYING:
            return deployment.status  # cancelled meanwhile
        if deployment.strategy == Deployment.Strategy.CANARY and service.active_deployment_id:
            _start_canary(service, deployment, cfg)
        else:
            if deployment.strategy == Deployment.Strategy.CANARY:
                event(deployment, "routing_updated", "first deployment of the service: no baseline, served at 100%")
            _activate(service, deployment, actor=None)
        Deployment.objects.filter(pk=deployment.pk).update(lease_token="", lease_expires_at=None)
    return Deployment.objects.values_list("status", flat=True).get(pk=deployment.pk)


def _activate(service: Service, deployment: Deployment, *, actor: User | None, reason: str = "") -> None:
    """Point 100 % of the service at `deployment` (caller holds the service row lock)."""
    previous_id = service.active_deployment_id
    now = timezone.now()
    if previous_id and previous_id != deployment.pk:
        Deployment.objects.filter(pk=previous_id, status=S.ACTIVE).update(
            status=S.SUPERSEDED, routing_status=Deployment.Routing.ARCHIVED, routing_weight=0)
        service.fallback_deployment_id = previous_id
    service.active_deployment_id = deployment.pk
    service.canary_deployment_id = None
    service.canary_weight = 0
    service.status = Service.Status.DEPLOYED
    service.save(update_fields=["active_deployment", "fallback_deployment", "canary_deployment", "canary_weight",
                                "status", "updated_at"])
    Deployment.objects.filter(pk=deployment.pk).update(
        status=S.ACTIVE, deploy_state="completed", routing_status=Deployment.Routing.ACTIVE, routing_weight=100,
        completed_at=now, step_error="")
    event(deployment, "routing_updated", reason or "serving 100% of traffic", actor=actor,
          details={"previous": previous_id})
    event(deployment, "completed", actor=actor)
    _announce(service)
    service_id = service.pk
    transaction.on_commit(lambda: _trim_later(service_id))


def _trim_later(service_id: str) -> None:
    from workers.tasks import trim_runtimes

    trim_runtimes.delay(service_id)


def _start_canary(service: Service, deployment: Deployment, cfg: dict[str, Any]) -> None:
    steps = cfg.get("steps") or [5, 25, 50, 100]
    now = timezone.now()
    rollout = Rollout.objects.create(
        deployment=deployment, service=service, baseline_id=service.active_deployment_id, steps=steps,
        step_index=0, interval_seconds=float(cfg.get("interval") or 60),
        max_error_rate=float(cfg.get("maxErrorRate", 0.05)), min_requests=int(cfg.get("minRequests", 20)),
        step_started_at=now, next_step_at=now + timedelta(seconds=float(cfg.get("interval") or 60)))
    if steps[0] >= 100:
        _promote(rollout, service, actor=None, reason="single step")
        return
    _set_canary(service, deployment, steps[0])
    event(deployment, "routing_updated", f"canary at {steps[0]}%", details={"step": 0, "weight": steps[0]})


def _set_canary(service: Service, deployment: Deployment, weight: int) -> None:
    service.canary_deployment_id = deployment.pk
    service.canary_weight = weight
    service.save(update_fields=["canary_deployment", "canary_weight", "updated_at"])
    Deployment.objects.filter(pk=deployment.pk).update(
        status=S.DEPLOYING, deploy_state="routing", routing_status=Deployment.Routing.CANARY, routing_weight=weight)
    _announce(service)


def _promote(rollout: Rollout, service: Service, *, actor: User | None, reason: str) -> None:
    deployment = rollout.deployment
    rollout.state = Rollout.State.COMPLETED
    rollout.step_index = len(rollout.steps) - 1
    rollout.next_step_at = None
    rollout.reason = reason
    rollout.save(update_fields=["state", "step_index", "next_step_at", "reason", "updated_at"])
    _activate(service, deployment, actor=actor, reason=f"promoted to 100% ({reason})")


def _remove_canary(rollout: Rollout, service: Service, *, state: str, reason: str, actor: User | None) -> None:
    deployment = rollout.deployment
    if service.canary_deployment_id == deployment.pk:
        service.canary_deployment_id = None
        service.canary_weight = 0
        service.save(update_fields=["canary_deployment", "canary_weight", "updated_at"])
    rollout.state = state
    rollout.next_step_at = None
    rollout.reason = reason[:300]
    rollout.save(update_fields=["state", "next_step_at", "reason", "updated_at"])
    now = timezone.now()
    Deployment.objects.filter(pk=deployment.pk).update(
        status=S.ROLLED_BACK, deploy_state="rolled_back", routing_status=Deployment.Routing.ARCHIVED,
        routing_weight=0, rolled_back_at=now, rolled_back_by=actor, completed_at=now, step_error=reason[:4000])
    event(deployment, "rollback_step", reason, actor=actor, details={"rollout_state": state})
    _announce(service)
    deployment_id = deployment.pk
    transaction.on_commit(lambda: _stop_later(deployment_id))


def _stop_later(deployment_id: str) -> None:
    from workers.tasks import stop_deployment_runtime

    stop_deployment_runtime.delay(deployment_id)


# --- rollout gate and steps ------------------------------------------------------------------


def metrics_since(deployment_id: str, since: Any) -> dict[str, float]:
    from dispatch.metrics import BUCKET_SECONDS
    from dispatch.models import DeploymentMetric

    agg = DeploymentMetric.objects.filter(
        deployment_id=deployment_id, bucket__gte=since - timedelta(seconds=BUCKET_SECONDS)).aggregate(
        requests=Sum("requests"), errors=Sum("errors"), latency=Sum("latency_ms_sum"))
    requests = int(agg["requests"] or 0)
    return {"requests": requests, "errors": int(agg["errors"] or 0),
            "avg_latency_ms": round((agg["latency"] or 0) / requests, 2) if requests else 0.0}


def health_gate(rollout: Rollout) -> tuple[bool, dict[str, Any]]:
    """Healthy = the canary answers its health check and its error rate this step is under the limit."""
    deployment = rollout.deployment
    health = (deployment.manifest or {}).get("healthCheck") or {}
    decision: dict[str, Any] = {"at": timezone.now().isoformat(), "step": rollout.step_index}
    if not deployment.endpoint:
        decision.update(healthy=False, reason="the canary runtime is not running")
        return False, decision
    ok, detail = rt.probe(deployment.endpoint, health.get("path") or "/health",
                          timeout=float(health.get("timeout") or 2))
    stats = metrics_since(deployment.pk, rollout.step_started_at or rollout.created_at)
    decision.update(stats, health_check=detail)
    if not ok:
        decision.update(healthy=False, reason=f"health check failed: {detail}")
        return False, decision
    if stats["requests"] >= rollout.min_requests and stats["requests"]:
        rate = stats["errors"] / stats["requests"]
        decision["error_rate"] = round(rate, 4)
        if rate > rollout.max_error_rate:
            decision.update(healthy=False, reason=f"error rate {rate:.1%} above {rollout.max_error_rate:.1%}")
            return False, decision
    decision["healthy"] = True
    return True, decision


def rollout_tick(rollout_id: str) -> str:
    """Judge the current step and move on: next weight, promotion at 100 %, or automatic rollback."""
    rollout = Rollout.objects.select_related("deployment").filter(pk=rollout_id).first()
    if rollout is None or rollout.state != Rollout.State.IN_PROGRESS:
        return "skipped"
    healthy, decision = health_gate(rollout)  # network probe outside the transaction
    with transaction.atomic():
        service = Service.objects.select_for_update().get(pk=rollout.service_id)
        rollout = Rollout.objects.select_related("deployment").select_for_update(of=("self",)).get(pk=rollout_id)
        if rollout.state != Rollout.State.IN_PROGRESS or (rollout.next_step_at and rollout.next_step_at >
                                                          timezone.now() + timedelta(seconds=0.5)):
            return "skipped"
        rollout.last_gate = decision
        rollout.save(update_fields=["last_gate", "updated_at"])
        if not healthy:
            _remove_canary(rollout, service, state=Rollout.State.FAILED,
                           reason=f"rolled back automatically: {decision.get('reason')}", actor=None)
            return "rolled_back"
        if rollout.step_index + 1 >= len(rollout.steps) or rollout.steps[rollout.step_index + 1] >= 100:
            _promote(rollout, service, actor=None, reason="all steps healthy")
            return "completed"
        rollout.step_index += 1
        now = timezone.now()
        rollout.step_started_at = now
        rollout.next_step_at = now + timedelta(seconds=rollout.interval_seconds)
        rollout.save(update_fields=["step_index", "step_started_at", "next_step_at", "updated_at"])
        weight = int(rollout.steps[rollout.step_index])
        _set_canary(service, rollout.deployment, weight)
        event(rollout.deployment, "routing_updated", f"canary at {weight}%",
              details={"step": rollout.step_index, "weight": weight, "gate": decision})
        return "advanced"


def due_rollouts() -> list[str]:
    return list(Rollout.objects.filter(state=Rollout.State.IN_PROGRESS, next_step_at__lte=timezone.now())
                .values_list("pk", flat=True))


def rollout_action(*, rollout: Rollout, action: str, actor: User) -> Rollout:
    """pause | resume | abort | promote, from the API or console."""
    with transaction.atomic():
        service = Service.objects.select_for_update().get(pk=rollout.service_id)
        rollout = Rollout.objects.select_related("deployment").select_for_update(of=("self",)).get(pk=rollout.pk)
        if rollout.state not in Rollout.LIVE:
            raise Conflict(f"The rollout is {rollout.state}; nothing to {action}.")
        if action == "pause":
            if rollout.state == Rollout.State.PAUSED:
                raise Conflict("The rollout is already paused.")
            rollout.state = Rollout.State.PAUSED
            rollout.save(update_fields=["state", "updated_at"])
            event(rollout.deployment, "rollout_paused", actor=actor)
        elif action == "resume":
            if rollout.state != Rollout.State.PAUSED:
                raise Conflict("The rollout is not paused.")
            now = timezone.now()
            rollout.state = Rollout.State.IN_PROGRESS
            rollout.step_started_at = now
            rollout.next_step_at = now + timedelta(seconds=rollout.interval_seconds)
            rollout.save(update_fields=["state", "step_started_at", "next_step_at", "updated_at"])
            event(rollout.deployment, "rollout_resumed", actor=actor)
        elif action == "abort":
            _remove_canary(rollout, service, state=Rollout.State.ABORTED, reason="aborted by hand", actor=actor)
        elif action == "promote":
            _promote(rollout, service, actor=actor, reason="promoted by hand")
        else:
            raise BadRequest(f"Unknown rollout action {action!r}.")
    rollout.refresh_from_db()
    return rollout


# --- rollback --------------------------------------------------------------------------------


def rollback_target(service: Service, *, before: Deployment | None = None, version: int | None = None,
                    target_id: str | None = None) -> Deployment:
    qs = Deployment.objects.filter(service=service)
    if target_id:
        target = qs.filter(pk=target_id).first()
    elif version is not None:
        target = qs.filter(version=version).first()
    elif before is not None:
        target = qs.filter(version__lt=before.version, status__in=[S.ACTIVE, S.SUPERSEDED, S.ROLLED_BACK]) \
            .exclude(completed_at__isnull=True).order_by("-version").first()
    else:
        target = service.fallback_deployment or qs.filter(status=S.SUPERSEDED).order_by("-version").first()
    if target is None:
        raise NotFound("No deployment to roll back to.")
    if target.status in (S.PENDING, S.BUILDING, S.FAILED) or target.completed_at is None:
        raise Conflict(f"v{target.version} never served traffic ({target.status}); pick another version.")
    return target


def rollback(*, service: Service, actor: User, target: Deployment) -> Deployment:
    """Serve `target` at 100 % again: a pointer flip (its runtime is started first if it was stopped)."""
    if service.active_deployment_id == target.pk and not service.canary_deployment_id:
        raise Conflict(f"v{target.version} is already serving.")
    try:
        rt.ensure_runtime(target.pk)  # usually warm: returns at once
    except rt.RuntimeError_ as exc:
        raise Conflict(f"v{target.version} cannot be started again: {exc}") from None
    with transaction.atomic():
        locked = Service.objects.select_for_update().get(pk=service.pk)
        current_id = locked.active_deployment_id
        live = Rollout.objects.select_related("deployment").filter(service=locked, state__in=Rollout.LIVE).first()
        if live is not None and live.deployment_id != target.pk:
            _remove_canary(live, locked, state=Rollout.State.ABORTED, reason="rollback by hand", actor=actor)
        now = timezone.now()
        if current_id and current_id != target.pk:
            Deployment.objects.filter(pk=current_id).update(
                status=S.ROLLED_BACK, routing_status=Deployment.Routing.ARCHIVED, routing_weight=0,
                rolled_back_at=now, rolled_back_by=actor)
            current = Deployment.objects.get(pk=current_id)
            event(current, "rollback_step", f"replaced by v{target.version} (rollback)", actor=actor)
        locked.active_deployment_id = target.pk
        locked.fallback_deployment_id = current_id if current_id != target.pk else locked.fallback_deployment_id
        locked.canary_deployment_id = None
        locked.canary_weight = 0
        locked.status = Service.Status.DEPLOYED
        locked.save(update_fields=["active_deployment", "fallback_deployment", "canary_deployment", "canary_weight",
                                   "status", "updated_at"])
        Deployment.objects.filter(pk=target.pk).update(
            status=S.ACTIVE, routing_status=Deployment.Routing.ACTIVE, routing_weight=100, is_rollback=True,
            rollback_from_version=Deployment.objects.filter(pk=current_id).values_list("version", flat=True)
            .first() if current_id else None)
        event(target, "routing_updated", "serving 100% again (rollback)", actor=actor, details={"from": current_id})
        _announce(locked)
    target.refresh_from_db()
    return target


def deployment_delete(*, deployment: Deployment) -> None:
    service = deployment.service
    if deployment.pk in (service.active_deployment_id, service.canary_deployment_id):
        raise Conflict("This deployment is serving traffic; roll back or deploy another version first.")
    if deployment.status in (S.PENDING, S.BUILDING, S.DEPLOYING):
        raise Conflict("This deployment is still in progress.")
    rt.stop_runtime(deployment, reason="deployment removed")
    shutil.rmtree(rt.deployment_dir(deployment.pk), ignore_errors=True)
    Service.objects.filter(fallback_deployment=deployment).update(fallback_deployment=None)
    deployment.delete()


def trim_runtimes(service_id: str) -> int:
    """Stop runtimes no longer needed: keep active, canary, fallback and TAKOS_DEPLOY_KEEP_WARM previous."""
    service = Service.objects.filter(pk=service_id).first()
    if service is None:
        return 0
    keep = {service.active_deployment_id, service.canary_deployment_id, service.fallback_deployment_id}
    running = Deployment.objects.filter(service=service).exclude(container_id="").order_by("-version")
    kept_previous = 0
    stopped = 0
    for deployment in running:
        if deployment.pk in keep or deployment.status in (S.PENDING, S.BUILDING, S.DEPLOYING):
            continue
        if deployment.status == S.SUPERSEDED and kept_previous < settings.TAKOS_DEPLOY_KEEP_WARM:
            kept_previous += 1
            continue
        rt.stop_runtime(deployment, reason="no longer serving")
        stopped += 1
    return stopped


def reap_idle_runtimes() -> int:
    """Scale to zero: stop runtimes of active/fallback deployments idle for TAKOS_RUNTIME_IDLE_SECONDS.

    Dispatch starts them again on the next request. Canaries are never stopped (the gate probes them).
    """
    idle = settings.TAKOS_RUNTIME_IDLE_SECONDS
    if idle <= 0:
        return 0
    cutoff = timezone.now() - timedelta(seconds=idle)
    stopped = 0
    canaries = Service.objects.exclude(canary_deployment=None).values("canary_deployment_id")
    for deployment in Deployment.objects.exclude(container_id="").exclude(pk__in=canaries).filter(
            status__in=[S.ACTIVE, S.SUPERSEDED, S.ROLLED_BACK], runtime_started_at__lt=cutoff):
        if int(((deployment.manifest or {}).get("scale") or {}).get("min") or 0) >= 1:
            continue  # the manifest asks for a warm instance
        last = deployment.last_request_at or deployment.runtime_started_at
        if last and last < cutoff:
            rt.stop_runtime(deployment, reason="idle")
            event(deployment, "scaled_to_zero", f"no request for {idle} s")
            stopped += 1
    return stopped


def recover_deployments() -> int:
    """Requeue deployments whose lease expired (killed worker) or that were never picked up."""
    now = timezone.now()
    from django.db.models import Q

    from workers.tasks import execute_deployment as task

    stale = Deployment.objects.filter(
        Q(status__in=[S.BUILDING, S.DEPLOYING], lease_expires_at__lt=now)
        | Q(status=S.PENDING, created_at__lt=now - timedelta(minutes=2)))
    count = 0
    for deployment in stale:
        if deployment.attempts >= 3:
            _fail(deployment, "gave up after 3 attempts (lease expired)", step="recovery")
            continue
        task.delay(deployment.pk)
        count += 1
    return count


# --- runtime settings and managed tokens ---------------------------------------------------------


def settings_update(*, service: Service, data: dict[str, Any]) -> RuntimeSettings:
    row, _ = RuntimeSettings.objects.get_or_create(service=service)
    if "compatibility_date" in data:
        row.compatibility_date = data["compatibility_date"] or ""
    if "compatibility_flags" in data:
        row.compatibility_flags = list(data["compatibility_flags"] or [])
    limits = data.get("limits") or {}
    for key, field in (("cpu_ms", "cpu_ms"), ("memory_mb", "memory_mb"), ("subrequests", "subrequests")):
        if key in limits:
            setattr(row, field, limits[key])
    if "mcp_server" in data:
        row.mcp_server = data["mcp_server"] or {}
    row.save()
    return row


def managed_token_ensure(*, service: Service, env_name: str, subject: User, scopes: list[str]) -> ManagedToken:
    """Mint (or re-mint with new scopes) the token injected as `env_name` into the service's deployments."""
    from auth_app.services import pat_create, pat_revoke

    existing = ManagedToken.objects.filter(service=service, env_name=env_name).first()
    wanted = sorted(set(scopes)) if scopes else ["*"]
    if existing is not None and existing.scopes == wanted and existing.pat_id:
        return existing
    issued = pat_create(user=subject, name=f"service {service.slug} {env_name}"[:100],
                        scopes=wanted if wanted != ["*"] else "*")
    if existing is not None:
        if existing.pat_id:
            with contextlib.suppress(NotFound):
                pat_revoke(user=existing.subject, token_id=existing.pat_id)
        existing.delete()
    return ManagedToken.objects.create(service=service, env_name=env_name, subject=subject, pat=issued.record,
                                       scopes=wanted, token_prefix=issued.record.token_prefix,
                                       token_encrypted=encrypt(issued.token))


def managed_token_remove(*, service: Service, env_name: str) -> None:
    from auth_app.services import pat_revoke

    for token in ManagedToken.objects.filter(service=service, env_name=env_name):
        if token.pat_id:
            with contextlib.suppress(NotFound):
                pat_revoke(user=token.subject, token_id=token.pat_id)
        token.delete()


def service_deployment_create(*, service: Service, actor: User, data: dict[str, Any],
                              idempotency_key: str = "") -> tuple[Deployment, bool]:
    """`POST /api/services/:id/deployments`: from a repository commit (its manifest if it has one,
    else `run`), or from a container image (`artifact.kind = container-image`)."""
    if idempotency_key:
        existing = Deployment.objects.filter(service=service, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    from repos.selectors import repo_for_user

    artifact = data.get("artifact") or {}
    src = data.get("source")
    health_path = data.get("health_path") or artifact.get("health_path")
    defaults = RolloutConfig()
    workload: dict[str, Any] | None = None
    if artifact.get("kind") == "container-image":
        if not artifact.get("image_ref"):
            raise BadRequest("artifact.image_ref is required for a container image.")
        source = DeploySource(kind=Deployment.ArtifactKind.IMAGE, image=artifact["image_ref"],
                              run=data.get("run", ""), port=artifact.get("exposed_port") or data.get("port") or 8080)
    else:
        repo = repo_for_user(actor, src["repo_id"], min_role="editor") if src else service.repo
        if repo is None:
            raise BadRequest("Give source {repo_id, ref} or artifact {kind: container-image, image_ref}.")
        if repo.space_id != service.space_id:
            raise NotFound("Repository not found.")
        ref = (src or {}).get("ref") or repo.default_branch
        from repos import git

        sha = git.resolve_ref(repo, ref)
        if sha is None:
            raise BadRequest(f"The ref {ref!r} does not exist in the repository.")
        manifest = None
        if git.read_blob(repo, sha, MANIFEST_PATH) is not None:
            _, manifest = read_manifest(repo, sha)
        if manifest is not None:
            chosen = manifest.workloads.get(service.workload) or manifest.primary
            workload = {**workload_snapshot(chosen), "app": manifest.name, "appVersion": manifest.version}
            defaults = manifest.rollout
            source = DeploySource(kind=chosen.artifact_kind, image=chosen.image, run=data.get("run") or chosen.run,
                                  port=data.get("port") or chosen.port, repo=repo, ref=ref, commit_sha=sha)
        else:
            if not data.get("run"):
                raise BadRequest(f"The commit has no {MANIFEST_PATH}; give the run command.")
            source = DeploySource(kind=Deployment.ArtifactKind.SOURCE, run=data["run"],
                                  port=data.get("port") or 8080, repo=repo, ref=ref, commit_sha=sha)
    workload = workload or {"name": service.workload or service.slug, "env": {}, "run": source.run,
                            "port": source.port, "healthCheck": {"path": "/health", "timeout": 2}}
    if health_path:
        workload["healthCheck"] = {**(workload.get("healthCheck") or {}), "path": health_path}
    if data.get("env"):
        workload["env"] = {**(workload.get("env") or {}), **data["env"]}
    source.workload = workload
    cfg = rollout_config(data.get("strategy"), data.get("steps"), data.get("interval"), defaults=defaults,
                         canary_weight=data.get("canary_weight"))
    return deployment_create(service=service, actor=actor, source=source, rollout=cfg,
                             idempotency_key=idempotency_key, message=data.get("deploy_message", ""))

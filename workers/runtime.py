"""Runtimes: the container that serves one deployment, through the hosts drivers.

A deployment's source (or artifact) is unpacked once into `<DATA_DIR>/deployments/<id>/src`
and kept, so a runtime can be started again at any time without a rebuild: on demand by
dispatch after it was stopped for idleness, or when a rollback flips traffic back to it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from django.conf import settings
from django.utils import timezone

from hosts.drivers import ContainerHandle, ContainerSpec, DriverError, Mount, get_driver
from services.crypto import decrypt_json
from workers.models import Deployment

logger = logging.getLogger("takos.workers.runtime")
APP_DIR = "/app"


class RuntimeError_(Exception):
    """The runtime could not be started or did not become healthy."""


def deployment_dir(deployment_id: str) -> Path:
    return Path(settings.DATA_DIR) / "deployments" / deployment_id


def source_dir(deployment_id: str) -> Path:
    return deployment_dir(deployment_id) / "src"


@contextlib.contextmanager
def runtime_lock(deployment_id: str) -> Iterator[None]:
    """One starter per deployment across web, worker and beat processes (file lock)."""
    path = deployment_dir(deployment_id)
    path.mkdir(parents=True, exist_ok=True)
    with (path / ".lock").open("w") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def container_spec(deployment: Deployment) -> ContainerSpec:
    env = dict(decrypt_json(deployment.env_snapshot_encrypted, {}) or {})
    env.update({"TAKOS_DEPLOYMENT_ID": deployment.id, "TAKOS_DEPLOYMENT_VERSION": str(deployment.version),
                "TAKOS_SERVICE_ID": deployment.service_id})
    mounts: list[Mount] = []
    workdir = None
    command: list[str] = []
    src = source_dir(deployment.id)
    if deployment.artifact_kind != Deployment.ArtifactKind.IMAGE or src.exists():
        mounts.append(Mount(source=src, target=APP_DIR))
        workdir = APP_DIR
    if deployment.run_command:
        command = ["sh", "-c", deployment.run_command]
    runtime = getattr(deployment.service, "runtime_settings", None) if deployment.service_id else None
    memory = (runtime.memory_mb if runtime is not None and runtime.memory_mb else None) or \
        settings.TAKOS_DEPLOY_MEMORY_MB
    return ContainerSpec(
        role="runtime", image=deployment.image or "default", command=command, owner=deployment.owner,
        env=env, workdir=workdir, mounts=mounts, ports=[deployment.port], memory_mb=memory,
        labels={"takos.deployment": deployment.id, "takos.service": deployment.service_id},
    )


def handle_of(deployment: Deployment) -> ContainerHandle | None:
    if not deployment.container_id:
        return None
    return ContainerHandle(id=deployment.container_id, driver=deployment.container_driver or "local",
                           owner=deployment.owner, role="runtime")


def is_running(deployment: Deployment) -> bool:
    handle = handle_of(deployment)
    if handle is None or not deployment.endpoint:
        return False
    try:
        return get_driver(handle.driver).status(handle).state == "running"
    except DriverError:
        return False


def probe(endpoint: str, path: str, *, timeout: float) -> tuple[bool, str]:
    """One health check: GET endpoint+path answering 2xx/3xx within `timeout`."""
    try:
        resp = httpx.get(endpoint + path, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}"[:200]
    ok = 200 <= resp.status_code < 400
    return ok, f"HTTP {resp.status_code}"


def wait_healthy(deployment: Deployment, endpoint: str, handle: ContainerHandle) -> None:
    health = (deployment.manifest or {}).get("healthCheck") or {}
    path = health.get("path") or "/health"
    timeout = float(health.get("timeout") or 2)
    deadline = time.monotonic() + float(health.get("startTimeout") or settings.TAKOS_DEPLOY_START_TIMEOUT)
    driver = get_driver(handle.driver)
    detail = "not checked"
    while time.monotonic() < deadline:
        status = driver.status(handle)
        if status.state != "running":
            tail = driver.logs(handle)[-800:].decode(errors="replace")
            raise RuntimeError_(f"the runtime exited ({status.reason or status.exit_code}) before it was healthy"
                                + (f":\n{tail}" if tail else ""))
        ok, detail = probe(endpoint, path, timeout=timeout)
        if ok:
            return
        time.sleep(0.2)
    raise RuntimeError_(f"health check {path} did not pass in time (last: {detail})")


def start_runtime(deployment: Deployment) -> str:
    """Start the deployment's container and wait for its health check; returns the endpoint.

    The caller holds `runtime_lock(deployment.id)`.
    """
    from hosts.services import container_start, container_stop

    driver = get_driver()
    spec = container_spec(deployment)
    try:
        handle = container_start(spec=spec, driver=driver)
    except DriverError as exc:
        raise RuntimeError_(f"could not start the runtime: {exc}") from exc
    host_port = handle.ports.get(deployment.port)
    if not host_port:
        container_stop(handle=handle, driver=driver, reason="no published port")
        raise RuntimeError_("the runtime published no port")
    endpoint = f"http://127.0.0.1:{host_port}"
    try:
        wait_healthy(deployment, endpoint, handle)
    except RuntimeError_:
        with contextlib.suppress(DriverError):
            container_stop(handle=handle, driver=driver, reason="unhealthy at start")
        raise
    Deployment.objects.filter(pk=deployment.pk).update(
        container_id=handle.id, container_driver=driver.name, endpoint=endpoint, runtime_started_at=timezone.now())
    deployment.container_id, deployment.container_driver, deployment.endpoint = handle.id, driver.name, endpoint
    _endpoints_changed()
    return endpoint


def _endpoints_changed() -> None:
    """Cached routes carry endpoints: make every process re-read them."""
    from dispatch.table import bump_generation

    bump_generation()


def ensure_runtime(deployment_id: str) -> str:
    """The endpoint of a running runtime for the deployment, starting it if needed (blocking)."""
    with runtime_lock(deployment_id):
        deployment = Deployment.objects.select_related("service").get(pk=deployment_id)
        if is_running(deployment):
            return deployment.endpoint
        if deployment.container_id:
            stop_runtime(deployment, reason="replaced: not running")
        if not source_dir(deployment.id).exists() and deployment.artifact_kind != Deployment.ArtifactKind.IMAGE:
            raise RuntimeError_("the deployment's source is gone; deploy again")
        return start_runtime(deployment)


def stop_runtime(deployment: Deployment, *, reason: str = "") -> None:
    from hosts.services import container_stop

    handle = handle_of(deployment)
    if handle is not None:
        try:
            container_stop(handle=handle, driver=get_driver(handle.driver), reason=reason)
        except DriverError as exc:
            logger.warning("stopping runtime of %s failed: %s", deployment.id, exc)
    Deployment.objects.filter(pk=deployment.pk, container_id=deployment.container_id).update(
        container_id="", endpoint="", container_driver="")
    deployment.container_id = deployment.endpoint = ""
    _endpoints_changed()


def runtime_logs(deployment: Deployment, *, since_byte: int = 0) -> bytes:
    handle = handle_of(deployment)
    if handle is None:
        return b""
    try:
        return get_driver(handle.driver).logs(handle, since_byte=since_byte)
    except DriverError:
        return b""

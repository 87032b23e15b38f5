"""Docker driver: containers through the Docker SDK.

Every container carries labels `takos.managed=1`, `takos.namespace`, `takos.role`,
`takos.owner` (plus the spec's labels, the published ports and an optional deadline), so `list()` and the recovery
task find them again from any process. Hardening: CPU / memory (no extra swap) / pids
limits, a read-only root with tmpfs for /tmp and /run (TAKOS_DOCKER_READ_ONLY), dropped
capabilities, no-new-privileges, and no bind mount may expose the Docker socket.

Networking (TAKOS_DOCKER_NETWORK): with "host" nothing is published; each requested port
gets a free 127.0.0.1 port that the process must listen on ($PORT). With any other network
the container listens on its own port ($PORT = the container port, TAKOS_LISTEN_ALL=1) and
Docker publishes it on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from django.conf import settings

from hosts.drivers.base import (
    ContainerHandle,
    ContainerSpec,
    ContainerStatus,
    Driver,
    DriverError,
    DriverUnavailable,
    ExecResult,
)
from hosts.drivers.local import free_port

_SOCKET_NAMES = ("docker.sock", "containerd.sock")
_STATES = {"created": "created", "running": "running", "paused": "running", "restarting": "running",
           "removing": "exited", "exited": "exited", "dead": "exited"}


def namespace() -> str:
    """Label value separating Takos installations (and test runs) that share one engine.

    TAKOS_CONTAINER_NAMESPACE, or a hash of DATA_DIR: list() and recovery only ever see
    containers of their own installation.
    """
    configured = getattr(settings, "TAKOS_CONTAINER_NAMESPACE", "")
    return configured or hashlib.sha256(str(settings.DATA_DIR).encode()).hexdigest()[:12]


def resolve_image(label: str) -> str:
    return settings.TAKOS_CONTAINER_IMAGES.get(label, label)


def _engine_sockets() -> list[Path]:
    paths = [Path("/var/run/docker.sock"), Path("/run/docker.sock"), Path("/run/containerd/containerd.sock")]
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        paths.append(Path(host[len("unix://"):]))
    return paths


def _check_mount_source(source: Path) -> None:
    """Refuse a bind mount that is, or contains, the engine socket (root on the host)."""
    real = Path(source).resolve()
    if real.name in _SOCKET_NAMES:
        raise DriverError("mounting the container engine socket into a container is refused")
    for sock in _engine_sockets():
        for candidate in {sock, sock.resolve()}:
            if candidate == real or real in candidate.parents:
                raise DriverError(f"mount {real} would expose the engine socket {candidate}; refused")


class DockerDriver(Driver):
    name = "docker"

    def __init__(self, client: Any = None):
        from docker.errors import DockerException

        import docker

        self._errors = docker.errors
        self._images: set[str] = set()
        try:
            self.client = client or docker.from_env(timeout=settings.TAKOS_DOCKER_TIMEOUT)
            self.client.ping()
        except DockerException as exc:
            raise DriverUnavailable(f"the Docker engine is not reachable: {exc}") from exc

    # --- helpers ----------------------------------------------------------------------
    def _get(self, cid: str):  # type: ignore[no-untyped-def]
        try:
            return self.client.containers.get(cid)
        except self._errors.NotFound:
            return None

    @staticmethod
    def _handle(container: Any) -> ContainerHandle:
        labels = container.labels or {}
        try:
            ports = {int(k): int(v) for k, v in json.loads(labels.get("takos.ports", "{}")).items()}
        except ValueError:
            ports = {}
        if not ports and container.attrs.get("NetworkSettings", {}).get("Ports"):
            for key, bindings in container.attrs["NetworkSettings"]["Ports"].items():
                if bindings:
                    ports[int(key.split("/")[0])] = int(bindings[0]["HostPort"])
        return ContainerHandle(id=container.id, driver="docker", owner=labels.get("takos.owner", ""),
                               role=labels.get("takos.role", ""), ports=ports)

    def _require_image(self, image: str) -> None:
        if image in self._images:
            return
        try:
            self.client.images.get(image)
        except self._errors.ImageNotFound:
            raise DriverError(f"image {image} is missing; run scripts/build_images.sh") from None
        except self._errors.APIError as exc:
            raise DriverError(f"docker could not inspect {image}: {exc.explanation or exc}") from exc
        self._images.add(image)

    # --- contract ----------------------------------------------------------------------
    def start(self, spec: ContainerSpec) -> ContainerHandle:
        from docker.types import Mount

        image = resolve_image(spec.image)
        network = settings.TAKOS_DOCKER_NETWORK
        env = dict(spec.env)
        labels = {**spec.labels, "takos.managed": "1", "takos.role": spec.role, "takos.owner": spec.owner,
                  "takos.namespace": namespace()}
        kwargs: dict[str, Any] = {}
        ports: dict[int, int] = {}
        if network == "host":
            ports = {p: free_port() for p in spec.ports}
            labels["takos.ports"] = json.dumps({str(k): v for k, v in ports.items()})
            if ports:
                env.setdefault("PORT", str(next(iter(ports.values()))))
                env.update({f"TAKOS_PORT_{p}": str(h) for p, h in ports.items()})
        else:
            kwargs["ports"] = {f"{p}/tcp": ("127.0.0.1", None) for p in spec.ports}
            if spec.ports:
                env.setdefault("PORT", str(spec.ports[0]))
                env["TAKOS_LISTEN_ALL"] = "1"
        if spec.timeout_seconds:
            labels["takos.deadline"] = str(int(time.time() + spec.timeout_seconds))
        mounts = []
        for mount in spec.mounts:
            _check_mount_source(Path(mount.source))
            mounts.append(Mount(target=mount.target, source=str(Path(mount.source).resolve()), type="bind",
                                read_only=mount.read_only))
        memory = f"{int(spec.memory_mb)}m"
        self._require_image(image)
        try:
            # create + start, never run(): run() pulls a missing image from a registry.
            container = self.client.containers.create(
                image, spec.command or None, environment=env, working_dir=spec.workdir,
                labels=labels, mounts=mounts, network_mode=network,
                nano_cpus=int(spec.cpu * 1_000_000_000), mem_limit=memory, memswap_limit=memory,
                pids_limit=int(spec.pids), read_only=settings.TAKOS_DOCKER_READ_ONLY,
                tmpfs={"/tmp": "rw,nosuid,size=512m,mode=1777", "/run": "rw,nosuid,size=16m"},
                cap_drop=["NET_RAW", "MKNOD", "AUDIT_WRITE", "SYS_CHROOT", "SETFCAP", "NET_BIND_SERVICE"],
                security_opt=["no-new-privileges"], shm_size="256m", init=True,
                log_config={"type": "json-file", "config": {"max-size": "10m", "max-file": "2"}},
                **kwargs,
            )
        except self._errors.ImageNotFound as exc:
            raise DriverError(f"image {image} is missing; run scripts/build_images.sh") from exc
        except self._errors.APIError as exc:
            raise DriverError(f"docker could not create a container from {image}: {exc.explanation or exc}") from exc
        try:
            container.start()
        except self._errors.ImageNotFound as exc:
            raise DriverError(f"image {image} is missing; run scripts/build_images.sh") from exc
        except self._errors.APIError as exc:
            with contextlib.suppress(self._errors.APIError):
                container.remove(force=True)
            raise DriverError(f"docker could not start {image}: {exc.explanation or exc}") from exc
        if network != "host" and spec.ports:
            container.reload()
        return self._handle(container) if network != "host" else ContainerHandle(
            id=container.id, driver="docker", owner=spec.owner, role=spec.role, ports=ports)

    def status(self, handle: ContainerHandle) -> ContainerStatus:
        container = self._get(handle.id)
        if container is None:
            return ContainerStatus(state="missing", reason="container not found")
        state = container.attrs.get("State", {})
        status = _STATES.get(state.get("Status", ""), "exited")
        deadline = (container.labels or {}).get("takos.deadline")
        if status == "running" and deadline and time.time() > int(deadline):
            with contextlib.suppress(self._errors.APIError):
                container.kill()
            return ContainerStatus(state="exited", exit_code=137, reason="timeout")
        if status != "exited":
            return ContainerStatus(state=status)
        oom = bool(state.get("OOMKilled"))
        code = state.get("ExitCode")
        reason = "oom" if oom else (state.get("Error") or (None if code == 0 else f"exit code {code}"))
        return ContainerStatus(state="exited", exit_code=code, oom_killed=oom, reason=reason)

    def stop(self, handle: ContainerHandle, *, timeout: float = 10) -> None:
        container = self._get(handle.id)
        if container is None:
            return
        with contextlib.suppress(self._errors.APIError):
            container.stop(timeout=int(timeout))
        try:
            container.remove(force=True)
        except self._errors.NotFound:
            pass
        except self._errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise DriverError(f"could not remove {handle.id}: {exc}") from exc

    def logs(self, handle: ContainerHandle, *, since_byte: int = 0) -> bytes:
        container = self._get(handle.id)
        if container is None:
            return b""
        return container.logs(stdout=True, stderr=True)[since_byte:]

    def exec(self, handle: ContainerHandle, command: list[str], *, env: dict[str, str] | None = None,
             workdir: str | None = None, timeout: float | None = None) -> ExecResult:
        container = self._get(handle.id)
        if container is None or container.status != "running":
            raise DriverError(f"container {handle.id} is not running")
        if timeout:
            # coreutils `timeout` is in every image (minbase); the engine has no exec timeout.
            command = ["timeout", "-k", "5", str(max(1, int(timeout))), *command]
        try:
            result = container.exec_run(command, environment=env, workdir=workdir, demux=False)
        except self._errors.APIError as exc:
            raise DriverError(f"exec failed: {exc.explanation or exc}") from exc
        return ExecResult(exit_code=result.exit_code, output=(result.output or b"").decode(errors="replace"))

    def list(self, *, role: str | None = None, owner: str | None = None) -> list[ContainerHandle]:
        filters = ["takos.managed=1", f"takos.namespace={namespace()}"]
        if role:
            filters.append(f"takos.role={role}")
        if owner:
            filters.append(f"takos.owner={owner}")
        return [self._handle(c) for c in self.client.containers.list(all=True, filters={"label": filters})]

    def wait(self, handle: ContainerHandle, *, timeout: float | None = None) -> ContainerStatus:
        container = self._get(handle.id)
        if container is None:
            return ContainerStatus(state="missing", reason="container not found")
        deadline = (container.labels or {}).get("takos.deadline")
        limit = timeout
        if deadline:
            left = max(0.0, int(deadline) - time.time())
            limit = left if limit is None else min(limit, left)
        # requests' ReadTimeout / ConnectionError on timeout: it is still running.
        with contextlib.suppress(Exception):
            container.wait(timeout=limit)
        return self.status(handle)

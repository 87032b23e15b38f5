"""The container driver contract shared by every user of `hosts` (workflows, agents, deployments).

Two implementations: `hosts.drivers.docker.DockerDriver` (Docker SDK) and
`hosts.drivers.local.LocalProcessDriver` (embedded default, trusted single user; refused
when TAKOS_ENV=production). `hosts.drivers.get_driver()` returns the configured one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Mount:
    source: Path  # host path
    target: str  # path inside the container (the local driver maps it to `source`)
    read_only: bool = False


@dataclass
class ContainerSpec:
    role: str  # runtime | executor | browser
    image: str  # image label: "default" (runtime), "executor", "browser" or an image name
    command: list[str]
    owner: str  # e.g. "run:<id>", "job:<id>", "session:<id>", "deployment:<id>"
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None  # inside the container
    mounts: list[Mount] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)  # container ports to publish on 127.0.0.1
    cpu: float = 1.0
    memory_mb: int = 1024
    pids: int = 512
    timeout_seconds: int | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class ContainerHandle:
    id: str  # driver-specific id (container id or pid)
    driver: str  # docker | local
    owner: str
    role: str
    ports: dict[int, int] = field(default_factory=dict)  # container port -> 127.0.0.1 host port


@dataclass
class ContainerStatus:
    state: str  # created | running | exited | missing
    exit_code: int | None = None
    oom_killed: bool = False  # the kernel killed it for exceeding its memory limit
    reason: str | None = None  # why it exited when known: "oom", "timeout", "killed", engine error text

    @property
    def failed(self) -> bool:
        return self.state == "missing" or (self.state == "exited" and (self.exit_code != 0 or self.oom_killed))


class DriverError(Exception):
    """The driver could not do what was asked (engine down, image missing, refused)."""


class DriverUnavailable(DriverError):
    """This driver cannot be used here (engine unreachable, or local driver in production)."""


@dataclass
class ExecResult:
    exit_code: int
    output: str


class Driver(ABC):
    name: str

    @abstractmethod
    def start(self, spec: ContainerSpec) -> ContainerHandle: ...

    @abstractmethod
    def stop(self, handle: ContainerHandle, *, timeout: float = 10) -> None: ...

    @abstractmethod
    def status(self, handle: ContainerHandle) -> ContainerStatus: ...

    @abstractmethod
    def logs(self, handle: ContainerHandle, *, since_byte: int = 0) -> bytes: ...

    @abstractmethod
    def exec(self, handle: ContainerHandle, command: list[str], *, env: dict[str, str] | None = None,
             workdir: str | None = None, timeout: float | None = None) -> ExecResult: ...

    @abstractmethod
    def list(self, *, role: str | None = None, owner: str | None = None) -> list[ContainerHandle]: ...

    def wait(self, handle: ContainerHandle, *, timeout: float | None = None) -> ContainerStatus:
        """Block until the container exits (or timeout); drivers may override with a native wait."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status(handle)
            if status.state in ("exited", "missing"):
                return status
            if deadline is not None and time.monotonic() > deadline:
                return status
            time.sleep(0.2)

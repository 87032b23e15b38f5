"""Container drivers. `get_driver()` returns the one chosen by TAKOS_CONTAINER_DRIVER."""

from __future__ import annotations

import threading

from django.conf import settings

from hosts.drivers.base import (
    ContainerHandle,
    ContainerSpec,
    ContainerStatus,
    Driver,
    DriverError,
    DriverUnavailable,
    ExecResult,
    Mount,
)

__all__ = [
    "ContainerHandle", "ContainerSpec", "ContainerStatus", "Driver", "DriverError", "DriverUnavailable",
    "ExecResult", "Mount", "get_driver", "reset_drivers",
]

_drivers: dict[str, Driver] = {}
_lock = threading.Lock()


def get_driver(name: str | None = None) -> Driver:
    """The driver named `name` ("docker" | "local"), default settings.TAKOS_CONTAINER_DRIVER.

    Instances are shared per process (the local driver keeps its child processes, the
    Docker driver its engine connection). Raises DriverUnavailable when the engine is
    unreachable or the local driver is asked for in production.
    """
    name = (name or settings.TAKOS_CONTAINER_DRIVER or "local").lower()
    with _lock:
        driver = _drivers.get(name)
        if driver is None:
            if name == "docker":
                from hosts.drivers.docker import DockerDriver

                driver = DockerDriver()
            elif name == "local":
                from hosts.drivers.local import LocalProcessDriver

                driver = LocalProcessDriver()
            else:
                raise DriverUnavailable(f"unknown container driver {name!r} (use 'docker' or 'local')")
            _drivers[name] = driver
        return driver


def reset_drivers() -> None:
    """Forget cached drivers (tests that change DATA_DIR or TAKOS_ENV)."""
    with _lock:
        _drivers.clear()

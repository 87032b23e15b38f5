"""The driver contract, run against the local process driver and the real Docker engine."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from hosts.drivers import ContainerSpec, DriverError, DriverUnavailable, Mount, get_driver
from hosts.drivers.docker import namespace
from tests.hosts.helpers import docker_driver_or_skip, ensure_image

pytestmark = pytest.mark.django_db


def wait_http(url: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=1, trust_env=False)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def runtime_spec(owner: str, workspace: Path, **kw) -> ContainerSpec:  # type: ignore[no-untyped-def]
    return ContainerSpec(role="runtime", image="default", command=["python3", "/opt/takos/runtime_agent.py"],
                         owner=owner, env={"TAKOS_SESSION_ID": "s1", "GREETING": "hello"}, workdir="/workspace",
                         mounts=[Mount(source=workspace, target="/workspace")], ports=[8080], **kw)


def test_it_runs_the_whole_contract(driver_name: str, tmp_path: Path) -> None:
    driver = get_driver()
    assert driver.name == driver_name
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "README.md").write_text("hi\n")
    handle = driver.start(runtime_spec("test:contract", workspace, labels={"takos.extra": "x"}))
    try:
        assert handle.owner == "test:contract" and handle.role == "runtime" and handle.driver == driver_name
        port = handle.ports[8080]
        health = wait_http(f"http://127.0.0.1:{port}/health").json()
        assert health["status"] == "ok" and health["session_id"] == "s1"
        assert driver.status(handle).state == "running"

        # exec sees the env and the mount, and writes land in the host folder
        result = driver.exec(handle, ["sh", "-c", 'cat README.md; echo "$GREETING $PORT" > out.txt; exit 3'])
        assert result.exit_code == 3 and "hi" in result.output
        assert (workspace / "out.txt").read_text().strip() == f"hello {port}"
        assert driver.exec(handle, ["sh", "-c", "echo $EXTRA"], env={"EXTRA": "more"}).output.strip() == "more"

        assert b"runtime agent" in driver.logs(handle)
        assert [h.id for h in driver.list(owner="test:contract")] == [handle.id]
        assert handle.id in [h.id for h in driver.list(role="runtime")]
        assert driver.list(owner="test:nobody") == []
    finally:
        driver.stop(handle, timeout=2)
    assert driver.status(handle).state == "missing"
    assert driver.list(owner="test:contract") == []
    driver.stop(handle)  # idempotent


def test_it_reports_exit_codes_and_waits(driver_name: str) -> None:
    driver = get_driver()
    handle = driver.start(ContainerSpec(role="runtime", image="default", owner="test:exit",
                                        command=["sh", "-c", "echo bye; exit 7"]))
    try:
        status = driver.wait(handle, timeout=30)
        assert status.state == "exited" and status.exit_code == 7 and status.failed
        assert b"bye" in driver.logs(handle)
        assert driver.logs(handle, since_byte=2) == b"e\n"
    finally:
        driver.stop(handle)


def test_it_kills_a_container_past_its_timeout(driver_name: str) -> None:
    driver = get_driver()
    handle = driver.start(ContainerSpec(role="runtime", image="default", owner="test:timeout",
                                        command=["sleep", "60"], timeout_seconds=1))
    try:
        started = time.monotonic()
        status = driver.wait(handle, timeout=30)
        assert time.monotonic() - started < 15
        assert status.state == "exited" and status.reason == "timeout"
    finally:
        driver.stop(handle)


def test_exec_timeout(driver_name: str) -> None:
    driver = get_driver()
    handle = driver.start(ContainerSpec(role="runtime", image="default", owner="test:exec", command=["sleep", "60"]))
    try:
        started = time.monotonic()
        result = driver.exec(handle, ["sleep", "30"], timeout=1)
        assert result.exit_code == 124 and time.monotonic() - started < 10
    finally:
        driver.stop(handle, timeout=1)


def test_local_driver_is_refused_in_production(settings, data_dir) -> None:
    from hosts.drivers.local import LocalProcessDriver

    settings.TAKOS_ENV = "production"
    with pytest.raises(DriverUnavailable, match="production"):
        LocalProcessDriver()
    settings.TAKOS_CONTAINER_DRIVER = "local"
    with pytest.raises(DriverUnavailable):
        get_driver()


def test_local_driver_does_not_leak_the_control_plane_environment(settings, data_dir, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/x")
    driver = get_driver("local")
    handle = driver.start(ContainerSpec(role="runtime", image="default", owner="test:env", command=["env"]))
    try:
        driver.wait(handle, timeout=10)
        output = driver.logs(handle).decode()
        assert "DATABASE_URL" not in output and "SECRET_KEY" not in output
        assert "TAKOS_CONTAINER_ID=" in output
    finally:
        driver.stop(handle)


# --- Docker specifics -------------------------------------------------------------------
@pytest.fixture
def docker_driver(settings, data_dir):  # type: ignore[no-untyped-def]
    driver = docker_driver_or_skip()
    ensure_image("runtime")
    yield driver
    for handle in driver.list():
        if handle.owner.startswith("test:"):
            driver.stop(handle, timeout=1)


@pytest.mark.docker
def test_docker_applies_labels_limits_and_a_read_only_root(docker_driver, tmp_path: Path) -> None:
    handle = docker_driver.start(runtime_spec("test:limits", tmp_path, cpu=0.5, memory_mb=256, pids=64,
                                              labels={"takos.run": "r1"}))
    attrs = docker_driver.client.containers.get(handle.id).attrs
    labels = attrs["Config"]["Labels"]
    assert labels["takos.role"] == "runtime" and labels["takos.owner"] == "test:limits"
    assert labels["takos.run"] == "r1" and labels["takos.managed"] == "1"
    assert labels["takos.namespace"] == namespace()
    host = attrs["HostConfig"]
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 256 * 1024 * 1024 and host["MemorySwap"] == 256 * 1024 * 1024
    assert host["PidsLimit"] == 64
    assert host["ReadonlyRootfs"] is True
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["NetworkMode"] == "host"
    assert not any("docker.sock" in (m.get("Source") or "") for m in attrs["Mounts"])
    wait_http(f"http://127.0.0.1:{handle.ports[8080]}/health")
    denied = docker_driver.exec(handle, ["sh", "-c", "touch /usr/x"])
    assert denied.exit_code != 0 and "Read-only" in denied.output
    assert docker_driver.exec(handle, ["sh", "-c", "touch /tmp/x && echo ok"]).output.strip() == "ok"
    assert not Path("/var/run/docker.sock").exists() or docker_driver.exec(
        handle, ["sh", "-c", "test -e /var/run/docker.sock && echo present || echo absent"]).output.strip() == "absent"


@pytest.mark.docker
def test_docker_refuses_to_mount_the_engine_socket(docker_driver) -> None:
    for source in ("/var/run/docker.sock", "/var/run", "/"):
        with pytest.raises(DriverError, match="socket"):
            docker_driver.start(ContainerSpec(role="runtime", image="default", owner="test:sock",
                                              command=["true"], mounts=[Mount(source=Path(source), target="/h")]))
    assert docker_driver.list(owner="test:sock") == []


@pytest.mark.docker
def test_docker_lists_only_its_own_namespace(docker_driver, settings) -> None:
    handle = docker_driver.start(ContainerSpec(role="runtime", image="default", owner="test:ns", command=["sleep", "30"]))
    try:
        assert [h.id for h in docker_driver.list(owner="test:ns")] == [handle.id]
        settings.TAKOS_CONTAINER_NAMESPACE = "another-installation"
        assert docker_driver.list(owner="test:ns") == []
    finally:
        settings.TAKOS_CONTAINER_NAMESPACE = ""
        docker_driver.stop(handle, timeout=1)


@pytest.mark.docker
def test_docker_reports_a_container_over_its_memory_limit_as_failed(docker_driver) -> None:
    handle = docker_driver.start(ContainerSpec(
        role="runtime", image="default", owner="test:oom", memory_mb=48,
        command=["python3", "-c", "x = [bytearray(1024 * 1024) for _ in range(400)]; print('survived')"]))
    status = docker_driver.wait(handle, timeout=60)
    assert status.state == "exited" and status.failed
    assert status.oom_killed and status.reason == "oom"
    assert b"survived" not in docker_driver.logs(handle)


@pytest.mark.docker
def test_docker_missing_image_is_a_driver_error(docker_driver) -> None:
    with pytest.raises(DriverError, match="missing"):
        docker_driver.start(ContainerSpec(role="runtime", image="takos-no-such-image:latest", owner="test:img",
                                          command=["true"]))

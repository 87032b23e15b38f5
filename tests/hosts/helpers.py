"""Fixtures shared by the hosts and sessions tests (import them into a test module).

Docker tests are marked `docker` and skip only when the engine is unreachable (CI turns
skips into failures). Missing images are built with scripts/build_images.sh; present ones
are reused.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hosts.drivers import Driver, DriverUnavailable, reset_drivers

ROOT = Path(__file__).resolve().parents[2]


_checked_images: set[str] = set()


def ensure_image(role: str) -> None:
    """Build the role's image when missing or built from other sources (once per test run)."""
    if role in _checked_images:
        return
    subprocess.run([str(ROOT / "scripts" / "build_images.sh"), role], check=True, timeout=3600,
                   capture_output=True)
    _checked_images.add(role)


def docker_driver_or_skip() -> Driver:
    from hosts.drivers.docker import DockerDriver

    try:
        return DockerDriver()
    except DriverUnavailable as exc:
        pytest.skip(f"Docker engine unreachable: {exc}")


@pytest.fixture
def data_dir(settings, tmp_path) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """A private DATA_DIR / git root / object store per test; drivers rebuilt on it."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.TAKOS_GIT_ROOT = tmp_path / "git"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "objects")}}}
    reset_drivers()
    yield settings.DATA_DIR
    reset_drivers()


def _cleanup(driver: Driver) -> None:
    for handle in driver.list():
        driver.stop(handle, timeout=2)


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def driver_name(request, settings, data_dir) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Runs a test once per driver, with TAKOS_CONTAINER_DRIVER set accordingly."""
    from hosts.drivers import get_driver

    if request.param == "docker":
        docker_driver_or_skip()
        ensure_image("runtime")
    settings.TAKOS_CONTAINER_DRIVER = request.param
    yield request.param
    try:
        driver = get_driver(request.param)
    except DriverUnavailable:
        return
    # Only containers this test started (docker is shared; local lives in the tmp DATA_DIR).
    for handle in driver.list():
        if request.param == "local" or handle.owner.startswith(("session:", "browser:", "test:")):
            driver.stop(handle, timeout=2)


class _Page(BaseHTTPRequestHandler):
    html = b"""<!doctype html><html><head><title>Takos test page</title></head>
<body><h1 id="title">Hello from loopback</h1>
<input id="name" value=""><button id="go" onclick="document.getElementById('out').textContent =
'clicked ' + document.getElementById('name').value">Go</button><p id="out"></p>
<div style="height:3000px"></div></body></html>"""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.html)))
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_page() -> Iterator[str]:
    """A page served on 127.0.0.1 (the only address tests talk to)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _hosts_urls(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ROOT_URLCONF = "tests.hosts.urls"

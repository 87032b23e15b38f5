"""Benchmark: session API call -> healthy runtime, against a plain `docker run` to first response.

Run with `make bench` (or `.venv/bin/python scripts/bench_hosts.py`). Measured in the same run:
  - reference: `docker run --rm -d --network host takos-runtime:latest python3 runtime_agent.py`
    (same image, same command) until its /health answers, through the docker CLI;
  - the session API (POST /api/spaces/me/sessions through Django's test client, real DB,
    real git, real containers) until it returns `running` (it returns only once /health
    answers), on the Docker driver, on the local process driver, and with the warm pool.
Ratio = docker session / docker run; the target is <= 1.3, and < 300 ms with the pool.
Talks only to 127.0.0.1. Needs the Docker engine (scripts/start_dockerd.sh) and images
(scripts/build_images.sh); without them only the local driver is measured.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.005)
    raise RuntimeError(f"{url} did not answer")


def plain_docker_run() -> float:
    port = free_port()
    started = time.perf_counter()
    cid = subprocess.run(
        ["docker", "run", "--rm", "-d", "--network", "host", "-e", f"PORT={port}", "takos-runtime:latest",
         "python3", "/opt/takos/runtime_agent.py"], check=True, capture_output=True, text=True).stdout.strip()
    wait_http(f"http://127.0.0.1:{port}/health")
    elapsed = time.perf_counter() - started
    subprocess.run(["docker", "rm", "-f", cid], check=True, capture_output=True)
    return elapsed


def main(data: Path) -> int:
    os.environ.update({"TAKOS_DATA_DIR": str(data / "data"), "DJANGO_SETTINGS_MODULE": "takos.settings",
                       "LOG_LEVEL": "WARNING", "TAKOS_ENV": "development"})
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment
    from rest_framework.test import APIClient

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    from accounts.services import user_create
    from auth_app.services import pat_create
    from hosts.drivers import DriverUnavailable, get_driver, reset_drivers
    from platform_app import session_pool
    from repos import git
    from repos.services import repo_create

    user = user_create(username="bench", email="bench@example.com", password="correct horse battery")
    from accounts.selectors import personal_space

    repo = repo_create(space=personal_space(user), actor=user, name="bench")
    git.commit_files(repo, branch="main", files={"README.md": b"bench\n", "src/app.py": b"print(1)\n"},
                     message="init", author_name="b", author_email="b@example.com")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pat_create(user=user, name='bench').token}")

    def session_once() -> float:
        started = time.perf_counter()
        response = client.post("/api/spaces/me/sessions", {"repo_id": repo.id}, format="json")
        elapsed = time.perf_counter() - started
        body = response.json()
        assert response.status_code == 201 and body["session"]["status"] == "running", body
        client.post(f"/api/sessions/{body['session']['id']}/discard", {}, format="json")
        return elapsed

    def series(fn, rounds: int = ROUNDS) -> list[float]:  # type: ignore[no-untyped-def]
        fn()  # warm-up (imports, page cache)
        return [fn() for _ in range(rounds)]

    results: dict[str, list[float]] = {}
    docker_ok = True
    try:
        get_driver("docker")
    except DriverUnavailable as exc:
        print(f"docker unavailable, measuring the local driver only: {exc}")
        docker_ok = False

    if docker_ok:
        results["plain docker run -> /health (reference)"] = series(plain_docker_run)
        settings.TAKOS_CONTAINER_DRIVER = "docker"
        reset_drivers()
        results["session API, docker driver"] = series(session_once)
    settings.TAKOS_CONTAINER_DRIVER = "local"
    reset_drivers()
    results["session API, local driver"] = series(session_once)

    for driver in (["docker"] if docker_ok else []) + ["local"]:
        settings.TAKOS_CONTAINER_DRIVER = driver
        settings.TAKOS_RUNTIME_WARM_POOL = 1
        reset_drivers()

        def pooled() -> float:
            # Refill outside the measured call; wait for the background refill to settle.
            deadline = time.monotonic() + 60
            while not session_pool.available() and time.monotonic() < deadline:
                session_pool.fill_pool(size=1)
                time.sleep(0.05)
            time.sleep(0.3)
            return session_once()

        results[f"session API, {driver} driver + warm pool"] = series(pooled)
        session_pool.drain_pool()
        settings.TAKOS_RUNTIME_WARM_POOL = 0

    print(f"\nhosts benchmark ({ROUNDS} rounds after one warm-up; seconds)")
    print(f"{'measurement':48} {'median':>8} {'p90':>8} {'min':>8}")
    medians = {}
    for name, values in results.items():
        values.sort()
        medians[name] = statistics.median(values)
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        print(f"{name:48} {medians[name]:8.3f} {p90:8.3f} {values[0]:8.3f}")
    if docker_ok:
        ref = medians["plain docker run -> /health (reference)"]
        ratio = medians["session API, docker driver"] / ref
        print(f"\nratio session(docker) / docker run = {ratio:.2f} (target <= 1.3)")
        pool = medians["session API, docker driver + warm pool"]
        print(f"warm pool (docker): {pool * 1000:.0f} ms (target < 300 ms)")
    return 0


if __name__ == "__main__":
    import shutil

    data_dir = Path(tempfile.mkdtemp(prefix="takos-bench-hosts-"))
    try:
        code = main(data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    sys.exit(code)

"""End to end on the real processes (`manage.py up`): the CLI starts a runtime session, the
container heartbeats back through /internal/ with its proxy token, and stop commits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import start_takos, stop_takos

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    # Our own server: the runtime agent heartbeats every second (real internal callbacks).
    tmp = tmp_path_factory.mktemp("takos-hosts")
    if not os.environ.get("DATABASE_URL"):
        # Migrate first so `up` is ready within the fixture's start window on a busy machine.
        env = {**os.environ, "TAKOS_DATA_DIR": str(tmp / "data")}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], env=env, check=True,
                       timeout=600, cwd=str(Path(__file__).resolve().parents[2]))
    running, db_name = start_takos(tmp, {"TAKOS_SESSION_HEARTBEAT_SECONDS": "1", "TAKOS_CONTAINER_DRIVER": "local"})
    try:
        yield running
    finally:
        stop_takos(running, db_name)


def cli(server, tmp_path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    env = {**os.environ, "TAKOS_CONFIG": str(tmp_path / "cli.json"), "TAKOS_URL": server.url}
    env.pop("TAKOS_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "takos.cli.main", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_cli_session_with_container_heartbeats(server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    web = httpx.Client(base_url=server.url, timeout=30)
    csrf = web.get("/api/auth/csrf").json()["csrf_token"]
    assert web.post("/api/auth/signup", headers={"X-CSRFToken": csrf},
                    json={"username": "sess", "email": "sess@example.com", "password": "e2e pass phrase 42"}
                    ).status_code == 201
    web.headers["X-CSRFToken"] = web.cookies["csrftoken"]
    token = web.post("/api/me/personal-access-tokens", json={"name": "cli"}).json()["token"]
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    repo = api.post("/api/spaces/me/repos", json={"name": "e2e-app"})
    assert repo.status_code == 201, repo.text
    repo_id = repo.json()["repository"]["id"] if "repository" in repo.json() else repo.json()["repo"]["id"]
    seeded = server.manage("shell", "-c", (
        "from repos.models import Repository; from repos import git; "
        f"git.commit_files(Repository.objects.get(pk='{repo_id}'), branch='main', files={{'README.md': b'e2e\\n'}}, "
        "message='init', author_name='S', author_email='s@example.com')"))
    assert seeded.returncode == 0, seeded.stderr

    assert cli(server, tmp_path, "login", "--token", "-", stdin=token + "\n").returncode == 0
    started = cli(server, tmp_path, "session", "start", repo_id, "--json")
    assert started.returncode == 0, started.stderr
    session = json.loads(started.stdout)["session"]
    assert session["status"] == "running"
    sid = session["id"]

    first_beat = session["last_heartbeat"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the container's own heartbeat moves last_heartbeat
        beat = api.get(f"/api/sessions/{sid}").json()["session"]["last_heartbeat"]
        if beat != first_beat:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the runtime container never heartbeated through /internal/")

    ran = cli(server, tmp_path, "session", "exec", sid, "--", "sh", "-c", "echo from-cli >> README.md; cat README.md")
    assert ran.returncode == 0 and "from-cli" in ran.stdout, ran.stderr
    listed = json.loads(cli(server, tmp_path, "session", "list", "--json").stdout)
    assert sid in [s["id"] for s in listed["sessions"]]
    stopped = cli(server, tmp_path, "session", "stop", sid, "-m", "From the CLI", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["session"]["status"] == "merged"
    readme = server.manage("shell", "-c", (
        "from repos.models import Repository; from repos import git; "
        f"print(git.read_blob(Repository.objects.get(pk='{repo_id}'), 'main', 'README.md').decode())"))
    assert readme.stdout.strip().splitlines()[-2:] == ["e2e", "from-cli"]  # after the shell banner

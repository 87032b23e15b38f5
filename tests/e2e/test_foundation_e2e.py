"""End to end on the real processes of `make up`: sign-up → PAT → /api/me → space → member, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.e2e


def signup(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=20)
    csrf = client.get("/api/auth/csrf").json()["csrf_token"]
    response = client.post("/api/auth/signup", headers={"X-CSRFToken": csrf},
                           json={"username": username, "email": f"{username}@example.com",
                                 "password": "e2e pass phrase 42"})
    assert response.status_code == 201, response.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


def test_signup_token_space_member_flow(takos_server):
    base = takos_server.url
    owner = signup(base, "e2eowner")
    colleague = signup(base, "e2ecolleague")

    created = owner.post("/api/me/personal-access-tokens", json={"name": "e2e"})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=20)

    me = api.get("/api/me")
    assert me.status_code == 200 and me.json()["username"] == "e2eowner"
    space = api.post("/api/spaces", json={"name": "E2E Team"})
    assert space.status_code == 201, space.text
    space_id = space.json()["space"]["id"]
    added = api.post(f"/api/spaces/{space_id}/members", json={"email": "e2ecolleague@example.com", "role": "editor"})
    assert added.status_code == 201, added.text
    seen = colleague.get(f"/api/spaces/{space_id}")
    assert seen.status_code == 200 and seen.json()["space"]["member_role"] == "editor"
    # the colleague (editor) may not rename it, and a stranger does not see it at all
    assert colleague.patch(f"/api/spaces/{space_id}", json={"name": "x"}).status_code == 403
    stranger = signup(base, "e2estranger")
    assert stranger.get(f"/api/spaces/{space_id}").status_code == 404
    # the session cookie without the CSRF header is refused for writes
    bare = httpx.Client(base_url=base, cookies=stranger.cookies, timeout=20)
    assert bare.post("/api/spaces", json={"name": "no csrf"}).status_code == 403

    revoke = api.delete(f"/api/me/personal-access-tokens/{created.json()['id']}")
    assert revoke.status_code == 200
    assert api.get("/api/me").status_code == 401


def run_cli(takos_server, tmp_path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TAKOS_CONFIG": str(tmp_path / "cli.json"), "TAKOS_URL": takos_server.url}
    env.pop("TAKOS_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "takos.cli.main", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_cli_against_the_server(takos_server, tmp_path):
    owner = signup(takos_server.url, "cliuser")
    token = owner.post("/api/me/personal-access-tokens", json={"name": "paste"}).json()["token"]

    login = run_cli(takos_server, tmp_path, "login", "--token", "-", "--json", stdin=token + "\n")
    assert login.returncode == 0, login.stderr
    assert json.loads(login.stdout)["username"] == "cliuser"
    assert oct((tmp_path / "cli.json").stat().st_mode & 0o777) == "0o600"

    whoami = run_cli(takos_server, tmp_path, "whoami", "--json")
    assert json.loads(whoami.stdout)["username"] == "cliuser"
    created = run_cli(takos_server, tmp_path, "--json", "spaces", "create", "CLI Space")
    assert created.returncode == 0, created.stderr
    listed = json.loads(run_cli(takos_server, tmp_path, "spaces", "list", "--json").stdout)
    assert {"cliuser", "cli-space"} <= {s["slug"] for s in listed["spaces"]}
    table = run_cli(takos_server, tmp_path, "spaces", "list").stdout
    assert "cli-space" in table and "SLUG" in table

    made = json.loads(run_cli(takos_server, tmp_path, "tokens", "create", "ci", "--scopes", "spaces:read",
                              "--json").stdout)
    assert made["token"].startswith("tak_pat_") and made["scopes"] == ["spaces:read"]
    ids = [t["id"] for t in json.loads(run_cli(takos_server, tmp_path, "tokens", "list", "--json").stdout)["tokens"]]
    assert made["id"] in ids
    assert run_cli(takos_server, tmp_path, "tokens", "revoke", made["id"]).returncode == 0
    failed = run_cli(takos_server, tmp_path, "tokens", "revoke", made["id"])
    assert failed.returncode == 1 and "not found" in failed.stderr.lower()
    bad = run_cli(takos_server, tmp_path, "spaces", "create", "", "--json")
    assert bad.returncode == 1 and json.loads(bad.stderr)["error"]["code"] == "BAD_REQUEST"


def test_a_malformed_multipart_body_gets_the_envelope_through_daphne(takos_server):
    """Twisted used to answer this itself with a bare 400 before Django saw it (takos/twisted_requests.py)."""
    response = httpx.post(f"{takos_server.url}/api/auth/login", content=b"no boundary in sight",
                          headers={"Content-Type": "multipart/form-data; boundary=zzz"}, timeout=20)
    assert response.status_code in (400, 401, 403, 415), response.text
    assert set(response.json()["error"]) >= {"code", "message"}

"""End to end on a real server (`manage.py up`: daphne, dispatch front, Celery worker and beat).

A repository with `.takos/app.yml` and a tiny Python HTTP app is pushed with the real git
binary, deployed through the API with the local process driver, and requested through
dispatch on 127.0.0.1 with `Host: <slug>.apps.localhost`: v2 ships as a canary promoted step
by step by beat while healthy, v3 (whose health check starts failing) is rolled back
automatically while a client keeps requesting without one failure, and a manual rollback
flips back to v1 at once. Custom domains are verified against a DNS stub on loopback (DNS is
an external service). Apps are requested through both ways in: web's dispatch middleware on the
main port and the dispatch front on its own port.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import start_takos, stop_takos
from tests.workers.apps import workflow_app_files
from tests.workers.dnsstub import DnsStub
from tests.workers.e2e_helpers import (
    Client,
    premigrate,
    private_broker,
    setup_alice,
    stop_broker,
    stop_runtimes,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dns_stub() -> Iterator[DnsStub]:
    stub = DnsStub()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def deploy_server(tmp_path_factory: pytest.TempPathFactory, dns_stub: DnsStub) -> Iterator[Client]:
    tmp = tmp_path_factory.mktemp("deploy-e2e")
    premigrate(tmp)
    broker_env, broker = private_broker(tmp, 11)
    running, db_name = start_takos(tmp, {
        "TAKOS_CONTAINER_DRIVER": "local", "TAKOS_ROLLOUT_TICK_SECONDS": "1",
        # The HTTP domain check resolves through the stub to 127.0.0.1 and connects to this server's port.
        "TAKOS_DNS_RESOLVER": dns_stub.address, "TAKOS_DOMAIN_HTTP_PORT": "self", **broker_env,
    })
    try:
        client = Client(running, setup_alice(running), tmp / "work")
        yield client
    finally:
        stop_runtimes(running)
        stop_takos(running, db_name)
        stop_broker(broker)


def test_push_deploy_canary_auto_rollback_and_manual_rollback(deploy_server: Client):
    c = deploy_server
    repo = c.create_repo("hello")
    host = "hello.apps.localhost"

    # v1: immediate.
    c.push("hello", version="1")
    d1 = c.deploy(repo["id"])
    assert d1["status"] in ("pending", "building", "deploying", "active") and d1["url"] == f"http://{host}"
    d1 = c.wait(d1["id"], ("active",))
    assert d1["commit_sha"] and d1["app"] == "hello"
    assert c.version_at(host) == "1"
    body = c.app(host, "/x?y=1").json()
    assert body["path"] == "/x?y=1" and body["env"] == "hello"
    assert body["headers"]["x-forwarded-host"] == host and body["headers"]["x-takos-deployment"] == d1["id"]

    # The same through the dispatch front (`up` starts it on its own port).
    body = c.app(host, "/x?y=1", front=True).json()
    assert body["path"] == "/x?y=1" and body["version"] == "1" and body["headers"]["x-takos-deployment"] == d1["id"]

    # Unknown tenant host: 404 envelope (on both ports).
    for front in (False, True):
        resp = c.app("nope.apps.localhost", front=front)
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "NOT_FOUND"

    # v2: canary at 50% for 4 s, then 100%.
    c.push("hello", version="2", strategy="canary", steps="50, 100", interval=4)
    d2 = c.deploy(repo["id"])
    seen: Counter[str] = Counter()
    seen_front: Counter[str] = Counter()

    def sample() -> None:
        seen.update([c.version_at(host)])
        seen_front.update([c.version_at(host, front=True)])

    d2 = c.wait(d2["id"], ("active",), during=sample)
    assert seen["1"] > 0 and seen["2"] > 0, seen  # both served during the split
    assert seen_front["1"] > 0 and seen_front["2"] > 0, seen_front
    assert {c.version_at(host) for _ in range(20)} == {"2"}
    assert {c.version_at(host, front=True) for _ in range(20)} == {"2"}
    events = [e["message"] for e in d2["events"]]
    assert any("canary at 50%" in m for m in events) and any("promoted" in m for m in events)
    # A visitor with a sticky bucket stays on one version.
    sticky = c.app(host).headers.get("set-cookie", "")
    assert sticky.startswith("takos_split=")

    # v3: healthy at start, its health check fails afterwards -> automatic rollback, no failed request.
    c.push("hello", version="3", health="first", strategy="canary", steps="50, 100", interval=2)
    failures: list[str] = []
    versions: Counter[str] = Counter()
    stop = threading.Event()

    def hammer(base: str) -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                try:
                    resp = client.get(base + "/", headers={"Host": host})
                    if resp.status_code != 200:
                        failures.append(f"{resp.status_code} {resp.text[:200]}")
                    else:
                        versions.update([resp.json()["version"]])
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=hammer, args=(base,), daemon=True)
               for base in (c.server.url, c.server.extra["dispatch_url"])]
    for thread in threads:
        thread.start()
    try:
        d3 = c.deploy(repo["id"])
        d3 = c.wait(d3["id"], ("rolled_back",), timeout=60)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert failures == [], failures[:5]
    assert versions["2"] > 0
    assert d3["rollout"]["state"] == "failed" and "health check failed" in d3["rollout"]["reason"]
    assert {c.version_at(host) for _ in range(10)} == {"2"}
    assert {c.version_at(host, front=True) for _ in range(10)} == {"2"}

    # Manual rollback from v2 to the version before it (v1): one request, switch under a second.
    started = time.monotonic()
    resp = c.api.post(f"/api/spaces/me/app-deployments/{d2['id']}/rollback")
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["version"] == 1
    assert c.version_at(host) == "1"
    switch = time.monotonic() - started
    assert switch < 1.0, f"rollback took {switch:.2f}s"
    assert c.version_at(host, front=True) == "1"
    history = c.api.get("/api/spaces/me/app-deployments").json()["data"]
    assert [(d["version"], d["status"]) for d in history][:3] == [(3, "rolled_back"), (2, "rolled_back"),
                                                                 (1, "active")]

    # The rollout endpoint and manual controls on a finished rollout.
    rollout = c.api.get(f"/api/spaces/me/app-deployments/{d3['id']}/rollout").json()["data"]
    assert rollout["state"] == "failed" and rollout["traffic"] == [{"deployment_id": d1["id"], "version": 1,
                                                                    "weight": 100}]
    resp = c.api.post(f"/api/spaces/me/app-deployments/{d3['id']}/rollout/promote")
    assert resp.status_code == 409


def test_canary_pause_promote_by_hand(deploy_server: Client):
    c = deploy_server
    repo = c.create_repo("paused")
    host = "paused.apps.localhost"
    c.push("paused", version="1")
    c.wait(c.deploy(repo["id"])["id"], ("active",))
    c.push("paused", version="2", strategy="canary", steps="10, 50, 100", interval=2)
    d2 = c.deploy(repo["id"])
    c.wait(d2["id"], ("deploying",))
    deadline = time.monotonic() + 30
    while c.api.get(f"/api/spaces/me/app-deployments/{d2['id']}/rollout").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    resp = c.api.post(f"/api/spaces/me/app-deployments/{d2['id']}/rollout/pause")
    assert resp.status_code == 200 and resp.json()["data"]["state"] == "paused"
    weight = resp.json()["data"]["weight"]
    time.sleep(3)  # beat ticks, nothing moves while paused
    data = c.api.get(f"/api/spaces/me/app-deployments/{d2['id']}/rollout").json()["data"]
    assert data["state"] == "paused" and data["weight"] == weight
    resp = c.api.post(f"/api/spaces/me/app-deployments/{d2['id']}/rollout/promote")
    assert resp.status_code == 200 and resp.json()["data"]["state"] == "completed"
    assert {c.version_at(host) for _ in range(10)} == {"2"}


def test_custom_domains_route_only_when_verified(deploy_server: Client, dns_stub: DnsStub):
    c = deploy_server
    repo = c.create_repo("shop")
    c.push("shop", version="1")
    c.wait(c.deploy(repo["id"])["id"], ("active",))
    service_id = c.api.get("/api/services").json()["services"]
    service_id = next(s["id"] for s in service_id if s["slug"] == "shop")

    # TXT verification.
    resp = c.api.post(f"/api/services/{service_id}/custom-domains",
                      json={"domain": "shop.example.test", "verification_method": "txt"})
    assert resp.status_code == 201, resp.text
    domain = resp.json()["custom_domain"]
    assert domain["status"] == "pending"
    for front in (False, True):
        unverified = c.app("shop.example.test", front=front)
        assert unverified.status_code == 404 and "not verified" in unverified.json()["error"]["message"]
    resp = c.api.post(f"/api/services/{service_id}/custom-domains/{domain['id']}/verify")
    assert resp.json()["custom_domain"]["status"] == "pending"  # no record yet
    dns_stub.set("_takos-verify.shop.example.test", "TXT", f'"takos-verify={domain["verification_token"]}"')
    resp = c.api.post(f"/api/services/{service_id}/custom-domains/{domain['id']}/verify")
    assert resp.json()["custom_domain"]["status"] == "verified", resp.text
    assert c.version_at("shop.example.test") == "1" and c.version_at("shop.example.test", front=True) == "1"
    assert c.api.get("/api/domains/ask", params={"domain": "shop.example.test"}).status_code == 200
    assert httpx.get(c.server.url + "/api/domains/ask", params={"domain": "evil.example.test"}).status_code == 404

    # HTTP verification: the domain's A record points here; dispatch serves the token under /.well-known/.
    resp = c.api.post(f"/api/services/{service_id}/custom-domains", json={"domain": "www.shop.test"})
    domain2 = resp.json()["custom_domain"]
    dns_stub.set("www.shop.test", "A", "127.0.0.1")
    challenge = c.app("www.shop.test", "/.well-known/takos-domain-verification")
    assert challenge.text == domain2["verification_token"]
    resp = c.api.post(f"/api/services/{service_id}/custom-domains/{domain2['id']}/verify")
    assert resp.json()["custom_domain"]["status"] == "verified", resp.json()
    assert c.version_at("www.shop.test") == "1"

    # Removing the domain stops routing it at once.
    assert c.api.delete(f"/api/services/{service_id}/custom-domains/{domain['id']}").status_code == 200
    assert c.app("shop.example.test").status_code != 200 or "version" not in c.app("shop.example.test").text


def test_cli_deploy_list_rollback_and_domains(deploy_server: Client, tmp_path: Path):
    import json
    import os
    import subprocess
    import sys

    c = deploy_server
    c.create_repo("clidemo")
    c.push("clidemo", version="1")
    env = {**os.environ, "TAKOS_URL": c.server.url, "TAKOS_TOKEN": c.token, "TAKOS_CONFIG": str(tmp_path / "c.json")}

    def takos(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "takos.cli.main", *args], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=300)

    # The repository is found from the checkout's origin remote.
    checkout = c.work / "clidemo"
    host = c.server.url.split("://", 1)[1]
    subprocess.run(["git", "remote", "add", "origin", f"http://{host}/git/alice/clidemo.git"], cwd=checkout,
                   check=True)
    out = takos("deploy", "--json", cwd=checkout)
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    assert first["status"] == "active" and c.version_at("clidemo.apps.localhost") == "1"
    c.push("clidemo", version="2")
    out = takos("deploy", "--repo", "clidemo", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["version"] == 2
    listing = json.loads(takos("deployments", "list", "--json").stdout)["data"]
    assert [d["version"] for d in listing if d["app"] == "clidemo"] == [2, 1]
    out = takos("rollback", "--repo", "clidemo")
    assert out.returncode == 0 and "v1 is serving again" in out.stdout, out.stderr
    assert c.version_at("clidemo.apps.localhost") == "1"
    out = takos("domains", "add", "clidemo", "cli.example.test", "--method", "txt")
    assert out.returncode == 0 and "_takos-verify.cli.example.test" in out.stdout
    out = takos("domains", "list", "clidemo")
    assert "cli.example.test" in out.stdout and "pending" in out.stdout


def test_build_from_workflow_artifact(deploy_server: Client):
    """push -> the push starts the `build` workflow, whose job uploads artifact `dist` -> the deployment
    waits for that run (without holding the worker its jobs need), unpacks the artifact and runs it."""
    c = deploy_server
    repo = c.create_repo("built")
    c.push("built", files=workflow_app_files(name="built"))
    d = c.deploy(repo["id"])
    d = c.wait(d["id"], ("active",), timeout=240)
    runs = c.api.get(f"/api/repos/{repo['id']}/actions/runs").json()["runs"]
    assert runs and runs[0]["conclusion"] == "success" and runs[0]["sha"] == d["commit_sha"]
    # The served code exists only in the artifact: the repository has app.py.in, not dist/app.py.
    assert c.version_at("built.apps.localhost") == f"built-by-run-{runs[0]['run_number']}"
    assert c.version_at("built.apps.localhost", front=True) == f"built-by-run-{runs[0]['run_number']}"
    types = [e["type"] for e in d["events"]]
    assert "artifact_fetched" in types
    fetched = next(e for e in d["events"] if e["type"] == "artifact_fetched")
    assert f"#{runs[0]['run_number']}" in fetched["message"]

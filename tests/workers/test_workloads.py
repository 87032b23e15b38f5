"""Every workload of the manifest is deployed, each on its own service: hostname, route, health check,
rollout and rollback of its own.

Real parts: git commits, the local process driver (each runtime a real Python HTTP server on
loopback), the database, and dispatch's routing table; Celery runs inline.
"""

from __future__ import annotations

import httpx
import pytest

from dispatch.table import lookup
from tests.workers.apps import APP_PY
from workers import services as dep

pytestmark = pytest.mark.django_db(transaction=True)

MANIFEST = """apiVersion: takos.dev/v1alpha1
kind: App
metadata:
  name: multi
spec:
  version: "{version}"
  workers:
    web:
      run: python3 web.py
      healthCheck: {{path: /health, timeout: 2, startTimeout: 20}}
  services:
    api:
      run: python3 api.py
      healthCheck: {{path: /health, timeout: 2, startTimeout: 5}}
      env: {{GREETING: from-api}}
  routes:
    - {{name: api, target: api, path: /}}
    - {{name: site, target: web, path: /}}
"""


@pytest.fixture
def multi_repo(alice, space):  # type: ignore[no-untyped-def]
    from repos import git
    from repos.services import repo_create

    repo = repo_create(space=space, actor=alice, name="multi")

    def commit(version: str, api_health: str = "ok") -> str:
        files = {".takos/app.yml": MANIFEST.format(version=version),
                 "web.py": APP_PY.format(version=f"web-{version}", health="ok"),
                 "api.py": APP_PY.format(version=f"api-{version}", health=api_health)}
        return git.commit_files(repo, branch="main", files={k: v.encode() for k, v in files.items()},
                                message=version, author_name="Alice", author_email="alice@example.com")

    commit("1")
    return repo, commit


def _served(hostname: str) -> dict:
    entry = lookup(hostname)
    assert entry is not None and entry.active is not None, hostname
    return httpx.get(entry.active.endpoint + "/", timeout=5).json()


def test_all_workloads_are_deployed_each_on_its_own_service(alice, space, multi_repo):
    from services.models import Service

    repo, commit = multi_repo
    primary, created = dep.app_deployment_create(space=space, actor=alice, repo=repo, ref="main")
    assert created
    deployments = {d.manifest["name"]: d for d in primary.workload_deployments}
    assert set(deployments) == {"web", "api"}
    # The route at `/` listed first targets api: api is the primary workload, at the app's hostname.
    assert primary.manifest["name"] == "api" and primary.service.hostname == "multi.apps.localhost"
    for d in deployments.values():
        d.refresh_from_db()
        assert d.status == "active", d.step_error
    web_service = deployments["web"].service
    assert web_service.hostname == "multi-web.apps.localhost" and web_service.workload == "web"
    assert web_service.group_id == primary.service.group_id == dep.App.objects.get(name="multi").pk
    assert _served("multi.apps.localhost")["version"] == "api-1"
    assert _served("multi.apps.localhost")["env"] == "from-api"
    assert _served("multi-web.apps.localhost")["version"] == "web-1"

    # A second deploy reuses both services; each gets its own next version.
    commit("2")
    primary2, _ = dep.app_deployment_create(space=space, actor=alice, repo=repo, ref="main")
    again = {d.manifest["name"]: d for d in primary2.workload_deployments}
    assert {n: d.service_id for n, d in again.items()} == {n: d.service_id for n, d in deployments.items()}
    assert {n: d.version for n, d in again.items()} == {"web": 2, "api": 2}
    assert Service.objects.filter(space=space).count() == 2
    assert _served("multi.apps.localhost")["version"] == "api-2"
    assert _served("multi-web.apps.localhost")["version"] == "web-2"

    # Rolling one workload back leaves the other alone.
    web_service.refresh_from_db()
    dep.rollback(service=web_service, actor=alice, target=dep.rollback_target(web_service))
    assert _served("multi-web.apps.localhost")["version"] == "web-1"
    assert _served("multi.apps.localhost")["version"] == "api-2"


def test_each_workload_has_its_own_health_gate(alice, space, multi_repo):
    repo, commit = multi_repo
    dep.app_deployment_create(space=space, actor=alice, repo=repo, ref="main")
    commit("2", api_health="fail")
    primary, _ = dep.app_deployment_create(space=space, actor=alice, repo=repo, ref="main")
    results = {}
    for d in primary.workload_deployments:
        d.refresh_from_db()
        results[d.manifest["name"]] = d.status
    assert results == {"api": "failed", "web": "active"}
    assert _served("multi.apps.localhost")["version"] == "api-1"  # the failed version never got traffic
    assert _served("multi-web.apps.localhost")["version"] == "web-2"

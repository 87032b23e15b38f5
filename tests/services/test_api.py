"""The services API: tenancy (another space's service is a 404), roles, env masking, links, bindings,
settings, idempotent deployments and the console pages."""

from __future__ import annotations

import pytest

from tests.factories import make_team_space

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.DATA_DIR = tmp_path


def _create(api, **data):  # type: ignore[no-untyped-def]
    resp = api.post("/api/services", data)
    assert resp.status_code == 201, resp.content
    return resp.json()["service"]


def test_create_list_get_and_hostname(alice_api):
    service = _create(alice_api, slug="My-Shop".lower())
    assert service["hostname"] == "my-shop.apps.localhost" and service["status"] == "pending"
    assert alice_api.get("/api/services").json()["services"][0]["id"] == service["id"]
    detail = alice_api.get(f"/api/services/{service['id']}").json()["service"]
    assert detail["traffic"] == [] and detail["custom_domains"] == []
    assert alice_api.get("/api/services/my-shop").status_code == 200  # by slug too
    resp = alice_api.post("/api/services", {"slug": "my-shop"})
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "CONFLICT"
    assert alice_api.post("/api/services", {"slug": "Bad_Slug"}).status_code == 400
    assert alice_api.post("/api/services", {"slug": "admin"}).status_code == 400


def test_another_tenants_service_is_a_404(alice_api, bob_api):
    service = _create(alice_api, slug="private-app")
    for path in ("", "/env", "/deployments", "/custom-domains", "/settings", "/bindings"):
        resp = bob_api.get(f"/api/services/{service['id']}{path}")
        assert resp.status_code == 404, path
        assert resp.json()["error"]["code"] == "NOT_FOUND"
    assert bob_api.delete(f"/api/services/{service['id']}").status_code == 404
    assert bob_api.get("/api/services").json()["services"] == []


def test_viewers_read_editors_write_admins_delete(alice, bob, charlie, alice_api, bob_api, charlie_api):
    team = make_team_space(alice, "Team", bob="viewer", charlie="editor")
    service = _create(alice_api, slug="team-app", space_id=team.pk)
    assert bob_api.get(f"/api/services/{service['id']}").status_code == 200
    resp = bob_api.patch(f"/api/services/{service['id']}/env", {"variables": [{"name": "A", "value": "1"}]})
    assert resp.status_code == 403
    assert charlie_api.patch(f"/api/services/{service['id']}/env",
                             {"variables": [{"name": "A", "value": "1"}]}).status_code == 200
    assert charlie_api.delete(f"/api/services/{service['id']}").status_code == 403
    assert bob_api.post("/api/services", {"slug": "nope", "space_id": team.pk}).status_code == 403
    assert alice_api.delete(f"/api/services/{service['id']}").status_code == 200
    assert alice_api.get(f"/api/services/{service['id']}").status_code == 404


def test_env_secrets_are_masked_and_kept(alice_api):
    from services.models import ServiceEnvVar

    sid = _create(alice_api, slug="envy")["id"]
    resp = alice_api.patch(f"/api/services/{sid}/env", {"variables": [
        {"name": "PLAIN", "value": "visible"}, {"name": "TOKEN", "value": "s3cret", "secret": True}]})
    assert resp.status_code == 200
    assert {v["name"]: v["value"] for v in resp.json()["variables"]} == {"PLAIN": "visible", "TOKEN": "********"}
    assert "s3cret" not in ServiceEnvVar.objects.get(name="TOKEN").value_encrypted  # encrypted at rest
    # Sending the mask back keeps the secret; omitting a variable deletes it.
    alice_api.patch(f"/api/services/{sid}/env", {"variables": [{"name": "TOKEN", "value": "********", "secret": True}]})
    from services.models import Service
    from services.selectors import runtime_env

    assert runtime_env(Service.objects.get(pk=sid)) == {"TOKEN": "s3cret"}
    bad = alice_api.patch(f"/api/services/{sid}/env", {"variables": [{"name": "PORT", "value": "1"}]})
    assert bad.status_code == 400


def test_common_env_links_and_managed_token(alice_api):
    from auth_app.authentication import resolve_token
    from services.models import Service
    from workers.models import ManagedToken
    from workers.services import _env_snapshot

    sid = _create(alice_api, slug="linked")["id"]
    assert alice_api.put("/api/spaces/me/common-env", {"name": "REGION", "value": "eu"}).status_code == 200
    resp = alice_api.patch(f"/api/services/{sid}/common-env-links", {
        "add": ["REGION", "MISSING"], "builtins": {"TAKOS_ACCESS_TOKEN": {"scopes": ["repos:read"]}}})
    assert resp.status_code == 200, resp.content
    states = {link["env_name"]: link["sync_state"] for link in resp.json()["links"]}
    assert states == {"REGION": "managed", "MISSING": "missing_common"}
    assert resp.json()["builtins"]["TAKOS_ACCESS_TOKEN"]["scopes"] == ["repos:read"]
    env = _env_snapshot(Service.objects.get(pk=sid), {"env": {"FROM_MANIFEST": "1"}})
    assert env["REGION"] == "eu" and env["FROM_MANIFEST"] == "1"
    user, auth = resolve_token(env["TAKOS_ACCESS_TOKEN"])
    assert user.username == "alice" and auth.scopes == ["repos:read"]
    listing = alice_api.get("/api/spaces/me/common-env").json()["variables"]
    assert listing[0]["name"] == "REGION"
    assert alice_api.delete("/api/spaces/me/common-env/REGION").status_code == 200
    assert ManagedToken.objects.count() == 1


def test_bindings_and_settings(alice_api):
    sid = _create(alice_api, slug="bound")["id"]
    resp = alice_api.patch(f"/api/services/{sid}/bindings", {"bindings": [
        {"name": "DB", "type": "d1", "resource_name": "main-db"}, {"name": "FILES", "type": "r2", "resource_id": "abc"}]})
    assert resp.status_code == 200
    assert {b["name"]: b["type"] for b in resp.json()["bindings"]} == {"DB": "sql", "FILES": "object_store"}
    assert alice_api.patch(f"/api/services/{sid}/bindings",
                           {"bindings": [{"name": "X", "type": "nope", "resource_id": "a"}]}).status_code == 400
    resp = alice_api.patch(f"/api/services/{sid}/settings", {"compatibility_date": "2026-01-01",
                                                             "limits": {"memory_mb": 256}})
    assert resp.json()["settings"]["limits"]["memory_mb"] == 256
    assert alice_api.get(f"/api/services/{sid}/settings").json()["settings"]["compatibility_date"] == "2026-01-01"


def test_service_deployments_validate_and_honour_idempotency_key(alice_api, settings, django_capture_on_commit_callbacks):
    from workers.models import Deployment

    sid = _create(alice_api, slug="imgs")["id"]
    assert alice_api.post(f"/api/services/{sid}/deployments", {}).status_code == 400
    body = {"artifact": {"kind": "container-image", "image_ref": "example/app:1", "exposed_port": 8080},
            "strategy": "direct"}
    # Not executed here (captured on-commit callbacks are dropped): only the API contract is checked.
    with django_capture_on_commit_callbacks(execute=False):
        first = alice_api.post(f"/api/services/{sid}/deployments", body, HTTP_IDEMPOTENCY_KEY="abc")
        again = alice_api.post(f"/api/services/{sid}/deployments", body, HTTP_IDEMPOTENCY_KEY="abc")
        other = alice_api.post(f"/api/services/{sid}/deployments", body, HTTP_IDEMPOTENCY_KEY="def")
    assert first.status_code == 201 and again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert first.json()["deployment"]["id"] == again.json()["deployment"]["id"]
    assert other.json()["deployment"]["version"] == 2
    assert Deployment.objects.filter(service_id=sid).count() == 2
    d = first.json()["deployment"]
    assert (d["status"], d["artifact_kind"], d["strategy"]) == ("pending", "container-image", "immediate")
    listing = alice_api.get(f"/api/services/{sid}/deployments").json()
    assert [x["version"] for x in listing["deployments"]] == [2, 1] and listing["total"] == 2
    resp = alice_api.post(f"/api/services/{sid}/deployments/rollback", {})
    assert resp.status_code == 404  # nothing served yet


def test_app_deployment_errors_are_envelopes(alice, alice_api, bob_api, settings, tmp_path):
    from accounts.selectors import personal_space
    from repos import git
    from repos.services import repo_create

    settings.TAKOS_GIT_ROOT = tmp_path / "git"
    repo = repo_create(space=personal_space(alice), actor=alice, name="broken")
    git.commit_files(repo, branch="main", files={".takos/app.yml": b"apiVersion: takos.dev/v1alpha1\nkind: App\n"},
                     message="m", author_name="a", author_email="a@example.com")
    resp = alice_api.post("/api/spaces/me/app-deployments", {"repo_id": repo.pk, "ref": "main"})
    assert resp.status_code == 400
    issues = resp.json()["error"]["details"]["issues"]
    assert {"key": "metadata", "line": 1, "message": "is required"} in issues
    assert alice_api.post("/api/spaces/me/app-deployments", {"repo_id": repo.pk, "ref": "nope"}).status_code == 400
    assert bob_api.post("/api/spaces/me/app-deployments", {"repo_id": repo.pk}).status_code == 404
    assert alice_api.get("/api/spaces/me/app-deployments/aaaaaaaaaaaa").status_code == 404
    assert alice_api.get("/api/spaces/me/app-deployments").json()["data"] == []


def test_console_pages_render(alice, client):
    from accounts.selectors import personal_space
    from services.services import service_create

    service = service_create(space=personal_space(alice), actor=alice, slug="seen")
    client.force_login(alice)
    assert b"seen.apps.localhost" in client.get("/services").content
    page = client.get(f"/services/{service.pk}")
    assert page.status_code == 200 and b"Custom domains" in page.content
    resp = client.post(f"/services/{service.pk}/env", {"name": ["KEY"], "value": ["v"], "secret": ["KEY"]})
    assert resp.status_code == 302
    assert b"********" in client.get(f"/services/{service.pk}").content
    resp = client.post(f"/services/{service.pk}/domains", {"domain": "app.example.org", "method": "txt"})
    assert b"_takos-verify.app.example.org" in client.get(f"/services/{service.pk}").content

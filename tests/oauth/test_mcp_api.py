"""/api/mcp/servers: tenancy, roles and bad input (no remote server is reached in these tests)."""

from __future__ import annotations

import pytest

from accounts.selectors import personal_space
from oauth.models import MCPOAuthPending, MCPServer
from tests.conftest import token_api
from tests.factories import make_team_space


def _server(space, name: str = "notes", **kwargs) -> MCPServer:  # type: ignore[no-untyped-def]
    return MCPServer.objects.create(space=space, name=name, url="https://mcp.example.com/mcp", **kwargs)


def test_an_unknown_or_malformed_server_id_is_404(alice_api):
    for server_id in ("aaaaaaaaaaaaaaaa", "nope", "../../etc"):
        response = alice_api.get(f"/api/mcp/servers/{server_id}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    assert alice_api.get("/api/mcp/servers/aaaaaaaaaaaaaaaa/tools").status_code == 404


def test_another_tenants_server_is_404_for_every_verb(alice, bob, alice_api):
    bobs = _server(personal_space(bob))
    for call in (lambda: alice_api.get(f"/api/mcp/servers/{bobs.id}"),
                 lambda: alice_api.get(f"/api/mcp/servers/{bobs.id}/tools"),
                 lambda: alice_api.patch(f"/api/mcp/servers/{bobs.id}", {"enabled": False}),
                 lambda: alice_api.post(f"/api/mcp/servers/{bobs.id}/connect", {}),
                 lambda: alice_api.delete(f"/api/mcp/servers/{bobs.id}")):
        assert call().status_code == 404
    assert alice_api.get("/api/mcp/servers", {"spaceId": personal_space(bob).id}).status_code == 404
    bobs.refresh_from_db()
    assert bobs.enabled is True


def test_a_viewer_reads_but_cannot_write(alice, charlie):
    team = make_team_space(alice, "Team", charlie="viewer")
    server = _server(team)
    viewer = token_api(charlie)
    listed = viewer.get("/api/mcp/servers", {"spaceId": team.id})
    assert listed.status_code == 200 and [s["name"] for s in listed.json()["data"]] == ["notes"]
    assert viewer.get(f"/api/mcp/servers/{server.id}").status_code == 200
    created = viewer.post(f"/api/mcp/servers?spaceId={team.id}", {"name": "x", "url": "https://mcp.example.com/"})
    assert created.status_code == 403 and created.json()["error"]["code"] == "FORBIDDEN"
    assert viewer.patch(f"/api/mcp/servers/{server.id}", {"enabled": False}).status_code == 403
    assert viewer.post(f"/api/mcp/servers/{server.id}/connect", {}).status_code == 403
    assert viewer.delete(f"/api/mcp/servers/{server.id}").status_code == 403
    assert MCPServer.objects.filter(space=team).count() == 1


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "url": "ftp://mcp.example.com/"}, "url"),
    ({"name": "x", "url": "not a url"}, "url"),
    ({"name": "x", "url": "https:///nohost"}, "url"),
    ({"name": "x"}, "url"),
    ({"name": "bad name", "url": "https://mcp.example.com/"}, "name"),
    ({"name": "a__b", "url": "https://mcp.example.com/"}, "name"),
    ({"name": "x" * 41, "url": "https://mcp.example.com/"}, "name"),
])
def test_bad_input_is_400_and_writes_nothing(alice_api, body, field):
    response = alice_api.post("/api/mcp/servers", body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert field in str(response.json()["error"])
    assert not MCPServer.objects.exists() and not MCPOAuthPending.objects.exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/mcp", "http://10.1.2.3/mcp", "http://169.254.169.254/latest",
                                 "http://localhost/mcp", "http://[::1]/mcp"])
def test_private_addresses_are_refused_by_the_egress_guard(alice_api, url):
    response = alice_api.post("/api/mcp/servers", {"name": "x", "url": url})
    assert response.status_code == 400, response.content
    assert "egress" in response.json()["error"]["message"]
    assert not MCPServer.objects.exists()


def test_a_duplicate_name_is_409_and_patch_renames_and_disables(alice, alice_api):
    space = personal_space(alice)
    server = _server(space)
    other = _server(space, name="other")
    duplicate = alice_api.post("/api/mcp/servers", {"name": "notes", "url": "https://mcp.example.com/"})
    assert duplicate.status_code == 409
    assert alice_api.patch(f"/api/mcp/servers/{other.id}", {"name": "notes"}).status_code == 409
    assert alice_api.patch(f"/api/mcp/servers/{server.id}", {"name": "no spaces"}).status_code == 400
    changed = alice_api.patch(f"/api/mcp/servers/{server.id}", {"name": "renamed", "enabled": False})
    assert changed.status_code == 200
    assert changed.json()["data"]["name"] == "renamed" and changed.json()["data"]["status"] == "disabled"
    assert alice_api.delete(f"/api/mcp/servers/{server.id}").json() == {"success": True}
    assert list(MCPServer.objects.values_list("name", flat=True)) == ["other"]


def test_tools_of_a_server_that_is_not_authorized_yet_is_409(alice, alice_api):
    server = _server(personal_space(alice), auth_mode="oauth_pkce")
    response = alice_api.get(f"/api/mcp/servers/{server.id}/tools")
    assert response.status_code == 409 and "connect" in response.json()["error"]["message"]


def test_an_oauth_token_needs_spaces_scopes(alice):
    from rest_framework.test import APIClient

    from tests.oauth.conftest import bearer, make_client, obtain_tokens

    client = make_client(alice)
    django_client = APIClient()
    django_client.force_login(alice)
    tokens = obtain_tokens(django_client, client.client.client_id, scope="spaces:read")
    api = bearer(tokens["access_token"])
    assert api.get("/api/mcp/servers").status_code == 200
    denied = api.post("/api/mcp/servers", {"name": "x", "url": "https://mcp.example.com/"}, format="json")
    assert denied.status_code == 403 and "spaces:write" in denied.json()["error"]["message"]


def test_the_pending_cleanup_drops_only_expired_states(alice):
    from datetime import timedelta

    from django.utils import timezone

    from oauth.tasks import purge_mcp_pending_task

    server = _server(personal_space(alice))
    common = {"space": server.space, "server": server, "server_name": "notes", "server_url": server.url,
              "code_verifier": "x", "issuer_url": "https://as", "token_endpoint": "https://as/token",
              "client_id": "c", "redirect_uri": "https://t/cb"}
    MCPOAuthPending.objects.create(state="old", expires_at=timezone.now() - timedelta(minutes=1), **common)
    MCPOAuthPending.objects.create(state="new", expires_at=timezone.now() + timedelta(minutes=5), **common)
    assert purge_mcp_pending_task() == 1
    assert list(MCPOAuthPending.objects.values_list("state", flat=True)) == ["new"]

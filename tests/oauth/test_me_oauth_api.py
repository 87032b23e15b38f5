"""/api/me/oauth/* (grants, audit log, own clients) and the SPA consent JSON API."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import identify_hasher
from rest_framework.test import APIClient

from oauth.models import OAuthClient, OAuthConsent
from tests.oauth.conftest import REDIRECT_URI, authorize_params, bearer, make_client, obtain_tokens


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def session_api(alice):
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(alice)
    api.get("/api/auth/csrf")
    api.credentials(HTTP_X_CSRFTOKEN=api.cookies["csrftoken"].value)
    return api


def test_it_creates_a_client_and_shows_the_secret_once(alice_api):
    response = alice_api.post("/api/me/oauth/clients", {
        "client_name": "CI bot", "redirect_uris": ["https://ci.example.com/cb"], "client_uri": "https://ci.example.com",
        "scopes": ["repos:read"],
    })
    assert response.status_code == 201, response.json()
    body = response.json()
    secret, client_id = body["client_secret"], body["client"]["client_id"]
    stored = OAuthClient.objects.get(client_id=client_id)
    assert identify_hasher(stored.client_secret) and secret not in stored.client_secret
    detail = alice_api.get(f"/api/me/oauth/clients/{client_id}").json()
    assert "client_secret" not in detail and detail["client"]["scopes"] == ["repos:read"]
    listing = alice_api.get("/api/me/oauth/clients").json()
    assert [c["client_id"] for c in listing["clients"]] == [client_id]


def test_it_validates_clients(alice_api):
    insecure = alice_api.post("/api/me/oauth/clients", {"client_name": "x", "redirect_uris": ["http://app.example.com/cb"]})
    assert insecure.status_code == 400
    no_redirect = alice_api.post("/api/me/oauth/clients", {"client_name": "x", "redirect_uris": []})
    assert no_redirect.status_code == 400
    bad_scope = alice_api.post("/api/me/oauth/clients", {"client_name": "x", "redirect_uris": [REDIRECT_URI],
                                                         "scopes": ["admin"]})
    assert bad_scope.status_code == 400
    assert OAuthClient.objects.exclude(client_id="takos-cli").count() == 0


def test_it_updates_and_deletes_own_clients_only(alice_api, bob_api, alice):
    client = make_client(alice).client
    path = f"/api/me/oauth/clients/{client.client_id}"
    assert bob_api.get(path).status_code == 404
    assert bob_api.patch(path, {"client_name": "Stolen"}).status_code == 404
    assert bob_api.delete(path).status_code == 404
    updated = alice_api.patch(path, {"client_name": "Renamed", "redirect_uris": ["https://new.example/cb"]})
    assert updated.status_code == 200 and updated.json()["client"]["client_name"] == "Renamed"
    assert alice_api.delete(path).status_code == 200
    assert not OAuthClient.objects.filter(pk=client.pk).exists()


def test_consents_are_listed_and_revoking_kills_tokens(signed_in, alice, alice_api):
    client = make_client(alice).client
    tokens = obtain_tokens(signed_in, client.client_id, scope="spaces:read")
    consents = alice_api.get("/api/me/oauth/consents").json()["consents"]
    assert consents[0]["client_id"] == client.client_id
    assert consents[0]["scopes"] == [{"name": "spaces:read", "description": "List your spaces and their members"}]
    assert alice_api.delete(f"/api/me/oauth/consents/{client.client_id}").status_code == 200
    assert bearer(tokens["access_token"]).get("/api/spaces").status_code == 401
    refresh = signed_in.post("/oauth/token", {"grant_type": "refresh_token", "client_id": client.client_id,
                                              "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400
    assert alice_api.get("/api/me/oauth/consents").json()["consents"] == []
    # A revoked grant asks for consent again.
    again = signed_in.get("/oauth/authorize", authorize_params(client.client_id, scope="spaces:read"))
    assert again.status_code == 200 and b"wants to access" in again.content
    events = [e["event_type"] for e in alice_api.get("/api/me/oauth/audit-logs").json()["audit_logs"]]
    assert {"authorize.approved", "token.issued", "consent.revoked"} <= set(events)


def test_other_peoples_consents_are_invisible(signed_in, alice, bob_api):
    client = make_client(alice).client
    obtain_tokens(signed_in, client.client_id, scope="spaces:read")
    assert bob_api.get("/api/me/oauth/consents").json()["consents"] == []
    assert bob_api.delete(f"/api/me/oauth/consents/{client.client_id}").status_code == 404
    assert OAuthConsent.objects.get().status == "active"


def test_an_oauth_token_cannot_manage_oauth(signed_in, alice):
    client = make_client(alice).client
    token = obtain_tokens(signed_in, client.client_id, scope="spaces:write")["access_token"]
    api = bearer(token)
    assert api.get("/api/me/oauth/consents").status_code == 403
    assert api.post("/api/me/oauth/clients", {"client_name": "x", "redirect_uris": [REDIRECT_URI]},
                    format="json").status_code == 403


def test_the_spa_consent_api_runs_a_flow(session_api, alice):
    client = make_client(alice).client
    context = session_api.get("/api/oauth/authorize/context", authorize_params(client.client_id, scope="spaces:read"))
    assert context.status_code == 200, context.json()
    body = context.json()
    assert body["client"]["client_name"] == "Test App" and body["already_granted"] is False
    assert body["scopes"][0]["name"] == "spaces:read"
    decision = session_api.post("/api/oauth/authorize/decision", {"request_id": body["request_id"], "approve": True},
                                format="json")
    assert decision.status_code == 200
    assert decision.json()["redirect_url"].startswith(REDIRECT_URI + "?code=")
    assert "state=st-123" in decision.json()["redirect_url"]


def test_the_spa_consent_api_needs_the_session_and_csrf(alice, alice_api):
    client = make_client(alice).client
    # A bearer token (PAT) can never answer a consent request.
    assert alice_api.get("/api/oauth/authorize/context",
                         authorize_params(client.client_id, scope="spaces:read")).status_code in (401, 403)
    no_csrf = APIClient(enforce_csrf_checks=True)
    no_csrf.force_login(alice)
    assert no_csrf.post("/api/oauth/authorize/decision", {"request_id": "x", "approve": True},
                        format="json").status_code == 403


def test_the_spa_device_api(session_api, alice, client):
    from oauth.models import GRANT_DEVICE_CODE

    cli = make_client(alice, grant_types=[GRANT_DEVICE_CODE], redirect_uris=[], name="CLI").client
    from urllib.parse import urlencode

    start = client.post("/oauth/device/code", urlencode({"client_id": cli.client_id, "scope": "spaces:read"}),
                        content_type="application/x-www-form-urlencoded").json()
    assert "user_code" in start, start
    context = session_api.get("/api/oauth/device/context", {"user_code": start["user_code"]})
    assert context.status_code == 200 and context.json()["client"]["client_name"] == "CLI"
    decision = session_api.post("/api/oauth/device/decision", {"user_code": start["user_code"], "approve": False},
                                format="json")
    assert decision.json() == {"status": "denied"}
    assert session_api.get("/api/oauth/device/context", {"user_code": start["user_code"]}).status_code == 404


def test_console_pages_render(signed_in, alice):
    client = make_client(alice).client
    obtain_tokens(signed_in, client.client_id, scope="spaces:read")
    apps = signed_in.get("/settings/oauth/apps")
    assert apps.status_code == 200 and b"Test App" in apps.content
    clients = signed_in.get("/settings/oauth/clients")
    assert clients.status_code == 200 and client.client_id.encode() in clients.content
    created = signed_in.post("/settings/oauth/clients", {"client_name": "Console app", "redirect_uris": REDIRECT_URI,
                                                         "client_type": "confidential",
                                                         "grant_types": ["authorization_code", "refresh_token"]})
    assert created.status_code == 200 and b'id="new-client-secret"' in created.content
    revoked = signed_in.post(f"/settings/oauth/apps/{client.client_id}/revoke")
    assert revoked.status_code == 302
    assert OAuthConsent.objects.get(client=client).status == "revoked"


def test_admin_lists_oauth_models(client, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    make_client(alice)
    for path in ("/admin/oauth/oauthclient/", "/admin/oauth/oauthconsent/", "/admin/oauth/oauthauditlog/",
                 "/admin/oauth2_provider/accesstoken/", "/admin/oauth2_provider/refreshtoken/",
                 "/admin/oauth2_provider/devicegrant/"):
        assert client.get(path).status_code == 200, path

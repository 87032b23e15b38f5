"""Dynamic client registration and discovery, driven the way an MCP client does it."""

from __future__ import annotations

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from oauth.models import OAuthClient
from tests.oauth.conftest import REDIRECT_URI, callback_params

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_mcp_client_discovers_registers_signs_in_and_calls_the_api(live_server, browser):
    base = live_server.url
    # 1. An unauthenticated call tells the client where the resource metadata is (RFC 9728).
    unauthorized = httpx.get(f"{base}/api/spaces")
    assert unauthorized.status_code == 401
    metadata_url = unauthorized.headers["www-authenticate"].split('resource_metadata="')[1].rstrip('"')
    resource = httpx.get(metadata_url).json()
    assert resource["resource"] == f"{base}/api"
    assert "spaces:read" in resource["scopes_supported"]
    issuer = resource["authorization_servers"][0]
    # 2. Authorization server metadata (RFC 8414).
    server = httpx.get(f"{issuer}/.well-known/oauth-authorization-server").json()
    assert server["issuer"] == issuer
    assert server["code_challenge_methods_supported"] == ["S256"]
    assert server["response_types_supported"] == ["code"]
    assert "implicit" not in server["grant_types_supported"] and "password" not in server["grant_types_supported"]
    assert server["authorization_response_iss_parameter_supported"] is True
    # 3. Dynamic registration (RFC 7591) as a public client.
    registered = httpx.post(server["registration_endpoint"], json={
        "client_name": "Example MCP", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "scope": "spaces:read repos:read",
        "client_uri": "https://mcp.example.com",
    })
    assert registered.status_code == 201, registered.text
    reg = registered.json()
    assert "client_secret" not in reg and reg["grant_types"] == ["authorization_code", "refresh_token"]
    assert reg["scope"] == "repos:read spaces:read"
    # 4. Authorization code + PKCE with the resource indicator (RFC 8707).
    oauth = OAuth2Client(client_id=reg["client_id"], redirect_uri=REDIRECT_URI, scope="spaces:read",
                         code_challenge_method="S256", token_endpoint_auth_method="none")
    verifier = "mcp-verifier-" + "q" * 40
    url, state = oauth.create_authorization_url(server["authorization_endpoint"], code_verifier=verifier,
                                                resource=resource["resource"])
    consent = browser.authorize(url)
    assert "Example MCP" in consent.text and "registered automatically" in consent.text
    params = callback_params(browser.decide(consent))
    assert params["state"] == state and params["iss"] == issuer
    token = oauth.fetch_token(server["token_endpoint"], code=params["code"], code_verifier=verifier,
                              resource=resource["resource"])
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token['access_token']}"})
    assert api.get("/api/spaces").status_code == 200
    # 5. RFC 7592: the registration access token reads and deletes the registration.
    manage = {"Authorization": f"Bearer {reg['registration_access_token']}"}
    read = httpx.get(reg["registration_client_uri"], headers=manage)
    assert read.status_code == 200 and read.json()["client_name"] == "Example MCP"
    assert httpx.get(reg["registration_client_uri"], headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.delete(reg["registration_client_uri"], headers=manage).status_code == 204
    assert api.get("/api/spaces").status_code == 401


def test_registration_is_rate_limited_per_ip(live_server, settings):
    settings.TAKOS_OAUTH_REGISTER_PER_MINUTE = 3
    body = {"client_name": "Spam", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"}
    codes = [httpx.post(f"{live_server.url}/oauth/register", json=body).status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    assert OAuthClient.objects.exclude(client_id="takos-cli").count() == 3


def test_registration_refuses_bad_metadata(live_server):
    url = f"{live_server.url}/oauth/register"
    cases = [
        {"client_name": "x", "redirect_uris": ["http://evil.example/cb"], "token_endpoint_auth_method": "none"},
        {"client_name": "x", "redirect_uris": [REDIRECT_URI], "scope": "root:all"},
        {"client_name": "x", "grant_types": ["client_credentials"]},
        {"client_name": "x", "grant_types": ["implicit"], "redirect_uris": [REDIRECT_URI]},
        {"client_name": "x", "redirect_uris": [REDIRECT_URI], "client_uri": "javascript:alert(1)"},
    ]
    for body in cases:
        response = httpx.post(url, json=body)
        assert response.status_code == 400, body
        assert response.json()["error"] == "invalid_client_metadata"
    assert OAuthClient.objects.exclude(client_id="takos-cli").count() == 0


def test_discovery_documents(client):
    oidc = client.get("/.well-known/openid-configuration").json()
    assert oidc["issuer"] == "http://testserver"
    assert oidc["jwks_uri"] == "http://testserver/.well-known/jwks.json"
    assert oidc["device_authorization_endpoint"] == "http://testserver/oauth/device/code"
    assert oidc["userinfo_endpoint"] == "http://testserver/oauth/userinfo"
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and "d" not in keys[0]
    root = client.get("/.well-known/oauth-protected-resource").json()
    assert root["resource"] == "http://testserver/api"

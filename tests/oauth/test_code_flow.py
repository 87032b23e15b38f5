"""Authorization code + PKCE end to end: authlib is the client, the live server is Takos."""

from __future__ import annotations

import httpx
import pytest

from tests.oauth.conftest import REDIRECT_URI, callback_params, make_client, start_flow

pytestmark = pytest.mark.django_db(transaction=True)


def _api(live_server, token: str) -> httpx.Client:
    return httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=20)


def test_it_runs_code_pkce_flow_refreshes_and_calls_the_api(live_server, browser, alice):
    issued = make_client(alice)
    flow = start_flow(live_server.url, issued.client.client_id, scope="openid profile spaces:read")
    consent = browser.authorize(flow.url)
    assert consent.status_code == 200
    assert "Test App" in consent.text and "List your spaces" in consent.text
    # RFC 9700 §4.15: the consent page may not be framed.
    assert "frame-ancestors 'none'" in consent.headers["content-security-policy"]
    assert consent.headers["x-frame-options"] == "DENY"

    params = callback_params(browser.decide(consent))
    assert "code" in params, params
    assert params["state"] == flow.state
    assert params["iss"] == live_server.url  # RFC 9207 mix-up defence
    token = flow.client.fetch_token(f"{live_server.url}/oauth/token", code=params["code"],
                                    code_verifier=flow.verifier, redirect_uri=REDIRECT_URI)
    assert token["access_token"].startswith("tak_oat_")
    assert token["refresh_token"].startswith("tak_ort_")
    assert token["token_type"] == "Bearer" and token["expires_in"] <= 3600
    assert "id_token" in token

    api = _api(live_server, token["access_token"])
    assert api.get("/api/spaces").status_code == 200
    # spaces:read only: writing is refused by the scope check.
    denied = api.post("/api/spaces", json={"name": "Nope"})
    assert denied.status_code == 403
    assert "spaces:write" in denied.json()["error"]["message"]

    refreshed = flow.client.refresh_token(f"{live_server.url}/oauth/token", refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]  # rotation
    assert _api(live_server, refreshed["access_token"]).get("/api/spaces").status_code == 200
    # The rotated-out access token is gone.
    assert api.get("/api/spaces").status_code == 401

    userinfo = _api(live_server, refreshed["access_token"]).get("/oauth/userinfo")
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == alice.pk
    assert userinfo.json()["preferred_username"] == "alice"


def test_it_skips_consent_for_a_remembered_grant(live_server, browser, alice):
    issued = make_client(alice)
    first = start_flow(live_server.url, issued.client.client_id, scope="spaces:read")
    callback_params(browser.decide(browser.authorize(first.url)))
    again = start_flow(live_server.url, issued.client.client_id, scope="spaces:read")
    params = callback_params(browser.authorize(again.url))
    assert params["state"] == again.state and "code" in params

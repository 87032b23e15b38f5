"""RFC 9700 authorization-server "MUST"s at the authorization and token endpoints, one test each."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model

from tests.oauth.conftest import (
    REDIRECT_URI,
    approve,
    authorize_params,
    bearer,
    exchange,
    make_client,
    obtain_tokens,
)


@pytest.fixture
def app_client(alice):
    return make_client(alice).client


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


def test_it_refuses_a_redirect_uri_that_is_not_registered_exactly(signed_in, app_client):
    # RFC 9700 §4.1.3: exact string matching; no redirect to the unregistered URI (open redirector).
    for uri in ("http://127.0.0.1:8765/callback/extra", "http://127.0.0.1:8765/callback?x=1",
                "https://evil.example/callback", "http://127.0.0.1:8765/Callback"):
        response = signed_in.get("/oauth/authorize", authorize_params(app_client.client_id, scope="spaces:read",
                                                                      redirect_uri=uri))
        assert response.status_code == 400, uri
        assert "Location" not in response
        assert b"can't be completed" in response.content


def test_it_requires_pkce_for_every_client(signed_in, app_client):
    # RFC 9700 §2.1.1: PKCE required; the error goes back to the client with state and iss.
    params = authorize_params(app_client.client_id, scope="spaces:read", code_challenge=None,
                              code_challenge_method=None)
    response = signed_in.get("/oauth/authorize", params)
    assert response.status_code == 302
    assert "error=invalid_request" in response["Location"] and "state=st-123" in response["Location"]
    assert "iss=" in response["Location"]


def test_it_refuses_the_plain_pkce_method(signed_in, app_client):
    params = authorize_params(app_client.client_id, scope="spaces:read", code_challenge="x" * 50,
                              code_challenge_method="plain")
    response = signed_in.get("/oauth/authorize", params)
    assert response.status_code == 302 and "error=invalid_request" in response["Location"]


def test_it_requires_state(signed_in, app_client):
    response = signed_in.get("/oauth/authorize", authorize_params(app_client.client_id, scope="spaces:read",
                                                                  state=None))
    assert response.status_code == 302
    assert "error=invalid_request" in response["Location"]
    assert get_grant_model().objects.count() == 0


def test_it_refuses_implicit_and_hybrid_response_types(signed_in, app_client):
    # RFC 9700 §2.1.2: no implicit grant.
    for response_type in ("token", "code id_token"):
        response = signed_in.get("/oauth/authorize", authorize_params(app_client.client_id, scope="openid",
                                                                      response_type=response_type))
        assert response.status_code == 302 and "error=" in response["Location"] and "code=" not in response["Location"]


def test_it_refuses_a_wrong_or_missing_code_verifier(signed_in, app_client):
    code = approve(signed_in, authorize_params(app_client.client_id, scope="spaces:read"))["code"]
    wrong = exchange(signed_in, app_client.client_id, code, verifier="w" * 50)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = approve(signed_in, authorize_params(app_client.client_id, scope="spaces:read"))["code"]
    missing = exchange(signed_in, app_client.client_id, code, verifier=None)
    assert missing.status_code == 400 and missing.json()["error"] in ("invalid_request", "invalid_grant")
    assert get_access_token_model().objects.count() == 0


def test_it_refuses_a_different_redirect_uri_at_the_token_endpoint(signed_in, alice):
    two = make_client(alice, redirect_uris=[REDIRECT_URI, "http://127.0.0.1:8765/other"]).client
    code = approve(signed_in, authorize_params(two.client_id, scope="spaces:read"))["code"]
    response = exchange(signed_in, two.client_id, code, redirect_uri="http://127.0.0.1:8765/other")
    assert response.status_code == 400 and response.json()["error"] in ("invalid_request", "invalid_grant")


def test_a_reused_code_is_refused_and_revokes_what_it_issued(signed_in, app_client):
    code = approve(signed_in, authorize_params(app_client.client_id, scope="spaces:read"))["code"]
    first = exchange(signed_in, app_client.client_id, code)
    assert first.status_code == 200
    token = first.json()["access_token"]
    assert bearer(token).get("/api/spaces").status_code == 200
    again = exchange(signed_in, app_client.client_id, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert bearer(token).get("/api/spaces").status_code == 401


def test_an_expired_code_is_refused(signed_in, app_client):
    code = approve(signed_in, authorize_params(app_client.client_id, scope="spaces:read"))["code"]
    get_grant_model().objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = exchange(signed_in, app_client.client_id, code)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_client(signed_in, alice, app_client):
    other = make_client(alice, name="Other").client
    code = approve(signed_in, authorize_params(app_client.client_id, scope="spaces:read"))["code"]
    response = exchange(signed_in, other.client_id, code)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_refresh_token_reuse_revokes_the_whole_family(signed_in, app_client):
    # RFC 9700 §4.14.2: refresh tokens of public clients are sender-constrained or rotated;
    # replaying a rotated one revokes every token of the family.
    tokens = obtain_tokens(signed_in, app_client.client_id, scope="spaces:read")
    refresh = {"grant_type": "refresh_token", "client_id": app_client.client_id}
    second = signed_in.post("/oauth/token", {**refresh, "refresh_token": tokens["refresh_token"]}).json()
    third = signed_in.post("/oauth/token", {**refresh, "refresh_token": second["refresh_token"]}).json()
    assert bearer(third["access_token"]).get("/api/spaces").status_code == 200

    replay = signed_in.post("/oauth/token", {**refresh, "refresh_token": tokens["refresh_token"]})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert bearer(third["access_token"]).get("/api/spaces").status_code == 401
    latest = signed_in.post("/oauth/token", {**refresh, "refresh_token": third["refresh_token"]})
    assert latest.status_code == 400
    from oauth.models import OAuthAuditLog

    assert OAuthAuditLog.objects.filter(event_type="token.refresh_reuse_detected").exists()


def test_a_refresh_token_only_works_for_its_client(signed_in, alice, app_client):
    other = make_client(alice, name="Other").client
    tokens = obtain_tokens(signed_in, app_client.client_id, scope="spaces:read")
    response = signed_in.post("/oauth/token", {"grant_type": "refresh_token", "client_id": other.client_id,
                                               "refresh_token": tokens["refresh_token"]})
    assert response.status_code == 400


def test_tokens_are_stored_only_as_checksums(signed_in, app_client):
    tokens = obtain_tokens(signed_in, app_client.client_id, scope="spaces:read")
    stored = get_access_token_model().objects.get()
    assert stored.token == "" and tokens["access_token"] not in str(stored.__dict__)


def test_a_scope_outside_the_clients_registration_is_refused(signed_in, alice):
    narrow = make_client(alice, scopes=["spaces:read"]).client
    response = signed_in.get("/oauth/authorize", authorize_params(narrow.client_id, scope="repos:write"))
    assert response.status_code == 302 and "error=invalid_scope" in response["Location"]


def test_it_sends_anonymous_people_to_the_login_page(client, app_client):
    response = client.get("/oauth/authorize", authorize_params(app_client.client_id, scope="spaces:read"))
    assert response.status_code == 302 and response["Location"].startswith("/login?next=")


def test_denying_sends_access_denied_back_with_state_and_iss(signed_in, app_client):
    response = signed_in.get("/oauth/authorize", authorize_params(app_client.client_id, scope="spaces:read"))
    import re

    request_id = re.search(r'name="request_id" value="([^"]+)"', response.content.decode()).group(1)
    denied = signed_in.post("/oauth/authorize", {"request_id": request_id, "decision": "deny"})
    assert denied.status_code == 302
    assert "error=access_denied" in denied["Location"] and "state=st-123" in denied["Location"]
    assert "iss=" in denied["Location"]
    # The request id is single use.
    assert signed_in.post("/oauth/authorize", {"request_id": request_id, "decision": "allow"}).status_code == 404

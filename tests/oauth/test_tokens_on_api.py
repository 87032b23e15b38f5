"""OAuth access tokens on the Takos API: scopes, audience (RFC 8707), revocation, introspection."""

from __future__ import annotations

import base64

import pytest

from tests.oauth.conftest import bearer, make_client, obtain_tokens


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def app_client(alice):
    return make_client(alice).client


def test_a_token_without_spaces_write_cannot_create_a_space(signed_in, app_client):
    token = obtain_tokens(signed_in, app_client.client_id, scope="spaces:read")["access_token"]
    api = bearer(token)
    assert api.get("/api/spaces").status_code == 200
    created = api.post("/api/spaces", {"name": "nope"}, format="json")
    assert created.status_code == 403
    assert "spaces:write" in created.json()["error"]["message"]


def test_an_oauth_token_cannot_manage_the_account(signed_in, app_client, alice):
    from auth_app.models import PersonalAccessToken

    token = obtain_tokens(signed_in, app_client.client_id, scope="openid spaces:write")["access_token"]
    api = bearer(token)
    assert api.post("/api/me/personal-access-tokens", {"name": "escalate"}, format="json").status_code == 403
    assert api.get("/api/me/personal-access-tokens").status_code == 403
    assert api.patch("/api/me/username", {"username": "stolen"}, format="json").status_code == 403
    assert api.patch("/api/me/settings", {"private_account": True}, format="json").status_code == 403
    assert api.post("/api/setup/complete", {"username": "stolen"}, format="json").status_code == 403
    assert not PersonalAccessToken.objects.filter(user=alice, name="escalate").exists()
    alice.refresh_from_db()
    assert alice.username == "alice" and alice.private_account is False


def test_a_token_with_spaces_write_can_create_a_space(signed_in, app_client):
    token = obtain_tokens(signed_in, app_client.client_id, scope="spaces:write")["access_token"]
    created = bearer(token).post("/api/spaces", {"name": "yes"}, format="json")
    assert created.status_code == 201, created.content


def test_the_api_answers_401_with_resource_metadata_without_a_token(client):
    response = client.get("/api/spaces")
    assert response.status_code == 401
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'resource_metadata="http://testserver/.well-known/oauth-protected-resource/api"' in challenge


def test_a_token_for_another_resource_is_refused_by_the_api(signed_in, app_client, settings):
    settings.TAKOS_OAUTH_EXTRA_RESOURCES = ["https://files.example.test"]
    tokens = obtain_tokens(signed_in, app_client.client_id, scope="spaces:read", resource="https://files.example.test")
    assert bearer(tokens["access_token"]).get("/api/spaces").status_code == 401
    own = obtain_tokens(signed_in, app_client.client_id, scope="spaces:read", resource="http://testserver/api")
    assert bearer(own["access_token"]).get("/api/spaces").status_code == 200


def test_an_unknown_resource_is_refused_with_invalid_target(signed_in, app_client):
    from tests.oauth.conftest import authorize_params

    response = signed_in.get("/oauth/authorize", authorize_params(app_client.client_id, scope="spaces:read",
                                                                  resource="https://evil.example/api"))
    assert response.status_code == 302 and "error=invalid_target" in response["Location"]


def test_revocation_takes_effect_on_the_next_request(signed_in, app_client):
    tokens = obtain_tokens(signed_in, app_client.client_id, scope="spaces:read")
    api = bearer(tokens["access_token"])
    assert api.get("/api/spaces").status_code == 200
    response = signed_in.post("/oauth/revoke", {"token": tokens["access_token"], "client_id": app_client.client_id})
    assert response.status_code == 200
    assert api.get("/api/spaces").status_code == 401
    # RFC 7009 §2.1: revoking the access token also kills its refresh token.
    refresh = signed_in.post("/oauth/token", {"grant_type": "refresh_token", "client_id": app_client.client_id,
                                              "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400


def test_suspending_a_client_stops_its_tokens(signed_in, app_client):
    tokens = obtain_tokens(signed_in, app_client.client_id, scope="spaces:read")
    app_client.status = app_client.Status.SUSPENDED
    app_client.save()
    assert bearer(tokens["access_token"]).get("/api/spaces").status_code == 401


def test_client_credentials_act_as_the_client_owner_within_its_scopes(client, alice):
    issued = make_client(alice, client_type="confidential", grant_types=["client_credentials"],
                         scopes=["spaces:read"], redirect_uris=[])
    basic = base64.b64encode(f"{issued.client.client_id}:{issued.client_secret}".encode()).decode()
    response = client.post("/oauth/token", {"grant_type": "client_credentials", "scope": "spaces:read"},
                           HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200, response.content
    assert "refresh_token" not in response.json()
    api = bearer(response.json()["access_token"])
    assert api.get("/api/me").json()["username"] == "alice"
    assert api.get("/api/spaces").status_code == 200
    assert api.post("/api/spaces", {"name": "x"}, format="json").status_code == 403
    wrong = client.post("/oauth/token", {"grant_type": "client_credentials"},
                        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{issued.client.client_id}:nope".encode()).decode())
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_public_clients_cannot_use_client_credentials(client, alice):
    public = make_client(alice).client
    response = client.post("/oauth/token", {"grant_type": "client_credentials", "client_id": public.client_id})
    assert response.status_code in (400, 401)


def test_introspection_describes_only_the_callers_own_tokens(signed_in, alice):
    confidential = make_client(alice, client_type="confidential", name="Server app")
    secret = confidential.client_secret
    tokens = obtain_tokens(signed_in, confidential.client.client_id, scope="spaces:read", secret=secret)
    basic = "Basic " + base64.b64encode(f"{confidential.client.client_id}:{secret}".encode()).decode()
    own = signed_in.post("/oauth/introspect", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=basic).json()
    assert own["active"] is True and own["scope"] == "spaces:read" and own["username"] == "alice"
    assert own["aud"] == ["http://testserver/api"]

    other = make_client(alice, client_type="confidential", name="Other server")
    other_basic = "Basic " + base64.b64encode(f"{other.client.client_id}:{other.client_secret}".encode()).decode()
    foreign = signed_in.post("/oauth/introspect", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=other_basic)
    assert foreign.json() == {"active": False}
    anonymous = signed_in.post("/oauth/introspect", {"token": tokens["access_token"]})
    assert anonymous.status_code == 401


def test_userinfo_needs_a_live_token(signed_in, app_client):
    tokens = obtain_tokens(signed_in, app_client.client_id, scope="openid email")
    info = bearer(tokens["access_token"]).get("/oauth/userinfo")
    assert info.status_code == 200 and info.json()["email"] == "alice@example.com"
    assert "preferred_username" not in info.json()  # no profile scope
    assert bearer("tak_oat_nope").get("/oauth/userinfo").status_code == 401


def test_access_tokens_in_the_query_string_are_ignored(signed_in, app_client):
    tokens = obtain_tokens(signed_in, app_client.client_id, scope="openid")
    from django.test import Client

    assert Client().get("/oauth/userinfo", {"access_token": tokens["access_token"]}).status_code == 400

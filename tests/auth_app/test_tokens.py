"""Personal access tokens: created once in clear, stored hashed, scoped, revocable, expiring."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from auth_app.models import PersonalAccessToken
from auth_app.services import pat_create, service_token_create


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.django_db
def test_it_creates_a_token_shown_once_and_stored_hashed(alice_api, alice):
    response = alice_api.post("/api/me/personal-access-tokens", {"name": "laptop", "scopes": ["spaces:read"]})
    assert response.status_code == 201, response.content
    body = response.json()
    token = body["token"]
    assert token.startswith("tak_pat_") and len(token) > 40
    record = PersonalAccessToken.objects.get(pk=body["id"])
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(PersonalAccessToken.objects.filter(pk=body["id"]).values().get())
    listed = alice_api.get("/api/me/personal-access-tokens").json()
    assert {t["name"] for t in listed["tokens"]} == {"test", "laptop"}
    assert all("token" not in t for t in listed["tokens"])
    assert bearer(token).get("/api/me").json()["username"] == "alice"


@pytest.mark.django_db
def test_revoked_and_expired_tokens_are_401(alice):
    issued = pat_create(user=alice, name="x")
    client = bearer(issued.token)
    assert client.get("/api/me").status_code == 200
    owner = bearer(pat_create(user=alice, name="owner").token)
    assert owner.delete(f"/api/me/personal-access-tokens/{issued.record.id}").status_code == 200
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert response["WWW-Authenticate"].startswith("Bearer")

    expiring = pat_create(user=alice, name="short", expires_at=timezone.now() + timedelta(seconds=30))
    PersonalAccessToken.objects.filter(pk=expiring.record.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert bearer(expiring.token).get("/api/me").status_code == 401


@pytest.mark.django_db
def test_no_credentials_is_401_with_www_authenticate(anon_api):
    response = anon_api.get("/api/spaces")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert "Bearer" in response["WWW-Authenticate"]
    assert bearer("tak_pat_garbage").get("/api/me").status_code == 401
    assert bearer("something-else").get("/api/me").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["   ", "\t", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"])
def test_a_blank_or_foreign_authorization_header_is_401_not_500(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/me")
    assert response.status_code == 401, response.content  # a blank header once raised IndexError (500)
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.django_db
def test_scopes_limit_what_a_token_can_do(alice):
    reader = bearer(pat_create(user=alice, name="r", scopes=["spaces:read"]).token)
    assert reader.get("/api/spaces").status_code == 200
    response = reader.post("/api/spaces", {"name": "nope"}, format="json")
    assert response.status_code == 403
    assert "spaces:write" in response.json()["error"]["message"]
    writer = bearer(pat_create(user=alice, name="w", scopes=["spaces:write"]).token)
    assert writer.get("/api/spaces").status_code == 200  # write implies read
    assert writer.post("/api/spaces", {"name": "yes"}, format="json").status_code == 201


@pytest.mark.django_db
def test_bad_token_requests(alice_api):
    response = alice_api.post("/api/me/personal-access-tokens", {"name": "x", "scopes": ["root:all"]})
    assert response.status_code == 400 and "scopes" in response.json()["error"]["details"]["fields"]
    response = alice_api.post("/api/me/personal-access-tokens", {"name": "x", "expiresAt": "2001-01-01T00:00:00Z"})
    assert response.status_code == 400
    assert alice_api.post("/api/me/personal-access-tokens", {}).status_code == 400
    assert alice_api.delete("/api/me/personal-access-tokens/zzzzzzzzzzzz").status_code == 404


@pytest.mark.django_db
def test_another_users_token_cannot_be_revoked(alice, bob_api):
    issued = pat_create(user=alice, name="mine")
    assert bob_api.delete(f"/api/me/personal-access-tokens/{issued.record.id}").status_code == 404
    assert bearer(issued.token).get("/api/me").status_code == 200


@pytest.mark.django_db
def test_service_tokens_authenticate_as_their_user(alice):
    issued = service_token_create(service_name="runner", user=alice, scopes="spaces:read")
    assert issued.token.startswith("tak_svc_")
    client = bearer(issued.token)
    assert client.get("/api/spaces").status_code == 200
    assert client.post("/api/spaces", {"name": "x"}, format="json").status_code == 403


@pytest.mark.django_db
def test_a_scoped_token_cannot_mint_a_broader_one(alice):
    reader = bearer(pat_create(user=alice, name="r", scopes=["spaces:read", "repos:read"]).token)
    assert reader.post("/api/me/personal-access-tokens", {"name": "all"}, format="json").status_code == 403
    assert reader.post("/api/me/personal-access-tokens", {"name": "w", "scopes": ["spaces:write"]},
                       format="json").status_code == 403
    narrower = reader.post("/api/me/personal-access-tokens", {"name": "n", "scopes": ["repos:read"]}, format="json")
    assert narrower.status_code == 201 and narrower.json()["scopes"] == ["repos:read"]
    assert PersonalAccessToken.objects.filter(user=alice).count() == 2

"""The bearer-token cache: hits skip the database, and every change to a token or its user is seen
on the very next request (revocation, deactivation, admin revoke, profile edits)."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.services import user_deactivate
from auth_app.admin import revoke_tokens
from auth_app.models import PersonalAccessToken, ServiceToken
from auth_app.services import pat_create, service_token_create


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def token_queries(client: APIClient, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return [q["sql"] for q in ctx.captured_queries if "accesstoken" in q["sql"] or "servicetoken" in q["sql"]]


@pytest.mark.django_db
def test_a_warm_token_is_resolved_without_the_database(alice):
    client = bearer(pat_create(user=alice, name="x").token)
    assert token_queries(client, "/api/me")  # first use reads the row
    assert token_queries(client, "/api/me") == []  # then the cache answers


@pytest.mark.django_db
def test_a_profile_change_is_seen_by_the_next_request(alice):
    client = bearer(pat_create(user=alice, name="x").token)
    assert client.get("/api/me").json()["name"] != "Alice Renamed"
    alice.display_name = "Alice Renamed"
    alice.save()
    assert client.get("/api/me").json()["name"] == "Alice Renamed"


@pytest.mark.django_db
def test_deactivation_and_admin_revoke_take_effect_at_once(alice, bob, rf):
    a = bearer(pat_create(user=alice, name="a").token)
    b_issued = pat_create(user=bob, name="b")
    b = bearer(b_issued.token)
    assert a.get("/api/me").status_code == 200 and b.get("/api/me").status_code == 200

    user_deactivate(user=alice)
    assert a.get("/api/me").status_code == 401

    request = rf.post("/admin/")
    request._messages = type("M", (), {"add": lambda *args, **kw: None})()
    revoke_tokens(site._registry[PersonalAccessToken], request,
                  PersonalAccessToken.objects.filter(pk=b_issued.record.pk))
    assert b.get("/api/me").status_code == 401


@pytest.mark.django_db
def test_a_service_token_row_change_is_seen_by_the_next_request(alice):
    issued = service_token_create(service_name="ci", user=alice)
    client = bearer(issued.token)
    assert client.get("/api/me").status_code == 200
    record = ServiceToken.objects.get(pk=issued.record.pk)
    record.expires_at = record.created_at  # already past
    record.save()
    assert client.get("/api/me").status_code == 401


@pytest.mark.django_db
def test_each_request_gets_its_own_copy_of_a_cached_token_and_user(alice):
    """The process keeps recent entries unpickled; what one request changes in memory (unsaved)
    must not show up in another request."""
    from auth_app.authentication import resolve_token

    token = pat_create(user=alice, name="x").token
    first, second = resolve_token(token), resolve_token(token)
    assert first[0] is not second[0] and first[1].record is not second[1].record
    assert second[1].record.user is second[0]
    first[0].display_name = "changed in memory only"
    first[1].record.name = "renamed in memory only"
    third = resolve_token(token)
    assert third[0].display_name != "changed in memory only" and third[1].record.name == "x"

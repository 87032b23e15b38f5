"""Sign-up, login, logout, CSRF and throttling through /api/auth/*."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import Space, User


def csrf_client() -> tuple[APIClient, str]:
    client = APIClient(enforce_csrf_checks=True)
    response = client.get("/api/auth/csrf")
    assert response.status_code == 200
    return client, response.cookies["csrftoken"].value


@pytest.mark.django_db
def test_it_signs_up_with_a_session_and_a_personal_space():
    client, csrf = csrf_client()
    response = client.post("/api/auth/signup", {"username": "Alice", "email": "Alice@Example.com",
                                                 "password": "a long pass phrase"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201, response.content
    assert response.json()["user"]["username"] == "alice"
    user = User.objects.get(username="alice")
    assert user.email == "alice@example.com"
    assert user.is_staff and user.is_superuser  # the first account is the operator
    assert Space.objects.get(owner=user, kind="personal").slug == "alice"
    me = client.get("/api/me")
    assert me.status_code == 200 and me.json()["username"] == "alice"


@pytest.mark.django_db
def test_it_makes_only_the_first_account_operator(alice):
    client, csrf = csrf_client()
    response = client.post("/api/auth/signup", {"username": "dora", "email": "d@example.com",
                                                 "password": "a long pass phrase"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 201
    assert not User.objects.get(username="dora").is_staff


@pytest.mark.django_db
def test_it_requires_csrf_for_signup():
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/api/auth/signup", {"username": "x1", "email": "x@example.com", "password": "pw pw pw pw"},
                           format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert not User.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "eve", "email": "eve@example.com", "password": "123"}, "password"),
        ({"username": "eve", "email": "eve@example.com", "password": "password"}, "password"),
        ({"username": "eve", "email": "eve@example.com"}, "password"),
        ({"username": "-bad-", "email": "eve@example.com", "password": "a long pass phrase"}, "username"),
        ({"username": "admin", "email": "eve@example.com", "password": "a long pass phrase"}, "username"),
        ({"username": "eve", "email": "not-an-email", "password": "a long pass phrase"}, "email"),
    ],
)
def test_it_rejects_bad_signups_with_field_details(body, field):
    client, csrf = csrf_client()
    response = client.post("/api/auth/signup", body, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST"
    assert field in error["details"]["fields"]
    assert not User.objects.exists()


@pytest.mark.django_db
def test_it_refuses_duplicate_username_or_email(alice):
    client, csrf = csrf_client()
    for body in ({"username": "alice", "email": "new@example.com"}, {"username": "newbie", "email": "ALICE@example.com"}):
        response = client.post("/api/auth/signup", {**body, "password": "a long pass phrase"}, format="json",
                               HTTP_X_CSRFTOKEN=csrf)
        assert response.status_code == 409, response.content
        assert response.json()["error"]["code"] == "CONFLICT"
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_it_logs_in_by_username_or_email_and_logs_out(alice):
    for login in ("alice", "ALICE@example.com"):
        client, csrf = csrf_client()
        response = client.post("/api/auth/login", {"login": login, "password": "correct horse battery"},
                               format="json", HTTP_X_CSRFTOKEN=csrf)
        assert response.status_code == 200, response.content
        assert client.get("/api/me").json()["username"] == "alice"
        csrf = client.cookies["csrftoken"].value  # rotated on login
        assert client.post("/api/auth/logout", HTTP_X_CSRFTOKEN=csrf).status_code == 200
        assert client.get("/api/me").status_code == 401


@pytest.mark.django_db
@override_settings(TAKOS_LOGIN_MAX_FAILURES=3)
def test_it_rejects_wrong_passwords_then_throttles(alice):
    client, csrf = csrf_client()
    for _ in range(3):
        response = client.post("/api/auth/login", {"login": "alice", "password": "nope"}, format="json",
                               HTTP_X_CSRFTOKEN=csrf)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "UNAUTHORIZED"
    response = client.post("/api/auth/login", {"login": "alice", "password": "correct horse battery"},
                           format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db
@override_settings(TAKOS_REGISTRATION="closed")
def test_closed_registration_still_lets_the_first_operator_in(alice):
    client, csrf = csrf_client()
    response = client.post("/api/auth/signup", {"username": "late", "email": "late@example.com",
                                                 "password": "a long pass phrase"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 403
    assert not User.objects.filter(username="late").exists()


@pytest.mark.django_db
def test_cookie_requests_need_the_csrf_header_but_bearer_ones_do_not(alice, alice_api):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/spaces", {"name": "Team"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["error"]["message"]
    assert alice_api.post("/api/spaces", {"name": "Team"}).status_code == 201


@pytest.mark.django_db
def test_setup_endpoints(alice_api, bob):
    assert alice_api.get("/api/setup/status").json()["setup_completed"] is False
    assert alice_api.post("/api/setup/check-username", {"username": "bob"}).json() == {
        "available": False, "error": "This name is already taken."}
    assert alice_api.post("/api/setup/check-username", {"username": "alice"}).json()["available"] is True
    response = alice_api.post("/api/setup/complete", {"username": "alice2"})
    assert response.status_code == 200
    assert alice_api.get("/api/setup/status").json() == {"setup_completed": True, "username": "alice2",
                                                         "email": "alice@example.com"}
    assert Space.objects.get(kind="personal", owner__username="alice2").slug == "alice2"

"""OAuth test helpers: a browser-like session against the live server and PKCE clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.core.cache import cache

from oauth import services

REDIRECT_URI = "http://127.0.0.1:8765/callback"


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()
    yield
    cache.clear()


def make_client(owner: Any, *, client_type: str = "public", grant_types: list[str] | None = None,
                scopes: list[str] | None = None, redirect_uris: list[str] | None = None,
                name: str = "Test App") -> services.IssuedClient:
    data: dict[str, Any] = {
        "client_name": name,
        "client_type": client_type,
        "redirect_uris": [REDIRECT_URI] if redirect_uris is None else redirect_uris,
        "grant_types": grant_types or ["authorization_code", "refresh_token"],
    }
    if scopes is not None:
        data["scopes"] = scopes
    return services.client_create(owner=owner, data=data)


class Browser:
    """A signed-in person's browser: session cookie + CSRF, no automatic redirects."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=20)

    def login(self, username: str, password: str = "correct horse battery") -> None:
        page = self.http.get("/login")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = self.http.post("/login", data={"login": username, "password": password,
                                                 "csrfmiddlewaretoken": token, "next": "/"})
        assert response.status_code == 302, response.text[:500]

    def csrf(self) -> str:
        return self.http.cookies.get("csrftoken") or ""

    def form_csrf(self, html: str) -> str:
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    def authorize(self, url: str) -> httpx.Response:
        return self.http.get(url)

    def decide(self, consent_page: httpx.Response, decision: str = "allow", scopes: list[str] | None = None) -> httpx.Response:
        html = consent_page.text
        request_id = re.search(r'name="request_id" value="([^"]+)"', html).group(1)
        form: dict[str, Any] = {"csrfmiddlewaretoken": self.form_csrf(html), "request_id": request_id,
                                "decision": decision, "choose_scopes": "1"}
        form["scope"] = scopes if scopes is not None else re.findall(r'name="scope" value="([^"]+)"', html)
        return self.http.post("/oauth/authorize", data=form)


@dataclass
class CodeFlow:
    """One authorization-code + PKCE run driven by authlib as the client."""

    client: OAuth2Client
    url: str
    state: str
    verifier: str


def start_flow(base_url: str, client_id: str, *, scope: str, client_secret: str | None = None,
               redirect_uri: str = REDIRECT_URI, **extra: Any) -> CodeFlow:
    oauth = OAuth2Client(client_id=client_id, client_secret=client_secret, scope=scope, redirect_uri=redirect_uri,
                         code_challenge_method="S256",
                         token_endpoint_auth_method="client_secret_basic" if client_secret else "none")
    verifier = extra.pop("code_verifier", None) or "v" * 20 + "x" * 30
    url, state = oauth.create_authorization_url(f"{base_url}/oauth/authorize", code_verifier=verifier, **extra)
    return CodeFlow(client=oauth, url=url, state=state, verifier=verifier)


def callback_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text[:800]
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI.split("?")[0]) or "127.0.0.1" in location, location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def s256(verifier: str) -> str:
    return create_s256_code_challenge(verifier)


@pytest.fixture
def browser(live_server, alice) -> Browser:
    b = Browser(live_server.url)
    b.login("alice")
    return b


# --- in-process helpers (Django test client; the live-server tests use authlib) ---------------
VERIFIER = "in-process-verifier-" + "a" * 40


def authorize_params(client_id: str, *, scope: str, state: str = "st-123", verifier: str = VERIFIER,
                     redirect_uri: str = REDIRECT_URI, **extra: Any) -> dict[str, Any]:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
              "state": state, "code_challenge": s256(verifier), "code_challenge_method": "S256"}
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def approve(django_client: Any, params: dict[str, Any]) -> dict[str, str]:
    """GET /oauth/authorize and, if a consent page shows, allow; returns the callback query."""
    response = django_client.get("/oauth/authorize", params)
    if response.status_code == 200:
        request_id = re.search(r'name="request_id" value="([^"]+)"', response.content.decode()).group(1)
        response = django_client.post("/oauth/authorize", {"request_id": request_id, "decision": "allow"})
    assert response.status_code == 302, response.content[:500]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def exchange(django_client: Any, client_id: str, code: str, *, verifier: str | None = VERIFIER,
             redirect_uri: str = REDIRECT_URI, secret: str | None = None, **extra: Any) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": client_id,
            "code_verifier": verifier, **extra}
    if secret:
        data["client_secret"] = secret
    return django_client.post("/oauth/token", {k: v for k, v in data.items() if v is not None})


def obtain_tokens(django_client: Any, client_id: str, *, scope: str, **extra: Any) -> dict[str, Any]:
    resource = extra.pop("resource", None)
    params = authorize_params(client_id, scope=scope, **({"resource": resource} if resource else {}))
    code = approve(django_client, params)["code"]
    response = exchange(django_client, client_id, code, **extra)
    assert response.status_code == 200, response.content
    return response.json()


def bearer(token: str) -> Any:
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


@contextmanager
def own_platform(tmp: Any, extra_env: dict[str, str]) -> Iterator[Any]:
    """`start_takos` whose broker (with PostgreSQL + Redis) is this session's own Redis database
    (REDIS_URL), emptied first, instead of the fixture's rotating databases 1-15: suites running
    at the same time on one Redis use those too, and another server's worker would take this
    server's tasks."""
    import os

    from tests.fixtures.processes import start_takos, stop_takos

    env = dict(extra_env)
    with pytest.MonkeyPatch.context() as patch:
        redis_url = os.environ.get("REDIS_URL")
        if redis_url:
            import redis

            redis.Redis.from_url(redis_url).flushdb()
            env.update({"REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url})
            patch.delenv("REDIS_URL")
        running, db_name = start_takos(tmp, extra_env=env)
    try:
        yield running
    finally:
        stop_takos(running, db_name)

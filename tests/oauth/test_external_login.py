"""Sign in with an external OpenID provider. The provider is a second, real Takos (`takos_server`:
daphne + worker as subprocesses, its own database), reached over HTTP; Takos under test is the
live server. Takos's provider says `email_verified: false`, which exercises the no-takeover rule."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from accounts.models import User
from oauth.models import ExternalIdentity
from tests.agents.e2e_helpers import user_api
from tests.oauth.conftest import Browser, own_platform

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "e2e pass phrase 42"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):  # type: ignore[no-untyped-def]
    with own_platform(tmp_path_factory.mktemp("takos-idp"), {}) as running:
        yield running


@pytest.fixture
def provider(idp, live_server, settings):  # type: ignore[no-untyped-def]
    """A confidential client at the provider whose redirect is our callback; settings point at it."""
    import uuid

    owner = user_api(idp.url, f"owner{uuid.uuid4().hex[:6]}")
    created = owner.post("/api/me/oauth/clients", json={
        "client_name": "Takos under test", "client_type": "confidential",
        "redirect_uris": [f"{live_server.url}/login/oidc/callback"],
        "grant_types": ["authorization_code", "refresh_token"], "scopes": ["openid", "email", "profile"]})
    assert created.status_code == 201, created.text
    body = created.json()
    client = body.get("client", body)
    settings.TAKOS_OIDC_LOGIN_ISSUER = idp.url
    settings.TAKOS_OIDC_LOGIN_NAME = "Example ID"
    settings.TAKOS_OIDC_LOGIN_CLIENT_ID = client["client_id"]
    settings.TAKOS_OIDC_LOGIN_CLIENT_SECRET = body.get("client_secret") or client.get("client_secret")
    return idp


def sign_in(idp, rp: str, username: str, *,  # type: ignore[no-untyped-def]
            rp_session: httpx.Client | None = None) -> tuple[httpx.Response, httpx.Client]:
    """Sign in at the provider as `username`, then run "Sign in with …" on `rp`: the callback's
    answer and the browser (its cookies)."""
    at_idp = Browser(idp.url)
    at_idp.login(username, PASSWORD)
    http = rp_session or httpx.Client(follow_redirects=False, timeout=30)
    http.cookies.update(at_idp.http.cookies)  # one browser: both sites' cookies
    start = http.get(f"{rp}/login/oidc", params={"next": "/settings"})
    assert start.status_code == 302 and start.headers["location"].startswith(f"{idp.url}/oauth/authorize?")
    answer = http.get(start.headers["location"])
    if answer.status_code == 200:  # the consent page, the first time
        at_idp.http.cookies.update(http.cookies)
        answer = at_idp.decide(answer)
    assert answer.status_code == 302 and answer.headers["location"].startswith(f"{rp}/login/oidc/callback?")
    return http.get(answer.headers["location"]), http


def whoami(rp: str, http: httpx.Client) -> str:
    me = http.get(f"{rp}/api/me")
    assert me.status_code == 200, me.text
    return me.json()["username"]


def test_the_sign_in_page_offers_the_provider_only_when_configured(live_server, settings):
    assert "Sign in with" not in httpx.get(f"{live_server.url}/login").text
    assert httpx.get(f"{live_server.url}/login/oidc").status_code == 404
    settings.TAKOS_OIDC_LOGIN_ISSUER, settings.TAKOS_OIDC_LOGIN_CLIENT_ID = "https://id.example", "x"
    assert "Sign in with Google" in httpx.get(f"{live_server.url}/login").text


def test_a_new_person_gets_an_account_and_comes_back_to_it(provider, live_server):
    user_api(provider.url, "dora")
    done, browser = sign_in(provider, live_server.url, "dora")
    assert done.status_code == 302 and done.headers["location"] == "/settings"
    assert whoami(live_server.url, browser) == "dora"
    dora = User.objects.get(username="dora")
    assert dora.email == "dora@example.com" and not dora.has_usable_password()
    identity = ExternalIdentity.objects.get(user=dora)
    assert identity.issuer == provider.url and identity.last_login_at is not None
    again, browser = sign_in(provider, live_server.url, "dora")  # consent remembered at the provider
    assert again.status_code == 302 and whoami(live_server.url, browser) == "dora"
    assert User.objects.filter(email="dora@example.com").count() == 1 and ExternalIdentity.objects.count() == 1


def test_an_unverified_email_never_takes_over_an_account_but_linking_does(provider, live_server, alice):
    from tests.factories import UserFactory

    UserFactory(username="erin", email="erin@example.com")
    user_api(provider.url, "erin")  # erin@example.com at the provider, email_verified: false
    refused, _ = sign_in(provider, live_server.url, "erin")
    assert refused.status_code == 302 and refused.headers["location"] == "/login"
    assert not ExternalIdentity.objects.exists()
    # Linking: alice, signed in here, runs the same flow and gets the identity.
    rp = httpx.Client(follow_redirects=False, timeout=30)
    page = rp.get(f"{live_server.url}/login")
    token = page.text.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    assert rp.post(f"{live_server.url}/login", data={"login": "alice", "password": "correct horse battery",
                                                     "csrfmiddlewaretoken": token}).status_code == 302
    linked, _ = sign_in(provider, live_server.url, "erin", rp_session=rp)
    assert linked.status_code == 302 and linked.headers["location"] == "/settings"
    assert ExternalIdentity.objects.get().user == alice
    # From now on erin-at-the-provider signs in as alice here (a fresh browser).
    fresh, browser = sign_in(provider, live_server.url, "erin")
    assert fresh.status_code == 302 and fresh.headers["location"] == "/settings"
    assert whoami(live_server.url, browser) == "alice"


def test_a_callback_that_was_not_started_here_is_refused(provider, live_server):
    http = httpx.Client(follow_redirects=False, timeout=30)
    answer = http.get(f"{live_server.url}/login/oidc/callback", params={"state": "forged", "code": "x"})
    assert answer.status_code == 302 and urlsplit(answer.headers["location"]).path == "/login"
    page = http.get(f"{live_server.url}/login")
    assert "state" in page.text and not ExternalIdentity.objects.exists()

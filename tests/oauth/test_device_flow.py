"""RFC 8628 device flow end to end on the live server: the device polls with httpx, a person approves."""

from __future__ import annotations

import re

import httpx
import pytest
from oauth2_provider.models import get_device_grant_model

from oauth.models import GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN
from tests.oauth.conftest import make_client

pytestmark = pytest.mark.django_db(transaction=True)
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def cli_client(alice):
    return make_client(alice, grant_types=[GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN], redirect_uris=[], name="takos CLI").client


def _start(base: str, client_id: str, scope: str = "spaces:read repos:read") -> dict:
    response = httpx.post(f"{base}/oauth/device/code", data={"client_id": client_id, "scope": scope})
    assert response.status_code == 200, response.text
    return response.json()


def _poll(base: str, client_id: str, device_code: str) -> httpx.Response:
    return httpx.post(f"{base}/oauth/token", data={"grant_type": DEVICE, "device_code": device_code, "client_id": client_id})


def _answer(browser, base: str, user_code: str, decision: str) -> httpx.Response:
    # The person types the code in a different shape than shown; it still matches.
    typed = user_code[:4].lower() + "-" + user_code[4:].lower()
    page = browser.http.post("/oauth/device", data={"user_code": typed,
                                                     "csrfmiddlewaretoken": browser.form_csrf(browser.http.get("/oauth/device").text)})
    assert page.status_code == 200 and "takos CLI" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    return browser.http.post("/oauth/device", data={"user_code": user_code, "decision": decision,
                                                     "csrfmiddlewaretoken": browser.form_csrf(page.text)})


def test_it_runs_the_device_flow_with_approval(live_server, browser, cli_client):
    base = live_server.url
    start = _start(base, cli_client.client_id)
    assert start["verification_uri"] == f"{base}/oauth/device"
    assert start["verification_uri_complete"].endswith(f"user_code={start['user_code']}")
    assert start["interval"] == 5 and start["expires_in"] == 900 and len(start["user_code"]) == 8

    pending = _poll(base, cli_client.client_id, start["device_code"])
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    too_fast = _poll(base, cli_client.client_id, start["device_code"])
    assert too_fast.json()["error"] == "slow_down"

    done = _answer(browser, base, start["user_code"], "allow")
    assert done.status_code == 200 and 'id="device-done"' in done.text

    token = _poll(base, cli_client.client_id, start["device_code"])
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["access_token"].startswith("tak_oat_") and body["refresh_token"].startswith("tak_ort_")
    assert set(body["scope"].split()) == {"spaces:read", "repos:read"}
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert api.get("/api/me").json()["username"] == "alice"
    # A device code gives one token, once.
    assert _poll(base, cli_client.client_id, start["device_code"]).status_code == 400
    # The approval is listed among the person's authorized apps.
    consents = browser.http.get("/api/me/oauth/consents").json()["consents"]
    assert [c["client_id"] for c in consents] == [cli_client.client_id]


def test_a_denied_device_gets_access_denied(live_server, browser, cli_client):
    base = live_server.url
    start = _start(base, cli_client.client_id)
    done = _answer(browser, base, start["user_code"], "deny")
    assert "denied" in done.text
    response = _poll(base, cli_client.client_id, start["device_code"])
    assert response.status_code == 400 and response.json()["error"] == "access_denied"


def test_a_device_code_is_bound_to_its_client(live_server, alice, cli_client):
    other = make_client(alice, grant_types=[GRANT_DEVICE_CODE], redirect_uris=[], name="Other CLI").client
    start = _start(live_server.url, cli_client.client_id)
    model = get_device_grant_model()
    model.objects.update(status=model.AUTHORIZED, user=alice)
    stolen = _poll(live_server.url, other.client_id, start["device_code"])
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


def test_clients_without_the_device_grant_cannot_start_it(live_server, alice):
    web = make_client(alice).client
    response = httpx.post(f"{live_server.url}/oauth/device/code", data={"client_id": web.client_id})
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


def test_the_device_code_endpoint_is_rate_limited(live_server, cli_client, settings):
    settings.TAKOS_OAUTH_DEVICE_CODE_PER_MINUTE = 2
    codes = [httpx.post(f"{live_server.url}/oauth/device/code", data={"client_id": cli_client.client_id}).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]


def test_wrong_user_codes_are_refused(live_server, browser, cli_client):
    page = browser.http.post("/oauth/device", data={"user_code": "ZZZZ-ZZZZ",
                                                     "csrfmiddlewaretoken": browser.form_csrf(browser.http.get("/oauth/device").text)})
    assert page.status_code == 404 and re.search("not valid or has expired", page.text)

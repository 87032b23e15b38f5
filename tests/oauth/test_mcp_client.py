"""Takos as an MCP client, end to end against a tiny real MCP server on 127.0.0.1.

The MCP server (tests/oauth/mcp_server.py) stands in for an external one and uses Takos's own
OAuth provider (the live server) as its authorization server: Takos discovers it from the 401,
registers itself dynamically, the signed-in person approves on the real consent page, the
callback stores the tokens encrypted, and the tokens are refreshed when they expire.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from accounts.selectors import personal_space
from agents import services as agent_services
from agents.executor.loop import run_agent
from agents.models import Message, ToolOperation
from oauth.models import MCPOAuthPending, MCPServer, OAuthClient
from services.crypto import decrypt
from tests.agents.conftest import claim_for_executor
from tests.oauth.conftest import Browser
from tests.oauth.mcp_server import McpTestServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def base(live_server) -> str:
    """The live server on 127.0.0.1 (the egress allowance names the address, not `localhost`)."""
    return live_server.url.replace("//localhost:", "//127.0.0.1:")


@pytest.fixture
def mcp(base, settings):
    server = McpTestServer(authorization_server=base).start()
    # Loopback is refused by the egress guard unless the operator allows it, as here.
    settings.TAKOS_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    # Takos's provider issues tokens for the MCP server's resource (RFC 8707) once it is listed.
    settings.TAKOS_OAUTH_EXTRA_RESOURCES = [server.url]
    settings.TAKOS_OFFLINE_TOKEN_DELAY_MS = 0
    yield server
    server.stop()


@pytest.fixture
def pat(alice) -> str:
    from auth_app.services import pat_create

    return pat_create(user=alice, name="mcp-test").token


def api(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def connect(base: str, mcp: McpTestServer, alice, token: str, name: str = "notes") -> MCPServer:
    """POST the server, approve on the consent page as alice, follow the callback."""
    client = api(base, token)
    created = client.post("/api/mcp/servers", params={"spaceId": personal_space(alice).id},
                          json={"name": name, "url": mcp.url})
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["status"] == "needs_authorization" and data["auth_mode"] == "oauth_pkce"
    auth_url = data["auth_url"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    assert auth_url.startswith(f"{base}/oauth/authorize?")
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["resource"] == mcp.url and query["scope"] == "openid profile" and query["state"]
    assert query["redirect_uri"] == f"{base}/api/mcp/oauth/callback"
    # Dynamic registration happened at Takos's provider, as a public client with that redirect.
    registered = OAuthClient.objects.get(client_id=query["client_id"])
    assert registered.redirect_uris == query["redirect_uri"] and registered.client_type == "public"

    browser = Browser(base)
    browser.login("alice")
    consent = browser.authorize(auth_url)
    assert consent.status_code == 200 and "Takos" in consent.text
    back = browser.decide(consent)
    assert back.status_code == 302 and back.headers["location"].startswith(query["redirect_uri"])
    landed = browser.http.get(back.headers["location"])
    assert landed.status_code == 302, landed.text
    assert landed.headers["location"].startswith("/settings/mcp?")
    assert not MCPOAuthPending.objects.exists()  # single use
    return MCPServer.objects.get(pk=data["id"])


def test_it_connects_with_oauth_lists_tools_refreshes_and_serves_an_agent_run(base, mcp, alice, pat):
    server = connect(base, mcp, alice, pat)
    # Tokens are stored encrypted: the columns are not the clear text, which decrypts from them.
    access, refresh = decrypt(server.oauth_access_token), decrypt(server.oauth_refresh_token)
    assert access.startswith("tak_oat_") and refresh.startswith("tak_ort_")
    assert access not in server.oauth_access_token and refresh not in server.oauth_refresh_token
    assert server.oauth_issuer_url == base and server.oauth_resource == mcp.url
    assert server.oauth_token_expires_at > timezone.now() + timedelta(minutes=50)
    issued = get_access_token_model().objects.get(token_checksum=_sha(access))
    assert issued.resource == [mcp.url]  # audience-bound to the MCP server (RFC 8707)

    client = api(base, pat)
    listed = client.get(f"/api/mcp/servers/{server.id}/tools")
    assert listed.status_code == 200, listed.text
    assert [t["name"] for t in listed.json()["data"]] == ["echo", "whoami", "fail"]  # both pages
    assert mcp.tokens_seen[-1] == access
    servers = client.get("/api/mcp/servers").json()["data"]
    assert [(s["name"], s["status"], s["tool_count"]) for s in servers] == [("notes", "connected", 3)]
    assert "oauth_access_token" not in servers[0]

    # 1. Expired by our clock: refreshed before the call (the provider rotates the refresh token).
    MCPServer.objects.filter(pk=server.pk).update(oauth_token_expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(f"/api/mcp/servers/{server.id}/tools").status_code == 200
    server.refresh_from_db()
    access2, refresh2 = decrypt(server.oauth_access_token), decrypt(server.oauth_refresh_token)
    assert access2 != access and refresh2 != refresh and mcp.tokens_seen[-1] == access2
    assert server.oauth_token_expires_at > timezone.now()
    assert get_refresh_token_model().objects.get(token_checksum=_sha(refresh)).revoked is not None

    # 2. Rejected by the server although unexpired by our clock (expired at the provider, so its
    #    userinfo check fails): the 401 makes Takos refresh once and retry.
    get_access_token_model().objects.filter(token_checksum=_sha(access2)).update(
        expires=timezone.now() - timedelta(seconds=5))
    before = mcp.unauthorized
    assert client.get(f"/api/mcp/servers/{server.id}/tools").status_code == 200
    server.refresh_from_db()
    access3 = decrypt(server.oauth_access_token)
    assert mcp.unauthorized == before + 1 and access3 not in (access, access2) and mcp.tokens_seen[-1] == access3

    # 3. An agent run (offline model) sees the MCP tools and calls two of them.
    thread = agent_services.thread_create(space=personal_space(alice), actor=alice, title="mcp")
    text = '/tool mcp__notes__echo {"text": "hello from the agent"}\n/tool mcp__notes__whoami {}'
    run = agent_services.run_create(thread=thread, actor=alice, input={"message": text})
    assert run_agent(claim_for_executor(run)) == 0
    run.refresh_from_db()
    assert run.status == "completed", run.error
    results = list(Message.objects.filter(thread=thread, role="tool").order_by("sequence")
                   .values_list("content", flat=True))
    assert results == ["echo: hello from the agent", "you are alice"]
    assert "echo: hello from the agent" in run.output
    assert mcp.calls[-2:] == [{"name": "echo", "arguments": {"text": "hello from the agent"}},
                              {"name": "whoami", "arguments": {}}]
    ops = ToolOperation.objects.filter(run=run).order_by("operation_key")
    assert [(o.tool_name, o.status) for o in ops] == [("mcp__notes__echo", "completed"),
                                                      ("mcp__notes__whoami", "completed")]


def test_a_tool_error_and_a_disabled_server_reach_the_agent_as_failures(base, mcp, alice, pat):
    server = connect(base, mcp, alice, pat)
    thread = agent_services.thread_create(space=personal_space(alice), actor=alice, title="mcp")
    run = agent_services.run_create(thread=thread, actor=alice, input={"message": "/tool mcp__notes__fail {}"})
    assert run_agent(claim_for_executor(run)) == 0
    op = ToolOperation.objects.get(run=run)
    assert op.status == "failed" and "it broke" in op.result_error
    # Disabled: its tools are no longer offered, so the offline model cannot call them.
    assert api(base, pat).patch(f"/api/mcp/servers/{server.id}", json={"enabled": False}).status_code == 200
    from agents.tools import catalog_for

    assert not [t for t in catalog_for(run) if t["name"].startswith("mcp__")]


def test_a_refresh_token_the_provider_revoked_asks_for_a_new_authorization(base, mcp, alice, pat):
    server = connect(base, mcp, alice, pat)
    # The person revokes Takos's access at the provider: every token of the grant dies.
    get_refresh_token_model().objects.all().delete()
    get_access_token_model().objects.all().delete()
    client = api(base, pat)
    answer = client.get(f"/api/mcp/servers/{server.id}/tools")
    assert answer.status_code == 409, answer.text
    assert "connect" in answer.json()["error"]["message"]
    server.refresh_from_db()
    assert server.oauth_access_token == "" and server.status == "needs_authorization"
    # Reconnecting gives a new auth_url for the same server (the registered client is reused).
    again = client.post(f"/api/mcp/servers/{server.id}/connect", json={})
    assert again.status_code == 200 and again.json()["data"]["auth_url"].startswith(base)
    assert OAuthClient.objects.filter(redirect_uris__endswith="/api/mcp/oauth/callback").count() == 1


def test_a_server_without_authorization_is_used_directly(base, settings, alice, pat):
    settings.TAKOS_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    open_server = McpTestServer().start()
    try:
        client = api(base, pat)
        created = client.post("/api/mcp/servers", json={"name": "open", "url": open_server.url})
        assert created.status_code == 201, created.text
        data = created.json()["data"]
        assert data["auth_url"] is None and data["auth_mode"] == "none" and data["status"] == "connected"
        tools = client.get(f"/api/mcp/servers/{data['id']}/tools")
        assert [t["name"] for t in tools.json()["data"]] == ["echo", "whoami", "fail"]
        # Not an MCP endpoint: 502 and nothing stored.
        bad = client.post("/api/mcp/servers", json={"name": "page", "url": f"{open_server.base}/page"})
        assert bad.status_code == 502 and bad.json()["error"]["code"] == "BAD_GATEWAY"
        assert not MCPServer.objects.filter(name="page").exists()
    finally:
        open_server.stop()


def test_the_callback_refuses_unknown_reused_expired_and_mixed_up_states(base, mcp, alice, bob, pat):
    client = api(base, pat)
    created = client.post("/api/mcp/servers", json={"name": "notes", "url": mcp.url}).json()["data"]
    state = parse_qs(urlsplit(created["auth_url"]).query)["state"][0]
    browser = Browser(base)  # the callback needs no API token, but the person signed in
    browser.login("alice")
    callback = browser.http

    unknown = callback.get("/api/mcp/oauth/callback", params={"state": "nope", "code": "x"})
    assert unknown.status_code == 400 and "state" in unknown.json()["error"]["message"]
    missing = callback.get("/api/mcp/oauth/callback", params={"code": "x"})
    assert missing.status_code == 400
    # A response naming another issuer (mix-up, RFC 9207) is refused, and the state is spent.
    mixed = callback.get("/api/mcp/oauth/callback", params={"state": state, "code": "x", "iss": "https://evil.example"})
    assert mixed.status_code == 400 and "issuer" in mixed.json()["error"]["message"]
    reused = callback.get("/api/mcp/oauth/callback", params={"state": state, "code": "x"})
    assert reused.status_code == 400 and "already used" in reused.json()["error"]["message"]
    # Expired pending state.
    again = client.post(f"/api/mcp/servers/{created['id']}/connect", json={}).json()["data"]["auth_url"]
    state2 = parse_qs(urlsplit(again).query)["state"][0]
    MCPOAuthPending.objects.filter(state=state2).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = callback.get("/api/mcp/oauth/callback", params={"state": state2, "code": "x"})
    assert expired.status_code == 400 and "expired" in expired.json()["error"]["message"]
    # A denial at the authorization server is reported, not stored.
    again = client.post(f"/api/mcp/servers/{created['id']}/connect", json={}).json()["data"]["auth_url"]
    state3 = parse_qs(urlsplit(again).query)["state"][0]
    denied = callback.get("/api/mcp/oauth/callback", params={"state": state3, "error": "access_denied"})
    assert denied.status_code == 400 and "access_denied" in denied.json()["error"]["message"]
    # Someone else's browser cannot finish alice's authorization (it would land in her space).
    again = client.post(f"/api/mcp/servers/{created['id']}/connect", json={}).json()["data"]["auth_url"]
    state4 = parse_qs(urlsplit(again).query)["state"][0]
    other = Browser(base)
    other.login("bob")
    stolen = other.http.get("/api/mcp/oauth/callback", params={"state": state4, "code": "x"})
    assert stolen.status_code == 400 and "another person" in stolen.json()["error"]["message"]
    server = MCPServer.objects.get(pk=created["id"])
    assert server.oauth_access_token == "" and not MCPOAuthPending.objects.exists()


def test_a_signed_out_browser_signs_in_first_then_finishes(base, mcp, alice, pat):
    """The CLI case: `takos mcp add` prints the URL; the browser may not be signed in to Takos."""
    created = api(base, pat).post("/api/mcp/servers", json={"name": "notes", "url": mcp.url}).json()["data"]
    signing = Browser(base)  # signs in at the provider's consent page (Takos here too)...
    signing.login("alice")
    back = signing.decide(signing.authorize(created["auth_url"]))
    fresh = Browser(base)  # ...but the callback arrives in a browser without a Takos session
    detour = fresh.http.get(back.headers["location"])
    assert detour.status_code == 302 and detour.headers["location"].startswith("/login?next=")
    assert MCPOAuthPending.objects.count() == 1  # the state is not spent by the detour
    page = fresh.http.get(detour.headers["location"])
    token = fresh.form_csrf(page.text)
    next_url = parse_qs(urlsplit(detour.headers["location"]).query)["next"][0]
    signed_in = fresh.http.post("/login", data={"login": "alice", "password": "correct horse battery",
                                                "csrfmiddlewaretoken": token, "next": next_url})
    assert signed_in.status_code == 302 and signed_in.headers["location"] == next_url
    landed = fresh.http.get(next_url)
    assert landed.status_code == 302 and "connected=notes" in landed.headers["location"]
    assert MCPServer.objects.get(pk=created["id"]).status == "connected"


def _sha(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def test_the_console_adds_connects_lists_tools_disconnects_and_removes(base, mcp, alice):
    import re

    browser = Browser(base)
    browser.login("alice")
    page = browser.http.get("/settings/mcp")
    assert page.status_code == 200 and "No MCP servers in this space." in page.text
    csrf = browser.form_csrf(page.text)
    space_id = personal_space(alice).id
    added = browser.http.post(f"/settings/mcp?spaceId={space_id}",
                              data={"csrfmiddlewaretoken": csrf, "name": "notes", "url": mcp.url})
    assert added.status_code == 302 and added.headers["location"].startswith(f"{base}/oauth/authorize?")
    back = browser.decide(browser.authorize(added.headers["location"]))
    landed = browser.http.get(back.headers["location"])
    page = browser.http.get(landed.headers["location"])
    assert "MCP server notes is connected." in page.text and "connected" in page.text
    server = MCPServer.objects.get(name="notes")
    tools = browser.http.get(f"/settings/mcp?spaceId={space_id}&tools={server.id}")
    assert "<code>echo</code>" in tools.text and "<code>whoami</code>" in tools.text
    csrf = browser.form_csrf(tools.text)
    action = f"/settings/mcp/{server.id}"
    assert browser.http.post(f"{action}/disconnect", data={"csrfmiddlewaretoken": csrf}).status_code == 302
    page = browser.http.get(f"/settings/mcp?spaceId={space_id}")
    assert "needs authorization" in page.text and re.search(r"Connect</button>", page.text)
    server.refresh_from_db()
    assert server.oauth_access_token == "" and server.oauth_refresh_token == ""
    assert browser.http.post(f"{action}/remove", data={"csrfmiddlewaretoken": csrf}).status_code == 302
    assert not MCPServer.objects.exists()


def test_the_cli_adds_lists_tools_and_removes(base, mcp, alice, pat, tmp_path, capsys, monkeypatch):
    import json

    from takos.cli.main import main

    monkeypatch.setenv("TAKOS_CONFIG", str(tmp_path / "cli.json"))
    monkeypatch.setenv("TAKOS_URL", base)
    monkeypatch.setenv("TAKOS_TOKEN", pat)

    def run(*argv: str) -> dict:
        code = main(["--json", *argv])
        out = capsys.readouterr()
        assert code == 0, out.err
        return json.loads(out.out)

    added = run("mcp", "add", "notes", mcp.url, "--no-browser")["data"]
    assert added["status"] == "needs_authorization" and added["auth_url"].startswith(f"{base}/oauth/authorize?")
    browser = Browser(base)
    browser.login("alice")
    back = browser.decide(browser.authorize(added["auth_url"]))
    assert browser.http.get(back.headers["location"]).status_code == 302
    listed = run("mcp", "list")["data"]
    assert [(s["name"], s["status"]) for s in listed] == [("notes", "connected")]
    tools = run("mcp", "tools", "notes")["data"]
    assert [t["name"] for t in tools] == ["echo", "whoami", "fail"]
    assert main(["mcp", "tools", "nope"]) == 1 and "No MCP server nope" in capsys.readouterr().err
    assert run("mcp", "remove", "notes") == {"success": True}
    assert run("mcp", "list")["data"] == []

"""Takos as an MCP client on the real platform (`manage.py up`: daphne + Celery worker + beat).

The MCP server (tests/oauth/mcp_server.py, a tiny real one on 127.0.0.1 standing in for an
external server) uses the running Takos's own OAuth provider as its authorization server. An
agent run, executed by the real worker with the offline model, calls an MCP tool.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.agents.e2e_helpers import start_run, user_api, wait_status
from tests.fixtures.processes import RunningTakos
from tests.oauth.conftest import Browser, own_platform
from tests.oauth.mcp_server import McpTestServer

pytestmark = pytest.mark.e2e
PASSWORD = "e2e pass phrase 42"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningTakos, McpTestServer]]:
    mcp = McpTestServer().start()
    # The operator allows loopback egress and lets the provider issue tokens for the MCP server.
    env = {"TAKOS_EGRESS_ALLOWED_HOSTS": "127.0.0.1", "TAKOS_OAUTH_EXTRA_RESOURCES": mcp.url,
           "TAKOS_OFFLINE_TOKEN_DELAY_MS": "0"}
    try:
        with own_platform(tmp_path_factory.mktemp("takos-mcp"), env) as running:
            mcp.authorization_server = running.url  # from now on it asks for OAuth tokens
            yield running, mcp
    finally:
        mcp.stop()


def sql(running: RunningTakos, query: str, *params: object) -> list[tuple]:
    """Read or write the running server's database directly (to look at stored ciphertext)."""
    url = running.env.get("DATABASE_URL")
    if url:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(query.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []
    with sqlite3.connect(Path(running.data_dir) / "takos.sqlite3", timeout=30) as conn:
        rows = conn.execute(query, params).fetchall()
        conn.commit()
        return rows


def test_connect_list_refresh_and_call_from_an_agent_run(platform):
    running, mcp = platform
    api = user_api(running.url, "mcpuser")
    created = api.post("/api/mcp/servers", json={"name": "notes", "url": mcp.url})
    assert created.status_code == 201, created.text
    server = created.json()["data"]
    assert server["auth_url"].startswith(f"{running.url}/oauth/authorize?")

    browser = Browser(running.url)
    browser.login("mcpuser", PASSWORD)
    back = browser.decide(browser.authorize(server["auth_url"]))
    assert back.status_code == 302, back.text
    landed = browser.http.get(back.headers["location"])
    assert landed.status_code == 302 and "connected=notes" in landed.headers["location"]

    # Encrypted at rest: the column holds a Fernet token, never the clear `tak_oat_…`.
    (access_cipher, refresh_cipher), = sql(running, "SELECT oauth_access_token, oauth_refresh_token "
                                                    "FROM mcp_servers WHERE id = ?", server["id"])
    for cipher in (access_cipher, refresh_cipher):
        assert cipher.startswith("gAAAAA") and "tak_o" not in cipher

    tools = api.get(f"/api/mcp/servers/{server['id']}/tools")
    assert tools.status_code == 200, tools.text
    assert [t["name"] for t in tools.json()["data"]] == ["echo", "whoami", "fail"]
    first_token = mcp.tokens_seen[-1]
    assert first_token.startswith("tak_oat_")

    # Expired: the next use refreshes first (new ciphertext, a new token reaches the server).
    sql(running, "UPDATE mcp_servers SET oauth_token_expires_at = ? WHERE id = ?",
        "2000-01-01 00:00:00+00:00", server["id"])
    assert api.get(f"/api/mcp/servers/{server['id']}/tools").status_code == 200
    (access_cipher2,), = sql(running, "SELECT oauth_access_token FROM mcp_servers WHERE id = ?", server["id"])
    assert access_cipher2 != access_cipher and mcp.tokens_seen[-1] != first_token

    # Expired again, then four requests at once: one refresh (the lease), the others wait and use
    # its token. Two refreshes would replay a rotated refresh token, which makes Takos's provider
    # revoke the whole grant; the call after them would then fail.
    sql(running, "UPDATE mcp_servers SET oauth_token_expires_at = ? WHERE id = ?",
        "2000-01-01 00:00:00+00:00", server["id"])
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: api.get(f"/api/mcp/servers/{server['id']}/tools").status_code, range(4)))
    assert codes == [200, 200, 200, 200]
    assert api.get(f"/api/mcp/servers/{server['id']}/tools").status_code == 200
    assert sql(running, "SELECT refresh_lock_until FROM mcp_servers WHERE id = ?", server["id"]) == [(None,)]

    # An agent run (real worker, offline model) calls the MCP tool and sees its result.
    thread = api.post("/api/spaces/me/threads", json={"title": "mcp"}).json()["thread"]["id"]
    run = start_run(api, thread, '/tool mcp__notes__whoami {}\n/tool mcp__notes__echo {"text": "via worker"}')
    done = wait_status(api, run["id"], {"completed", "failed", "cancelled"}, timeout=120)
    assert done["status"] == "completed", done
    messages = api.get(f"/api/threads/{thread}/messages").json()["messages"]
    assert [m["content"] for m in messages if m["role"] == "tool"] == ["you are mcpuser", "echo: via worker"]
    assert "you are mcpuser" in done["output"]

    # Disabled: its tools are gone from the next run's catalog (the offline model skips unknown tools).
    assert api.patch(f"/api/mcp/servers/{server['id']}", json={"enabled": False}).status_code == 200
    calls = len(mcp.calls)
    run = start_run(api, thread, "/tool mcp__notes__whoami {}")
    done = wait_status(api, run["id"], {"completed", "failed", "cancelled"}, timeout=120)
    assert done["status"] == "completed" and len(mcp.calls) == calls

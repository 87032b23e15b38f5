"""Runs on the real platform (`manage.py up`: daphne + Celery worker + beat), read with a real
SSE client. The model is the built-in offline provider (no network)."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest

from tests.agents.e2e_helpers import (
    TERMINAL,
    parse_ts,
    read_until_terminal,
    sse,
    start_run,
    user_api,
    wait_status,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api(takos_server) -> httpx.Client:
    return user_api(takos_server.url, "agentrunner")


@pytest.fixture
def thread_id(api) -> str:
    response = api.post("/api/spaces/me/threads", json={"title": "e2e"})
    assert response.status_code == 201
    return response.json()["thread"]["id"]


def test_a_run_streams_over_sse_from_first_to_terminal_event(api, thread_id, capsys):
    run = start_run(api, thread_id, "/slow 1.5")
    connected = time.time()
    events = read_until_terminal(api, run["id"])
    ids = [e.id for e in events]
    assert ids == list(range(1, len(ids) + 1)), ids  # from the first event, no gaps
    types = [e.event for e in events]
    assert types[0] == "run_status" and "started" in types and types[-1] == "completed"
    deltas = [e.data["delta"] for e in events if e.event == "message" and "delta" in e.data]
    assert len(deltas) == 30
    polled = api.get(f"/api/runs/{run['id']}/events").json()
    assert [e["id"] for e in polled["events"]] == ids and polled["run_status"] == "completed"
    # Emit → SSE client latency, for events produced after the client connected.
    created = {e["id"]: parse_ts(e["created_at"]) for e in polled["events"]}
    live = [(e.received - created[e.id]) * 1000 for e in events if created[e.id] > connected]
    assert len(live) >= 20
    live.sort()
    p50, p99 = statistics.median(live), live[int(len(live) * 0.99) - 1]
    with capsys.disabled():
        print(f"\n[agents] emit→SSE latency over {len(live)} live events: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    assert p99 < 1000


def test_resume_with_last_event_id_has_no_gaps_and_no_duplicates(api, thread_id):
    run = start_run(api, thread_id, "/slow 2")
    first: list = []
    for item in sse(api, f"/api/runs/{run['id']}/sse"):
        first.append(item)
        if len(first) == 8:
            break  # drop the connection mid-run
    assert first[-1].event not in TERMINAL
    rest = read_until_terminal(api, run["id"], last_event_id=first[-1].id)
    ids = [e.id for e in first + rest]
    assert ids == list(range(1, len(ids) + 1))
    assert rest[-1].event == "completed"
    # ?last_event_id= works the same, and replay after the end returns only the tail.
    tail = read_until_terminal(api, run["id"], last_event_id=ids[-3])
    assert [e.id for e in tail] == ids[-2:]
    query = list(sse(api, f"/api/runs/{run['id']}/sse?last_event_id={ids[-2]}"))
    assert [e.id for e in query] == ids[-1:]


def test_cancel_stops_a_running_run_within_two_seconds(api, thread_id):
    run = start_run(api, thread_id, "/slow 30")
    events = []
    cancelled_at = None
    for item in sse(api, f"/api/runs/{run['id']}/sse"):
        events.append(item)
        if item.event == "message" and cancelled_at is None:
            cancelled_at = time.monotonic()
            response = api.post(f"/api/runs/{run['id']}/cancel")
            assert response.status_code == 200
        if item.event in TERMINAL:
            break
    terminal_after = time.monotonic() - cancelled_at
    assert events[-1].event == "cancelled" and events[-1].data["status"] == "cancelled"
    assert terminal_after < 2.0
    # The executor is gone: no event after the terminal one, even a while later.
    time.sleep(1.5)
    after = api.get(f"/api/runs/{run['id']}/events").json()
    assert after["events"][-1]["type"] == "cancelled"
    assert api.post(f"/api/runs/{run['id']}/cancel").status_code == 400


def test_enqueue_runs_one_after_another_and_interrupt_cancels(api, thread_id):
    first = start_run(api, thread_id, "/slow 1")
    second = start_run(api, thread_id, "second", multitask_strategy="enqueue")
    assert second["status"] == "pending"
    assert api.post(f"/api/threads/{thread_id}/runs", json={"multitask_strategy": "reject"}).status_code == 409
    done_second = wait_status(api, second["id"], {"completed"})
    done_first = api.get(f"/api/runs/{first['id']}").json()["run"]
    assert done_first["status"] == "completed"
    assert done_second["started_at"] >= done_first["completed_at"]
    slow = start_run(api, thread_id, "/slow 30")
    wait_status(api, slow["id"], {"running"})
    fresh = start_run(api, thread_id, "after interrupt", multitask_strategy="interrupt")
    assert api.get(f"/api/runs/{slow['id']}").json()["run"]["status"] == "cancelled"
    assert wait_status(api, fresh["id"], {"completed"})["output"].endswith('"after interrupt".')


def test_another_tenants_stream_is_404(api, thread_id, takos_server):
    run = start_run(api, thread_id, "hi")
    other = user_api(takos_server.url, "agentstranger")
    assert other.get(f"/api/runs/{run['id']}/sse").status_code == 404
    assert other.get(f"/api/runs/{run['id']}").status_code == 404
    anonymous = httpx.get(f"{takos_server.url}/api/runs/{run['id']}/sse")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "UNAUTHORIZED"
    assert "www-authenticate" in anonymous.headers
    wait_status(api, run["id"], {"completed"})


def test_the_console_session_reads_a_run_stream(takos_server):
    """Streams are served in front of Django (agents/api/sse_asgi.py): the session cookie still works."""
    browser = httpx.Client(base_url=takos_server.url, timeout=20)
    csrf = browser.get("/api/auth/csrf").json()["csrf_token"]
    assert browser.post("/api/auth/signup", headers={"X-CSRFToken": csrf},
                        json={"username": "cookiereader", "email": "cookiereader@example.com",
                              "password": "e2e pass phrase 42"}).status_code == 201
    browser.headers["X-CSRFToken"] = browser.cookies["csrftoken"]
    thread = browser.post("/api/spaces/me/threads", json={"title": "cookie"}).json()["thread"]
    run = browser.post(f"/api/threads/{thread['id']}/runs", json={"input": {"message": "hi"}}).json()["run"]
    events = read_until_terminal(browser, run["id"])
    assert events[0].id == 1 and events[-1].event == "completed"
    resumed = read_until_terminal(browser, run["id"], last_event_id=events[-2].id)
    assert [e.id for e in resumed] == [events[-1].id]


def test_a_notification_arrives_on_the_notifications_stream(api, thread_id):
    got: list = []

    def listen() -> None:
        for item in sse(api, "/api/notifications/sse", timeout=20):
            got.append(item)
            if item.data.get("type") == "run.completed":
                return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.5)
    run = start_run(api, thread_id, "notify me")
    listener.join(timeout=20)
    assert got, "no notification arrived"
    note = got[-1]
    assert note.event == "notification.new" and note.data["data"]["run_id"] == run["id"]
    assert api.get("/api/notifications/unread-count").json()["unread_count"] >= 1


def test_the_websocket_stream_replays_then_follows_live(api, thread_id, takos_server):
    import json as _json

    import websocket  # websocket-client (installed with the docker SDK)

    run = start_run(api, thread_id, "/slow 1")
    token = api.headers["Authorization"].split()[1]
    ws_url = takos_server.url.replace("http://", "ws://") + f"/api/runs/{run['id']}/ws?last_event_id=0"
    conn = websocket.create_connection(ws_url, header=[f"Authorization: Bearer {token}"], timeout=20)
    try:
        connected = _json.loads(conn.recv())
        assert connected["type"] == "connected"
        replay = _json.loads(conn.recv())
        assert replay["type"] == "replay"
        ids = [e["id"] for e in replay["data"]["events"]]
        conn.send("ping")
        while True:
            frame = _json.loads(conn.recv())
            if frame["type"] == "pong":
                continue
            ids.append(frame["eventId"])
            if frame["type"] in TERMINAL:
                break
    finally:
        conn.close()
    assert ids == list(range(1, len(ids) + 1)) and frame["type"] == "completed"
    stranger = user_api(takos_server.url, "wsstranger").headers["Authorization"]
    with pytest.raises(websocket.WebSocketException):
        bad = websocket.create_connection(ws_url, header=[f"Authorization: {stranger}"], timeout=10)
        bad.recv()


def test_create_and_stream_in_one_request(api, thread_id, takos_server):
    from takos.cli.sse import parse_sse

    frames = []
    with api.stream("POST", f"/api/threads/{thread_id}/runs/stream", json={"input": {"message": "/slow 0.5"}},
                    headers={"Accept": "text/event-stream"}) as response:
        assert response.status_code == 201
        assert response.headers["content-type"].startswith("text/event-stream")
        for frame in parse_sse(response.iter_lines()):
            frames.append(frame)
            if frame[1] in TERMINAL:
                break
    (meta_id, meta_event, meta), *events = frames
    assert meta_event == "metadata" and meta_id is None and meta["run"]["status"] == "queued"
    assert response.headers["content-location"] == f"/api/runs/{meta['run_id']}"
    assert [f[0] for f in events] == list(range(1, len(events) + 1))
    assert events[1][1] == "started" and events[-1][1] == "completed"
    # Same rules as POST /runs: bad input is the JSON error envelope, nothing created.
    before = len(api.get(f"/api/threads/{thread_id}/runs").json()["runs"])
    bad = api.post(f"/api/threads/{thread_id}/runs/stream", json={"multitask_strategy": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BAD_REQUEST"
    assert len(api.get(f"/api/threads/{thread_id}/runs").json()["runs"]) == before
    stranger = user_api(takos_server.url, "streamstranger")
    assert stranger.post(f"/api/threads/{thread_id}/runs/stream", json={}).status_code == 404
    assert api.get(f"/api/threads/{thread_id}/runs/stream").status_code == 405


def test_run_start_stream_refuses_exactly_as_the_api(api, thread_id, takos_server):
    """Bearer run starts with a stream are served in front of Django (agents/api/run_start_asgi.py);
    every refusal is handed to the Django view, so it answers as `POST .../runs` does (same status,
    same envelope, same headers that matter) and creates nothing."""
    base = takos_server.url

    def both(client: httpx.Client, *, thread: str = thread_id, **kwargs) -> tuple[httpx.Response, httpx.Response]:
        plain = client.post(f"/api/threads/{thread}/runs", **kwargs)
        streamed = client.post(f"/api/threads/{thread}/runs/stream", **kwargs)
        return plain, streamed

    def runs() -> list[str]:
        return [r["id"] for r in api.get(f"/api/threads/{thread_id}/runs").json()["runs"]]

    before = runs()
    cases = {
        "bad strategy": both(api, json={"multitask_strategy": "nope"}),
        "bad field": both(api, json={"agent_type": "x" * 51}),
        "not an object": both(api, json=[1, 2]),
        "bad json": both(api, content=b"{nope", headers={"Content-Type": "application/json"}),
        "nan": both(api, content=b'{"input": NaN}', headers={"Content-Type": "application/json"}),
        "unknown thread": both(api, thread="nosuchthread", json={}),
        "unknown parent": both(api, json={"parent_run_id": "nosuchrun"}),
        "bad token": both(httpx.Client(base_url=base, headers={"Authorization": "Bearer tak_pat_nope"}), json={}),
        "malformed token": both(httpx.Client(base_url=base, headers={"Authorization": "Bearer a b"}), json={}),
        "too large": both(api, content=b'{"input": "' + b"x" * (1024 * 1024) + b'"}',
                          headers={"Content-Type": "application/json"}),
    }
    stranger = user_api(base, "startstranger")
    cases["another tenant"] = both(stranger, json={})
    # A token without agents:execute (made by the session that the helper signed up).
    session = httpx.Client(base_url=base, timeout=20)
    csrf = session.get("/api/auth/csrf").json()["csrf_token"]
    session.post("/api/auth/login", headers={"X-CSRFToken": csrf},
                 json={"login": "startstranger", "password": "e2e pass phrase 42"})
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    narrow = session.post("/api/me/personal-access-tokens", json={"name": "ro", "scopes": ["threads:read"]})
    assert narrow.status_code == 201, narrow.text
    reader = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {narrow.json()['token']}"}, timeout=20)
    own = stranger.get("/api/spaces/me").json()["space"]["id"]
    own_thread = stranger.post(f"/api/spaces/{own}/threads", json={"title": "t"}).json()["thread"]["id"]
    cases["missing scope"] = both(reader, thread=own_thread, json={})
    for name, (plain, streamed) in cases.items():
        assert plain.status_code >= 400, name
        assert (streamed.status_code, streamed.json()) == (plain.status_code, plain.json()), name
        assert streamed.headers.get("www-authenticate") == plain.headers.get("www-authenticate"), name
    assert cases["bad strategy"][1].json()["error"]["details"]["fields"]["multitask_strategy"]
    assert {name: cases[name][1].status_code for name in ("bad token", "missing scope", "too large")} == {
        "bad token": 401, "missing scope": 403, "too large": 413}
    assert runs() == before

    # reject while a run is active: 409 with the active run's id, from both.
    active = start_run(api, thread_id, "/slow 3")
    plain, streamed = both(api, json={"multitask_strategy": "reject"})
    assert streamed.status_code == plain.status_code == 409
    assert streamed.json() == plain.json() and streamed.json()["error"]["details"]["active_run_ids"] == [active["id"]]
    api.post(f"/api/runs/{active['id']}/cancel")
    wait_status(api, active["id"], {"cancelled"})
    assert sorted(runs()) == sorted([active["id"], *before])


def test_a_console_session_starts_a_run_stream_with_its_csrf_token(takos_server):
    """Without a bearer token the request is Django's: a session needs X-CSRFToken, as every API POST."""
    from takos.cli.sse import parse_sse

    user_api(takos_server.url, "streamsession")
    session = httpx.Client(base_url=takos_server.url, timeout=20)
    csrf = session.get("/api/auth/csrf").json()["csrf_token"]
    assert session.post("/api/auth/login", headers={"X-CSRFToken": csrf},
                        json={"login": "streamsession", "password": "e2e pass phrase 42"}).status_code == 200
    space = session.get("/api/spaces/me").json()["space"]["id"]
    thread = session.post(f"/api/spaces/{space}/threads", json={"title": "t"},
                          headers={"X-CSRFToken": session.cookies["csrftoken"]}).json()["thread"]["id"]
    refused = session.post(f"/api/threads/{thread}/runs/stream", json={})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    with session.stream("POST", f"/api/threads/{thread}/runs/stream", json={"input": {"message": "hi"}},
                        headers={"X-CSRFToken": session.cookies["csrftoken"]}) as response:
        assert response.status_code == 201
        kinds = [frame[1] for frame in parse_sse(response.iter_lines()) if frame[1] != "delta"][:3]
    assert kinds == ["metadata", "run_status", "started"]

"""The dispatch front (dispatch/front.py) over real sockets on loopback.

The front runs on uvloop in a thread of the test process; a real aiohttp server in another thread
stands in for the runtimes; routing rows are real database rows; clients are real HTTP clients
(http.client, raw sockets, aiohttp's WebSocket client).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvloop
from aiohttp import WSMsgType, web

from dispatch.front import Front
from dispatch.middleware import STICKY_COOKIE
from dispatch.table import cache

pytestmark = pytest.mark.django_db(transaction=True)


class LoopThread:
    def __init__(self, *, use_uvloop: bool = False) -> None:
        self.loop = uvloop.new_event_loop() if use_uvloop else asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Runtime:
    """A runtime stand-in: one aiohttp server answering as `name`, recording what it saw."""

    def __init__(self, lt: LoopThread, name: str, status: int = 200) -> None:
        self.name, self.status, self.seen, self.peers = name, status, [], set()
        self.release = asyncio.Event()
        self.lt = lt
        lt.run(self._start())

    async def _start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/", self.hello)
        app.router.add_get("/stream", self.stream)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/ws", self.ws)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    async def hello(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append({k.lower(): v for k, v in request.headers.items()})
        self.peers.add(request.transport.get_extra_info("peername")[1])
        out = json.dumps({"name": self.name, "path": request.path_qs, "len": len(body)})
        return web.Response(text=out, status=self.status, content_type="application/json",
                            headers={"Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1"})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no length: chunked
        await response.prepare(request)
        await response.write(b"first;")
        await self.release.wait()
        await response.write(b"second")
        await response.write_eof()
        return response

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(4)
        return web.Response(text="late")

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("chat",))
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(f"echo:{msg.data}")
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
        return ws

    def close(self) -> None:
        self.lt.run(self.runner.cleanup())


@pytest.fixture
def runtimes() -> Iterator[dict[str, Runtime]]:
    lt = LoopThread()
    ups = {"v1": Runtime(lt, "v1"), "v2": Runtime(lt, "v2"), "bad": Runtime(lt, "bad", status=500)}
    yield ups
    for up in ups.values():
        lt.loop.call_soon_threadsafe(up.release.set)
        up.close()
    lt.stop()


@pytest.fixture
def front(db) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    lt = LoopThread(use_uvloop=True)
    server = Front(db_threads=1)
    lt.run(server.start("127.0.0.1", 0))
    port = server.server.sockets[0].getsockname()[1]
    cache.drop()
    yield {"front": server, "port": port, "url": f"http://127.0.0.1:{port}"}

    def close_db() -> None:
        from django.db import connections

        connections.close_all()

    server.executor.submit(close_db).result(10)
    server.executor.shutdown(wait=True)
    lt.run(_close(server))
    lt.stop()


async def _close(server: Front) -> None:
    server.stop()
    for client in list(server.clients):
        client.transport.close()


def get(front: dict, host: str, path: str = "/", *, method: str = "GET", headers: dict | None = None,
        body: bytes | None = None, conn: http.client.HTTPConnection | None = None) -> tuple[int, dict, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", front["port"], timeout=30)
    conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    out = {k.lower(): v for k, v in response.getheaders()}
    if own:
        conn.close()
    return response.status, out, data


@pytest.fixture
def routed(alice, runtimes):  # type: ignore[no-untyped-def]
    """A service `shop` with v1 active on runtime v1 and v2 canary on runtime v2 (weight 30)."""
    from accounts.selectors import personal_space
    from services.services import service_create
    from workers.models import Deployment

    space = personal_space(alice)
    service = service_create(space=space, actor=alice, slug="shop")
    d1 = Deployment.objects.create(service=service, space=space, version=1, status="active",
                                   endpoint=runtimes["v1"].url)
    d2 = Deployment.objects.create(service=service, space=space, version=2, status="deploying",
                                   endpoint=runtimes["v2"].url)
    service.active_deployment, service.canary_deployment, service.canary_weight = d1, d2, 30
    service.save()
    cache.drop()
    return {"service": service, "d1": d1, "d2": d2}


V1 = {"Cookie": f"{STICKY_COOKIE}=99"}


def test_unknown_hosts_get_the_404_envelope(front):
    for host in ("nothing.apps.localhost", "localhost", "example.com"):
        status, headers, body = get(front, host)
        assert status == 404 and headers["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"] == "NOT_FOUND"


def test_split_follows_weights_sticks_to_the_cookie_and_reuses_connections(front, routed, runtimes):
    seen = {"v1": 0, "v2": 0}
    conn = http.client.HTTPConnection("127.0.0.1", front["port"], timeout=30)
    for _ in range(200):
        status, headers, body = get(front, "shop.apps.localhost", conn=conn)
        assert status == 200
        seen[json.loads(body)["name"]] += 1
        assert headers["set-cookie"].startswith(f"{STICKY_COOKIE}=")
    assert 30 <= seen["v2"] <= 95 and seen["v1"] > seen["v2"]  # ~30 % canary
    for bucket, expected in ((0, "v2"), (29, "v2"), (30, "v1"), (99, "v1")):
        for _ in range(3):
            status, headers, body = get(front, "shop.apps.localhost", conn=conn,
                                        headers={"Cookie": f"a=b; {STICKY_COOKIE}={bucket}"})
            assert json.loads(body)["name"] == expected
            assert "set-cookie" not in headers
    conn.close()
    # One client connection, requests one at a time: the runtime saw one pooled connection, not 140.
    assert len(runtimes["v1"].peers) == 1


def test_headers_are_rewritten_both_ways(front, routed, runtimes):
    _status, headers, _body = get(front, "shop.apps.localhost", headers={
        **V1, "X-Forwarded-For": "6.6.6.6", "X-Takos-Internal": "1", "Connection": "keep-alive, x-drop-me",
        "X-Drop-Me": "1", "X-Keep": "yes", "TE": "trailers"})
    seen = runtimes["v1"].seen[-1]
    assert seen["x-forwarded-for"] == "127.0.0.1"  # the client's own chain is not trusted by default
    assert seen["x-forwarded-host"] == "shop.apps.localhost" and seen["x-forwarded-proto"] == "http"
    assert seen["x-takos-deployment"] == routed["d1"].pk
    assert "x-takos-internal" not in seen and "x-drop-me" not in seen and "te" not in seen
    assert seen["x-keep"] == "yes" and seen["host"] == "shop.apps.localhost"
    assert "keep-alive" not in headers and "x-secret-hop" not in headers and "connection" not in headers
    assert headers["content-type"].startswith("application/json")


def test_trusted_forwarding_headers_extend_the_chain(front, routed, runtimes):
    front["front"].trust_forwarded = True
    get(front, "shop.apps.localhost", headers={**V1, "X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"})
    seen = runtimes["v1"].seen[-1]
    assert seen["x-forwarded-for"] == "6.6.6.6, 127.0.0.1" and seen["x-forwarded-proto"] == "https"


def test_bodies_are_forwarded_and_limited(front, routed):
    status, _, body = get(front, "shop.apps.localhost", method="POST", body=b"x" * 5000, headers=V1)
    assert status == 200 and json.loads(body)["len"] == 5000
    # A chunked request body arrives whole, with a length.
    with socket.create_connection(("127.0.0.1", front["port"]), timeout=10) as sock:
        sock.sendall(b"POST /?q=1 HTTP/1.1\r\nHost: shop.apps.localhost\r\nCookie: takos_split=99\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        reply = _read_response(sock)
    assert b" 200 " in reply.split(b"\r\n", 1)[0] and b'"len": 11' in reply and b'"path": "/?q=1"' in reply
    front["front"].max_body = 1000
    status, _headers, body = get(front, "shop.apps.localhost", method="POST", body=b"x" * 5000, headers=V1)
    assert status == 413 and json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"


def _read_response(sock: socket.socket, *, until: bytes = b"}", data: bytes = b"") -> bytes:
    deadline = time.monotonic() + 10
    while until not in data and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_pipelined_requests_are_answered_in_order(front, routed):
    with socket.create_connection(("127.0.0.1", front["port"]), timeout=10) as sock:
        one = b"GET /?p=%s HTTP/1.1\r\nHost: shop.apps.localhost\r\nCookie: takos_split=99\r\n\r\n"
        sock.sendall(one % b"a" + one % b"b" + one % b"c")
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b'"name"') < 3 and time.monotonic() < deadline:
            data += sock.recv(65536)
    paths = [json.loads(part[part.index(b"{"):])["path"] for part in data.split(b"HTTP/1.1 ")[1:]]
    assert paths == ["/?p=a", "/?p=b", "/?p=c"]


def test_head_has_no_body_and_keeps_the_connection(front, routed):
    conn = http.client.HTTPConnection("127.0.0.1", front["port"], timeout=10)
    status, headers, body = get(front, "shop.apps.localhost", method="HEAD", headers=V1, conn=conn)
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    status, _headers, body = get(front, "shop.apps.localhost", headers=V1, conn=conn)
    assert status == 200 and json.loads(body)["name"] == "v1"
    conn.close()


def test_responses_stream_before_the_runtime_finishes(front, routed, runtimes):
    with socket.create_connection(("127.0.0.1", front["port"]), timeout=10) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: shop.apps.localhost\r\nCookie: takos_split=99\r\n\r\n")
        data = _read_response(sock, until=b"first;\r\n")
        assert b"transfer-encoding: chunked" in data.lower() and b"first;" in data  # before `second` exists
        runtimes["v1"].lt.loop.call_soon_threadsafe(runtimes["v1"].release.set)
        data = _read_response(sock, until=b"0\r\n\r\n", data=data)
    assert b"second" in data and data.endswith(b"0\r\n\r\n")


def test_websockets_pass_both_ways(front, routed):
    import aiohttp

    async def scenario() -> tuple[str | None, str, bytes]:
        async with aiohttp.ClientSession() as session, session.ws_connect(
                f"{front['url']}/ws", headers={"Host": "shop.apps.localhost", **V1}, protocols=("chat",)) as ws:
            await ws.send_str("hi")
            text = (await ws.receive(timeout=10)).data
            await ws.send_bytes(b"abc")
            data = (await ws.receive(timeout=10)).data
            return ws.protocol, text, data

    assert asyncio.run(scenario()) == ("chat", "echo:hi", b"cba")


def test_no_deployment_yet_is_503_with_retry_after(front, alice):
    from accounts.selectors import personal_space
    from services.services import service_create

    service_create(space=personal_space(alice), actor=alice, slug="empty")
    cache.drop()
    status, headers, body = get(front, "empty.apps.localhost")
    assert status == 503 and headers["retry-after"] == "5"
    assert json.loads(body)["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_dead_runtime_that_cannot_start_is_503(front, routed):
    from workers.models import Deployment

    Deployment.objects.filter(pk=routed["d1"].pk).update(endpoint="http://127.0.0.1:9")
    cache.drop()
    status, headers, _body = get(front, "shop.apps.localhost", headers=V1)
    assert status == 503 and "retry-after" in headers


def test_slow_runtime_is_504(front, routed):
    front["front"].read_timeout = 1
    started = time.monotonic()
    status, headers, body = get(front, "shop.apps.localhost", "/slow", headers=V1)
    assert status == 504 and json.loads(body)["error"]["code"] == "GATEWAY_TIMEOUT" and "retry-after" in headers
    assert time.monotonic() - started < 3.9


def test_per_tenant_concurrency_limit(front, routed):
    front["front"].space_limit = 0
    status, headers, _ = get(front, "shop.apps.localhost")
    assert status == 503 and headers["retry-after"] == "1"


def test_metrics_count_requests_and_errors_per_deployment(front, routed, runtimes):
    from django.db import OperationalError

    from dispatch.metrics import metrics
    from dispatch.models import DeploymentMetric
    from workers.models import Deployment

    metrics.take()
    Deployment.objects.filter(pk=routed["d1"].pk).update(endpoint=runtimes["bad"].url)
    cache.drop()
    for bucket in (10, 20, 50, 60, 70):  # 2 to the canary (ok), 3 to the baseline (500)
        get(front, "shop.apps.localhost", headers={"Cookie": f"{STICKY_COOKIE}={bucket}"})
    deadline = time.monotonic() + 10
    rows: dict = {}
    while time.monotonic() < deadline:  # the front flushes about once a second, from its own thread
        try:
            rows = {r.deployment_id: r for r in DeploymentMetric.objects.all()}
        except OperationalError:  # in-memory SQLite: "table is locked" while that thread writes
            rows = {}
        if sum(r.requests for r in rows.values()) >= 5:
            break
        time.sleep(0.2)
    assert (rows[routed["d2"].pk].requests, rows[routed["d2"].pk].errors) == (2, 0)
    assert (rows[routed["d1"].pk].requests, rows[routed["d1"].pk].errors) == (3, 3)


def test_route_changes_are_seen_at_once(front, routed):
    from django.db import transaction

    from workers.services import _activate

    assert json.loads(get(front, "shop.apps.localhost", headers=V1)[2])["name"] == "v1"
    with transaction.atomic():
        _activate(routed["service"], routed["d2"], actor=None)
    assert json.loads(get(front, "shop.apps.localhost", headers=V1)[2])["name"] == "v2"


def test_pending_custom_domain_serves_only_its_challenge(front, routed):
    from workers.models import CustomDomain

    CustomDomain.objects.create(service=routed["service"], domain="shop.example.com", verification_token="tok123")
    cache.drop()
    status, _, body = get(front, "shop.example.com", "/.well-known/takos-domain-verification")
    assert status == 200 and body == b"tok123"
    status, _, body = get(front, "shop.example.com", "/")
    assert status == 404 and json.loads(body)["error"]["code"] == "NOT_FOUND"


def test_http10_client_gets_a_close_delimited_body(front, routed, runtimes):
    with socket.create_connection(("127.0.0.1", front["port"]), timeout=10) as sock:
        sock.sendall(b"GET /stream HTTP/1.0\r\nHost: shop.apps.localhost\r\nConnection: keep-alive\r\n"
                     b"Cookie: takos_split=99\r\n\r\n")
        runtimes["v1"].lt.loop.call_soon_threadsafe(runtimes["v1"].release.set)
        data = b""
        started = time.monotonic()
        while chunk := sock.recv(65536):  # ends when the front closes the connection
            data += chunk
    assert time.monotonic() - started < 10
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"connection: close" in head.lower() and b"transfer-encoding" not in head.lower()
    assert body == b"first;second"

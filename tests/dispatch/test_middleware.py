"""Dispatch in process: the ASGI middleware against real HTTP upstreams on loopback.

Upstreams are stdlib HTTP servers in threads standing in for runtimes; routing rows are real
database rows. The inner Django app is replaced by a marker app to see what falls through.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from dispatch.middleware import STICKY_COOKIE, DispatchMiddleware, choose, sessions
from dispatch.table import RouteEntry, Target, cache

pytestmark = pytest.mark.django_db(transaction=True)


class Upstream:
    def __init__(self, name: str, status: int = 200):
        outer = self
        self.name, self.status, self.seen = name, status, []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append({k.lower(): v for k, v in self.headers.items()})
                out = json.dumps({"name": outer.name, "path": self.path, "len": len(body)}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.send_header("Connection", "keep-alive, X-Secret-Hop")
                self.send_header("X-Secret-Hop", "1")
                self.send_header("Keep-Alive", "timeout=5")
                self.end_headers()
                self.wfile.write(out)

            do_POST = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstreams() -> Iterator[dict[str, Upstream]]:
    ups = {"v1": Upstream("v1"), "v2": Upstream("v2"), "bad": Upstream("bad", status=500)}
    yield ups
    for up in ups.values():
        up.close()


async def inner_app(scope: dict, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 299, "headers": [(b"x-inner", b"django")]})
    await send({"type": "http.response.body", "body": b"django"})


def call(app: Any, host: str, path: str = "/", *, method: str = "GET", headers: list | None = None,
         body: bytes = b"", client: str = "10.1.2.3") -> tuple[int, dict[str, str], bytes]:
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "scheme": "http", "headers": [(b"host", host.encode()), *(headers or [])], "client": (client, 5555)}
    sent: list[dict] = []
    chunks = [body]

    async def receive() -> dict:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(0), "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    async def run() -> None:
        try:
            await app(scope, receive, send)
        finally:
            await sessions.close_current()

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    out_headers: dict[str, str] = {}
    for k, v in start["headers"]:
        out_headers.setdefault(k.decode().lower(), v.decode())
    data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], out_headers, data


@pytest.fixture
def routed(alice, upstreams):  # type: ignore[no-untyped-def]
    """A service `shop` with v1 active at upstream v1 and v2 canary at upstream v2 (weight 30)."""
    from accounts.selectors import personal_space
    from services.services import service_create
    from workers.models import Deployment

    space = personal_space(alice)
    service = service_create(space=space, actor=alice, slug="shop")
    d1 = Deployment.objects.create(service=service, space=space, version=1, status="active",
                                   endpoint=upstreams["v1"].url)
    d2 = Deployment.objects.create(service=service, space=space, version=2, status="deploying",
                                   endpoint=upstreams["v2"].url)
    service.active_deployment, service.canary_deployment, service.canary_weight = d1, d2, 30
    service.save()
    cache.drop()
    return {"service": service, "d1": d1, "d2": d2}


def test_unknown_tenant_host_is_a_404_envelope_and_other_hosts_fall_through(db):
    app = DispatchMiddleware(inner_app)
    status, _headers, body = call(app, "nothing.apps.localhost")
    assert status == 404 and json.loads(body)["error"]["code"] == "NOT_FOUND"
    assert call(app, "127.0.0.1:8000")[0] == 299
    assert call(app, "localhost")[2] == b"django"


def test_split_follows_weights_and_sticks_to_the_cookie(routed, upstreams):
    app = DispatchMiddleware(inner_app)
    seen = {"v1": 0, "v2": 0}
    for _ in range(200):
        status, headers, body = call(app, "shop.apps.localhost")
        assert status == 200
        seen[json.loads(body)["name"]] += 1
        assert headers["set-cookie"].startswith(f"{STICKY_COOKIE}=")
    assert 30 <= seen["v2"] <= 95 and seen["v1"] > seen["v2"]  # ~30% canary
    for bucket, expected in ((0, "v2"), (29, "v2"), (30, "v1"), (99, "v1")):
        for _ in range(3):
            status, headers, body = call(app, "shop.apps.localhost",
                                         headers=[(b"cookie", f"a=b; {STICKY_COOKIE}={bucket}".encode())])
            assert json.loads(body)["name"] == expected
            assert "set-cookie" not in headers


def test_choose_moves_visitors_only_towards_the_canary():
    entry = RouteEntry("h", "s", "sp", Target("a", 1, "x"), Target("b", 2, "y"), 25)
    bigger = RouteEntry("h", "s", "sp", Target("a", 1, "x"), Target("b", 2, "y"), 50)
    for bucket in range(100):
        if choose(entry, bucket).deployment_id == "b":
            assert choose(bigger, bucket).deployment_id == "b"


def test_headers_are_rewritten_both_ways(routed, upstreams):
    app = DispatchMiddleware(inner_app)
    _status, headers, _body = call(app, "shop.apps.localhost", headers=[
        (b"cookie", f"{STICKY_COOKIE}=99".encode()), (b"x-forwarded-for", b"6.6.6.6"),
        (b"x-takos-internal", b"1"), (b"connection", b"keep-alive, x-drop-me"), (b"x-drop-me", b"1"),
        (b"x-keep", b"yes"), (b"te", b"trailers")])
    seen = upstreams["v1"].seen[-1]
    assert seen["x-forwarded-for"] == "10.1.2.3"  # client's own chain not trusted by default
    assert seen["x-forwarded-host"] == "shop.apps.localhost" and seen["x-forwarded-proto"] == "http"
    assert seen["x-takos-deployment"] == routed["d1"].pk
    assert "x-takos-internal" not in seen and "x-drop-me" not in seen and "te" not in seen
    assert seen["x-keep"] == "yes" and seen["host"] == "shop.apps.localhost"
    # Response: hop-by-hop and Connection-named headers dropped.
    assert "keep-alive" not in headers and "x-secret-hop" not in headers and "connection" not in headers
    assert headers["content-type"] == "application/json"


def test_body_is_forwarded_and_limited(routed, upstreams, settings):
    app = DispatchMiddleware(inner_app)
    cookie = [(b"cookie", f"{STICKY_COOKIE}=99".encode())]
    status, _, body = call(app, "shop.apps.localhost", method="POST", body=b"x" * 5000, headers=cookie)
    assert status == 200 and json.loads(body)["len"] == 5000
    settings.TAKOS_DISPATCH_MAX_BODY = 1000
    status, _, body = call(app, "shop.apps.localhost", method="POST", body=b"x" * 5000, headers=cookie)
    assert status == 413 and json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_no_deployment_yet_is_503_with_retry_after(alice):
    from accounts.selectors import personal_space
    from services.services import service_create

    service_create(space=personal_space(alice), actor=alice, slug="empty")
    cache.drop()
    status, headers, body = call(DispatchMiddleware(inner_app), "empty.apps.localhost")
    assert status == 503 and headers["retry-after"] == "5"
    assert json.loads(body)["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_dead_runtime_that_cannot_start_is_503(routed, settings):
    from workers.models import Deployment

    # The endpoint refuses connections and the deployment has no kept source to restart from.
    Deployment.objects.filter(pk=routed["d1"].pk).update(endpoint="http://127.0.0.1:9")
    cache.drop()
    status, headers, _body = call(DispatchMiddleware(inner_app), "shop.apps.localhost",
                                 headers=[(b"cookie", f"{STICKY_COOKIE}=99".encode())])
    assert status == 503 and "retry-after" in headers


def test_per_tenant_concurrency_limit(routed, settings):
    settings.TAKOS_DISPATCH_SPACE_CONCURRENCY = 0
    status, headers, _ = call(DispatchMiddleware(inner_app), "shop.apps.localhost")
    assert status == 503 and headers["retry-after"] == "1"


def test_metrics_count_requests_and_errors_per_deployment(routed, upstreams):
    from dispatch.metrics import metrics
    from dispatch.models import DeploymentMetric
    from workers.models import Deployment

    metrics.take()
    Deployment.objects.filter(pk=routed["d1"].pk).update(endpoint=upstreams["bad"].url)
    cache.drop()
    app = DispatchMiddleware(inner_app)
    for bucket in (10, 20, 50, 60, 70):  # 2 to the canary (ok), 3 to the baseline (500)
        call(app, "shop.apps.localhost", headers=[(b"cookie", f"{STICKY_COOKIE}={bucket}".encode())])
    metrics.flush()
    rows = {r.deployment_id: r for r in DeploymentMetric.objects.all()}
    assert (rows[routed["d2"].pk].requests, rows[routed["d2"].pk].errors) == (2, 0)
    assert (rows[routed["d1"].pk].requests, rows[routed["d1"].pk].errors) == (3, 3)
    assert Deployment.objects.get(pk=routed["d1"].pk).last_request_at is not None


def test_route_changes_are_seen_at_once(routed, upstreams):
    from workers.services import _activate

    app = DispatchMiddleware(inner_app)
    cookie = [(b"cookie", f"{STICKY_COOKIE}=99".encode())]
    assert json.loads(call(app, "shop.apps.localhost", headers=cookie)[2])["name"] == "v1"
    from django.db import transaction

    with transaction.atomic():
        _activate(routed["service"], routed["d2"], actor=None)
    assert json.loads(call(app, "shop.apps.localhost", headers=cookie)[2])["name"] == "v2"

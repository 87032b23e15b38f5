"""The dispatch front: a dedicated HTTP/1.1 reverse proxy for tenant hostnames (`manage.py dispatch`).

Same routing, split, limits, metrics and error envelope as the ASGI middleware (which stays
in the web process for single-port setups), without ASGI in the hot path. Measured on loopback
with wrk and 20 connections (scripts/bench_dispatch.py): the middleware under daphne proxies at
about 0.1x nginx `proxy_pass`, under uvicorn+uvloop+httptools or as an aiohttp server with
aiohttp's client at about 0.2-0.3x; this asyncio Protocol server, which parses with httptools
(llhttp) on both sides, keeps a pool of keep-alive connections per runtime and writes bytes from
one transport to the other, runs at well above half of nginx. So the hot path is written here by
hand; everything that is not per-request work (route lookup, starting runtimes, metric flushes)
runs off the event loop in threads, with Django.

Per request: Host -> RouteEntry from the in-process route cache (RouteCache: filled from the
database on a miss, dropped when the routing generation changes) -> deployment by rollout weight,
sticky through the `takos_split` cookie -> runtime endpoint (started on demand) -> request head
rewritten (hop-by-hop and client-forged forwarding headers dropped, X-Forwarded-* set) -> the
response streamed back chunk by chunk (re-framed as chunked when the runtime sent no length).
WebSocket (any Upgrade) requests become a raw byte tunnel after the runtime's 101.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httptools
from django.conf import settings

from dispatch.metrics import metrics
from dispatch.middleware import (
    HOP_BY_HOP,
    STICKY_COOKIE,
    STRIPPED_PREFIX,
    STRIPPED_REQUEST,
    WELL_KNOWN_PATH,
    _envelope,
    choose,
)
from dispatch.table import RouteEntry, Target, cache, lookup

logger = logging.getLogger("takos.dispatch")

IDEMPOTENT = {b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"}
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}
CLIENT_IDLE_SECONDS = 75.0  # keep-alive of idle client connections
UPSTREAM_IDLE_SECONDS = 15.0  # below the runtimes' own keep-alive (aiohttp: 75 s, node: 5 s is the odd one)
SWEEP_SECONDS = 1.0
MAX_IDLE_PER_ENDPOINT = 256
# Request headers the runtime must not see: hop-by-hop, forged forwarding, our own framing.
_DROP_REQUEST = HOP_BY_HOP | STRIPPED_REQUEST | {b"content-length", b"expect"}


class ProxyFailure(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None,
                 retryable: bool = False, refused: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after
        self.retryable = retryable  # the connection closed before any byte of a response came back
        self.refused = refused  # no connection at all: the runtime is not listening (start it again)


def error_bytes(status: int, code: str, message: str, *, retry_after: int | None = None,
                keep_alive: bool = True) -> bytes:
    body = _envelope(status, code, message)
    head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", "content-type: application/json",
            f"content-length: {len(body)}", "cache-control: no-store"]
    if retry_after is not None:
        head.append(f"retry-after: {retry_after}")
    if not keep_alive:
        head.append("connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class Request:
    __slots__ = (
        "body",
        "headers",
        "host",
        "keep_alive",
        "method",
        "size",
        "too_large",
        "upgrade",
        "url",
        "version",
    )

    def __init__(self) -> None:
        self.method = b""
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.too_large = False
        self.keep_alive = True
        self.upgrade = False
        self.version = "1.1"
        self.host = ""


# --- the upstream side ---------------------------------------------------------------------------


class Upstream(asyncio.Protocol):
    """One keep-alive connection to a runtime; carries one exchange at a time."""

    def __init__(self, front: Front, endpoint: str) -> None:
        self.front, self.endpoint = front, endpoint
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.client: Client | None = None  # the client connection of the exchange in flight
        self.done: asyncio.Future | None = None
        self.head_only = False
        self.set_cookie: bytes | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.out: list[bytes] = []  # bytes for the client, written once per read from the runtime
        self.reason = b""
        self.status = 0
        self.received = False  # any byte of this exchange's response
        self.head_sent = False
        self.chunked_out = False
        self.close_delimited = False
        self.client_keep_alive = True
        self.tunnel: asyncio.Transport | None = None
        self.last_active = 0.0
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.front.pool.forget(self)
        if self.tunnel is not None:
            self.tunnel.close()
            self.tunnel = None
            self._resolve(101)
            return
        if self.done is None or self.done.done():
            return
        if not self.received:
            self._fail(ProxyFailure(502, "BAD_GATEWAY", "The app's runtime closed the connection.", retry_after=5,
                                    retryable=True))
        elif self.head_sent and self.close_delimited:
            self._end_body()  # a body delimited by the connection's end is complete now
            self._flush(self.client)
            self._resolve(self.status)
        else:
            self._abort_client()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.front.now
        if self.tunnel is not None:
            if not self.tunnel.is_closing():
                self.tunnel.write(data)
            return
        if self.client is None:
            self.transport.close()  # bytes nobody asked for: the connection is not reusable
            return
        self.received = True
        client = self.client
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
            self._flush(client)
            self._start_tunnel(data[offset:])
            return
        except httptools.HttpParserError:
            self._flush(client)
            if self.head_sent:
                self._abort_client()
            else:
                self._fail(ProxyFailure(502, "BAD_GATEWAY", "The app's runtime sent an invalid response.",
                                        retry_after=5))
            self.transport.close()
            return
        # Everything parsed from this read goes out in one write (head and body in one segment).
        self._flush(client)

    def _flush(self, client: Client | None) -> None:
        out = self.out
        if out:
            self.out = []
            if client is not None:
                client.writelines(out)

    # httptools callbacks
    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        self.status = status
        if 100 <= status < 200 and status != 101:
            return  # an interim response (103 Early Hints): not forwarded
        client = self.client
        connection_named: set[bytes] = set()
        length = False
        chunked_in = False
        for name, value in self.headers:
            lname = name.lower()
            if lname == b"connection":
                connection_named.update(v.strip().lower() for v in value.split(b","))
            elif lname == b"content-length":
                length = True
            elif lname == b"transfer-encoding":
                chunked_in = True
        upgrade = status == 101
        out = [b"HTTP/1.1 %d %s\r\n" % (status, self.reason or b"OK")]
        for name, value in self.headers:
            lname = name.lower()
            if upgrade and lname in (b"connection", b"upgrade"):
                out.append(name + b": " + value + b"\r\n")
                continue
            if lname in HOP_BY_HOP or lname in connection_named:
                continue
            out.append(name + b": " + value + b"\r\n")
        if self.set_cookie is not None:
            out.append(self.set_cookie)
        no_body = self.head_only or status in (204, 304) or upgrade
        if not no_body and not length:
            if client is not None and client.version_11:
                out.append(b"transfer-encoding: chunked\r\n")
                self.chunked_out = True
            else:
                self.client_keep_alive = False  # HTTP/1.0 client: the body ends with the connection
                if client is not None:
                    client.must_close = True
            self.close_delimited = not chunked_in
        if not self.client_keep_alive and not upgrade:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        self.head_sent = True
        self.out.append(b"".join(out))
        if self.head_only:
            # llhttp would wait for the body a HEAD response announces; start a fresh parser instead.
            self.parser = httptools.HttpResponseParser(self)
            self._complete(self.status)

    def on_body(self, body: bytes) -> None:
        if self.chunked_out:
            self.out += (b"%x\r\n" % len(body), body, b"\r\n")
        else:
            self.out.append(body)

    def on_message_complete(self) -> None:
        status = self.status
        if 100 <= status < 200 and status != 101:
            self.headers, self.reason = [], b""
            return
        if self.head_only or status == 101:
            return
        self._end_body()
        self._complete(status)

    # exchange
    def start(self, client: Client, head: bytes, body: list[bytes], *, head_only: bool,
              set_cookie: bytes | None, keep_alive: bool) -> asyncio.Future:
        self.client = client
        self.done = self.front.loop.create_future()
        self.head_only, self.set_cookie, self.client_keep_alive = head_only, set_cookie, keep_alive
        self.headers, self.reason, self.status, self.out = [], b"", 0, []
        self.received = self.head_sent = self.chunked_out = self.close_delimited = False
        self.last_active = self.front.now
        client.upstream = self
        if body:
            self.transport.writelines([head, *body])
        else:
            self.transport.write(head)
        return self.done

    def _end_body(self) -> None:
        if self.chunked_out:
            self.out.append(b"0\r\n\r\n")
        self.chunked_out = False

    def _complete(self, status: int) -> None:
        reusable = self.parser.should_keep_alive() and not self.close_delimited and not self.closed
        self._resolve(status)
        if reusable:
            self.front.pool.release(self)
        elif self.transport is not None:
            self.transport.close()

    def _resolve(self, status: int) -> None:
        if self.client is not None:
            self.client.upstream = None
        self.client = None
        if self.done is not None and not self.done.done():
            self.done.set_result(status)

    def _fail(self, failure: ProxyFailure) -> None:
        if self.client is not None:
            self.client.upstream = None
        self.client = None
        if self.done is not None and not self.done.done():
            self.done.set_exception(failure)

    def _abort_client(self) -> None:
        """The response broke after its head went out: all we can do is cut the client connection."""
        client = self.client
        self._fail(ProxyFailure(502, "BAD_GATEWAY", "aborted"))
        if client is not None:
            client.abort()

    def _start_tunnel(self, tail: bytes) -> None:
        client = self.client
        if client is None or client.transport is None or self.status != 101:
            self.transport.close()
            return
        self.tunnel = client.transport
        client.tunnel = self.transport
        if tail:
            client.write(tail)
        request_tail, client.pending_tail = client.pending_tail, b""
        if request_tail:
            self.transport.write(request_tail)
        client.upstream = None
        self.client = None
        client.transport.resume_reading()
        # The exchange's future resolves when the tunnel closes (connection_lost of either side).

    def timed_out(self) -> None:
        if self.head_sent:
            self._abort_client()
        else:
            self._fail(ProxyFailure(504, "GATEWAY_TIMEOUT", "The app did not answer in time.", retry_after=5))
        if self.transport is not None:
            self.transport.close()

    def client_gone(self) -> None:
        self.client = None
        if self.transport is not None:
            self.transport.close()
        if self.done is not None and not self.done.done():
            self.done.set_result(499)


class Pool:
    """Idle keep-alive connections per runtime endpoint."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.idle: dict[str, list[Upstream]] = defaultdict(list)
        self.busy: set[Upstream] = set()
        self.addresses: dict[str, tuple[str, int]] = {}

    async def acquire(self, endpoint: str) -> tuple[Upstream, bool]:
        idle = self.idle.get(endpoint)
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                self.busy.add(conn)
                return conn, True
        address = self.addresses.get(endpoint)
        if address is None:
            parts = urlsplit(endpoint)
            address = self.addresses[endpoint] = (parts.hostname or "127.0.0.1", parts.port or 80)
        loop = self.front.loop
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: Upstream(self.front, endpoint), *address),
                self.front.connect_timeout)
        except TimeoutError:
            raise ProxyFailure(504, "GATEWAY_TIMEOUT", "The app's runtime did not accept the connection in time.",
                               retry_after=5) from None
        except OSError:
            raise ProxyFailure(502, "BAD_GATEWAY", "The app's runtime refused the connection.", retry_after=5,
                               refused=True) from None
        self.busy.add(conn)
        return conn, False

    def release(self, conn: Upstream) -> None:
        self.busy.discard(conn)
        idle = self.idle[conn.endpoint]
        if len(idle) >= MAX_IDLE_PER_ENDPOINT:
            conn.transport.close()
            return
        conn.last_active = self.front.now
        idle.append(conn)

    def forget(self, conn: Upstream) -> None:
        self.busy.discard(conn)
        idle = self.idle.get(conn.endpoint)
        if idle and conn in idle:
            idle.remove(conn)

    def sweep(self, now: float) -> None:
        for endpoint, idle in list(self.idle.items()):
            for conn in [c for c in idle if now - c.last_active > UPSTREAM_IDLE_SECONDS]:
                idle.remove(conn)
                conn.transport.close()
            if not idle:
                del self.idle[endpoint]
        for conn in list(self.busy):
            if conn.client is not None and now - conn.last_active > self.front.read_timeout:
                conn.timed_out()


# --- the client side -----------------------------------------------------------------------------


class Client(asyncio.Protocol):
    """One client connection: parses requests (pipelined ones queue up) and answers them in order."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.request: Request | None = None
        self.queue: deque[Request] = deque()
        self.busy = False
        self.peer = ""
        self.upstream: Upstream | None = None
        self.tunnel: asyncio.Transport | None = None
        self.pending_tail = b""
        self.version_11 = True
        self.last_active = 0.0
        self.closed = False
        self.paused = False
        self.must_close = False  # a response was delimited by closing the connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        self.last_active = self.front.now
        self.front.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.front.clients.discard(self)
        if self.tunnel is not None:
            self.tunnel.close()
            self.tunnel = None
        if self.upstream is not None:
            self.upstream.client_gone()
            self.upstream = None

    def data_received(self, data: bytes) -> None:
        self.last_active = self.front.now
        if self.tunnel is not None:
            if not self.tunnel.is_closing():
                self.tunnel.write(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
            request = self.request
            if request is not None:
                request.upgrade = True
                self.pending_tail = data[offset:]
                if not self.queue or self.queue[-1] is not request:
                    self._enqueue(request)
            self.transport.pause_reading()  # the rest belongs to the tunnel, once there is one
        except httptools.HttpParserError:
            self.write(error_bytes(400, "BAD_REQUEST", "Malformed HTTP request.", keep_alive=False))
            self.transport.close()

    def pause_writing(self) -> None:  # the client reads slowly: stop reading the runtime
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.pause_reading()
        elif self.tunnel is not None:
            self.tunnel.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.resume_reading()
        elif self.tunnel is not None:
            self.tunnel.resume_reading()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.request = Request()

    def on_url(self, url: bytes) -> None:
        self.request.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self.request
        lname = name.lower()
        request.headers.append((lname, value))
        if lname == b"host":
            request.host = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        request, parser = self.request, self.parser
        request.method = parser.get_method()
        request.version = parser.get_http_version()
        self.version_11 = request.version != "1.0"
        request.keep_alive = parser.should_keep_alive()
        request.upgrade = parser.should_upgrade()
        for name, value in request.headers:
            if name == b"content-length" and value.isdigit() and int(value) > self.front.max_body:
                request.too_large = True
            elif name == b"expect" and value.lower() == b"100-continue" and not request.too_large:
                self.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # the body is read here, not by the runtime

    def on_body(self, body: bytes) -> None:
        request = self.request
        if request.too_large:
            return
        request.size += len(body)
        if request.size > self.front.max_body:
            request.too_large, request.body = True, []
            return
        request.body.append(body)

    def on_message_complete(self) -> None:
        self._enqueue(self.request)

    def _enqueue(self, request: Request) -> None:
        self.queue.append(request)
        if len(self.queue) > 1 and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        if not self.busy:
            self.busy = True
            self.front.loop.create_task(self._serve())

    async def _serve(self) -> None:
        try:
            while self.queue and not self.closed:
                request = self.queue.popleft()
                if self.paused and len(self.queue) < 1 and not request.upgrade:
                    self.paused = False
                    self.transport.resume_reading()
                keep = await self.front.handle(self, request)
                self.last_active = self.front.now
                if not keep or not request.keep_alive or request.upgrade or self.must_close:
                    if self.transport is not None and self.tunnel is None:
                        self.transport.close()
                    return
        except Exception:
            logger.exception("dispatch front: request failed")
            self.abort()
        finally:
            self.busy = False

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def writelines(self, data: list[bytes] | tuple[bytes, ...]) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.writelines(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


# --- the server ----------------------------------------------------------------------------------


class Front:
    def __init__(self, *, db_threads: int = 4) -> None:
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.pool = Pool(self)
        self.clients: set[Client] = set()
        self.inflight: dict[str, int] = defaultdict(int)
        self.start_locks: dict[str, asyncio.Lock] = {}
        self.executor = ThreadPoolExecutor(max_workers=db_threads, thread_name_prefix="dispatch-db")
        self.now = time.monotonic()
        self.suffix = "." + settings.TAKOS_TENANT_DOMAIN.lower()
        self.max_body = settings.TAKOS_DISPATCH_MAX_BODY
        self.read_timeout = settings.TAKOS_DISPATCH_TIMEOUT
        self.connect_timeout = settings.TAKOS_DISPATCH_CONNECT_TIMEOUT
        self.space_limit = settings.TAKOS_DISPATCH_SPACE_CONCURRENCY
        self.trust_forwarded = settings.TAKOS_DISPATCH_TRUST_FORWARDED
        self.server: asyncio.AbstractServer | None = None
        self.ticker: asyncio.Task | None = None

    # Django work, off the event loop. Each thread keeps its own DB connection; drop stale ones.
    async def in_thread(self, fn: Any, *args: Any) -> Any:
        def call() -> Any:
            from django.db import close_old_connections

            close_old_connections()
            try:
                return fn(*args)
            finally:
                close_old_connections()

        return await self.loop.run_in_executor(self.executor, call)

    async def resolve(self, host: str) -> RouteEntry | None:
        hit, entry = cache.get(host)
        if hit:
            return entry
        entry = await self.in_thread(lookup, host)
        cache.put(host, entry)
        return entry

    async def endpoint_for(self, target: Target, *, restart: bool = False) -> str:
        if target.endpoint and not restart:
            return target.endpoint
        lock = self.start_locks.setdefault(target.deployment_id, asyncio.Lock())
        async with lock:
            from workers.runtime import ensure_runtime

            endpoint = await self.in_thread(ensure_runtime, target.deployment_id)
        cache.drop()  # entries carry endpoints; re-read them
        return endpoint

    async def handle(self, client: Client, request: Request) -> bool:
        """Answer one request; False closes the client connection."""
        host = _hostname(request.host)
        try:
            entry = await self.resolve(host) if host else None
        except Exception:
            logger.exception("dispatch front: routing lookup for %s failed", host)
            client.write(error_bytes(503, "SERVICE_UNAVAILABLE", "Routing is unavailable; try again.", retry_after=2))
            return not request.upgrade
        if entry is None:
            client.write(error_bytes(404, "NOT_FOUND", f"No app is served at {host or 'this address'}."))
            return not request.upgrade
        if entry.challenge:
            path = request.url.split(b"?", 1)[0]
            if path == WELL_KNOWN_PATH.encode() and not request.upgrade:
                body = entry.challenge.encode()
                client.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s"
                             % (len(body), body))
                return True
            client.write(error_bytes(404, "NOT_FOUND", f"{host} is not verified yet."))
            return not request.upgrade
        if request.too_large:
            client.write(error_bytes(413, "PAYLOAD_TOO_LARGE", "The request body is too large.", keep_alive=False))
            return False
        if self.inflight[entry.space_id] >= self.space_limit:
            client.write(error_bytes(503, "SERVICE_UNAVAILABLE", "Too many requests in flight for this app.",
                                     retry_after=1))
            return not request.upgrade
        self.inflight[entry.space_id] += 1
        try:
            return await self.proxy(client, request, entry)
        finally:
            self.inflight[entry.space_id] -= 1

    async def proxy(self, client: Client, request: Request, entry: RouteEntry) -> bool:
        started = time.monotonic()
        bucket, new_cookie = _bucket(request)
        target = choose(entry, bucket)
        if target is None:
            client.write(error_bytes(503, "SERVICE_UNAVAILABLE", "No deployment is serving this app yet.",
                                     retry_after=5))
            return not request.upgrade
        head = self.request_head(client, request, entry.hostname, target)
        set_cookie = (f"set-cookie: {STICKY_COOKIE}={bucket}; Path=/; Max-Age=86400; HttpOnly; "
                      f"SameSite=Lax\r\n".encode()) if new_cookie else None
        status = 0
        try:
            status = await self.forward(client, request, target, head, set_cookie)
        except ProxyFailure as failure:
            status = failure.status
            if failure.message != "aborted":
                client.write(error_bytes(failure.status, failure.code, failure.message,
                                         retry_after=failure.retry_after, keep_alive=not request.upgrade))
                return not request.upgrade
            return False
        finally:
            metrics.record(target.deployment_id, error=status >= 500 or status == 0,
                           latency_ms=(time.monotonic() - started) * 1000, now=time.time())
        return status != 499 and status != 101

    async def forward(self, client: Client, request: Request, target: Target, head: bytes,
                      set_cookie: bytes | None) -> int:
        attempts = 3  # a stale pooled connection, then a runtime restart
        restarted = False
        while True:
            attempts -= 1
            try:
                endpoint = await self.endpoint_for(target, restart=restarted)
            except Exception as exc:
                logger.warning("runtime of %s could not start: %s", target.deployment_id, exc)
                raise ProxyFailure(503, "SERVICE_UNAVAILABLE", "The app is not running and could not be started.",
                                   retry_after=10) from None
            reused = False
            try:
                conn, reused = await self.pool.acquire(endpoint)
                done = conn.start(client, head, request.body, head_only=request.method == b"HEAD",
                                  set_cookie=set_cookie, keep_alive=request.keep_alive and not request.upgrade)
                return await done
            except ProxyFailure as failure:
                if attempts <= 0:
                    raise
                if failure.refused:
                    if restarted:
                        raise
                    restarted = True  # nothing listens: the runtime died or was stopped; start it again
                    continue
                # A pooled connection the runtime had closed meanwhile: try a fresh one, unless the
                # runtime may have seen the request and it is not safe to send twice.
                if not (failure.retryable and reused and request.method in IDEMPOTENT):
                    raise

    def request_head(self, client: Client, request: Request, host: str, target: Target) -> bytes:
        connection_named: set[bytes] = set()
        forwarded_for = b""
        forwarded_proto = b""
        out = [request.method + b" " + request.url + b" HTTP/1.1\r\n"]
        upgrade = request.upgrade
        for name, value in request.headers:
            if name == b"connection":
                connection_named.update(v.strip().lower() for v in value.split(b","))
        for name, value in request.headers:
            if name in _DROP_REQUEST or name in connection_named or name.startswith(STRIPPED_PREFIX):
                if name == b"x-forwarded-for":
                    forwarded_for = value
                elif name == b"x-forwarded-proto":
                    forwarded_proto = value
                elif upgrade and name in (b"connection", b"upgrade"):
                    out.append(name + b": " + value + b"\r\n")
                continue
            out.append(name + b": " + value + b"\r\n")
        chain = client.peer
        proto = "http"
        if self.trust_forwarded:
            if forwarded_for:
                chain = f"{forwarded_for.decode('latin-1')}, {client.peer}"
            if forwarded_proto:
                proto = forwarded_proto.decode("latin-1")
        out.append(f"x-forwarded-for: {chain}\r\nx-forwarded-host: {host}\r\nx-forwarded-proto: {proto}\r\n"
                   f"x-takos-deployment: {target.deployment_id}\r\n".encode("latin-1"))
        if request.body or request.method in (b"POST", b"PUT", b"PATCH"):
            out.append(b"content-length: %d\r\n" % request.size)
        out.append(b"\r\n")
        return b"".join(out)

    def sweep(self) -> None:
        now = self.now = time.monotonic()
        self.pool.sweep(now)
        for client in list(self.clients):
            if not client.busy and client.tunnel is None and now - client.last_active > CLIENT_IDLE_SECONDS:
                client.transport.close()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                self.sweep()
            except Exception:
                logger.exception("dispatch front: sweep failed")

    async def start(self, host: str, port: int, *, sock: Any = None) -> asyncio.AbstractServer:
        self.loop = asyncio.get_running_loop()
        self.now = time.monotonic()
        self.ticker = self.loop.create_task(self._ticker())
        if sock is not None:
            self.server = await self.loop.create_server(lambda: Client(self), sock=sock, backlog=1024)
        else:
            self.server = await self.loop.create_server(lambda: Client(self), host, port, reuse_address=True,
                                                        backlog=1024)
        return self.server

    def stop(self) -> None:
        """Stop listening and end the background sweep (open connections finish on their own)."""
        if self.server is not None:
            self.server.close()
        if self.ticker is not None:
            self.ticker.cancel()
        flusher = metrics._task
        if flusher is not None and flusher.get_loop() is self.loop:
            flusher.cancel()

    async def serve_forever(self, host: str, port: int) -> None:
        await self.start(host, port)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self.loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        self.stop()
        await self.in_thread(metrics.flush)
        self.executor.shutdown(wait=False, cancel_futures=True)


def _hostname(value: str) -> str:
    host = value.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _bucket(request: Request) -> tuple[int, bool]:
    prefix = STICKY_COOKIE.encode() + b"="
    for name, value in request.headers:
        if name == b"cookie" and prefix in value:
            for part in value.split(b";"):
                part = part.strip()
                if part.startswith(prefix):
                    raw = part[len(prefix):]
                    if raw.isdigit() and 0 <= int(raw) < 100:
                        return int(raw), False
    return random.randrange(100), True


def run(host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM, on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the lock file
        uvloop = None
    front = Front()
    if uvloop is not None:
        uvloop.run(front.serve_forever(host, port))
    else:
        asyncio.run(front.serve_forever(host, port))

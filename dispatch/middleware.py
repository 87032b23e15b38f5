"""Tenant dispatch: an ASGI middleware in front of Django.

Host -> route (cached) -> deployment by rollout weight (sticky per client through the
`takos_split` cookie) -> runtime endpoint (started on demand) -> streamed proxy.
Hosts under TAKOS_TENANT_DOMAIN that match no service get a 404 envelope; other unknown
hosts (the console and API) fall through to Django untouched.

The proxy client is aiohttp's: measured on loopback it is an order of magnitude faster
than httpx for this job (see scripts/bench_dispatch.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import defaultdict
from typing import Any

import aiohttp
from channels.db import database_sync_to_async
from django.conf import settings

from dispatch.metrics import metrics
from dispatch.table import RouteEntry, Target, cache, lookup
from takos.asgi_body import BodyTooLarge, read_body

logger = logging.getLogger("takos.dispatch")

STICKY_COOKIE = "takos_split"
WELL_KNOWN_PATH = "/.well-known/takos-domain-verification"
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
              b"trailers", b"transfer-encoding", b"upgrade", b"proxy-connection"}
# Never trusted from the client: set by dispatch itself.
STRIPPED_REQUEST = {b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port",
                    b"x-real-ip", b"forwarded"}
STRIPPED_PREFIX = b"x-takos-"


def _envelope(status: int, code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


async def send_error(send: Any, status: int, code: str, message: str, *, retry_after: int | None = None) -> None:
    body = _envelope(status, code, message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Sessions:
    """One aiohttp client session per event loop (connection pooling to runtimes)."""

    def __init__(self) -> None:
        self.by_loop: dict[int, aiohttp.ClientSession] = {}

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self.by_loop.get(id(loop))
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=256, keepalive_timeout=30)
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"))
            self.by_loop[id(loop)] = session
        return session

    async def close_current(self) -> None:
        """Close this loop's session (tests and benchmarks that run one loop per call)."""
        session = self.by_loop.pop(id(asyncio.get_running_loop()), None)
        if session is not None:
            await session.close()


sessions = _Sessions()


def _host(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers") or []:
        if name == b"host":
            host = value.decode("latin-1").strip().lower()
            if host.startswith("["):
                return host.split("]", 1)[0] + "]"
            return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return ""


def _cookie(scope: dict[str, Any], name: str) -> str | None:
    prefix = name + "="
    for key, value in scope.get("headers") or []:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                part = part.strip()
                if part.startswith(prefix):
                    return part[len(prefix):]
    return None


def choose(entry: RouteEntry, bucket: int) -> Target | None:
    """Buckets 0..99: those below the canary weight see the canary, so raising the weight only moves
    visitors from the baseline to the canary, never back and forth."""
    if entry.canary is not None and bucket < entry.canary_weight:
        return entry.canary
    return entry.active or entry.canary


class DispatchMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.inflight: dict[str, int] = defaultdict(int)
        self.start_locks: dict[str, asyncio.Lock] = {}

    @property
    def tenant_suffix(self) -> str:
        return "." + settings.TAKOS_TENANT_DOMAIN.lower()

    async def resolve(self, host: str) -> RouteEntry | None:
        hit, entry = cache.get(host)
        if hit:
            return entry
        entry = await database_sync_to_async(lookup)(host)
        cache.put(host, entry)
        return entry

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = _host(scope)
        entry = await self.resolve(host) if host else None
        if entry is None:
            if host.endswith(self.tenant_suffix):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 4404})
                    return None
                return await send_error(send, 404, "NOT_FOUND", f"No app is served at {host}.")
            return await self.app(scope, receive, send)
        if entry.challenge:
            if scope["type"] == "http" and scope.get("path") == WELL_KNOWN_PATH:
                body = entry.challenge.encode()
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return None
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4404})
                return None
            return await send_error(send, 404, "NOT_FOUND", f"{host} is not verified yet.")
        if self.inflight[entry.space_id] >= settings.TAKOS_DISPATCH_SPACE_CONCURRENCY:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013})
                return None
            return await send_error(send, 503, "SERVICE_UNAVAILABLE", "Too many requests in flight for this app.",
                                    retry_after=1)
        self.inflight[entry.space_id] += 1
        try:
            if scope["type"] == "websocket":
                return await self.websocket(scope, receive, send, entry)
            return await self.http(scope, receive, send, entry)
        finally:
            self.inflight[entry.space_id] -= 1

    # --- runtime endpoints -------------------------------------------------------------------

    async def endpoint_for(self, target: Target, *, restart: bool = False) -> str:
        """The runtime's endpoint; starts it (once per deployment at a time) when stopped or dead."""
        if target.endpoint and not restart:
            return target.endpoint
        lock = self.start_locks.setdefault(target.deployment_id, asyncio.Lock())
        async with lock:
            from workers.runtime import ensure_runtime

            endpoint = await database_sync_to_async(ensure_runtime)(target.deployment_id)
        cache.drop()  # entries carry endpoints; re-read them
        return endpoint

    # --- HTTP ----------------------------------------------------------------------------------

    def _request_headers(self, scope: dict[str, Any], host: str, target: Target) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        connection_named: set[bytes] = set()
        forwarded_for = ""
        for name, value in scope.get("headers") or []:
            if name == b"connection":
                connection_named.update(v.strip().lower().encode() for v in value.decode("latin-1").split(","))
        for name, value in scope.get("headers") or []:
            if name == b"x-forwarded-for":
                forwarded_for = value.decode("latin-1")
            if name in HOP_BY_HOP or name in connection_named or name in STRIPPED_REQUEST or \
                    name.startswith(STRIPPED_PREFIX) or name == b"content-length":
                continue
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
        client = (scope.get("client") or ("", 0))[0] or ""
        # Behind a TLS proxy daphne already put the proxy's X-Forwarded-For into scope["client"].
        chain = f"{forwarded_for}, {client}" if forwarded_for and settings.TAKOS_DISPATCH_TRUST_FORWARDED else client
        headers += [("X-Forwarded-For", chain), ("X-Forwarded-Host", host),
                    ("X-Forwarded-Proto", scope.get("scheme", "http")),
                    ("X-Takos-Deployment", target.deployment_id)]
        return headers

    async def http(self, scope: dict[str, Any], receive: Any, send: Any, entry: RouteEntry) -> None:
        started = time.monotonic()
        sticky = _cookie(scope, STICKY_COOKIE)
        new_cookie = False
        try:
            bucket = int(sticky) if sticky is not None else -1
        except ValueError:
            bucket = -1
        if not 0 <= bucket < 100:
            bucket, new_cookie = random.randrange(100), True
        target = choose(entry, bucket)
        if target is None:
            return await send_error(send, 503, "SERVICE_UNAVAILABLE", "No deployment is serving this app yet.",
                                    retry_after=5)
        try:
            body = await read_body(receive, settings.TAKOS_DISPATCH_MAX_BODY)
        except BodyTooLarge:
            return await send_error(send, 413, "PAYLOAD_TOO_LARGE", "The request body is too large.")
        if body is None:
            return None
        headers = self._request_headers(scope, entry.hostname, target)
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        url_path = path.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")
        status = 0
        try:
            status = await self._forward(scope, send, target, headers, body, url_path,
                                         bucket if new_cookie else None)
        except _ProxyFailure as failure:
            status = failure.status
            await send_error(send, failure.status, failure.code, failure.message, retry_after=failure.retry_after)
        except _Aborted:
            status = 599
        finally:
            metrics.record(target.deployment_id, error=status >= 500 or status == 0,
                           latency_ms=(time.monotonic() - started) * 1000, now=time.time())
        return None

    async def _forward(self, scope: dict[str, Any], send: Any, target: Target, headers: list[tuple[str, str]],
                       body: bytes, url_path: str, set_bucket: int | None) -> int:
        session = sessions.get()
        timeout = aiohttp.ClientTimeout(total=None, connect=settings.TAKOS_DISPATCH_CONNECT_TIMEOUT,
                                        sock_read=settings.TAKOS_DISPATCH_TIMEOUT)
        for attempt in (1, 2):
            try:
                endpoint = await self.endpoint_for(target, restart=attempt == 2)
            except Exception as exc:
                logger.warning("runtime of %s could not start: %s", target.deployment_id, exc)
                raise _ProxyFailure(503, "SERVICE_UNAVAILABLE", "The app is not running and could not be started.",
                                    retry_after=10) from None
            try:
                response = await session.request(scope["method"], endpoint + url_path, headers=headers,
                                                 data=body or None, allow_redirects=False, timeout=timeout)
            except aiohttp.ClientConnectorError:
                if attempt == 1:
                    continue  # the runtime died or was stopped: start it again, the body is buffered
                raise _ProxyFailure(502, "BAD_GATEWAY", "The app's runtime refused the connection.",
                                    retry_after=5) from None
            except TimeoutError:
                raise _ProxyFailure(504, "GATEWAY_TIMEOUT", "The app did not answer in time.", retry_after=5) from None
            except aiohttp.ClientError as exc:
                raise _ProxyFailure(502, "BAD_GATEWAY", f"The app's runtime failed: {type(exc).__name__}.",
                                    retry_after=5) from None
            break
        async with response:
            out_headers = []
            connection_named = {v.strip().lower().encode()
                                for v in response.headers.getall("Connection", []) for v in v.split(",")}
            for name, value in response.raw_headers:
                lname = name.lower()
                if lname in HOP_BY_HOP or lname in connection_named:
                    continue
                out_headers.append((lname, value))
            if set_bucket is not None:
                out_headers.append((b"set-cookie", f"{STICKY_COOKIE}={set_bucket}; Path=/; Max-Age=86400; "
                                                   f"HttpOnly; SameSite=Lax".encode()))
            await send({"type": "http.response.start", "status": response.status, "headers": out_headers})
            try:
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except (aiohttp.ClientError, TimeoutError):
                # Headers are out: all we can do is end the body early.
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                raise _Aborted() from None
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return response.status

    # --- WebSockets ----------------------------------------------------------------------------

    async def websocket(self, scope: dict[str, Any], receive: Any, send: Any, entry: RouteEntry) -> None:
        sticky = _cookie(scope, STICKY_COOKIE)
        try:
            bucket = int(sticky) if sticky is not None else random.randrange(100)
        except ValueError:
            bucket = random.randrange(100)
        target = choose(entry, bucket)
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if target is None:
            await send({"type": "websocket.close", "code": 1013})
            return
        try:
            endpoint = await self.endpoint_for(target)
        except Exception:
            await send({"type": "websocket.close", "code": 1011})
            return
        headers = [(k, v) for k, v in self._request_headers(scope, entry.hostname, target)
                   if k.lower() not in ("sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                                        "sec-websocket-protocol")]
        query = scope.get("query_string") or b""
        url = endpoint.replace("http://", "ws://", 1) + scope["path"] + (("?" + query.decode()) if query else "")
        try:
            upstream = await sessions.get().ws_connect(url, headers=headers,
                                                       protocols=tuple(scope.get("subprotocols") or ()))
        except (aiohttp.ClientError, TimeoutError):
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.protocol})

        async def client_to_upstream() -> None:
            while True:
                msg = await receive()
                if msg["type"] == "websocket.disconnect":
                    await upstream.close()
                    return
                if msg.get("text") is not None:
                    await upstream.send_str(msg["text"])
                elif msg.get("bytes") is not None:
                    await upstream.send_bytes(msg["bytes"])

        async def upstream_to_client() -> None:
            async for msg in upstream:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await send({"type": "websocket.send", "text": msg.data})
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await send({"type": "websocket.send", "bytes": msg.data})
                else:
                    break
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": upstream.close_code or 1000})

        tasks = [asyncio.ensure_future(client_to_upstream()), asyncio.ensure_future(upstream_to_client())]
        _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            await upstream.close()


class _ProxyFailure(Exception):
    def __init__(self, status: int, code: str, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


class _Aborted(Exception):
    pass

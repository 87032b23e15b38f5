"""WebSockets through dispatch: an aiohttp echo server on loopback stands in for the runtime."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from dispatch.middleware import DispatchMiddleware, sessions
from dispatch.table import cache

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def echo_server():  # type: ignore[no-untyped-def]
    loop = asyncio.new_event_loop()
    state: dict[str, Any] = {}

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("chat",))
        await ws.prepare(request)
        state["host"] = request.headers.get("X-Forwarded-Host")
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(f"echo:{msg.data}")
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
        return ws

    async def start() -> None:
        app = web.Application()
        app.router.add_get("/ws", ws_handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["runner"] = runner
        state["port"] = site._server.sockets[0].getsockname()[1]

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    yield state
    asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)


def test_websocket_messages_pass_both_ways(alice, echo_server):
    from accounts.selectors import personal_space
    from services.services import service_create
    from workers.models import Deployment

    space = personal_space(alice)
    service = service_create(space=space, actor=alice, slug="chat")
    d1 = Deployment.objects.create(service=service, space=space, version=1, status="active",
                                   endpoint=f"http://127.0.0.1:{echo_server['port']}")
    service.active_deployment = d1
    service.save()
    cache.drop()

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        raise AssertionError("tenant websockets must not reach Django")

    app = DispatchMiddleware(inner)
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: list[dict] = []

    async def scenario() -> None:
        scope = {"type": "websocket", "path": "/ws", "query_string": b"", "scheme": "ws", "subprotocols": ["chat"],
                 "headers": [(b"host", b"chat.apps.localhost")], "client": ("127.0.0.1", 1)}
        await inbox.put({"type": "websocket.connect"})

        async def receive() -> dict:
            return await inbox.get()

        async def send(message: dict) -> None:
            outbox.append(message)

        task = asyncio.ensure_future(app(scope, receive, send))
        await inbox.put({"type": "websocket.receive", "text": "hi"})
        await inbox.put({"type": "websocket.receive", "bytes": b"abc"})
        for _ in range(100):
            if len([m for m in outbox if m["type"] == "websocket.send"]) >= 2:
                break
            await asyncio.sleep(0.05)
        await inbox.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(task, 10)
        await sessions.close_current()

    asyncio.run(scenario())
    assert outbox[0] == {"type": "websocket.accept", "subprotocol": "chat"}
    sent = [m for m in outbox if m["type"] == "websocket.send"]
    assert sent[0]["text"] == "echo:hi" and sent[1]["bytes"] == b"cba"
    assert echo_server["host"] == "chat.apps.localhost"

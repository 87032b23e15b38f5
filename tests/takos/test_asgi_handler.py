"""The ASGI handler: the middleware chain in one hop on long-lived lane threads, async views still
served, and requests beyond the lanes fall back to a thread of their own instead of waiting."""

from __future__ import annotations

import asyncio
import threading

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import override_settings
from django.urls import path

from takos.asgi_handler import OneHopASGIHandler

release = asyncio.Event()


def sync_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"thread": threading.get_ident()})


async def async_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async ok")


async def slow_view(request: HttpRequest) -> HttpResponse:
    await release.wait()
    return HttpResponse("slow done")


urlpatterns = [path("sync", sync_view), path("async", async_view), path("slow", slow_view)]


async def call(app: OneHopASGIHandler, url: str) -> tuple[int, bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": url, "raw_path": url.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
    pending = [{"type": "http.request", "body": b"", "more_body": False}]
    done = asyncio.Event()
    sent: list[dict] = []

    async def receive() -> dict:
        if pending:
            return pending.pop()
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    done.set()
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


@override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"])
def test_requests_reuse_lane_threads_and_async_views_work() -> None:
    async def scenario() -> None:
        app = OneHopASGIHandler(lanes=1)
        threads = set()
        for _ in range(3):
            status, body = await call(app, "/sync")
            assert status == 200
            threads.add(body)
        assert len(threads) == 1  # one lane: every request ran on the same long-lived thread
        assert await call(app, "/async") == (200, b"async ok")

        # The only lane is held by a slow request; another request is served anyway.
        release.clear()
        slow = asyncio.create_task(call(app, "/slow"))
        await asyncio.sleep(0.2)
        status, body = await asyncio.wait_for(call(app, "/sync"), 5)
        assert status == 200 and body not in threads
        release.set()
        assert await asyncio.wait_for(slow, 5) == (200, b"slow done")

    asyncio.run(scenario())

"""The ASGI handler: the middleware chain in one hop on long-lived lane threads, async views still
served, and requests beyond the lanes fall back to a thread of their own instead of waiting."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import override_settings
from django.urls import Resolver404, clear_url_caches, path

from takos import asgi_handler
from takos.asgi_handler import OneHopASGIHandler, resolve_path

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


def other_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("other")


@override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"])
def test_a_path_is_resolved_once_and_the_patterns_are_still_the_truth(monkeypatch) -> None:
    first = resolve_path("/sync")
    assert first.func is sync_view
    assert resolve_path("/sync") is first  # remembered
    with pytest.raises(Resolver404):
        resolve_path("/nowhere")
    urlpatterns.append(path("nowhere", other_view))
    try:
        clear_url_caches()  # what Django does when patterns change: a new resolver, nothing remembered
        assert resolve_path("/nowhere").func is other_view  # a miss was not remembered
        assert resolve_path("/sync") is not first
    finally:
        urlpatterns.pop()
        clear_url_caches()
    with override_settings(ROOT_URLCONF="takos.urls"):  # another URLconf: its own answers
        assert resolve_path("/health").url_name == "health"
        with pytest.raises(Resolver404):
            resolve_path("/sync")

    monkeypatch.setattr(asgi_handler, "RESOLVED_MAX", 3)
    urlpatterns.append(path("item/<str:key>", other_view))
    clear_url_caches()
    try:
        for n in range(10):
            assert resolve_path(f"/item/{n}").kwargs == {"key": str(n)}
        known = asgi_handler.get_resolver().__dict__["_takos_resolved"]
        assert list(known) == ["/item/7", "/item/8", "/item/9"]  # bounded, oldest dropped first
    finally:
        urlpatterns.pop()
        clear_url_caches()


@override_settings(ROOT_URLCONF="tests.takos.test_asgi_handler_i18n_urls")
def test_nothing_is_remembered_under_i18n_patterns() -> None:
    from django.utils import translation

    with translation.override("en"):
        assert resolve_path("/en/sync").func is sync_view
    with translation.override("de"):
        with pytest.raises(Resolver404):  # the language is part of the answer: not served from memory
            resolve_path("/en/sync")
        assert resolve_path("/de/sync").func is sync_view


@override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"])
def test_a_request_with_its_own_urlconf_is_resolved_against_it() -> None:
    class OwnUrlconf:
        def __init__(self, get_response):
            self.get_response = get_response

        def __call__(self, request):
            if request.path == "/other":
                request.urlconf = "tests.takos.test_asgi_handler_other_urls"
            return self.get_response(request)

    async def scenario() -> None:
        app = OneHopASGIHandler(lanes=1)
        assert (await call(app, "/sync"))[0] == 200
        assert "/sync" in asgi_handler.get_resolver().__dict__["_takos_resolved"]  # served through the memory
        app._sync_chain = OwnUrlconf(app._sync_chain)
        status, body = await call(app, "/other")
        assert (status, body) == (200, b"other")

    asyncio.run(scenario())

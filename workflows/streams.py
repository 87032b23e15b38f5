"""Live streams: run events (SSE) and job logs (SSE), resumable by id / byte offset.

Rows are the truth (WorkflowRunEvent, WorkflowLogChunk / stored log); the channel layer only
wakes readers early, and the DB poll (TAKOS_STREAM_POLL_SECONDS) is the safety net across
processes. Run events: `id: <seq>`; log events: `id: <byte offset after the chunk>`, so
`Last-Event-ID` resumes either stream exactly. A `: heartbeat` comment is sent after
TAKOS_SSE_HEARTBEAT_SECONDS of silence.

Log frames are built as bytes, not through json.dumps: the escaper of the json module runs at a
few tens of MB/s, which capped a live log at ~12 MB/s. Plain text (printable ASCII, newlines,
tabs) is escaped with four bytes.replace calls; anything else takes the json module's path.
A frame carries up to LOG_READ bytes (everything written since the last read), and its end is
moved back to a UTF-8 character boundary so a character is never split between two frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from takos.api.errors import ApiError, error_response
from workflows import logs, selectors, services
from workflows.api.serializers import event_out
from workflows.models import WorkflowJob, WorkflowRun

LOG_READ = 2 * 1024 * 1024
LOG_IDLE_SECONDS = 0.05
# Printable ASCII, newline and tab: bytes.replace escapes them (backslash, quote, newline, tab).
_PLAIN = bytes(range(0x20, 0x7F)) + b"\n\t"


async def authenticate(request: HttpRequest) -> tuple[Any, HttpResponse | None]:
    """(user or AnonymousUser, error): Bearer token, the console session, or anonymous (public repos)."""
    from auth_app.authentication import bearer_user

    bearer = await bearer_user(request.headers.get("Authorization", ""), "repos:read")
    if bearer is not None:
        return bearer
    return await request.auser(), None


def _last_id(request: HttpRequest, param: str) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get(param) or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        return 0


async def _subscribe(group: str) -> tuple[Any, str | None]:
    layer = get_channel_layer()
    if layer is None:
        return None, None
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return layer, channel


async def _wait(layer: Any, channel: str | None) -> None:
    if layer is None or channel is None:
        await asyncio.sleep(settings.TAKOS_STREAM_POLL_SECONDS)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), settings.TAKOS_STREAM_POLL_SECONDS)


def _frame(seq: int, event: str, data: dict[str, Any]) -> str:
    return f"id: {seq}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def json_text(data: bytes) -> bytes:
    """`data` (UTF-8 log bytes) as a JSON string literal, in bytes."""
    if not data.translate(None, _PLAIN):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n").replace(
            b"\t", b"\\t") + b'"'
    return json.dumps(data.decode("utf-8", errors="replace"), ensure_ascii=False).encode()


def log_json(job_id: str | None, offset: int, data: bytes) -> bytes:
    """The JSON object of a log frame: {"job_id"?, "offset", "next_offset", "text"}."""
    head = f'{{"job_id":{json.dumps(job_id)},' if job_id else "{"
    return (f'{head}"offset":{offset},"next_offset":{offset + len(data)},"text":'.encode()
            + json_text(data) + b"}")


class LogFrame:
    """A log chunk on its way to a client; encoded once, by the transport that sends it."""

    __slots__ = ("data", "offset")

    def __init__(self, offset: int, data: bytes):
        self.offset, self.data = offset, data

    def sse(self) -> bytes:
        return b"id: %d\nevent: log\ndata: " % (self.offset + len(self.data)) + log_json(None, self.offset,
                                                                                         self.data) + b"\n\n"


async def run_events(run_id: str, after: int) -> AsyncIterator[tuple[int, str, dict[str, Any]] | None]:
    """(seq, type, data) after `after` until the terminal event; None = idle tick."""
    layer, channel = await _subscribe(services.run_group(run_id))

    @sync_to_async
    def fetch(after_seq: int) -> tuple[list[Any], int]:
        run = WorkflowRun.objects.filter(pk=run_id).first()
        return (selectors.events_after(run, after_seq, 500), run.run_attempt) if run else ([], 0)

    try:
        while True:
            events, attempt = await fetch(after)
            for event in events:
                after = event.seq
                yield event.seq, event.type, event_out(event)
                # The end of an earlier attempt is not the end: the run was re-run since.
                if event.type == services.TERMINAL_EVENT and event.data.get("run_attempt", attempt) >= attempt:
                    return
            yield None
            await _wait(layer, channel)
    finally:
        if layer is not None and channel is not None:
            await layer.group_discard(services.run_group(run_id), channel)


async def job_log(job_id: str, offset: int) -> AsyncIterator[tuple[int, str, Any] | None]:
    """Log bytes from `offset` as ("log", LogFrame) items, then an `end` event once the job is
    complete and everything was sent; None = idle tick."""
    run_id = await sync_to_async(lambda: WorkflowJob.objects.filter(pk=job_id).values_list("run_id", flat=True)
                                 .first())()
    layer, channel = await _subscribe(services.run_group(run_id)) if run_id else (None, None)
    read = sync_to_async(logs.read_live)
    try:
        while True:
            data, done = await read(job_id, offset, LOG_READ)
            if data and not done:
                data = data[:logs.utf8_complete(data)]  # the rest of the character is still coming
            if data:
                yield offset + len(data), "log", LogFrame(offset, data)
                offset += len(data)
                continue  # read on at once: more may be waiting
            if done:
                job = await sync_to_async(lambda: WorkflowJob.objects.filter(pk=job_id).values(
                    "status", "conclusion").first())()
                yield offset, "end", {"offset": offset, **(job or {})}
                return
            yield None
            # Log chunks land every ~100 ms while a step prints; poll at that pace.
            await asyncio.sleep(LOG_IDLE_SECONDS) if layer is None else await _wait_short(layer, channel)
    finally:
        if layer is not None and channel is not None:
            await layer.group_discard(services.run_group(run_id), channel)


async def _wait_short(layer: Any, channel: str | None) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(layer.receive(channel), min(LOG_IDLE_SECONDS, settings.TAKOS_STREAM_POLL_SECONDS))


async def sse_body(source: AsyncIterator[tuple[int, str, Any] | None]) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n: connected\n\n"
    last = time.monotonic()
    async for item in source:
        if item is not None:
            last = time.monotonic()
            seq, event, data = item
            yield data.sse() if isinstance(data, LogFrame) else _frame(seq, event, data).encode()
        elif time.monotonic() - last >= settings.TAKOS_SSE_HEARTBEAT_SECONDS:
            last = time.monotonic()
            yield b": heartbeat\n\n"


def sse(source: AsyncIterator[Any]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(sse_body(source), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _resolve(request: HttpRequest, repo_id: str, getter: Any) -> tuple[Any, HttpResponse | None]:
    if request.method != "GET":
        return None, error_response(405, f"Method {request.method} is not allowed here.")
    user, problem = await authenticate(request)
    if problem is not None:
        return None, problem
    try:
        repo = await sync_to_async(selectors.repo)(user, repo_id)
        return await sync_to_async(getter)(repo), None
    except ApiError as exc:
        return None, error_response(exc.status_code, str(exc.detail), code=exc.code)


async def run_sse(request: HttpRequest, repo_id: str, run_id: str) -> HttpResponse:
    run, problem = await _resolve(request, repo_id, lambda repo: selectors.run(repo, run_id))
    if problem is not None:
        return problem
    return sse(run_events(run.id, _last_id(request, "last_event_id")))


async def job_log_sse(request: HttpRequest, repo_id: str, job_id: str) -> HttpResponse:
    job, problem = await _resolve(request, repo_id, lambda repo: selectors.job(repo, job_id))
    if problem is not None:
        return problem
    return sse(job_log(job.id, _last_id(request, "offset")))

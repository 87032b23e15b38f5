"""`POST /api/threads/:threadId/runs/stream` for bearer callers, as a plain ASGI app in front of Django.

A client that starts a run and watches it waits for this request's work before the worker can
even receive the run: through Django it was the handler's hop, eight middlewares, DRF's request,
authentication and permission classes, then the create, about 8 ms of CPU on a busy machine
before the task left. Here the path every such start takes is done in one thread hop: the token
and its scope, the thread's access check, the body's validation and the create (the view's own `start_run`)
and the run's API form; the stream is the same as `GET /api/runs/:id/sse`
(sse_asgi.stream_run).

Anything else goes to the Django view, with the body the client sent: no bearer token (a console
session and its CSRF check), a body that is not a JSON object, any refusal (401, 403, 404, 400,
409, 413). So every error keeps that view's status and envelope, and nothing is written before
the hand-over: the checks come first and the create is one transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import uuid
from typing import Any

from django.http import JsonResponse
from rest_framework.exceptions import ValidationError

from agents import services
from agents.api.serializers import run_out
from agents.api.sse_asgi import send_error, stream_run
from agents.api.streams import metadata_frame, stream_rows, subscribe_run
from agents.api.views import start_run
from agents.models import Run
from agents.streams import StreamItem, hub
from takos import queue
from takos.api.errors import ApiError, envelope, error_response
from takos.api.ids import new_id
from takos.api.middleware import body_limit_for
from takos.asgi_body import BodyTooLarge, read_body
from takos.db.threads import off_loop

logger = logging.getLogger("takos.api")

PATH = re.compile(r"^/api/threads/([A-Za-z0-9_-]{1,64})/runs/stream/?$")
SCOPE = "agents:execute"  # ThreadRunsView.required_scopes["POST"]
# What Django's middleware adds to every response (SecurityMiddleware, XFrameOptionsMiddleware).
HEADERS = [(b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
           (b"cross-origin-opener-policy", b"same-origin")]


def match(scope: dict[str, Any]) -> str | None:
    """The thread id when this is a run start this app may serve (a bearer token, a JSON body)."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    found = PATH.match(scope["path"])
    if found is None:
        return None
    headers = dict(scope.get("headers") or [])
    if headers.get(b"authorization", b"")[:7].lower() != b"bearer ":
        return None
    if headers.get(b"content-type", b"").split(b";")[0].strip().lower() != b"application/json":
        return None
    return found.group(1)


def create(authorization: str, thread_id: str, body: bytes, run_id: str | None = None,
           subscribed: threading.Event | None = None) -> tuple[dict[str, Any], bool] | None:
    """On a thread: the created run's API form and whether `subscribed` was set before the create
    began; None when the Django view must answer."""
    from auth_app.authentication import resolve_token
    from takos.api.scopes import grants

    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse) if body else {}
    except ValueError:
        return None
    parts = authorization.split()
    found = resolve_token(parts[1]) if len(parts) == 2 else None  # else the view's 401 (malformed)
    if found is None:
        return None
    user, auth = found
    # A service token without a user acts for no one: the view answers (it refuses).
    if user is None or not user.is_authenticated or not grants(getattr(auth, "scopes", "*"), SCOPE):
        return None
    # Set now, the stream's subscription was taken before the run could exist (let alone emit).
    before = subscribed is not None and subscribed.is_set()
    # For a caller known now, the run's task leaves first and its reply is read after the create:
    # the worker's receive and hand-off overlap the thread's check, the body's validation and the
    # create, and so does the LPUSH's round trip. Not under `reject` (often refused).
    pending = _send_first(run_id, data)
    status = None  # the created run's, once there is one
    try:
        run = start_run(user, thread_id, data, run_id=run_id, task_sent=pending is not None)
        status = run.status
    except (ApiError, ValidationError):
        return None  # refused before anything was written (the create is one transaction)
    finally:
        if pending is not None:
            _settle(pending, run_id, status)
    return run_out(run), before


def _send_first(run_id: str | None, data: Any) -> queue.Pending | None:
    """The run's task written to the broker (reply unread), or None: the create then sends it."""
    if run_id is None or not isinstance(data, dict) or data.get("multitask_strategy") == "reject":
        return None
    try:
        return services.begin_start(run_id)
    except Exception:
        logger.warning("run %s: could not send its task first", run_id, exc_info=True)
        return None


def _settle(pending: queue.Pending, run_id: str, status: str | None) -> None:
    """After the create (`status`: the run's, None when none was created): a task that did not leave
    is sent now for a queued run; for a start that was refused or failed, the task is marked
    abandoned (its claim stops waiting for the row), also when the LPUSH's reply was lost and it
    may have left all the same (the mark is harmless for a task that never left)."""
    try:
        queue.push_end(pending)
        sent = True
    except Exception:
        logger.warning("run %s: its task's early send failed", run_id, exc_info=True)
        sent = False
    if status is not None:
        if status == Run.Status.QUEUED and not sent:
            try:
                services.send_start(run_id)
            except Exception:  # the run is created: the stuck-queued sweep (recover_runs) sends it
                logger.warning("run %s: its task could not be sent after the create", run_id, exc_info=True)
    else:
        services.abandon_start(run_id)


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not valid JSON")  # as DRF's strict JSON parser


def replaying(body: bytes, receive: Any) -> Any:
    """A `receive` that gives the body already read, then the client's own messages."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def run_start_app(scope: dict[str, Any], receive: Any, send: Any, thread_id: str, django: Any) -> None:
    headers = dict(scope.get("headers") or [])
    limit = body_limit_for(scope["path"])
    try:
        declared = int(headers.get(b"content-length", b"-1"))
    except ValueError:
        declared = -1
    if not 0 <= declared <= limit:  # no length, a bad one or too much: Django's answer (413, 400)
        await django(scope, receive, send)
        return
    try:
        body = await read_body(receive, limit)
    except BodyTooLarge:  # more than its Content-Length said
        await send_error(send, error_response(413, f"Request body is larger than {limit} bytes."))
        return
    if body is None:
        return
    # The stream subscribes while the run is being created, under the id the run will have: the
    # SUBSCRIBE's round trip overlaps the create's thread work. When it was taken before the create
    # began, the run's only event so far is the one the create wrote, so no rows are read back.
    run_id = new_id()
    subscribed = threading.Event()
    subscribing = asyncio.ensure_future(_try_subscribe(run_id, subscribed))
    created = failure = None
    try:
        created = await off_loop(create)(headers[b"authorization"].decode("latin-1"), thread_id, body,
                                         run_id, subscribed)
    except asyncio.CancelledError:  # the client went away: the subscription is given back when taken
        subscribing.add_done_callback(_release)
        raise
    except Exception as exc:  # as the API's exception handler: logged, the envelope with an error id
        failure = uuid.uuid4().hex[:12]
        logger.exception("Unhandled API error %s", failure, exc_info=exc)
    subscription = await subscribing
    if created is None:
        if subscription is not None:
            await hub().unsubscribe(*subscription)
        if failure is not None:
            await send_error(send, JsonResponse(envelope("INTERNAL_ERROR", "Internal server error.",
                                                         {"error_id": failure}), status=500))
        else:
            await django(scope, replaying(body, receive), send)
        return
    run, before = created
    try:
        early = None
        if subscription is not None:
            # What the run had when the subscription was taken, and the wake-ups after it, hold
            # every event of the run. Taken later than the create's start (a slow SUBSCRIBE), an
            # event may have been published before it: it is in the rows read after it.
            known = ([StreamItem(1, *services.first_event(run["status"]))] if before
                     else await off_loop(stream_rows)(run_id, 0))
            early = (*subscription, known)
        extra = [*HEADERS, (b"content-location", f"/api/runs/{run_id}".encode())]
        await stream_run(receive, send, run_id, 0, status=201, headers=extra,
                         preamble=metadata_frame(run).encode(), early=early)
    finally:
        if subscription is not None:
            await hub().unsubscribe(*subscription)  # the reader gives it back too; twice is harmless


_releasing: set[asyncio.Future[Any]] = set()


def _release(subscribing: asyncio.Future[Any]) -> None:
    """Give back a subscription once taken (for a request that ended before using it)."""
    if not subscribing.cancelled() and subscribing.result() is not None:
        task = asyncio.ensure_future(hub().unsubscribe(*subscribing.result()))
        _releasing.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(_releasing.discard)


async def _try_subscribe(run_id: str, subscribed: threading.Event) -> tuple[Any, Any] | None:
    """The run stream's subscription, or None if it could not be taken now (the channel layer is
    unreachable): the stream then subscribes by itself, as `GET …/sse` does, and the run is still
    created."""
    try:
        subscription = await subscribe_run(run_id)
    except Exception:
        logger.warning("run %s: early stream subscription failed", run_id, exc_info=True)
        return None
    subscribed.set()
    return subscription

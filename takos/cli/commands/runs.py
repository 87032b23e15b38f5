"""`takos runs start|follow|cancel|show` (alias `run`): agent runs, followed live over SSE.

`follow` reconnects after a dropped connection with `Last-Event-ID`, so no event is lost or
printed twice.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx

from takos.cli.client import ApiClient, CliError
from takos.cli.output import emit
from takos.cli.sse import parse_sse

TERMINAL = {"completed", "error", "cancelled", "run.failed"}


def raise_for_error(response: httpx.Response) -> None:
    """A streamed response that failed: the envelope's message as a CliError."""
    if not response.is_error:
        return
    response.read()
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = f"{response.status_code} {response.reason_phrase}"
    raise CliError(message, status=response.status_code)


def iter_sse(api: ApiClient, path: str, last_event_id: int) -> Iterator[tuple[int | None, str, dict[str, Any]]]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = str(last_event_id)
    # Heartbeats arrive every 15 s; a minute of silence means the connection is dead.
    with api.http.stream("GET", path, headers=headers, timeout=httpx.Timeout(60, connect=10)) as response:
        raise_for_error(response)
        yield from parse_sse(response.iter_lines())


def follow(api: ApiClient, run_id: str, *, as_json: bool, last_event_id: int = 0, retries: int = 20) -> int:
    """Print a run's events until its terminal event; exit code 0 only for `completed`."""
    failures = 0
    while True:
        try:
            for event_id, event, data in iter_sse(api, f"/api/runs/{run_id}/sse", last_event_id):
                failures = 0
                if event_id is not None:
                    last_event_id = event_id
                _print_event(event, data, as_json=as_json)
                if event in TERMINAL:
                    return 0 if event == "completed" else 1
        except CliError as exc:
            if exc.status is not None and exc.status < 500:
                raise
        except httpx.HTTPError as exc:
            print(f"\n[takos] connection lost ({type(exc).__name__}); resuming after event {last_event_id}",
                  file=sys.stderr)
        failures += 1
        if failures > retries:
            raise CliError(f"gave up following run {run_id} after {retries} reconnects")
        time.sleep(min(5.0, 0.2 * 2 ** failures))


def _print_event(event: str, data: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"event": event, "data": data}), flush=True)
        return
    if event == "message" and "delta" in data:
        sys.stdout.write(data["delta"])
        sys.stdout.flush()
    elif event == "tool_call":
        print(f"\n[tool] {data.get('name')} {json.dumps(data.get('arguments') or {})}", file=sys.stderr)
    elif event == "tool_result":
        print(f"[tool] {data.get('name')} → {data.get('status')}", file=sys.stderr)
    elif event in TERMINAL:
        error = f": {data['error']}" if data.get("error") else ""
        print(f"\n[run {data.get('status', event)}{error}]", file=sys.stderr)


def _start(args: argparse.Namespace, api: ApiClient) -> int:
    body: dict[str, Any] = {"multitask_strategy": args.strategy, "agent_type": args.agent_type}
    if args.message:
        body["input"] = {"message": " ".join(args.message)}
    if args.model:
        body["model"] = args.model
    if not args.follow:
        data = api.post(f"/api/threads/{args.thread}/runs", body)
        run = data["run"]
        emit(data, args.json, message=f"Run {run['id']} is {run['status']}")
        return 0
    return start_and_follow(api, args.thread, body, as_json=args.json)


def start_and_follow(api: ApiClient, thread_id: str, body: dict[str, Any], *, as_json: bool) -> int:
    """Create the run and read its events in one request (`POST .../runs/stream`): the first event
    arrives without a second round trip. A dropped connection resumes with `follow`."""
    run_id: str | None = None
    last_event_id = 0
    try:
        with api.http.stream("POST", f"/api/threads/{thread_id}/runs/stream", json=body,
                             headers={"Accept": "text/event-stream"},
                             timeout=httpx.Timeout(60, connect=10)) as response:
            raise_for_error(response)
            for event_id, event, data in parse_sse(response.iter_lines()):
                if event == "metadata":
                    run_id = data["run_id"]
                    if not as_json:
                        print(f"[run {run_id} {data['run']['status']}]", file=sys.stderr)
                    continue
                if event_id is not None:
                    last_event_id = event_id
                _print_event(event, data, as_json=as_json)
                if event in TERMINAL:
                    return 0 if event == "completed" else 1
    except httpx.HTTPError as exc:
        if run_id is None:
            raise CliError(f"could not start the run: {type(exc).__name__}") from exc
        print(f"\n[takos] connection lost ({type(exc).__name__}); resuming after event {last_event_id}",
              file=sys.stderr)
    if run_id is None:
        raise CliError("the server closed the stream before the run was created")
    return follow(api, run_id, as_json=as_json, last_event_id=last_event_id)


def _follow(args: argparse.Namespace, api: ApiClient) -> int:
    return follow(api, args.id, as_json=args.json, last_event_id=args.last_event_id)


def _cancel(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.post(f"/api/runs/{args.id}/cancel")
    emit(data, args.json, message=f"Run {args.id} is {data['run']['status']}")
    return 0


def _show(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.get(f"/api/runs/{args.id}")
    emit(data if args.json else data["run"], args.json)
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    runs = sub.add_parser("runs", aliases=["run"], parents=[common], help="agent runs").add_subparsers(
        dest="sub", required=True)
    p = runs.add_parser("start", aliases=["create"], parents=[common], help="start a run on a thread")
    p.add_argument("thread", help="thread id")
    p.add_argument("message", nargs="*", help="message to send with the run")
    p.add_argument("--follow", "-f", action="store_true", help="stream the run until it ends")
    p.add_argument("--strategy", default="enqueue", choices=["enqueue", "reject", "interrupt", "rollback"],
                   help="what to do when the thread already has an active run")
    p.add_argument("--agent-type", default="default")
    p.add_argument("--model")
    p.set_defaults(handler=_start)
    p = runs.add_parser("follow", parents=[common], help="stream a run's events (resumes after disconnects)")
    p.add_argument("id")
    p.add_argument("--last-event-id", type=int, default=0, help="start after this event id")
    p.set_defaults(handler=_follow)
    p = runs.add_parser("cancel", parents=[common], help="cancel a run")
    p.add_argument("id")
    p.set_defaults(handler=_cancel)
    p = runs.add_parser("show", parents=[common], help="a run's status, output and usage")
    p.add_argument("id")
    p.set_defaults(handler=_show)

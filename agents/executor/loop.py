"""The agent loop: context → model (streamed) → tool calls → messages, until a final answer.

Every write carries an operation key derived from the turn number, and a restarted attempt
replays the assistant turns it already stored instead of asking the model again, so a run
recovered after a worker crash repeats no message and no tool side effect.
"""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from typing import Any, Protocol

import httpx

from agents.llm import make_provider


class LeaseLost(Exception):
    """The run was cancelled, finished or handed to another attempt: stop quietly."""


class Transport(Protocol):
    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]: ...


class HttpTransport:
    def __init__(self, *, base_url: str, token: str, timeout: float = 60):
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                   headers={"Authorization": f"Bearer {token}"})

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.client.post(path, json=body)
        try:
            data = response.json()
        except ValueError:
            data = {"error": {"message": response.text[:500]}}
        return response.status_code, data


class ControlClient:
    """The executor RPC surface (`/internal/runs/<id>/<op>`).

    Token deltas that arrive faster than BATCH_WINDOW apart are sent together (one request,
    still one event each); slower ones go out at once, so batching never adds more than the
    window to an event's latency while fast models are not limited by request round trips.
    """

    BATCH_WINDOW = 0.02
    BATCH_MAX = 200

    def __init__(self, transport: Transport, *, run_id: str, lease_version: int):
        self.transport = transport
        self.run_id = run_id
        self.lease_version = lease_version
        self.pending: list[dict[str, Any]] = []
        self.pending_since = 0.0
        self.last_delta = 0.0

    def call(self, op: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if op != "events":
            self.flush()
        payload = {"lease_version": self.lease_version, **(body or {})}
        status, data = self.transport.post(f"/internal/runs/{self.run_id}/{op}", payload)
        if status == 409:
            raise LeaseLost((data.get("error") or {}).get("message", "lease lost"))
        if status >= 400:
            raise RuntimeError(f"{op} failed with {status}: {data}")
        return data

    def event(self, type: str, data: dict[str, Any]) -> None:
        self.flush()
        self.call("events", {"type": type, "data": data})

    def delta(self, data: dict[str, Any]) -> None:
        now = time.monotonic()
        # The model's own pace: measured from the end of our previous call, not including it.
        fast = now - self.last_delta < self.BATCH_WINDOW
        if not self.pending:
            self.pending_since = now
        self.pending.append({"type": "message", "data": data})
        if not fast or now - self.pending_since >= self.BATCH_WINDOW or len(self.pending) >= self.BATCH_MAX:
            self.flush()
        self.last_delta = time.monotonic()

    def flush(self) -> None:
        if self.pending:
            batch, self.pending = self.pending, []
            self.call("events", {"events": batch})


def run_agent(client: ControlClient) -> int:
    try:
        boot = client.call("bootstrap")
        output, usage = _loop(client, boot)
        client.call("complete", {"output": output, "usage": usage})
        return 0
    except LeaseLost:
        return 0
    except Exception as exc:  # report, then exit non-zero; the control plane fails the run
        traceback.print_exc(file=sys.stderr)
        with contextlib.suppress(Exception):
            client.call("fail", {"error": f"{type(exc).__name__}: {exc}"[:2000]})
        return 1


def _loop(client: ControlClient, boot: dict[str, Any]) -> tuple[str, dict[str, int]]:
    provider = make_provider(boot["provider"])
    model = boot["provider"].get("model", "offline")
    tools = boot["tools"]
    replay: dict[str, dict[str, Any]] = boot.get("replay") or {}
    messages: list[dict[str, Any]] = [{"role": "system", "content": boot["system_prompt"]}, *boot["messages"]]
    usage = {"inputTokens": 0, "outputTokens": 0}
    final = ""
    for turn in range(int(boot.get("max_turns", 8))):
        stored = replay.get(str(turn))
        if stored is not None:
            text, calls = stored["content"], stored.get("tool_calls") or []
        else:
            client.event("thinking", {"turn": turn})
            text, calls = _model_turn(client, provider, model, messages, tools, usage, turn)
            client.call("messages", {"role": "assistant", "content": text, "tool_calls": calls or None,
                                     "operation_key": f"turn:{turn}:assistant", "metadata": {"turn": turn}})
            client.event("message", {"turn": turn, "role": "assistant", "content": text, "done": True})
        messages.append({"role": "assistant", "content": text, "tool_calls": calls or None})
        final = text
        if not calls:
            break
        for index, call in enumerate(calls):
            key = f"turn:{turn}:tool:{index}"
            client.event("tool_call", {"turn": turn, "id": call["id"], "name": call["name"],
                                       "arguments": call.get("arguments") or {}})
            result = client.call("tools/execute", {"operation_key": key, "name": call["name"],
                                                   "arguments": call.get("arguments") or {}})
            content = result["output"] if result["status"] == "completed" else f"error: {result.get('error')}"
            client.event("tool_result", {"turn": turn, "id": call["id"], "name": call["name"],
                                         "status": result["status"], "output": content[:2000]})
            client.call("messages", {"role": "tool", "content": content, "tool_call_id": call["id"],
                                     "operation_key": f"{key}:result", "metadata": {"turn": turn, "tool": call["name"]}})
            messages.append({"role": "tool", "content": content, "tool_call_id": call["id"]})
    return final, usage


def _model_turn(client: ControlClient, provider: Any, model: str, messages: list[dict[str, Any]],
                tools: list[dict[str, Any]], usage: dict[str, int], turn: int) -> tuple[str, list[dict[str, Any]]]:
    parts: list[str] = []
    calls: list[dict[str, Any]] = []
    for chunk in provider.stream(messages=messages, tools=tools, model=model):
        if chunk.kind == "text" and chunk.text:
            parts.append(chunk.text)
            # Each delta is an event: watchers see the answer as it is produced.
            client.delta({"turn": turn, "role": "assistant", "delta": chunk.text})
        elif chunk.kind == "tool_call" and chunk.tool_call is not None:
            calls.append(chunk.tool_call.as_dict())
        elif chunk.kind == "usage":
            usage["inputTokens"] += chunk.input_tokens
            usage["outputTokens"] += chunk.output_tokens
    client.flush()
    return "".join(parts), calls

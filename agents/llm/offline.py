"""The built-in offline model: deterministic, no network, streams token by token, calls tools.

What it does with the last user message (so demos and tests can drive it):
- lines `/tool NAME {json arguments}` become tool calls (several lines, several calls);
- `remember: TEXT` becomes a `memory_write` tool call;
- `/tokens N` streams N ticks at the normal pace (benchmarks);
- `/slow SECONDS` streams ticks for that long (after the tool results when there are tools);
- anything else gets a short, fixed reply that quotes the message.
After tool results it answers with a summary of them and stops.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

from agents.llm.base import Chunk, ToolCall

TOKEN_RE = re.compile(r"\S+\s*|\s+")


def tokens(text: str) -> list[str]:
    return TOKEN_RE.findall(text)


class OfflineProvider:
    name = "offline"

    def __init__(self, *, token_delay_ms: int = 10):
        self.delay = max(0, token_delay_ms) / 1000

    def stream(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]], model: str) -> Iterator[Chunk]:
        input_tokens = sum(len(tokens(str(m.get("content") or ""))) for m in messages)
        reply, calls, delay = self._plan(messages, {t["name"] for t in tools})
        out = tokens(reply)
        for piece in out:
            if delay:
                time.sleep(delay)
            yield Chunk("text", text=piece)
        for call in calls:
            yield Chunk("tool_call", tool_call=call)
        yield Chunk("usage", input_tokens=input_tokens, output_tokens=len(out) + 5 * len(calls))

    def _plan(self, messages: list[dict[str, Any]], tool_names: set[str]) -> tuple[str, list[ToolCall], float]:
        last = messages[-1] if messages else {"role": "user", "content": ""}
        prompt = next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")
        calls, slow = self._directives(prompt, tool_names)
        if last.get("role") == "tool":
            results = []
            for message in reversed(messages):
                if message.get("role") != "tool":
                    break
                results.append(str(message.get("content") or "")[:120].replace("\n", " "))
            summary = "Done. Tool results: " + "; ".join(reversed(results))
            if slow:  # the slow part comes after the tools, so tests can crash a run between the two
                return self._ticks(slow, prefix=summary)
            return summary, [], self.delay
        if calls:
            return f"Calling {len(calls)} tool{'s' if len(calls) > 1 else ''}.", calls, self.delay
        if slow:
            return self._ticks(slow)
        quote = prompt.strip().replace("\n", " ")[:200]
        return f"Offline model reply: you said \"{quote}\".", [], self.delay

    def _ticks(self, seconds: float, prefix: str = "") -> tuple[str, list[ToolCall], float]:
        count = max(1, int(-seconds if seconds < 0 else seconds * 20))
        text = " ".join(f"tick{i}" for i in range(count))
        delay = self.delay if seconds < 0 else seconds / count
        return (f"{prefix} {text}" if prefix else text), [], delay

    @staticmethod
    def _directives(text: str, tool_names: set[str]) -> tuple[list[ToolCall], float | None]:
        digest = hashlib.sha1(text.encode()).hexdigest()[:8]
        calls: list[ToolCall] = []
        slow = None
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("/tool "):
                name, _, raw = stripped[6:].strip().partition(" ")
                try:
                    args = json.loads(raw) if raw.strip() else {}
                except json.JSONDecodeError:
                    args = {"_raw": raw}
                if name in tool_names:
                    calls.append(ToolCall(id=f"call_{digest}_{len(calls)}", name=name, arguments=args))
            elif stripped.lower().startswith("remember:") and "memory_write" in tool_names:
                calls.append(ToolCall(id=f"call_{digest}_{len(calls)}", name="memory_write",
                                      arguments={"content": stripped[9:].strip(), "type": "semantic"}))
            elif stripped.startswith("/tokens "):
                try:
                    slow = -float(int(stripped[8:].strip()))  # negative: a token count at the normal pace
                except ValueError:
                    slow = None
            elif stripped.startswith("/slow "):
                try:
                    slow = float(stripped[6:].strip())
                except ValueError:
                    slow = None
        return calls, slow

"""OpenAI-compatible chat completions with streaming and tool calling (httpx)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from agents.llm.base import Chunk, ProviderError, ToolCall
from agents.llm.sse import iter_sse


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        item: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            item["tool_calls"] = [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments") or {})}}
                for c in m["tool_calls"]
            ]
        if m["role"] == "tool":
            item["tool_call_id"] = m.get("tool_call_id") or ""
        out.append(item)
    return out


class OpenAIProvider:
    name = "openai"

    def __init__(self, *, base_url: str, api_key: str, timeout: float = 120):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def stream(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]], model: str) -> Iterator[Chunk]:
        body: dict[str, Any] = {"model": model, "messages": to_openai_messages(messages), "stream": True,
                                "stream_options": {"include_usage": True}}
        if tools:
            body["tools"] = [{"type": "function", "function": t} for t in tools]
        headers = {"Authorization": f"Bearer {self.api_key}"}
        pending: dict[int, dict[str, Any]] = {}
        with httpx.stream("POST", f"{self.base_url}/chat/completions", json=body, headers=headers,
                          timeout=self.timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise ProviderError(f"OpenAI-compatible API error {response.status_code}: {response.text[:500]}")
            for _event, data in iter_sse(response.iter_lines()):
                if data.strip() == "[DONE]":
                    break
                payload = json.loads(data)
                usage = payload.get("usage")
                if usage:
                    yield Chunk("usage", input_tokens=int(usage.get("prompt_tokens") or 0),
                                output_tokens=int(usage.get("completion_tokens") or 0))
                for choice in payload.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        yield Chunk("text", text=delta["content"])
                    for part in delta.get("tool_calls") or []:
                        slot = pending.setdefault(int(part.get("index", 0)), {"id": "", "name": "", "args": ""})
                        slot["id"] = part.get("id") or slot["id"]
                        fn = part.get("function") or {}
                        slot["name"] = fn.get("name") or slot["name"]
                        slot["args"] += fn.get("arguments") or ""
        for index in sorted(pending):
            slot = pending[index]
            try:
                args = json.loads(slot["args"]) if slot["args"] else {}
            except json.JSONDecodeError:
                args = {"_raw": slot["args"]}
            yield Chunk("tool_call", tool_call=ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"],
                                                         arguments=args))

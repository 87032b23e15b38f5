"""Anthropic Messages API with streaming and tool use (httpx)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from agents.llm.base import Chunk, ProviderError, ToolCall
from agents.llm.sse import iter_sse

API_VERSION = "2023-06-01"


def to_anthropic(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """System messages become `system`; tool results become user `tool_result` blocks."""
    system = "\n\n".join(str(m.get("content") or "") for m in messages if m["role"] == "system")
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m["role"]
        if role == "system":
            continue
        if role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.get("tool_call_id") or "", "content": m.get("content") or ""}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
            continue
        if role == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = []
            if m.get("content"):
                blocks.append({"type": "text", "text": m["content"]})
            blocks += [{"type": "tool_use", "id": c["id"], "name": c["name"], "input": c.get("arguments") or {}}
                       for c in m["tool_calls"]]
            out.append({"role": "assistant", "content": blocks})
            continue
        out.append({"role": "assistant" if role == "assistant" else "user", "content": m.get("content") or ""})
    return system, out


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, *, base_url: str, api_key: str, timeout: float = 120, max_tokens: int = 4096):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_tokens = max_tokens

    def stream(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]], model: str) -> Iterator[Chunk]:
        system, converted = to_anthropic(messages)
        body: dict[str, Any] = {"model": model, "max_tokens": self.max_tokens, "messages": converted, "stream": True}
        if system:
            body["system"] = system
        if tools:
            body["tools"] = [{"name": t["name"], "description": t.get("description", ""),
                              "input_schema": t.get("parameters") or {"type": "object"}} for t in tools]
        headers = {"x-api-key": self.api_key, "anthropic-version": API_VERSION}
        blocks: dict[int, dict[str, Any]] = {}
        input_tokens = output_tokens = 0
        with httpx.stream("POST", f"{self.base_url}/v1/messages", json=body, headers=headers,
                          timeout=self.timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise ProviderError(f"Anthropic API error {response.status_code}: {response.text[:500]}")
            for event, data in iter_sse(response.iter_lines()):
                payload = json.loads(data)
                kind = payload.get("type") or event
                if kind == "message_start":
                    usage = (payload.get("message") or {}).get("usage") or {}
                    input_tokens = int(usage.get("input_tokens") or 0)
                    output_tokens = int(usage.get("output_tokens") or 0)
                elif kind == "content_block_start":
                    block = payload.get("content_block") or {}
                    blocks[int(payload.get("index", 0))] = {**block, "json": ""}
                elif kind == "content_block_delta":
                    delta = payload.get("delta") or {}
                    if delta.get("type") == "text_delta":
                        yield Chunk("text", text=delta.get("text", ""))
                    elif delta.get("type") == "input_json_delta":
                        blocks.setdefault(int(payload.get("index", 0)), {"json": ""})["json"] += delta.get(
                            "partial_json", "")
                elif kind == "content_block_stop":
                    block = blocks.get(int(payload.get("index", 0))) or {}
                    if block.get("type") == "tool_use":
                        try:
                            args = json.loads(block["json"]) if block["json"] else (block.get("input") or {})
                        except json.JSONDecodeError:
                            args = {"_raw": block["json"]}
                        yield Chunk("tool_call", tool_call=ToolCall(id=block.get("id", ""), name=block.get("name", ""),
                                                                     arguments=args))
                elif kind == "message_delta":
                    output_tokens = int((payload.get("usage") or {}).get("output_tokens") or output_tokens)
                elif kind == "error":
                    raise ProviderError(f"Anthropic stream error: {payload.get('error')}")
        yield Chunk("usage", input_tokens=input_tokens, output_tokens=output_tokens)

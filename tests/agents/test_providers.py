"""Model providers. The OpenAI-compatible and Anthropic clients are tested against a local fake
HTTP server on 127.0.0.1 that speaks each provider's streaming wire format: the real APIs are
external services we cannot reach from tests, so this is the one mocked part."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agents.llm import make_provider
from agents.llm.offline import OfflineProvider

TOOLS = [{"name": "memory_write", "description": "remember", "parameters": {"type": "object"}}]


class FakeServer:
    def __init__(self, frames: list[str]):
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for item in frames:
                    self.wfile.write(item.encode())
                    self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def _collect(chunks: Iterator[Any]) -> tuple[str, list[Any], list[Any]]:
    items = list(chunks)
    text = "".join(c.text for c in items if c.kind == "text")
    return text, [c.tool_call for c in items if c.kind == "tool_call"], [c for c in items if c.kind == "usage"]


@pytest.fixture
def fake() -> Iterator[Any]:
    servers: list[FakeServer] = []

    def make(frames: list[str]) -> FakeServer:
        servers.append(FakeServer(frames))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_openai_compatible_streaming_with_tool_calls(fake):
    def chunk(delta: dict[str, Any], **extra: Any) -> str:
        return "data: " + json.dumps({"choices": [{"index": 0, "delta": delta}], **extra}) + "\n\n"

    server = fake([
        chunk({"role": "assistant", "content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "memory_write", "arguments": "{\"con"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "tent\": \"x\"}"}}]}),
        "data: " + json.dumps({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7}}) + "\n\n",
        "data: [DONE]\n\n",
    ])
    provider = make_provider({"name": "openai", "base_url": server.url + "/v1", "api_key": "sk-test"})
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "c0", "name": "memory_write", "arguments": {}}]},
                {"role": "tool", "content": "ok", "tool_call_id": "c0"}]
    text, calls, usage = _collect(provider.stream(messages=messages, tools=TOOLS, model="gpt-test"))
    assert text == "Hello"
    assert [(c.id, c.name, c.arguments) for c in calls] == [("call_1", "memory_write", {"content": "x"})]
    assert usage[0].input_tokens == 11 and usage[0].output_tokens == 7
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["body"]["stream"] is True and request["body"]["model"] == "gpt-test"
    assert request["body"]["tools"][0] == {"type": "function", "function": TOOLS[0]}
    assert request["body"]["messages"][1]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert request["body"]["messages"][2]["tool_call_id"] == "c0"


def test_anthropic_messages_streaming_with_tool_use(fake):
    def ev(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    server = fake([
        ev("message_start", {"message": {"usage": {"input_tokens": 20, "output_tokens": 1}}}),
        ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Sure"}}),
        ev("content_block_stop", {"index": 0}),
        ev("content_block_start", {"index": 1, "content_block": {"type": "tool_use", "id": "toolu_1",
                                                                 "name": "memory_write", "input": {}}}),
        ev("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"content\":"}}),
        ev("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta", "partial_json": " \"y\"}"}}),
        ev("content_block_stop", {"index": 1}),
        ev("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
        ev("message_stop", {}),
    ])
    provider = make_provider({"name": "anthropic", "base_url": server.url, "api_key": "ak-test"})
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "remember y"},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "t0", "name": "memory_write", "arguments": {}}]},
                {"role": "tool", "content": "done", "tool_call_id": "t0"}]
    text, calls, usage = _collect(provider.stream(messages=messages, tools=TOOLS, model="claude-test"))
    assert text == "Sure"
    assert [(c.id, c.name, c.arguments) for c in calls] == [("toolu_1", "memory_write", {"content": "y"})]
    assert usage[-1].input_tokens == 20 and usage[-1].output_tokens == 9
    request = server.requests[0]
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == "ak-test" and request["headers"]["anthropic-version"] == "2023-06-01"
    body = request["body"]
    assert body["system"] == "be brief" and body["tools"][0]["input_schema"] == {"type": "object"}
    assert body["messages"][1]["content"][0]["type"] == "tool_use"
    assert body["messages"][2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t0",
                                                                "content": "done"}]}


def test_provider_errors_are_reported(fake):
    from agents.llm.base import ProviderError

    server = fake([])
    server.httpd.RequestHandlerClass.do_POST = lambda self: (self.send_response(401), self.end_headers(),
                                                             self.wfile.write(b'{"error":"bad key"}'))
    provider = make_provider({"name": "openai", "base_url": server.url, "api_key": "nope"})
    with pytest.raises(ProviderError, match="401"):
        list(provider.stream(messages=[{"role": "user", "content": "x"}], tools=[], model="m"))


def test_offline_provider_is_deterministic_and_calls_tools():
    provider = OfflineProvider(token_delay_ms=0)
    messages = [{"role": "user", "content": 'hi\n/tool memory_write {"content": "a"}\nremember: b'}]
    first = _collect(provider.stream(messages=messages, tools=TOOLS, model="offline"))
    second = _collect(provider.stream(messages=messages, tools=TOOLS, model="offline"))
    assert first[0] == second[0] == "Calling 2 tools."
    assert [c.arguments for c in first[1]] == [{"content": "a"}, {"content": "b", "type": "semantic"}]
    assert [c.id for c in first[1]] == [c.id for c in second[1]]
    after = [*messages, {"role": "assistant", "content": "", "tool_calls": []},
             {"role": "tool", "content": "ok-a"}, {"role": "tool", "content": "ok-b"}]
    assert _collect(provider.stream(messages=after, tools=TOOLS, model="offline"))[0] == "Done. Tool results: ok-a; ok-b"


def test_provider_config_falls_back_to_offline_without_a_key(settings, alice, thread):
    from agents import services
    from agents.runner import provider_config

    run = services.run_create(thread=thread, actor=alice, input={})
    settings.TAKOS_AGENT_PROVIDER = "openai"
    settings.TAKOS_OPENAI_API_KEY = ""
    assert provider_config(run)["name"] == "offline"
    settings.TAKOS_OPENAI_API_KEY = "sk-x"
    config = provider_config(run)
    assert config["name"] == "openai" and config["model"] == thread.space.ai_model
    run.model = "offline"
    assert provider_config(run)["name"] == "offline"

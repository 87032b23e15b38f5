"""The provider interface: stream a chat turn as text deltas, tool calls and usage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass
class Chunk:
    """One streamed piece: kind is "text" (delta), "tool_call" (complete call) or "usage"."""

    kind: str
    text: str = ""
    tool_call: ToolCall | None = None
    input_tokens: int = 0
    output_tokens: int = 0


class ProviderError(Exception):
    pass


class Provider(Protocol):
    name: str

    def stream(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]], model: str) -> Iterator[Chunk]:
        """messages use the OpenAI shape: {role, content, tool_calls?: [{id, name, arguments}], tool_call_id?}."""
        ...


def make_provider(config: dict[str, Any]) -> Provider:
    """config = {"name": offline|openai|anthropic, "base_url"?, "api_key"?, "token_delay_ms"?, "timeout"?}."""
    name = config.get("name", "offline")
    if name == "openai":
        from agents.llm.openai import OpenAIProvider

        return OpenAIProvider(base_url=config["base_url"], api_key=config.get("api_key", ""),
                              timeout=float(config.get("timeout", 120)))
    if name == "anthropic":
        from agents.llm.anthropic import AnthropicProvider

        return AnthropicProvider(base_url=config["base_url"], api_key=config.get("api_key", ""),
                                 timeout=float(config.get("timeout", 120)))
    from agents.llm.offline import OfflineProvider

    return OfflineProvider(token_delay_ms=int(config.get("token_delay_ms", 10)))

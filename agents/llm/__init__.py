"""Model providers for the agent loop. Pure Python + httpx: the executor imports this without Django."""

from agents.llm.base import Chunk, Provider, ToolCall, make_provider

__all__ = ["Chunk", "Provider", "ToolCall", "make_provider"]

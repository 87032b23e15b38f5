"""What the control plane hands the executor: provider config and the run's starting context."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from agents import selectors, tools
from agents.models import Memory, Message, Run

SYSTEM_PROMPT = (
    "You are Takos, an AI agent working in the space '{space}' (agent type: {agent_type}). "
    "Use the tools to read repositories, remember facts, write artifacts, start sub-runs, and "
    "commit changes to a new branch with a pull request. Be concise."
)


def provider_config(run: Run) -> dict[str, Any]:
    """Offline unless a real provider is chosen by settings (or the space) AND has a key."""
    model = run.model or run.space.ai_model
    choice = settings.TAKOS_AGENT_PROVIDER
    if model.startswith("offline"):
        choice = "offline"
    elif choice == "space":
        choice = run.space.ai_provider
    if choice == "openai" and settings.TAKOS_OPENAI_API_KEY:
        return {"name": "openai", "model": model, "base_url": settings.TAKOS_OPENAI_BASE_URL,
                "api_key": settings.TAKOS_OPENAI_API_KEY}
    if choice == "anthropic" and settings.TAKOS_ANTHROPIC_API_KEY:
        return {"name": "anthropic", "model": model, "base_url": settings.TAKOS_ANTHROPIC_BASE_URL,
                "api_key": settings.TAKOS_ANTHROPIC_API_KEY}
    return {"name": "offline", "model": "offline", "token_delay_ms": settings.TAKOS_OFFLINE_TOKEN_DELAY_MS}


def message_for_model(message: Message) -> dict[str, Any]:
    item: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        item["tool_calls"] = message.tool_calls
    if message.role == Message.Role.TOOL:
        item["tool_call_id"] = message.tool_call_id
    return item


def system_prompt(run: Run) -> str:
    parts = [SYSTEM_PROMPT.format(space=run.space.name, agent_type=run.agent_type)]
    skills = selectors.skills_context(run.space)
    if skills:
        parts.append("Skills:\n" + "\n".join(f"- {s['name']}: {s['instructions']}" for s in skills))
    memories = list(Memory.objects.filter(space=run.space).order_by("-importance", "-created_at")[:20])
    if memories:
        parts.append("Memories:\n" + "\n".join(f"- ({m.type}) {m.summary or m.content[:300]}" for m in memories))
    return "\n\n".join(parts)


def bootstrap(run: Run) -> dict[str, Any]:
    """The run's context. Messages this run already wrote (an earlier attempt) are not in the
    window; they come back as `replay` so the loop repeats those turns without the model."""
    window = [m for m in selectors.thread_window(run.thread) if not (m.run_id == run.id and m.operation_key)]
    while window and window[0].role == Message.Role.TOOL:  # a tool result without its call confuses models
        window.pop(0)
    replay: dict[str, dict[str, Any]] = {}
    for message in Message.objects.filter(run=run, role=Message.Role.ASSISTANT).exclude(operation_key=""):
        turn = (message.metadata or {}).get("turn")
        if turn is not None:
            replay[str(turn)] = {"content": message.content, "tool_calls": message.tool_calls or []}
    return {
        "run": {"id": run.id, "thread_id": run.thread_id, "space_id": run.space_id, "agent_type": run.agent_type,
                "input": run.input, "lease_version": run.lease_version},
        "provider": provider_config(run),
        "system_prompt": system_prompt(run),
        "messages": [message_for_model(m) for m in window],
        "tools": tools.catalog_for(run),
        "replay": replay,
        "max_turns": settings.TAKOS_AGENT_MAX_TURNS,
    }

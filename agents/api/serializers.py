"""Input serializers and output shapes for the agent APIs (spec api.md section 7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rest_framework import serializers

from agents.models import AgentTask, Artifact, Memory, Message, Run, Skill, Thread, ThreadShare


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


# --- output --------------------------------------------------------------------------------


def thread_out(thread: Thread) -> dict[str, Any]:
    return {
        "id": thread.id, "space_id": thread.space_id, "title": thread.title, "locale": thread.locale or None,
        "status": thread.status, "summary": thread.summary or None, "key_points": thread.key_points,
        "context_window": thread.context_window, "created_by": thread.created_by_id,
        "created_at": iso(thread.created_at), "updated_at": iso(thread.updated_at),
    }


def message_out(message: Message) -> dict[str, Any]:
    return {
        "id": message.id, "thread_id": message.thread_id, "run_id": message.run_id, "role": message.role,
        "content": message.content, "tool_calls": message.tool_calls, "tool_call_id": message.tool_call_id or None,
        "metadata": message.metadata, "sequence": message.sequence, "author_id": message.author_id,
        "created_at": iso(message.created_at),
    }


def run_out(run: Run) -> dict[str, Any]:
    return {
        "id": run.id, "thread_id": run.thread_id, "space_id": run.space_id, "requester_id": run.requester_id,
        "session_id": run.session_id or None, "parent_run_id": run.parent_run_id, "root_run_id": run.root_run_id,
        "root_thread_id": run.root_thread_id, "agent_type": run.agent_type, "model": run.model or None,
        "multitask_strategy": run.multitask_strategy, "status": run.status, "last_event_id": run.last_event_id,
        "input": run.input, "output": run.output or None, "error": run.error or None, "usage": run.usage,
        "lease_version": run.lease_version, "recovery_count": run.recovery_count,
        "created_at": iso(run.created_at), "started_at": iso(run.started_at), "completed_at": iso(run.completed_at),
    }


def artifact_out(artifact: Artifact) -> dict[str, Any]:
    return {
        "id": artifact.id, "run_id": artifact.run_id, "space_id": artifact.space_id, "type": artifact.type,
        "title": artifact.title or None, "content": artifact.content, "file_id": artifact.file_id or None,
        "metadata": artifact.metadata, "created_at": iso(artifact.created_at),
    }


def memory_out(memory: Memory) -> dict[str, Any]:
    return {
        "id": memory.id, "space_id": memory.space_id, "author_id": memory.author_id, "thread_id": memory.thread_id,
        "type": memory.type, "category": memory.category or None, "content": memory.content,
        "summary": memory.summary or None, "importance": memory.importance, "tags": memory.tags,
        "occurred_at": iso(memory.occurred_at), "expires_at": iso(memory.expires_at),
        "access_count": memory.access_count, "created_at": iso(memory.created_at),
        "updated_at": iso(memory.updated_at),
    }


def skill_out(skill: Skill) -> dict[str, Any]:
    return {
        "id": skill.id, "space_id": skill.space_id, "name": skill.name, "description": skill.description,
        "instructions": skill.instructions, "triggers": skill.triggers, "metadata": skill.metadata,
        "enabled": skill.enabled, "source": "custom", "created_at": iso(skill.created_at),
        "updated_at": iso(skill.updated_at),
    }


def agent_task_out(task: AgentTask) -> dict[str, Any]:
    return {
        "id": task.id, "space_id": task.space_id, "created_by": task.created_by_id, "thread_id": task.thread_id,
        "last_run_id": task.last_run_id, "title": task.title, "description": task.description,
        "status": task.status, "priority": task.priority, "agent_type": task.agent_type, "model": task.model or None,
        "plan": task.plan or None, "due_at": iso(task.due_at), "started_at": iso(task.started_at),
        "completed_at": iso(task.completed_at), "created_at": iso(task.created_at), "updated_at": iso(task.updated_at),
    }


def share_out(share: ThreadShare, *, token: str | None = None) -> dict[str, Any]:
    body = {
        "id": share.id, "thread_id": share.thread_id, "mode": share.mode, "expires_at": iso(share.expires_at),
        "revoked_at": iso(share.revoked_at), "last_accessed_at": iso(share.last_accessed_at),
        "created_at": iso(share.created_at),
    }
    if token:
        body["token"] = token
        body["url_path"] = f"/shared/{token}"
    return body


# --- input ---------------------------------------------------------------------------------


class ThreadCreateIn(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    locale = serializers.ChoiceField(choices=["ja", "en"], required=False, allow_blank=True, default="")


class ThreadUpdateIn(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    locale = serializers.ChoiceField(choices=["ja", "en"], required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=Thread.Status.choices, required=False)
    context_window = serializers.IntegerField(min_value=20, max_value=200, required=False)


class MessageCreateIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=Message.Role.choices, default=Message.Role.USER)
    content = serializers.CharField(required=False, allow_blank=True, default="", max_length=200_000)
    tool_calls = serializers.JSONField(required=False, allow_null=True, default=None)
    tool_call_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    metadata = serializers.DictField(required=False, default=dict)


class RunCreateIn(serializers.Serializer):
    agent_type = serializers.CharField(max_length=50, required=False, default="default")
    input = serializers.JSONField(required=False, default=dict)
    parent_run_id = serializers.CharField(max_length=12, required=False, allow_null=True, allow_blank=True)
    model = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    multitask_strategy = serializers.ChoiceField(choices=["reject", "enqueue", "interrupt", "rollback"],
                                                 required=False, default="enqueue")


class ArtifactIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=Artifact.Type.choices, default=Artifact.Type.CODE)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    content = serializers.CharField(required=False, allow_blank=True, default="")
    file_id = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")
    metadata = serializers.DictField(required=False, default=dict)


class MemoryIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=Memory.Type.choices)
    content = serializers.CharField(max_length=50_000)
    category = serializers.CharField(max_length=100, required=False, allow_blank=True)
    summary = serializers.CharField(required=False, allow_blank=True)
    importance = serializers.FloatField(min_value=0, max_value=1, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    occurred_at = serializers.DateTimeField(required=False, allow_null=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    thread_id = serializers.CharField(max_length=12, required=False, allow_null=True, allow_blank=True)


class MemoryUpdateIn(MemoryIn):
    type = serializers.ChoiceField(choices=Memory.Type.choices, required=False)
    content = serializers.CharField(max_length=50_000, required=False)
    thread_id = None


class SkillIn(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    instructions = serializers.CharField(max_length=50_000)
    triggers = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)
    metadata = serializers.DictField(required=False, default=dict)
    enabled = serializers.BooleanField(required=False, default=True)


class SkillPatchIn(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    instructions = serializers.CharField(max_length=50_000, required=False)
    triggers = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    metadata = serializers.DictField(required=False)
    enabled = serializers.BooleanField(required=False)


class AgentTaskIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=AgentTask.Status.choices, required=False)
    priority = serializers.ChoiceField(choices=AgentTask.Priority.choices, required=False)
    agent_type = serializers.CharField(max_length=50, required=False)
    model = serializers.CharField(max_length=100, required=False, allow_blank=True)
    plan = serializers.CharField(required=False, allow_blank=True)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    thread_id = serializers.CharField(max_length=12, required=False, allow_null=True, allow_blank=True)
    create_thread = serializers.BooleanField(required=False, default=False)


class AgentTaskPatchIn(AgentTaskIn):
    title = serializers.CharField(max_length=200, required=False)
    thread_id = None
    create_thread = None


class ShareIn(serializers.Serializer):
    mode = serializers.ChoiceField(choices=ThreadShare.Mode.choices, default=ThreadShare.Mode.PUBLIC)
    password = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    expires_in_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=365,
                                               default=None)


class ShareAccessIn(serializers.Serializer):
    password = serializers.CharField(max_length=200, allow_blank=True)

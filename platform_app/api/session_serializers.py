"""Input serializers and output shapes for runtime and browser sessions."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from platform_app.models import BrowserSession, RuntimeSession


def _ts(value: Any) -> str | None:
    return value.isoformat() if value else None


class SessionCreateIn(serializers.Serializer):
    repo_id = serializers.CharField(max_length=12)
    branch = serializers.CharField(max_length=255, required=False, allow_blank=True)


class SessionStopIn(serializers.Serializer):
    commit_message = serializers.CharField(max_length=10000, required=False, allow_blank=True)


class SessionExecIn(serializers.Serializer):
    command = serializers.ListField(child=serializers.CharField(max_length=10000), min_length=1, max_length=200)
    timeout = serializers.IntegerField(required=False, min_value=1, max_value=3600)


def session_out(session: RuntimeSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "space_id": session.space_id,
        "user_id": session.user_id,
        "repo_id": session.repo_id,
        "branch": session.branch,
        "status": session.status,
        "base_sha": session.base_sha or None,
        "head_sha": session.head_sha or None,
        "driver": session.driver or None,
        "error": session.error or None,
        "last_heartbeat": _ts(session.last_heartbeat),
        "started_at": _ts(session.started_at),
        "stopped_at": _ts(session.stopped_at),
        "created_at": _ts(session.created_at),
        "updated_at": _ts(session.updated_at),
    }


class BrowserCreateIn(serializers.Serializer):
    url = serializers.CharField(max_length=8000, required=False, allow_blank=True)
    viewport = serializers.DictField(required=False)


class BrowserGotoIn(serializers.Serializer):
    url = serializers.CharField(max_length=8000)


class BrowserActionIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=["click", "type", "scroll"])
    selector = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    text = serializers.CharField(max_length=100000, required=False, allow_blank=True)
    x = serializers.IntegerField(required=False)
    y = serializers.IntegerField(required=False)


class BrowserExtractIn(serializers.Serializer):
    selector = serializers.CharField(max_length=2000, required=False, allow_blank=True)


def browser_out(session: BrowserSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "space_id": session.space_id,
        "user_id": session.user_id,
        "status": session.status,
        "url": session.url or None,
        "title": session.title or None,
        "viewport": session.viewport,
        "driver": session.driver or None,
        "has_screenshot": bool(session.last_screenshot),
        "error": session.error or None,
        "last_used_at": _ts(session.last_used_at),
        "created_at": _ts(session.created_at),
        "closed_at": _ts(session.closed_at),
    }

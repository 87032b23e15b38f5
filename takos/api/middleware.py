"""Middleware for /api: body size limit with the error envelope."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from takos.api.errors import error_response

# Paths with their own, larger limits (git pushes, uploads) set them in their own views.
_LIMITED_PREFIXES = ("/api/", "/auth/", "/oauth/")

# (compiled path pattern, settings name of its byte limit): uploads that may exceed the API limit.
_OVERRIDES: list[tuple[re.Pattern[str], str]] = []


def register_body_limit(pattern: str, setting_name: str) -> None:
    """Let an upload endpoint accept bodies up to `settings.<setting_name>` (call from AppConfig.ready)."""
    compiled = re.compile(pattern)
    if all(existing.pattern != pattern for existing, _ in _OVERRIDES):
        _OVERRIDES.append((compiled, setting_name))


def body_limit_for(path: str) -> int:
    for pattern, setting_name in _OVERRIDES:
        if pattern.match(path):
            return int(getattr(settings, setting_name))
    return settings.TAKOS_API_MAX_BODY


class ApiBodyLimitMiddleware:
    """Refuse bodies over TAKOS_API_MAX_BODY before anything reads them (413)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(_LIMITED_PREFIXES):
            limit = body_limit_for(request.path)
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error_response(400, "Invalid Content-Length header.")
            if length > limit:
                return error_response(413, f"Request body is larger than {limit} bytes.")
        return self.get_response(request)

"""Middleware for /api: body size limit with the error envelope."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from takos.api.errors import error_response

# Paths with their own, larger limits (git pushes, uploads) set them in their own views.
_LIMITED_PREFIXES = ("/api/", "/auth/", "/oauth/")


class ApiBodyLimitMiddleware:
    """Refuse bodies over TAKOS_API_MAX_BODY before anything reads them (413)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(_LIMITED_PREFIXES):
            limit = settings.TAKOS_API_MAX_BODY
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error_response(400, "Invalid Content-Length header.")
            if length > limit:
                return error_response(413, f"Request body is larger than {limit} bytes.")
        return self.get_response(request)

"""Small helpers shared by console views: they call the same services as the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.http import HttpRequest

from takos.api.errors import ApiError

T = TypeVar("T")


def attempt(request: HttpRequest, action: Callable[[], T]) -> T | None:
    """Run a service call; on a domain error show its message and return None."""
    try:
        return action()
    except ApiError as exc:
        messages.error(request, str(exc.detail))
        return None


def field_errors(exc: ApiError) -> dict[str, Any]:
    details = exc.details or {}
    return details.get("fields", {}) if isinstance(details, dict) else {}

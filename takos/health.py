"""/health (liveness) and /health/ready (database and broker reachable)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means not ready
        return f"database: {exc.__class__.__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    from django.conf import settings
    from kombu import Connection

    try:
        # A fresh connection (not Celery's pool) so the answer reflects the broker right now.
        with Connection(settings.CELERY_BROKER_URL, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
                        connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"broker: {exc.__class__.__name__}: {exc}"
    return None


def ready(request: HttpRequest) -> JsonResponse:
    problems = [p for p in (_check_database(), _check_broker()) if p]
    if problems:
        return JsonResponse(
            {"status": "unavailable", "error": {"code": "SERVICE_UNAVAILABLE", "message": "; ".join(problems)}},
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok", "broker": "ok"})

"""One error envelope for the whole API: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger("takos.api")

STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    402: "PAYMENT_REQUIRED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    410: "GONE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


class ApiError(exceptions.APIException):
    """An error with an explicit code; services raise the subclasses below."""

    status_code = 400
    default_code = "BAD_REQUEST"
    default_detail = "Bad request."

    def __init__(self, message: str | None = None, *, details: Any = None, code: str | None = None):
        super().__init__(detail=message or self.default_detail)
        self.code = code or self.default_code
        self.details = details

    def with_status(self, status_code: int) -> ApiError:
        self.status_code = status_code
        return self


class BadRequest(ApiError):
    status_code, default_code, default_detail = 400, "BAD_REQUEST", "Bad request."


class Unauthorized(ApiError):
    status_code, default_code, default_detail = 401, "UNAUTHORIZED", "Authentication required."


class Forbidden(ApiError):
    status_code, default_code, default_detail = 403, "FORBIDDEN", "You do not have permission to do this."


class NotFound(ApiError):
    status_code, default_code, default_detail = 404, "NOT_FOUND", "Not found."


class Conflict(ApiError):
    status_code, default_code, default_detail = 409, "CONFLICT", "Conflict."


class Gone(ApiError):
    status_code, default_code, default_detail = 410, "GONE", "Gone."


class PayloadTooLarge(ApiError):
    status_code, default_code, default_detail = 413, "PAYLOAD_TOO_LARGE", "Request body too large."


class RateLimited(ApiError):
    status_code, default_code, default_detail = 429, "RATE_LIMITED", "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: int = 60, details: Any = None):
        super().__init__(message, details=details)
        self.wait = retry_after


class ServiceUnavailable(ApiError):
    status_code, default_code, default_detail = 503, "SERVICE_UNAVAILABLE", "Service unavailable."


def envelope(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def error_response(status_code: int, message: str, *, code: str | None = None, details: Any = None) -> JsonResponse:
    """A plain Django response with the envelope, for code outside DRF views."""
    return JsonResponse(envelope(code or STATUS_CODES.get(status_code, "ERROR"), message, details), status=status_code)


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            msg = _first_message(value)
            return msg if key in ("non_field_errors", "detail") else f"{key}: {msg}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _plain(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(value) for value in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler: every error, expected or not, becomes the envelope."""
    if isinstance(exc, Http404):
        exc = NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = Forbidden()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()

    headers: dict[str, str] = {}
    if isinstance(exc, ApiError):
        code, message, details, http_status = exc.code, str(exc.detail), exc.details, exc.status_code
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.wait)
    elif isinstance(exc, exceptions.ValidationError):
        http_status = 400
        code, message, details = "BAD_REQUEST", _first_message(exc.detail), {"fields": _plain(exc.detail)}
        if not isinstance(exc.detail, dict):
            details = {"errors": _plain(exc.detail)}
    elif isinstance(exc, exceptions.APIException):
        http_status = exc.status_code
        code = STATUS_CODES.get(http_status, "ERROR")
        message = _first_message(exc.detail)
        details = None
        if isinstance(exc, exceptions.Throttled) and exc.wait:
            headers["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, exceptions.MethodNotAllowed):
            message = f"Method {context['request'].method} is not allowed here."
    else:
        error_id = uuid.uuid4().hex[:12]
        logger.exception("Unhandled API error %s", error_id, exc_info=exc)
        body = envelope("INTERNAL_ERROR", "Internal server error.", {"error_id": error_id})
        return Response(body, status=500)

    if http_status == 401:
        request = context.get("request")
        authenticator = getattr(request, "_authenticator", None) if request else None
        header = None
        if request is not None:
            view = context.get("view")
            if view is not None:
                header = view.get_authenticate_header(request)
        headers["WWW-Authenticate"] = header or authenticator or 'Bearer realm="takos"'
    return Response(envelope(code, message, details), status=http_status, headers=headers)


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return error_response(status.HTTP_404_NOT_FOUND, f"No API endpoint at {request.path}.")

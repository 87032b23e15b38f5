"""Base view for the API: authenticated, scope-checked, JSON only."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from takos.api.permissions import NotDelegatedToken, TokenScope


class ApiView(APIView):
    permission_classes = [IsAuthenticated, TokenScope]
    scope: str | None = None

    def parse(self, serializer_class: type[serializers.Serializer], request: Request, **kwargs: Any) -> dict[str, Any]:
        """Validate the body with an input serializer; errors become 400 with field details."""
        return validate(serializer_class, request.data, **kwargs)


def validate(serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> dict[str, Any]:
    """A parsed JSON body (None = empty) through an input serializer: BadRequest when it is not an
    object, DRF's ValidationError (400 with field details) when a field is wrong."""
    data = data if data is not None else {}
    if not isinstance(data, dict):
        from takos.api.errors import BadRequest

        raise BadRequest("The request body must be a JSON object.")
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class PublicApiView(ApiView):
    permission_classes = [AllowAny]


class AccountApiView(ApiView):
    """Views that manage the signed-in person's own account."""

    permission_classes = [IsAuthenticated, NotDelegatedToken, TokenScope]

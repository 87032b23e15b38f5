"""limit/offset pagination with the {<plural>: [...], total, has_more} envelope."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.request import Request

from takos.api.errors import BadRequest

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer.", details={"fields": {name: ["Must be an integer."]}}) from None
    if value < 0:
        raise BadRequest(f"'{name}' must not be negative.", details={"fields": {name: ["Must be >= 0."]}})
    return value


def page_params(request: Request, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> tuple[int, int]:
    limit = min(_int_param(request, "limit", default), maximum) or default
    offset = _int_param(request, "offset", 0)
    return limit, offset


def paginate(
    request: Request,
    queryset: QuerySet | list,
    *,
    key: str,
    serialize: Any,
    default: int = DEFAULT_LIMIT,
    maximum: int = MAX_LIMIT,
) -> dict[str, Any]:
    """Slice `queryset` by limit/offset and serialise the page with `serialize(items)`."""
    limit, offset = page_params(request, default=default, maximum=maximum)
    items = list(queryset[offset : offset + limit])
    if 0 < len(items) < limit or (offset == 0 and not items):
        total = offset + len(items)  # a short page is the last one: no COUNT query needed
    else:
        total = queryset.count() if isinstance(queryset, QuerySet) else len(queryset)
    return page_envelope(key, serialize(items), total=total, limit=limit, offset=offset)


def page_envelope(key: str, items: Any, *, total: int, limit: int, offset: int,
                  count: int | None = None) -> dict[str, Any]:
    """`items` is a list, or pre-encoded JSON (an orjson Fragment) with its length in `count`."""
    count = len(items) if count is None else count
    return {key: items, "total": total, "has_more": offset + count < total, "limit": limit, "offset": offset}

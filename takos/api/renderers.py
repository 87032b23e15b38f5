"""The API's JSON renderer and content negotiation, tuned for the hot path.

Both keep DRF's observable behaviour (same bytes, same media types); they only do the work
once instead of on every request.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.utils.encoders import JSONEncoder

_ENCODER = JSONEncoder()
# Datetimes go through DRF's encoder ('Z' for UTC, as DRF writes it); everything orjson does
# not know natively (Decimal, lazy strings, querysets...) too.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


class FastJSONRenderer(JSONRenderer):
    """DRF's compact, UTF-8 JSON, encoded by orjson (the stdlib encoder was ~0.1 ms of a list page).

    An `indent` asked for in the Accept header, or anything orjson refuses (an int beyond 64
    bits, say), falls back to DRF's own renderer, so the output never differs in kind."""

    def render(self, data: Any, accepted_media_type: str | None = None,
               renderer_context: dict[str, Any] | None = None) -> bytes:
        if data is None:
            return b""
        if accepted_media_type and "indent" in accepted_media_type:
            return super().render(_plain(data), accepted_media_type, renderer_context)
        try:
            return orjson.dumps(data, default=_ENCODER.default, option=_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            return super().render(data, accepted_media_type, renderer_context)


def _plain(data: Any) -> Any:
    """`data` with pre-encoded parts (orjson Fragments) decoded, for encoders that only orjson beats."""
    try:
        return orjson.loads(orjson.dumps(data, default=_ENCODER.default, option=_OPTIONS))
    except (orjson.JSONEncodeError, TypeError):
        return data


class CachedContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, remembered per (renderers, Accept header, format): parsing the Accept
    header and matching media types cost more than rendering a small answer."""

    def select_renderer(self, request: Request, renderers: list[BaseRenderer],
                        format_suffix: str | None = None) -> tuple[BaseRenderer, str]:
        fmt = format_suffix
        if not fmt and request.META.get("QUERY_STRING"):  # no query string: no QueryDict to build
            fmt = request.query_params.get(self.settings.URL_FORMAT_OVERRIDE or "")
        accept = request.META.get("HTTP_ACCEPT", "*/*")  # `headers` would build a dict of all headers
        key = (tuple(type(r) for r in renderers), accept, fmt)
        try:
            index, media_type = _choice(key)
        except _NotCacheable:
            return super().select_renderer(request, renderers, format_suffix)
        return renderers[index], media_type


class _NotCacheable(Exception):
    pass


class _Probe:
    """What DefaultContentNegotiation reads of a request: the Accept header and the format."""

    def __init__(self, accept: str, fmt: str | None) -> None:
        self.headers = self.META = {"accept": accept, "HTTP_ACCEPT": accept}
        key = api_settings.URL_FORMAT_OVERRIDE
        self.query_params = {key: fmt} if key and fmt else {}


@lru_cache(maxsize=512)
def _choice(key: tuple[tuple[type[BaseRenderer], ...], str, str | None]) -> tuple[int, str]:
    """The renderer index and media type DRF picks for this key (errors are not cached)."""
    classes, accept, fmt = key
    if len(accept) > 512:  # odd headers are negotiated every time rather than filling the cache
        raise _NotCacheable
    probe = _Probe(accept, fmt)
    renderers = [cls() for cls in classes]
    try:
        renderer, media_type = DefaultContentNegotiation().select_renderer(probe, renderers, None)  # type: ignore[arg-type]
    except Exception:
        raise _NotCacheable from None
    return renderers.index(renderer), media_type

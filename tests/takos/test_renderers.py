"""The API's orjson renderer and cached negotiation give what DRF's own would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from takos.api.renderers import FastJSONRenderer


@pytest.mark.parametrize("data", [
    {"when": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)},
    {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=9)))},
    {"amount": Decimal("1.50"), "label": gettext_lazy("Spaces"), "n": [1, 2.5, None, True]},
    {"text": "héllo ✓ \u2028", 1: "non-str key"},
    {"big": 2**70},
    [],
])
def test_fast_renderer_matches_drf(data):
    assert json.loads(FastJSONRenderer().render(data)) == json.loads(JSONRenderer().render(data))


def test_utc_datetimes_keep_drf_z_suffix_and_indent_falls_back():
    body = FastJSONRenderer().render({"t": datetime(2026, 1, 2, tzinfo=UTC)})
    assert body == b'{"t":"2026-01-02T00:00:00Z"}'
    indented = FastJSONRenderer().render({"a": 1}, "application/json; indent=2")
    assert indented == b'{\n  "a": 1\n}'


def test_pre_encoded_json_is_embedded_as_is_and_decoded_for_the_indent_fallback():
    data = {"rows": orjson.Fragment(b'[{"id":"a","n":null}]'), "total": 1}
    assert FastJSONRenderer().render(data) == b'{"rows":[{"id":"a","n":null}],"total":1}'
    indented = FastJSONRenderer().render(data, "application/json; indent=2")
    assert json.loads(indented) == {"rows": [{"id": "a", "n": None}], "total": 1} and b"\n  " in indented


@pytest.mark.django_db
def test_space_page_reads_the_same_compact_or_indented(alice_api):
    compact = alice_api.get("/api/spaces?limit=5")
    indented = alice_api.get("/api/spaces?limit=5", HTTP_ACCEPT="application/json; indent=4")
    assert indented.status_code == 200 and b"\n    " in indented.content
    assert json.loads(indented.content) == compact.json() and compact.json()["spaces"][0]["slug"] == "alice"


@pytest.mark.django_db
def test_negotiation_is_cached_but_still_refuses_what_it_cannot_serve(alice_api):
    from takos.api.renderers import _choice

    _choice.cache_clear()
    for _ in range(2):  # the second answer comes from the cache
        ok = alice_api.get("/api/me", HTTP_ACCEPT="text/html, application/json;q=0.9")
        assert ok.status_code == 200 and ok["Content-Type"] == "application/json"
        refused = alice_api.get("/api/me", HTTP_ACCEPT="image/png")
        assert refused.status_code == 406 and refused.json()["error"]["code"]
        assert alice_api.get("/api/me?format=xml").status_code == 404
    assert _choice.cache_info().hits >= 1  # the repeated Accept header was answered from the cache

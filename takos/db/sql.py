"""Names for hand-written SQL on hot paths, taken from the models so a rename cannot drift."""

from __future__ import annotations

from typing import Any

from django.db import connection


def table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model: Any, name: str) -> str:
    """The quoted column of field `name` (`get_field` knows FK names like "thread" too)."""
    return connection.ops.quote_name(model._meta.get_field(name).column)

"""Names for hand-written SQL on hot paths, taken from the models so a rename cannot drift."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX


def table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model: Any, name: str) -> str:
    """The quoted column of field `name` (`get_field` knows FK names like "thread" too)."""
    return connection.ops.quote_name(model._meta.get_field(name).column)


def insert(obj: Any) -> None:
    """Save a new instance as `Model.objects.create` would, with one INSERT written once per model
    instead of compiled on every call (two such creates were half of a run start's transaction).
    For hot paths only, and only for models whose primary key is set in Python (IdModel) and that
    no save signal listens to (none is sent)."""
    model = type(obj)
    fields = model._meta.concrete_fields
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    execute(_insert_sql(model), values)
    obj._state.adding = False
    obj._state.db = connection.alias


@functools.cache
def _insert_sql(model: Any) -> str:
    names = ", ".join(connection.ops.quote_name(field.column) for field in model._meta.concrete_fields)
    marks = ", ".join(["%s"] * len(model._meta.concrete_fields))
    return f"INSERT INTO {table(model)} ({names}) VALUES ({marks})"


def select_one(model: Any, sql: str, params: list[Any]) -> tuple[Any, tuple[Any, ...]] | None:
    """The first row of `sql` as (instance, extra values), or None: the statement selects every
    concrete field of `model` in order (`select_columns`), then any extra values. What
    `Model.objects.raw` gives, without its per-call column mapping (~0.25 ms of a thread lookup
    that every thread endpoint and run start makes)."""
    row = fetch_one(sql, params)
    if row is None:
        return None
    fields = model._meta.concrete_fields
    values = list(row[:len(fields)])
    for index, (converters, col) in enumerate(_converters(model, connection.vendor)):
        for convert in converters:
            values[index] = convert(values[index], col, connection)
    return model.from_db(connection.alias, None, values), tuple(row[len(fields):])


def select_columns(model: Any, alias: str) -> str:
    """Every concrete column of `model` in field order, qualified with the table alias `alias`."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in model._meta.concrete_fields)


@functools.cache
def _converters(model: Any, vendor: str) -> list[tuple[list[Any], Any]]:
    """Per concrete field, the backend's and the field's converters (as the ORM's compiler applies them)."""
    out = []
    for field in model._meta.concrete_fields:
        col = field.get_col(model._meta.db_table)
        out.append((connection.ops.get_db_converters(col) + col.get_db_converters(connection), col))
    return out


def execute(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run `sql` (`%s` placeholders) and return its rows, as `cursor.execute(); cursor.fetchall()`.

    On SQLite, straight on the driver's connection: Django's cursor wrapper rewrote the whole
    statement into `?` placeholders with a regex on every call and added its own layers (~25 us
    of a 70 us page query), all of it holding the GIL, which a web process's request threads
    queue for. It is the same connection, so a surrounding `transaction.atomic()` holds. Logged
    queries (tests' CaptureQueriesContext, DEBUG) and execute wrappers still go through Django's
    cursor, and driver errors still become Django's."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` looks the wrapper up again
    if db.vendor != "sqlite" or db.queries_logged or db.execute_wrappers:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []
    db.ensure_connection()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors:
        return db.connection.execute(_qmark(sql), params).fetchall()


def fetch_one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """The first row of `sql`, or None (`execute`)."""
    rows = execute(sql, params)
    return rows[0] if rows else None


@functools.lru_cache(maxsize=256)
def _qmark(sql: str) -> str:
    """Django's SQLite placeholder rewrite (`SQLiteCursorWrapper.convert_query`), once per statement."""
    return FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%")

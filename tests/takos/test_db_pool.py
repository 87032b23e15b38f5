"""The embedded default's SQLite pool: a clean connection is reused by the next request, on any
thread; one closed inside a transaction is really closed; a long-lived request thread keeps its
connection from one request to the next, unless a request leaves it in a transaction."""

from __future__ import annotations

import threading
from pathlib import Path

from django.db.utils import ConnectionHandler

from takos.db.sqlite3 import base


def wrapper(path: Path):  # type: ignore[no-untyped-def]
    handler = ConnectionHandler({"default": {"ENGINE": "takos.db.sqlite3", "NAME": str(path), "CONN_MAX_AGE": 0}})
    return handler["default"]


def test_a_closed_connection_is_reused_from_another_thread(tmp_path: Path, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    db = wrapper(tmp_path / "a.sqlite3")
    with django_db_blocker.unblock():
        reuse(db, tmp_path)


def reuse(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    try:
        with db.cursor() as cursor:
            cursor.execute("CREATE TABLE t (x integer)")
        first = db.connection
        db.close()
        assert base._pools[str(tmp_path / "a.sqlite3")] == [first]

        seen = []

        def request() -> None:
            other = wrapper(tmp_path / "a.sqlite3")
            with other.cursor() as cursor:
                cursor.execute("INSERT INTO t VALUES (1)")
            seen.append(other.connection)
            other.close()

        thread = threading.Thread(target=request)
        thread.start()
        thread.join()
        assert seen == [first]  # the same open connection served the second "request"
        with db.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM t")
            assert cursor.fetchone() == (1,)
    finally:
        db.close()
        base.close_pool()


def test_a_connection_inside_a_transaction_is_not_pooled(tmp_path: Path, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    with django_db_blocker.unblock():
        not_pooled(wrapper(tmp_path / "b.sqlite3"), tmp_path)


def not_pooled(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    try:
        with db.cursor() as cursor:
            cursor.execute("CREATE TABLE t (x integer)")
        db.set_autocommit(False)
        with db.cursor() as cursor:
            cursor.execute("INSERT INTO t VALUES (1)")
        assert db.connection.in_transaction
        raw = db.connection
        db._close()
        db.connection = None
        assert str(tmp_path / "b.sqlite3") not in base._pools or raw not in base._pools[str(tmp_path / "b.sqlite3")]
        fresh = wrapper(tmp_path / "b.sqlite3")
        with fresh.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM t")
            assert cursor.fetchone() == (0,)  # the uncommitted row went with the closed connection
        fresh.close()
    finally:
        base.close_pool()


def test_a_request_lane_keeps_its_connection_between_requests(tmp_path: Path, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    results: dict[str, object] = {}

    def lane() -> None:
        base.keep_connections_on_this_thread()
        db = wrapper(tmp_path / "c.sqlite3")
        try:
            with db.cursor() as cursor:
                cursor.execute("CREATE TABLE t (x integer)")
            first = db.connection
            db.close_if_unusable_or_obsolete()  # the end of a request
            results["kept"] = db.connection is first
            with db.cursor() as cursor:  # the next request: no connect, the same connection
                cursor.execute("INSERT INTO t VALUES (1)")
            results["same"] = db.connection is first

            with db.cursor() as cursor:  # a request that begins a transaction and never ends it
                cursor.execute("BEGIN")
                cursor.execute("INSERT INTO t VALUES (2)")
            db.close_if_unusable_or_obsolete()
            results["left_open_closed"] = db.connection is None
            results["left_open_pooled"] = first in base._pools.get(str(tmp_path / "c.sqlite3"), [])
            with db.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM t")
                results["rows"] = cursor.fetchone()[0]
            db.close()  # an explicit close still gives the connection back
            results["explicit_close_pooled"] = len(base._pools.get(str(tmp_path / "c.sqlite3"), [])) == 1
        finally:
            db.close()

    def other_thread() -> None:
        db = wrapper(tmp_path / "c.sqlite3")
        try:
            with db.cursor() as cursor:
                cursor.execute("SELECT 1")
            db.close_if_unusable_or_obsolete()
            results["other_closed"] = db.connection is None  # CONN_MAX_AGE=0 elsewhere: given back
        finally:
            db.close()

    with django_db_blocker.unblock():
        try:
            for target in (lane, other_thread):
                thread = threading.Thread(target=target)
                thread.start()
                thread.join()
        finally:
            base.close_pool()
    assert results == {"kept": True, "same": True, "left_open_closed": True, "left_open_pooled": False, "rows": 1,
                       "explicit_close_pooled": True, "other_closed": True}

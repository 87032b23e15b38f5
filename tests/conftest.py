"""Suite-wide fixtures: personas, API clients, and the no-skips rule for CI."""

from __future__ import annotations

import os
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytest_plugins = ["tests.fixtures.processes"]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    """After the test database is destroyed: close the pooled SQLite connections to it (the pool
    keeps them past Django's close) and remove what they left beside the deleted file."""
    from pathlib import Path

    from django.conf import settings

    from takos.db.sqlite3.base import close_pool

    close_pool()
    name = settings.DATABASES["default"].get("TEST", {}).get("NAME") or ""
    if settings.DATABASES["default"]["ENGINE"] == "takos.db.sqlite3" and name and not Path(name).exists():
        for suffix in ("-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, pytestconfig):  # type: ignore[no-untyped-def]
    """pytest-django's, plus on PostgreSQL: before the test database is dropped, end the sessions
    that finished tests left on it (a connection still checked out by a thread that never gave it
    back), which made the DROP fail with "being accessed by other users" at the end of some runs.
    Each one is named in the report with its last statement, so the thread that left it can be found."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    plugins = pytestconfig.pluginmanager
    terminal, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    with django_db_blocker.unblock():
        connection.close_pool()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, state, left(query, 160) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            for pid, state, query in cursor.fetchall():
                if terminal is not None and capture is not None:
                    with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
                        terminal.write_line(f"stray PostgreSQL session {pid} ({state}) at teardown; "
                                            f"last statement: {query}")
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-redef]
    outcome = yield
    report = outcome.get_result()
    # In CI (TAKOS_FAIL_ON_SKIP=1) a skipped test is a failure: every dependency is there.
    if os.environ.get("TAKOS_FAIL_ON_SKIP") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped in CI, which counts as a failure: {reason}"


class Api:
    """A JSON client for one caller (token, session or anonymous)."""

    def __init__(self, client: APIClient):
        self.client = client

    def _call(self, method: str, path: str, data: Any = None, **extra: Any):
        kwargs: dict[str, Any] = {"format": "json"} if data is not None else {}
        return getattr(self.client, method)(path, data, **kwargs, **extra)

    def get(self, path: str, data: Any = None, **extra: Any):
        return self.client.get(path, data, **extra)

    def post(self, path: str, data: Any = None, **extra: Any):
        return self._call("post", path, data if data is not None else {}, **extra)

    def patch(self, path: str, data: Any = None, **extra: Any):
        return self._call("patch", path, data if data is not None else {}, **extra)

    def put(self, path: str, data: Any = None, **extra: Any):
        return self._call("put", path, data if data is not None else {}, **extra)

    def delete(self, path: str, **extra: Any):
        return self.client.delete(path, **extra)


def token_api(user) -> Api:  # type: ignore[no-untyped-def]
    from auth_app.services import pat_create

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pat_create(user=user, name='test').token}")
    return Api(client)


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", email="alice@example.com")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", email="bob@example.com")


@pytest.fixture
def charlie(db):
    return UserFactory(username="charlie", email="charlie@example.com")


@pytest.fixture
def alice_api(alice) -> Api:
    return token_api(alice)


@pytest.fixture
def bob_api(bob) -> Api:
    return token_api(bob)


@pytest.fixture
def charlie_api(charlie) -> Api:
    return token_api(charlie)


@pytest.fixture
def anon_api(db) -> Api:
    return Api(APIClient())


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    # PBKDF2's real cost makes every factory user take ~0.3 s; tests don't need it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clean_cache():  # type: ignore[no-untyped-def]
    # With REDIS_URL the cache (login throttles, locks) outlives a test; start each one clean.
    from django.core.cache import cache

    cache.clear()
    from auth_app.token_cache import _mirrors

    for mirror in _mirrors.values():
        mirror.clear()  # Redis tells it too, but not before the next test's first request
    yield

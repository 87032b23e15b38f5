"""Fixtures for workflows tests: a private data dir / git root / object store per test, Celery
tasks run eagerly in-process (the real worker is used by the e2e tests), helpers to commit files."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):  # type: ignore[no-untyped-def]
    from hosts.drivers import reset_drivers

    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.TAKOS_GIT_ROOT = tmp_path / "gitroot"
    settings.TAKOS_CONTAINER_DRIVER = "local"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "objects")}}}
    settings.TAKOS_STREAM_POLL_SECONDS = 0.05
    reset_drivers()
    yield
    reset_drivers()


@pytest.fixture
def eager(settings):  # type: ignore[no-untyped-def]
    from takos.celery import app

    old = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = old


@pytest.fixture
def owner(transactional_db):  # type: ignore[no-untyped-def]
    return UserFactory(username="wfowner", email="wfowner@example.com")


@pytest.fixture
def repo(owner):  # type: ignore[no-untyped-def]
    from accounts.models import Space
    from repos.services import repo_create

    space = Space.objects.get(owner=owner, kind="personal")
    return repo_create(space=space, actor=owner, name="app")


def commit(repo: Any, actor: Any, files: dict[str, str | None], branch: str = "main", message: str = "change") -> str:
    from repos.services import commit_create

    return commit_create(repo=repo, actor=actor, branch=branch, message=message,
                         files={k: (v.encode() if v is not None else None) for k, v in files.items()})


def job_log(job: Any) -> str:
    from workflows.logs import read_range

    data, _, _ = read_range(job.id, 0, 64 * 1024 * 1024)
    return data.decode()


ROOT = Path(__file__).resolve().parents[2]


def execute_in_thread(job_id: str) -> tuple[threading.Thread, dict[str, Any]]:
    """Run a job as a worker does, on a thread of its own; `result["c"]` is its conclusion. The
    thread gives its database connection back when it ends, as a worker's task does: one that kept
    it held a PostgreSQL session on the test database until the run's end, where it made the DROP
    fail ("being accessed by other users")."""
    from django.db import connections

    from workflows.executor import execute_job

    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["c"] = execute_job(job_id)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result

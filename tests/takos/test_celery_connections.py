"""Celery workers keep their database connection pool: a task gives its connection back to it.

Celery's Django fixup closed the whole pool after every task of a prefork worker, so on
PostgreSQL every task opened a new connection (takos/celery.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from accounts.models import User
from agents.tasks import execute_run
from takos.celery import _give_connections_back, app


@pytest.mark.django_db(transaction=True)
def test_a_task_gives_its_connection_back_and_the_pool_stays() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL (set in CI): the PostgreSQL connection pool")
    fixup = DjangoWorkerFixup(app)
    fixup.worker = SimpleNamespace(pool_cls="celery.concurrency.prefork:TaskPool")  # a prefork child
    User.objects.exists()
    pool = connection.pool
    opened = pool.get_stats()["connections_num"]
    for _ in range(3):  # what a task's start and end do
        fixup.on_task_prerun(sender=execute_run)
        _give_connections_back(sender=execute_run)
        assert connection.connection is None  # given back, as at the end of a request
        User.objects.exists()
        fixup.on_task_postrun(sender=execute_run)
        _give_connections_back(sender=execute_run)
    assert connection.pool is pool
    assert pool.get_stats()["connections_num"] == opened  # no new server connection for any task

"""takos.db.sql: hand-written statements on hot paths read and write what the ORM would."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from accounts.selectors import personal_space
from agents import services
from agents.models import Message, Run
from takos.db.sql import insert


@pytest.mark.django_db
def test_insert_writes_what_create_writes(alice) -> None:
    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    made = Message.objects.create(thread=thread, role="user", content="a", author=alice, sequence=1)
    fast = Message(thread=thread, role="user", content="a", author=alice, sequence=2)
    insert(fast)
    assert not fast._state.adding and fast._state.db == "default"
    stored = Message.objects.get(pk=fast.pk)
    skip = {"id", "sequence", "created_at"}
    assert {f.attname: getattr(stored, f.attname) for f in Message._meta.concrete_fields if f.name not in skip} == {
        f.attname: getattr(made, f.attname) for f in Message._meta.concrete_fields if f.name not in skip}
    assert stored.metadata == {} and stored.tool_calls is None and stored.created_at is not None
    assert stored.created_at == fast.created_at  # auto_now_add set on the instance, as save() does

    run = Run(thread=thread, space_id=thread.space_id, requester=alice, input={"message": "hi", "n": [1, 2]})
    insert(run)
    assert Run.objects.get(pk=run.pk).input == {"message": "hi", "n": [1, 2]}
    run.status = Run.Status.CANCELLED
    run.save()  # an UPDATE now, not a second INSERT
    assert Run.objects.filter(pk=run.pk).values_list("status", flat=True).get() == "cancelled"
    with pytest.raises(IntegrityError), transaction.atomic():
        insert(Message(id=fast.id, thread=thread, role="user"))  # the primary key still holds


@pytest.mark.django_db
def test_select_one_loads_what_the_orm_loads(alice) -> None:
    from agents.models import Thread
    from takos.db.sql import select_columns, select_one, table

    thread = services.thread_create(space=personal_space(alice), actor=alice, title="t")
    Thread.objects.filter(pk=thread.pk).update(context_window=7)
    sql = f"SELECT {select_columns(Thread, 't')}, 41 + 1 FROM {table(Thread)} t WHERE t.id = %s"
    loaded, extra = select_one(Thread, sql, [thread.pk])
    orm = Thread.objects.get(pk=thread.pk)
    for field in Thread._meta.concrete_fields:  # converted values: datetimes, JSON, booleans
        assert getattr(loaded, field.attname) == getattr(orm, field.attname), field.name
        assert type(getattr(loaded, field.attname)) is type(getattr(orm, field.attname)), field.name
    assert extra == (42,)
    assert not loaded._state.adding and loaded._state.db == "default"
    loaded.title = "renamed"
    loaded.save(update_fields=["title"])  # an instance like any other
    assert Thread.objects.get(pk=thread.pk).title == "renamed"
    assert select_one(Thread, sql, ["nosuchthread"]) is None


@pytest.mark.django_db
def test_fetch_one_reads_as_a_django_cursor_does(alice) -> None:
    """The direct driver path (SQLite, nothing logging queries) and Django's cursor give the same row,
    `%%` stays a literal percent, and the driver's errors are still Django's."""
    from django.db import DatabaseError, connection
    from django.test.utils import CaptureQueriesContext

    from takos.db.sql import fetch_one

    sql = "SELECT username, '100%%', %s FROM accounts_user WHERE id = %s"
    direct = fetch_one(sql, ["x", alice.pk])
    with CaptureQueriesContext(connection) as logged:
        through_django = fetch_one(sql, ["x", alice.pk])
    assert direct == through_django == ("alice", "100%", "x")
    assert len(logged.captured_queries) == 1  # logged callers still see the statement
    assert fetch_one(sql, ["x", "nosuchuser0"]) is None
    with pytest.raises(DatabaseError):
        fetch_one("SELECT no_such_column FROM accounts_user", [])

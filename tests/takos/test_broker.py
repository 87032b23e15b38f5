"""The embedded default's broker: filesystem queues with atomic writes."""

from __future__ import annotations

import os

from kombu import Connection

import takos.celery  # noqa: F401  (registers the takosfs:// transport)


def test_messages_round_trip_and_are_never_visible_half_written(tmp_path, monkeypatch):
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path),
               "processed_folder": str(tmp_path / "done"), "control_folder": str(tmp_path / "control")}
    seen_while_writing: list[list[str]] = []
    real_replace = os.replace

    def spy_replace(src, dst):  # type: ignore[no-untyped-def]
        # At the moment of the rename the reader's view holds no file for the queue yet.
        if ".partial-" in str(src):  # only our writes (kombu also renames on read and for its tables)
            seen_while_writing.append([str(dst)] if os.path.exists(dst) else [])
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy_replace)
    with Connection("takosfs://", transport_options=options) as conn:
        queue = conn.SimpleQueue("jobs")
        queue.put({"n": 1})
        queue.put({"n": 2})
        # Same-millisecond messages order by uuid, as upstream: compare as a set.
        assert sorted(queue.get(timeout=2).payload["n"] for _ in range(2)) == [1, 2]
        queue.close()
    # Every message file appeared whole, by rename: none existed under its final name before.
    assert seen_while_writing and all(seen == [] for seen in seen_while_writing)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".partial-")]


def test_the_default_broker_is_the_atomic_filesystem_transport(settings):
    if not os.environ.get("CELERY_BROKER_URL") and not os.environ.get("REDIS_URL"):
        assert settings.CELERY_BROKER_URL == "takosfs://"

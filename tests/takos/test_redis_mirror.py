"""The process mirror of Redis keys (takos.redis_mirror): copies are served without asking Redis, and
a change made by anyone else reaches the copy through Redis's own invalidation messages."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import redis

from takos.redis_mirror import KeyMirror

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (set in CI): Redis tracking")


@pytest.fixture
def mirror_and_peer():  # type: ignore[no-untyped-def]
    url = os.environ["REDIS_URL"]
    prefix = f"mirror-test:{uuid.uuid4().hex[:8]}:"
    mirror = KeyMirror(url, prefix)
    peer = redis.Redis.from_url(url)  # another process's connection
    mirror.get(prefix + "warm-up", lambda: None)  # starts the listener
    wait_for(lambda: mirror.live)
    yield mirror, peer, prefix
    for key in peer.scan_iter(prefix + "*"):
        peer.delete(key)


@pytest.fixture
def quick_mirror():  # type: ignore[no-untyped-def]
    """A live mirror whose listener checks its connection every 50 ms."""
    prefix = f"mirror-test:{uuid.uuid4().hex[:8]}:"
    mirror = KeyMirror(os.environ["REDIS_URL"], prefix)
    mirror.health_seconds = 0.05
    mirror.get(prefix + "warm-up", lambda: None)
    wait_for(lambda: mirror.live)
    return mirror, prefix


def wait_for(condition, timeout: float = 5) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def write(mirror: KeyMirror, peer: redis.Redis, key: str, value: str | None) -> None:
    """Change `key` from the peer and wait until the mirror has heard of it."""
    epoch = mirror._epoch
    if value is None:
        peer.delete(key)
    else:
        peer.set(key, value)
    wait_for(lambda: mirror._epoch != epoch)


def reader(peer: redis.Redis, key: str, reads: list[str]):  # type: ignore[no-untyped-def]
    def read() -> bytes | None:
        reads.append(key)
        return peer.get(key)

    return read


def test_a_copy_is_served_until_another_client_changes_the_key(mirror_and_peer) -> None:
    mirror, peer, prefix = mirror_and_peer
    key, reads = prefix + "gen:u:1", []
    write(mirror, peer, key, "g1")
    assert mirror.get(key, reader(peer, key, reads)) == b"g1"
    assert mirror.get(key, reader(peer, key, reads)) == b"g1"
    assert len(reads) == 1  # the second came from the copy

    write(mirror, peer, key, "g2")  # a write from elsewhere: Redis tells the listener
    assert mirror.get(key, reader(peer, key, reads)) == b"g2"
    assert len(reads) == 2

    write(mirror, peer, key, None)
    assert mirror.get(key, reader(peer, key, reads)) is None


def test_absent_keys_are_not_copied(mirror_and_peer) -> None:
    mirror, peer, prefix = mirror_and_peer
    reads: list[str] = []
    assert mirror.get(prefix + "absent", reader(peer, prefix + "absent", reads)) is None
    assert mirror.get(prefix + "absent", reader(peer, prefix + "absent", reads)) is None
    assert len(reads) == 2  # nothing to copy: asked each time


def test_a_read_that_spans_a_change_is_not_copied(mirror_and_peer) -> None:
    mirror, peer, prefix = mirror_and_peer
    key = prefix + "gen:u:2"
    write(mirror, peer, key, "old")

    def slow_read() -> bytes | None:
        value = peer.get(key)  # the old value...
        write(mirror, peer, key, "new")  # ...changed before the reader could copy it
        return value

    assert mirror.get(key, slow_read) == b"old"  # this caller saw the old one, but it is not kept
    reads: list[str] = []
    assert mirror.get(key, reader(peer, key, reads)) == b"new"
    assert reads == [key]


def test_forget_drops_this_process_own_write_at_once(mirror_and_peer) -> None:
    mirror, peer, prefix = mirror_and_peer
    key = f"untracked:{prefix}gen:u:3"  # outside the prefix: Redis sends no message for it
    peer.set(key, "g1")
    assert mirror.get(key, lambda: peer.get(key)) == b"g1"
    peer.set(key, "g2")
    assert mirror.get(key, lambda: peer.get(key)) == b"g1"  # what a write would look like before its message
    mirror.forget(key)
    assert mirror.get(key, lambda: peer.get(key)) == b"g2"
    peer.delete(key)


def test_a_lost_listener_connection_empties_the_mirror_until_it_is_back(mirror_and_peer) -> None:
    mirror, peer, prefix = mirror_and_peer
    key = prefix + "gen:u:4"
    write(mirror, peer, key, "g1")
    mirror.get(key, lambda: peer.get(key))
    assert key in mirror._values
    client_id = mirror.client_id
    peer.execute_command("CLIENT", "KILL", "ID", client_id)  # changes made now would not be heard
    wait_for(lambda: not mirror.live)
    assert mirror._values == {}
    reads: list[str] = []
    peer.set(key, "g2")
    assert mirror.get(key, reader(peer, key, reads)) == b"g2"  # read from Redis, not copied while down
    wait_for(lambda: mirror.live, timeout=10)
    write(mirror, peer, key, "g3")
    wait_for(lambda: key not in mirror._values)
    assert mirror.get(key, reader(peer, key, reads)) == b"g3"


def test_a_revoked_token_fails_on_the_next_request_with_the_mirror_on(alice) -> None:
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from auth_app import token_cache, tokens
    from auth_app.services import pat_create, pat_revoke

    issued = pat_create(user=alice, name="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    assert client.get("/api/me").status_code == 200
    mirror = token_cache._mirror()
    assert mirror is not None
    wait_for(lambda: mirror.live)
    assert client.get("/api/me").status_code == 200
    gen_key = cache.make_key("tok:g:" + token_cache.owner_key(alice.pk, ""))
    assert gen_key in mirror._values  # the generation now comes from the copy
    pat_revoke(user=alice, token_id=issued.record.pk)
    assert client.get("/api/me").status_code == 401

    # A change from another process (here a bare Redis client) reaches this one through Redis.
    other = pat_create(user=alice, name="y")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {other.token}")
    assert client.get("/api/me").status_code == 200
    assert client.get("/api/me").status_code == 200
    redis.Redis.from_url(os.environ["REDIS_URL"]).set(gen_key, "changed-elsewhere")
    wait_for(lambda: gen_key not in mirror._values)
    assert token_cache.get(f"pat:{tokens.digest(other.token)}") is None  # its entry is stale now
    assert client.get("/api/me").status_code == 200  # read again from the database


def test_a_quiet_listener_stays_subscribed_and_answers_its_pings(quick_mirror) -> None:
    mirror, prefix = quick_mirror
    client_id = mirror.client_id
    peer = redis.Redis.from_url(os.environ["REDIS_URL"])
    key = prefix + "gen:u:5"
    write(mirror, peer, key, "g1")
    mirror.get(key, lambda: peer.get(key))
    time.sleep(0.5)  # ten health intervals without a change
    assert mirror.live and mirror.client_id == client_id and key in mirror._values
    write(mirror, peer, key, "g2")
    assert mirror.get(key, lambda: peer.get(key)) == b"g2"
    peer.delete(key)


def test_a_listener_whose_ping_goes_unanswered_drops_its_copies(quick_mirror) -> None:
    """A connection that stops answering (here Redis paused; in life a partition) may have missed
    changes: the mirror empties and reads go to Redis until a new subscription is in place."""
    mirror, prefix = quick_mirror
    peer = redis.Redis.from_url(os.environ["REDIS_URL"])
    key = prefix + "gen:u:6"
    write(mirror, peer, key, "g1")
    mirror.get(key, lambda: peer.get(key))
    peer.execute_command("CLIENT", "PAUSE", "400", "ALL")  # nothing is answered for 0.4 s
    wait_for(lambda: not mirror.live, timeout=2)
    assert mirror._values == {}
    wait_for(lambda: mirror.live, timeout=10)
    peer.delete(key)

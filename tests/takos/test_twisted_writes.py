"""Daphne's write-through for streamed chunks (takos/twisted_writes.py), on a real socket pair."""

from __future__ import annotations

import socket

import pytest
from twisted.internet import protocol, tcp
from twisted.internet.selectreactor import SelectReactor
from twisted.web.http import toChunk

from takos import twisted_writes


@pytest.fixture
def conn():
    twisted_writes.install()
    reactor = SelectReactor()  # an instance of its own: installing the global one would clash with daphne's
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.settimeout(2)
    connection = tcp.Connection(ours, protocol.Protocol(), reactor)
    connection.connected = 1
    yield connection, theirs
    reactor.removeWriter(connection)
    ours.close()
    theirs.close()


def test_a_chunk_on_an_idle_connection_is_sent_at_once(conn):
    connection, peer = conn
    connection.writeSequence(toChunk(b"data: 1\n\n"))
    assert peer.recv(100) == b"9\r\ndata: 1\n\n\r\n"  # no reactor turn was needed
    assert not connection.dataBuffer and not connection._tempDataBuffer


def test_anything_queued_keeps_its_place_in_line(conn):
    connection, peer = conn
    connection.write(b"HTTP/1.1 200 OK\r\n\r\n")  # headers: Twisted's queue, sent on the next turn
    connection.writeSequence(toChunk(b"a"))
    assert connection._tempDataBuffer == [b"HTTP/1.1 200 OK\r\n\r\n", b"1", b"\r\n", b"a", b"\r\n"]
    connection.doWrite()
    assert peer.recv(100) == b"HTTP/1.1 200 OK\r\n\r\n1\r\na\r\n"


def test_what_the_socket_does_not_take_is_queued_in_order(conn):
    connection, peer = conn
    big = b"x" * (8 * 1024 * 1024)  # more than any socket buffer takes at once
    connection.writeSequence(toChunk(big))
    queued = len(connection._tempDataBuffer[0]) if connection._tempDataBuffer else 0
    assert queued > 0
    connection.writeSequence(toChunk(b"after"))  # behind the queue, not past it
    received = bytearray()
    expected = b"%x\r\n" % len(big) + big + b"\r\n5\r\nafter\r\n"
    while len(received) < len(expected):
        connection.doWrite()
        received += peer.recv(1024 * 1024)
    assert bytes(received) == expected


def test_headers_and_non_chunks_go_through_twisted(conn):
    connection, peer = conn
    connection.writeSequence([b"HTTP/1.1 200 OK\r\n", b"Content-Length: 2\r\n", b"\r\n"])
    connection.write(b"ok")
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(100)  # nothing left yet: both wait for the reactor's turn, to leave in one send
    connection.doWrite()
    peer.settimeout(2)
    assert peer.recv(100) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

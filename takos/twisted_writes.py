"""Daphne: send a streamed response's chunk at once when nothing is queued on its connection.

Twisted queues every write and sends it on the next turn of the reactor: on the asyncio reactor
that daphne runs, each write registers the socket with the selector, waits a loop iteration,
sends, and unregisters it (two `epoll_ctl` calls and a callback per write). A run stream fanned
out to 500 clients is 500 such writes per event, ~40 us each of the web process's one core.
Here a chunk of a chunked (streamed) body whose connection has nothing queued is sent straight
away, as asyncio's own transports do; only what the socket does not take (and everything behind
it) goes through Twisted's queue, so order, back-pressure (the producer is paused on Twisted's
own buffer) and errors (a failed send is left to Twisted, which meets it in `doWrite` and closes
the connection) stay Twisted's. Headers and whole (Content-Length) bodies are not touched: they
are written together on the next turn, in one send.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.internet import tcp

_installed = False


def _send_now(conn: tcp.Connection, data: bytes) -> bytes | None:
    """Send what the socket takes now; return the rest, or None to leave all of it to Twisted."""
    if (conn.dataBuffer or conn._tempDataBuffer or not conn.connected or conn.disconnecting
            or conn._writeDisconnected or getattr(conn, "TLS", False)):
        return None
    try:
        sent = conn.socket.send(data)
    except BlockingIOError:
        return data
    except OSError:
        return None
    return data[sent:]


def _is_chunk(parts: list[bytes]) -> bool:
    """`twisted.web.http.toChunk`'s shape: (hex length, CRLF, data, CRLF)."""
    return (len(parts) == 4 and parts[1] == b"\r\n" and parts[3] == b"\r\n"
            and all(type(part) is bytes for part in parts))


def install() -> None:
    """Patch `twisted.internet.tcp.Connection.writeSequence` once per process (daphne's server only)."""
    global _installed
    if _installed:
        return
    _installed = True
    write, write_sequence = tcp.Connection.write, tcp.Connection.writeSequence

    def write_sequence_through(self: tcp.Connection, iovec: Iterable[bytes]) -> None:
        parts = list(iovec)
        rest = _send_now(self, b"".join(parts)) if _is_chunk(parts) else None
        if rest is None:
            write_sequence(self, parts)
        elif rest:
            write(self, rest)

    tcp.Connection.writeSequence = write_sequence_through  # type: ignore[method-assign]

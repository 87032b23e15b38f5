"""Reading a whole ASGI request body with a size limit (apps served in front of Django)."""

from __future__ import annotations

from typing import Any


class BodyTooLarge(Exception):
    """The body went past the limit; the rest of it was not read."""


async def read_body(receive: Any, limit: int) -> bytes | None:
    """The whole body, or None when the client went away; BodyTooLarge past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)

"""Server-sent events: one frame parser for the CLI and the tests' SSE clients."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def parse_sse(lines: Iterable[str], *, comments: list[str] | None = None
              ) -> Iterator[tuple[int | None, str, Any]]:
    """Yield (id, event, JSON data) per frame; `:` comment lines (heartbeats) go to `comments`."""
    event_id: int | None = None
    event, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield event_id, event, json.loads("\n".join(data))
            event_id, event, data = None, "message", []
        elif line.startswith(":"):
            if comments is not None:
                comments.append(line)
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                event_id = int(value)
            elif name == "event":
                event = value
            elif name == "data":
                data.append(value)

"""The shared SSE frame parser (CLI and test clients)."""

from takos.cli.sse import parse_sse


def test_frames_ids_events_multiline_data_and_comments():
    lines = [": hello", "id: 1", "event: run.started", 'data: {"a": 1}', "", ": heartbeat",
             "id: 2", 'data: {"b":', "data: 2}", "", "event: ignored-without-data", ""]
    comments: list[str] = []
    assert list(parse_sse(lines, comments=comments)) == [(1, "run.started", {"a": 1}), (2, "message", {"b": 2})]
    assert comments == [": hello", ": heartbeat"]

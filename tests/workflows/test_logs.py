"""Masking and log storage: secrets never reach a stored byte, ::add-mask::, ranges across chunks."""

from __future__ import annotations

import pytest

from workflows.logs import LogSink, Masker, finalize_log, read_range


def test_masker_hides_values_lines_of_multiline_secrets_and_overlaps():
    masker = Masker(["hunter22", "line-one\nline-two", "x"])
    assert masker.mask("pw=hunter22; again hunter22") == "pw=***; again ***"
    assert masker.mask("got line-two only") == "got *** only"
    assert masker.mask("x stays: single characters are not masked") == "x stays: single characters are not masked"
    nested = Masker(["abc", "abcdef"])
    assert nested.mask("abcdef") == "***"


@pytest.fixture
def job(repo, owner):  # type: ignore[no-untyped-def]
    from workflows import services
    from workflows.models import WorkflowJob

    definition = {"name": "x", "on": {"push": {}}, "env": {}, "defaults": {}, "concurrency": None,
                  "jobs": {"a": {"key": "a", "name": None, "runs_on": "default", "needs": [], "if": None, "env": {},
                                 "timeout_minutes": None, "strategy": None, "outputs": {}, "concurrency": None,
                                 "continue_on_error": False, "defaults": {}, "steps": []}}}
    from takos.celery import app

    app.conf.task_always_eager = False
    try:
        run = services.create_run(repo=repo, workflow_path=".takos/workflows/x.yml", definition=definition,
                                  event="push", ref="refs/heads/main", sha="")
    finally:
        app.conf.task_always_eager = True
    return WorkflowJob.objects.get(run=run)


def test_sink_masks_add_mask_splits_partial_lines_and_reads_ranges(job):
    sink = LogSink(job.id, Masker(["topsecret"]))
    sink.write(b"hello topsec")
    sink.write(b"ret world\n::add-mask::later-value\nnow later-value is hidden\npartial")
    sink.flush()
    sink.write(b" line continues\n" + b"y" * 200_000 + b"\n")
    sink.flush(force=True)
    data, size, complete = read_range(job.id, 0, 10_000_000)
    text = data.decode()
    assert "topsecret" not in text and "later-value" not in text
    assert text.startswith("hello *** world\n::add-mask::***\nnow *** is hidden\npartial line continues\n")
    assert size == len(data) and not complete
    middle, _, _ = read_range(job.id, 70_000, 50)
    assert middle == data[70_000:70_050]
    _key, stored = finalize_log(job.id)
    assert stored == len(data)
    again, size2, _ = read_range(job.id, 10, 25)
    assert again == data[10:35] and size2 == len(data)


def test_secret_split_between_reads_is_masked_even_inside_an_over_long_line(job):
    """The executor reads the step's output in arbitrary pieces: a secret cut in two by a read
    boundary must still be masked, also in a line longer than MAX_PARTIAL_LINE (which is
    emitted before its newline arrives) and with the cut anywhere inside the secret."""
    from workflows.logs import MAX_PARTIAL_LINE

    secret = b"s3cr3t-" + b"v" * 40
    stream = (b"short line with " + secret + b" inside\n"
              + b"a" * (MAX_PARTIAL_LINE - 10) + secret + b"b" * (MAX_PARTIAL_LINE + 5) + secret + b"\n"
              + b"tail " + secret)
    cuts = [stream.index(secret) + 3, MAX_PARTIAL_LINE + 20, MAX_PARTIAL_LINE + 40,
            stream.rindex(secret) - 1, stream.rindex(secret) + 20, len(stream) - 5]
    sink = LogSink(job.id, Masker([secret.decode()]))
    start = 0
    for cut in [*cuts, len(stream)]:
        sink.write(stream[start:cut])
        start = cut
        sink.flush()
    sink.flush(force=True)
    data, size, _ = read_range(job.id, 0, 10_000_000)
    assert b"s3cr3t" not in data and b"v" * 10 not in data
    assert data.count(b"***") == 4 and size == len(data)
    assert data == (b"short line with *** inside\n" + b"a" * (MAX_PARTIAL_LINE - 10) + b"***"
                    + b"b" * (MAX_PARTIAL_LINE + 5) + b"***\ntail ***\n")


def test_live_reads_follow_chunks_then_storage_and_stop_at_the_end(job):
    from workflows.logs import read_live
    from workflows.models import WorkflowJob

    sink = LogSink(job.id, Masker([]))
    sink.write(b"one\n")
    sink.flush()
    sink.write(b"two\n")
    sink.flush()
    assert read_live(job.id, 0, 100) == (b"one\ntwo\n", False)
    assert read_live(job.id, 2, 3) == (b"e\nt", False)
    assert read_live(job.id, 8, 100) == (b"", False)  # running: more may come
    finalize_log(job.id)
    WorkflowJob.objects.filter(pk=job.id).update(status=WorkflowJob.Status.COMPLETED)
    assert read_live(job.id, 4, 100) == (b"two\n", True)
    assert read_live(job.id, 8, 100) == (b"", True)


def test_frames_escape_plain_and_other_text_and_keep_characters_whole():
    import json

    from workflows.logs import utf8_complete
    from workflows.streams import LogFrame, json_text

    for raw in [b'plain "quoted" \\ back\tslash\n', "caf\u00e9 \x1b[31mred\x1b[0m \u2028 \U0001f600\n".encode(), b""]:
        assert json.loads(json_text(raw)) == raw.decode()
    frame = LogFrame(10, b"a\nb").sse().decode()
    assert frame.startswith("id: 13\nevent: log\ndata: ") and frame.endswith("\n\n")
    assert json.loads(frame.split("data: ", 1)[1]) == {"offset": 10, "next_offset": 13, "text": "a\nb"}
    euro = "\u20ac".encode()
    assert utf8_complete(b"ab" + euro[:2]) == 2 and utf8_complete(b"ab" + euro) == 5


pytestmark = pytest.mark.usefixtures("eager")

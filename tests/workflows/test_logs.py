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


pytestmark = pytest.mark.usefixtures("eager")

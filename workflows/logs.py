"""Job logs: masked on the way in, kept as DB chunks while the job runs, folded into object
storage (`workflow-logs/<jobId>.txt`) when it ends, and read back by byte range.

Masking happens per line before anything is stored, so no reader (range API, SSE, WebSocket,
the stored file) ever sees a secret. Values registered with `::add-mask::<value>` in a step's
output are masked from then on too.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from workflows.models import WorkflowJob, WorkflowLogChunk

MASK = "***"
ADD_MASK = b"::add-mask::"
CHUNK_BYTES = 64 * 1024
FLUSH_SECONDS = 0.1
MAX_PARTIAL_LINE = 16 * 1024


def log_key(job_id: str) -> str:
    return f"workflow-logs/{job_id}.txt"


class Masker:
    """Replaces every known secret value (and each line of multi-line ones) with ***, on bytes."""

    def __init__(self, secrets: list[str] | None = None):
        self.values: list[bytes] = []
        for value in secrets or []:
            self.add(value)

    def add(self, value: str) -> None:
        for part in [value, *value.splitlines()]:
            raw = part.strip("\r").encode()
            # One-character "secrets" would mask half the log; GitHub also skips trivial values.
            if len(raw) >= 2 and raw not in self.values:
                self.values.append(raw)
        self.values.sort(key=len, reverse=True)  # longest first: a secret containing another stays hidden

    def mask_bytes(self, data: bytes) -> bytes:
        for value in self.values:
            if value in data:
                data = data.replace(value, MASK.encode())
        return data

    def mask(self, text: str) -> str:
        return self.mask_bytes(text.encode()).decode("utf-8", errors="replace")


class LogSink:
    """Appends masked output to a job's log. Not thread-safe: one writer per job.

    Output is processed in blocks of complete lines (a step printing megabytes costs a few
    bytes.replace calls, not per-line Python work); lines with `::add-mask::` are handled one
    by one so the new mask applies from the next line on.
    """

    def __init__(self, job_id: str, masker: Masker, *, start: int = 0):
        self.job_id = job_id
        self.masker = masker
        self.size = start
        self.partial = b""
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.last_flush = time.monotonic()
        self.limit = settings.TAKOS_WORKFLOW_MAX_LOG_BYTES
        self.truncated = False

    def _append(self, data: bytes) -> None:
        if self.size + self.pending_bytes + len(data) > self.limit:
            if not self.truncated:
                self.truncated = True
                note = b"\n##[warning]log truncated: the job wrote more than TAKOS_WORKFLOW_MAX_LOG_BYTES\n"
                self.pending.append(note)
                self.pending_bytes += len(note)
            return
        self.pending.append(data)
        self.pending_bytes += len(data)

    def _emit_block(self, block: bytes) -> None:
        if ADD_MASK not in block:
            self._append(self.masker.mask_bytes(block))
            return
        run: list[bytes] = []
        for line in block.splitlines(keepends=True):
            if line.startswith(ADD_MASK):
                if run:
                    self._append(self.masker.mask_bytes(b"".join(run)))
                    run = []
                value = line[len(ADD_MASK):].rstrip(b"\r\n").decode("utf-8", errors="replace")
                if value:
                    self.masker.add(value)
                self._append(ADD_MASK + MASK.encode() + (b"\n" if line.endswith(b"\n") else b""))
            else:
                run.append(line)
        if run:
            self._append(self.masker.mask_bytes(b"".join(run)))

    def write(self, data: bytes) -> None:
        if not data:
            return
        buf = self.partial + data
        cut = buf.rfind(b"\n") + 1
        if cut:
            self._emit_block(buf[:cut])
        self.partial = buf[cut:]
        if len(self.partial) > MAX_PARTIAL_LINE:
            self._emit_block(self.partial)
            self.partial = b""
        if self.pending_bytes >= CHUNK_BYTES or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def line(self, text: str) -> None:
        self.write((text if text.endswith("\n") else text + "\n").encode())

    def end_partial(self) -> None:
        """A step ended: its last unterminated line is complete."""
        if self.partial:
            self._emit_block(self.partial + b"\n")
            self.partial = b""

    def flush(self, *, force: bool = False) -> None:
        if force:
            self.end_partial()
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        data = b"".join(self.pending)
        self.pending, self.pending_bytes = [], 0
        WorkflowLogChunk.objects.create(job_id=self.job_id, offset=self.size, end=self.size + len(data), data=data)
        self.size += len(data)

    def maybe_flush(self) -> None:
        if self.pending and time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()


def finalize_log(job_id: str) -> tuple[str, int]:
    """Fold the chunks into one object; returns (key, size). Idempotent."""
    chunks = list(WorkflowLogChunk.objects.filter(job_id=job_id).order_by("offset").values_list("data", flat=True))
    data = b"".join(bytes(c) for c in chunks)
    key = log_key(job_id)
    if default_storage.exists(key):
        default_storage.delete(key)
    saved = default_storage.save(key, ContentFile(data))
    with transaction.atomic():
        WorkflowJob.objects.filter(pk=job_id).update(logs_r2_key=saved, log_size=len(data))
        WorkflowLogChunk.objects.filter(job_id=job_id).delete()
    return saved, len(data)


def delete_log(job: WorkflowJob) -> None:
    WorkflowLogChunk.objects.filter(job=job).delete()
    if job.logs_r2_key and default_storage.exists(job.logs_r2_key):
        default_storage.delete(job.logs_r2_key)


def read_range(job_id: str, offset: int, limit: int) -> tuple[bytes, int, bool]:
    """(bytes from `offset`, total size known now, complete?) for a job's log."""
    job = WorkflowJob.objects.filter(pk=job_id).values("logs_r2_key", "log_size", "status").first()
    if job is None:
        return b"", 0, True
    if job["logs_r2_key"]:
        try:
            with default_storage.open(job["logs_r2_key"], "rb") as fh:
                fh.seek(offset)
                data = fh.read(limit)
        except FileNotFoundError:
            data = b""
        return data, job["log_size"], job["status"] == WorkflowJob.Status.COMPLETED
    rows = list(
        WorkflowLogChunk.objects.filter(job_id=job_id, end__gt=offset, offset__lt=offset + limit)
        .order_by("offset").values_list("offset", "data")
    )
    out = bytearray()
    for start, data in rows:
        out += bytes(data)[max(0, offset - start):]
    if not rows:
        # The job may have just been folded into storage between the two reads.
        again = WorkflowJob.objects.filter(pk=job_id).values("logs_r2_key").first()
        if again and again["logs_r2_key"]:
            return read_range(job_id, offset, limit)
    size = WorkflowLogChunk.objects.filter(job_id=job_id).aggregate(n=Max("end"))["n"] or 0
    return bytes(out[:limit]), size, False


def log_state(job: Any) -> dict[str, Any]:
    return {"size": job.log_size, "stored": bool(job.logs_r2_key)}

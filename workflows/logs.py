"""Job logs: masked on the way in, kept as DB chunks while the job runs, folded into object
storage (`workflow-logs/<jobId>.txt`) when it ends, and read back by byte range.

Masking happens on blocks of complete lines before anything is stored, so no reader (range
API, SSE, WebSocket, the stored file) ever sees a secret. A line is held back until its newline
arrives, so a secret split between two reads is still masked; a very long line is cut early,
but only after masking, and its last `longest secret - 1` bytes wait for the next read. Values
registered with `::add-mask::<value>` in a step's output are masked from then on too.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import IO, Any

from django.conf import settings
from django.core.files.base import File
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

    @property
    def longest(self) -> int:
        return len(self.values[0]) if self.values else 0

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
        # A local copy of everything flushed: `finalize_log` stores it as the log object instead
        # of reading every chunk back from the database (and holding the whole log in memory).
        self.spool: IO[bytes] | None = tempfile.TemporaryFile() if start == 0 else None  # noqa: SIM115 (closed by close())
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
        buf = self.partial + data if self.partial else data
        cut = buf.rfind(b"\n") + 1
        if cut:
            self._emit_block(buf[:cut])
        self.partial = buf[cut:]
        if len(self.partial) > MAX_PARTIAL_LINE:
            self._emit_long_partial()
        if self.pending_bytes >= CHUNK_BYTES or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def _emit_long_partial(self) -> None:
        """Emit most of an over-long unterminated line. Masked first, then cut so that the kept
        tail (longest secret - 1 bytes) holds any secret whose end has not arrived yet."""
        if self.partial.startswith(ADD_MASK) and len(self.partial) <= 65 * 1024:
            return  # an ::add-mask:: value (at most 64 KB, like secrets) is taken whole, at its newline
        masked = self.masker.mask_bytes(self.partial)
        keep = max(0, self.masker.longest - 1)
        if len(masked) <= keep:
            self.partial = masked
            return
        cut = len(masked) - keep
        self._append(masked[:cut])
        self.partial = masked[cut:]

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
        data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
        self.pending, self.pending_bytes = [], 0
        WorkflowLogChunk.objects.create(job_id=self.job_id, offset=self.size, end=self.size + len(data), data=data)
        self.size += len(data)
        if self.spool is not None:
            self.spool.write(data)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    def maybe_flush(self) -> None:
        if self.pending and time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()


def finalize_log(job_id: str, spool: IO[bytes] | None = None) -> tuple[str, int]:
    """Fold the chunks into one object; returns (key, size). Idempotent.

    `spool` is the writer's local copy (LogSink.spool): used when it holds exactly the stored
    chunks, which spares reading the whole log back from the database."""
    size = WorkflowLogChunk.objects.filter(job_id=job_id).aggregate(n=Max("end"))["n"] or 0
    if not size:
        done = WorkflowJob.objects.filter(pk=job_id).values("logs_r2_key", "log_size").first()
        if done and done["logs_r2_key"]:
            return done["logs_r2_key"], done["log_size"]  # already folded
    if spool is not None and spool.seek(0, os.SEEK_END) == size:
        spool.seek(0)
        return _store(job_id, spool, size)
    with tempfile.TemporaryFile() as tmp:
        ids = list(WorkflowLogChunk.objects.filter(job_id=job_id).order_by("offset").values_list("pk", flat=True))
        for pk in ids:  # one chunk in memory at a time
            tmp.write(bytes(WorkflowLogChunk.objects.values_list("data", flat=True).get(pk=pk)))
        size = tmp.tell()
        tmp.seek(0)
        return _store(job_id, tmp, size)


def _store(job_id: str, fh: IO[bytes], size: int) -> tuple[str, int]:
    key = log_key(job_id)
    if default_storage.exists(key):
        default_storage.delete(key)
    saved = default_storage.save(key, File(fh))
    with transaction.atomic():
        WorkflowJob.objects.filter(pk=job_id).update(logs_r2_key=saved, log_size=size)
        WorkflowLogChunk.objects.filter(job_id=job_id).delete()
    return saved, size


def delete_log(job: WorkflowJob) -> None:
    WorkflowLogChunk.objects.filter(job=job).delete()
    if not job.logs_r2_key or WorkflowJob.objects.filter(logs_r2_key=job.logs_r2_key).exclude(pk=job.pk).exists():
        return  # no object, or a job carried over into a later attempt still shows it
    if default_storage.exists(job.logs_r2_key):
        default_storage.delete(job.logs_r2_key)


def read_range(job_id: str, offset: int, limit: int) -> tuple[bytes, int, bool]:
    """(bytes from `offset`, total size known now, complete?) for a job's log."""
    job = WorkflowJob.objects.filter(pk=job_id).values("logs_r2_key", "log_size", "status", "reused_from_id").first()
    if job is None:
        return b"", 0, True
    if job["reused_from_id"] and not job["logs_r2_key"]:
        return read_range(job["reused_from_id"], offset, limit)  # carried over before its log was stored
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


def read_live(job_id: str, offset: int, limit: int) -> tuple[bytes, bool]:
    """(bytes from `offset`, done?) for a live reader: one query while the job writes chunks.

    `done` means the job completed and everything up to the end was returned. The chunk query
    comes first: `finalize_log` moves chunks to storage and sets the key in one transaction, so
    an empty answer followed by the job row never loses bytes.
    """
    rows = list(WorkflowLogChunk.objects.filter(job_id=job_id, end__gt=offset, offset__lt=offset + limit)
                .order_by("offset").values_list("offset", "data"))
    if rows:
        parts = [memoryview(data)[max(0, offset - start):] for start, data in rows]
        out = b"".join(parts)
        return (out[:limit] if len(out) > limit else out), False
    job = WorkflowJob.objects.filter(pk=job_id).values("logs_r2_key", "log_size", "status", "reused_from_id").first()
    if job is None:
        return b"", True
    if job["reused_from_id"] and not job["logs_r2_key"]:
        return read_live(job["reused_from_id"], offset, limit)
    complete = job["status"] == WorkflowJob.Status.COMPLETED
    if not job["logs_r2_key"]:
        # Completed without a stored object: folding the log failed, the chunks were all read.
        return b"", complete
    try:
        with default_storage.open(job["logs_r2_key"], "rb") as fh:
            fh.seek(offset)
            data = fh.read(limit)
    except FileNotFoundError:
        data = b""
    return data, complete and offset + len(data) >= job["log_size"]


def utf8_complete(data: bytes) -> int:
    """Length of the longest prefix of `data` that does not end inside a UTF-8 sequence."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        byte = data[n - back]
        if byte < 0x80:
            return n  # ASCII: complete
        if byte >= 0xC0:  # a lead byte: complete if its sequence fits
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return n if back >= need else n - back
    return n  # four continuation bytes: not UTF-8 anyway, pass it on


def log_state(job: Any) -> dict[str, Any]:
    return {"size": job.log_size, "stored": bool(job.logs_r2_key)}

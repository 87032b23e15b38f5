"""Per-deployment request counters, kept in memory and flushed to DeploymentMetric about once a second."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger("takos.dispatch")
BUCKET_SECONDS = 5
FLUSH_SECONDS = 1.0


def bucket_of(ts: float) -> datetime:
    return datetime.fromtimestamp(ts - ts % BUCKET_SECONDS, tz=UTC)


class Metrics:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, datetime], list[float]] = {}
        self.lock = threading.Lock()
        self._task: asyncio.Task | None = None

    def record(self, deployment_id: str, *, error: bool, latency_ms: float, now: float) -> None:
        key = (deployment_id, bucket_of(now))
        with self.lock:
            row = self.rows.get(key)
            if row is None:
                row = self.rows[key] = [0, 0, 0.0, 0.0]
            row[0] += 1
            row[1] += 1 if error else 0
            row[2] += latency_ms
            row[3] = max(row[3], latency_ms)
        self._ensure_flusher()

    def take(self) -> dict[tuple[str, datetime], list[float]]:
        with self.lock:
            rows, self.rows = self.rows, {}
        return rows

    def flush(self) -> int:
        """Write pending counters (sync; safe to call from any thread)."""
        from dispatch.services import record_metrics

        rows = self.take()
        if rows:
            try:
                record_metrics(rows)
            except Exception:
                logger.exception("flushing dispatch metrics failed; %d rows dropped", len(rows))
        return len(rows)

    def _ensure_flusher(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        # One flusher per process, on the loop that serves (a task of a loop that stopped never finishes).
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            return
        self._task = loop.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        from channels.db import database_sync_to_async

        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            if not self.rows:
                continue
            await database_sync_to_async(self.flush)()


metrics = Metrics()


def snapshot() -> dict[str, Any]:
    with metrics.lock:
        return {f"{k[0]}@{k[1].isoformat()}": list(v) for k, v in metrics.rows.items()}

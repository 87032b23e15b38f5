"""A Celery worker killed with SIGKILL mid-run: the lease expires, the recovery cron (beat)
requeues the run once, a new worker finishes it, and its tool side effect happened once.

This test starts web, worker and beat as separate processes (not `manage.py up`, which stops
everything when one process dies) so the worker can be killed and replaced.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.agents.e2e_helpers import TERMINAL, sse, start_run, user_api, wait_status
from tests.fixtures.processes import ROOT, free_port

pytestmark = pytest.mark.e2e


class Platform:
    def __init__(self, tmp: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp
        # Always the embedded default (SQLite + filesystem broker), also in CI: this test owns every
        # process it kills, so it must not share PostgreSQL/Redis state with the rest of the suite.
        dropped = ("DJANGO_SETTINGS_MODULE", "TAKOS_TEST_DB_NAME", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
        self.env = {k: v for k, v in os.environ.items() if k not in dropped}
        self.env.update({
            "TAKOS_DATA_DIR": str(tmp / "data"), "PORT": str(self.port), "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING", "TAKOS_RUN_LEASE_SECONDS": "3", "TAKOS_RUN_HEARTBEAT_SECONDS": "0.5",
            "TAKOS_RUN_RECOVERY_INTERVAL": "1",
        })
        self.procs: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("ab")
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str = "worker") -> subprocess.Popen:
        return self.spawn(name, ["-m", "celery", "-A", "takos", "worker", "-Q", "run,index,workflow,deployment,egress",
                                 "-c", "1", "--without-gossip", "--without-mingle", "--without-heartbeat",
                                 "-n", f"{name}@%h", "--loglevel", "WARNING"])

    def start(self) -> None:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=self.env, check=True,
                       timeout=300)
        self.spawn("web", ["-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "takos.asgi:application"])
        self.start_worker()
        self.spawn("beat", ["-m", "celery", "-A", "takos", "beat", "--loglevel", "WARNING",
                            "-s", str(self.tmp / "beat-schedule")])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("web did not start")

    def kill(self, name: str) -> None:
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp.glob("*.log"))


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    running = Platform(tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_a_killed_workers_run_is_recovered_and_its_side_effect_happens_once(platform):
    api = user_api(platform.url, "recoverer")
    thread_id = api.post("/api/spaces/me/threads", json={"title": "recovery"}).json()["thread"]["id"]
    run = start_run(api, thread_id, "remember: recovery happens once\n/slow 8")
    seen: list = []

    def follow() -> None:
        for item in sse(api, f"/api/runs/{run['id']}/sse", timeout=60):
            seen.append(item)
            if item.event in TERMINAL:
                return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    # Wait until the tool ran and the slow second turn is streaming, then kill the worker.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        second_turn = [e for e in seen if e.event == "message" and e.data.get("turn") == 1]
        if len(second_turn) >= 3:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"run never reached its second turn: {[e.event for e in seen]}\n{platform.logs()}")
    platform.kill("worker")
    killed_at = time.monotonic()
    platform.start_worker("worker2")
    final = wait_status(api, run["id"], {"completed", "failed"}, timeout=60)
    reader.join(timeout=20)
    assert final["status"] == "completed", f"{final}\n{platform.logs()}"
    assert final["recovery_count"] == 1, f"{final}\n{platform.logs()}"
    assert time.monotonic() - killed_at < 40
    events = api.get(f"/api/runs/{run['id']}/events").json()["events"]
    starts = [e["data"]["attempt"] for e in events if e["type"] == "started"]
    assert starts == [1, 2]
    assert any(e["type"] == "run_status" and "lease expired" in e["data"].get("reason", "") for e in events)
    # The side effect (memory_write) happened once; the replayed tool call was answered from the log.
    memories = api.get("/api/spaces/me/memories").json()["memories"]
    assert [m["content"] for m in memories] == ["recovery happens once"]
    messages = api.get(f"/api/threads/{thread_id}/messages").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    # The live SSE reader saw every event once, in order, through the crash.
    ids = [e.id for e in seen]
    assert ids == list(range(1, len(ids) + 1)) and seen[-1].event == "completed"

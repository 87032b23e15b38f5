#!/usr/bin/env python
"""Workflows benchmark on the real platform (`manage.py up`: daphne + Celery worker + beat).

Measured in the same run:
- push → first step running: `git push` of a workflow whose first step prints time.time();
  reference = a no-op Celery task (enqueue → picked up) + a bare container start
  (local driver: a plain `python3 -c pass` process; Docker: `docker run --rm <runtime> true`).
  Target ratio ≤ 1.5.
- a no-op job's total duration (job started → completed) against the bare container start.
- log streaming: a step printing 50 MB of 100-byte lines (`yes ... | head -c`, so the printer
  is never the bottleneck), read by one live SSE client from its first to its last byte
  (target ≥ 20 MB/s); reference = the same command writing to a file on this machine.

Usage: .venv/bin/python scripts/bench_workflows.py [--driver local|docker] [--rounds 3] [--mb 50] [--logs-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.processes import start_takos, stop_takos  # noqa: E402
from tests.workflows.e2e_helpers import push, signup, sse, wait_for  # noqa: E402

STEP = "echo \"T0 $(date +%s.%N)\""  # the first step's first moment, without a second interpreter start


def workflow(name: str, run: str) -> str:
    return f"name: {name}\non: push\njobs:\n  a:\n    runs-on: default\n    steps:\n      - run: {run}\n"


def celery_noop(env: dict[str, str], tmp: Path) -> float:
    """Enqueue a no-op task on the server's broker; seconds until a worker ran it."""
    path = tmp / f"ping-{time.time_ns()}"
    code = (
        "import os, sys, time; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'takos.settings');"
        "import django; django.setup(); from takos.celery import app;"
        "t = time.time(); app.send_task('workflows.bench_ping', args=[sys.argv[1]], queue='workflow');"
        "print(repr(t))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    sent = float(out.stdout.strip().splitlines()[-1])
    wait_for(lambda: path.exists() and path.read_text(), timeout=60, interval=0.01)
    return float(path.read_text()) - sent


def bare_container(driver: str) -> float:
    start = time.perf_counter()
    if driver == "docker":
        subprocess.run(["docker", "run", "--rm", "--network", "host", "takos-runtime:latest", "true"], check=True,
                       capture_output=True, timeout=120)
    else:
        subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--driver", default=os.environ.get("TAKOS_CONTAINER_DRIVER", "local"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--logs-only", action="store_true", help="only the log streaming figure")
    parser.add_argument("--log-rounds", type=int, default=3, help="log streaming runs (the median is reported)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="takos-bench-wf-"))
    if not os.environ.get("DATABASE_URL"):  # migrate first: `up` then starts quickly even on a busy machine
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env["TAKOS_DATA_DIR"] = str(tmp / "data")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=900)
    running, db = start_takos(tmp, {"TAKOS_CONTAINER_DRIVER": args.driver})
    try:
        user = signup(running.url, "benchwf")
        api = user.api
        repo_id = api.post("/api/spaces/me/repos", json={"name": "bench"}).json()["repository"]["id"]
        latencies, totals, noops, bares, phases = [], [], [], [], []
        rounds = 0 if args.logs_only else args.rounds
        for i in range(rounds):
            noops.append(celery_noop(running.env, tmp))
            bares.append(bare_container(args.driver))
            before = time.time()
            push(running.url, user, "bench", tmp / "src", {".takos/workflows/b.yml": workflow("B", STEP),
                                                            "round.txt": str(i)}, message=f"round {i}")
            pushed = time.time()
            run = wait_for(lambda n=i + 1: [r for r in api.get(f"/api/repos/{repo_id}/actions/runs").json()["runs"]
                                            if r["run_number"] == n and r["status"] == "completed"], timeout=120)[0]
            job = api.get(f"/api/repos/{repo_id}/actions/runs/{run['id']}/jobs").json()["jobs"][0]
            log = api.get(f"/api/repos/{repo_id}/actions/jobs/{job['id']}/logs").text
            t0 = float(next(line.split()[1] for line in log.splitlines() if line.startswith("T0 ")))
            latencies.append((t0 - before, t0 - pushed))
            from datetime import datetime

            created = datetime.fromisoformat(run["created_at"]).timestamp()
            started = datetime.fromisoformat(job["started_at"]).timestamp()
            completed = datetime.fromisoformat(job["completed_at"]).timestamp()
            totals.append(completed - started)
            phases.append((created - pushed, started - created, t0 - started))
        if rounds:
            report_latency(args, noops, bares, latencies, totals, phases)
        rates = []
        for i in range(args.log_rounds):
            rates.append(log_throughput(args, running, user, repo_id, tmp, rounds + 1 + i))
            print(f"  log streaming run {i + 1}: {rates[-1][1]}")
        print(f"  log streaming (median of {len(rates)}): {statistics.median(r for r, _ in rates):.1f} MB/s "
              f"to one live SSE client (target >= 20)")
        print(f"  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        stop_takos(running, db)
    return 0


def report_latency(args: argparse.Namespace, noops: list[float], bares: list[float],
                   latencies: list[tuple[float, float]], totals: list[float], phases: list[tuple]) -> None:
    noop = statistics.median(noops)
    bare = statistics.median(bares)
    from_push = statistics.median(a for a, _ in latencies)
    after_push = statistics.median(b for _, b in latencies)
    total = statistics.median(totals)
    print(f"[workflows] driver={args.driver} rounds={args.rounds}")
    print(f"  reference: no-op Celery task {noop * 1000:.0f} ms + bare container {bare * 1000:.0f} ms "
          f"= {(noop + bare) * 1000:.0f} ms")
    print(f"  push start -> first step running: {from_push * 1000:.0f} ms "
          f"(ratio {from_push / (noop + bare):.2f})")
    print(f"  push done  -> first step running: {after_push * 1000:.0f} ms "
          f"(ratio {after_push / (noop + bare):.2f}, target <= 1.5)")
    print("  breakdown (median): push done -> run row {:.0f} ms, run row -> job claimed {:.0f} ms, "
          "claimed -> step running {:.0f} ms".format(*(statistics.median(p[i] for p in phases) * 1000
                                                      for i in range(3))))
    print(f"  no-op job total (claim, checkout, container, step, logs, teardown): {total * 1000:.0f} ms "
          f"(ratio to bare container {total / bare:.2f})")


def log_throughput(args: argparse.Namespace, running: object, user: object, repo_id: str, tmp: Path,
                   n: int) -> tuple[float, str]:
    """One step printing N MB, followed by one live SSE client; returns (MB/s, report line)."""
    api = user.api  # type: ignore[attr-defined]
    size = args.mb * 1024 * 1024
    printer = f"yes {'x' * 99} | head -c {size}"
    push(running.url, user, "bench", tmp / "src", {".takos/workflows/b.yml": workflow("B", printer),  # type: ignore[attr-defined]
                                                    "round.txt": f"log {n}"}, message=f"big {n}")
    run = wait_for(lambda: [r for r in api.get(f"/api/repos/{repo_id}/actions/runs").json()["runs"]
                            if r["run_number"] == n], timeout=60)[0]
    job = wait_for(lambda: api.get(f"/api/repos/{repo_id}/actions/runs/{run['id']}/jobs").json()["jobs"],
                   timeout=60)[0]
    received, first, last = 0, None, None
    for event in sse(api, f"/api/repos/{repo_id}/actions/jobs/{job['id']}/logs/sse", timeout=300):
        if event.event == "log":
            text = event.data["text"]
            if first is None and "x" * 99 + "\n" in text:  # the step's output (its echoed command ends in " |")
                first = event.received
            if first is not None:
                received += len(text)
                last = event.received
        elif event.event == "end":
            break
    seconds = max(1e-6, (last or 0) - (first or 0))
    mb = received / 1024 / 1024
    # Reference: the same printer writing straight to a file on this machine.
    with tempfile.TemporaryFile() as sink:
        start = time.perf_counter()
        subprocess.run(["sh", "-c", printer], stdout=sink, check=True)
        producer = time.perf_counter() - start
    return mb / seconds, (f"{mb:.1f} MB to one live SSE client in {seconds:.2f} s = {mb / seconds:.1f} MB/s "
                          f"(the printer alone writes {size / 1024 / 1024 / producer:.0f} MB/s to a file here; "
                          f"load {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    sys.exit(main())

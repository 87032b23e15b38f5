#!/usr/bin/env python
"""API benchmark: `GET /api/me` (PAT) and a paginated `GET /api/spaces` against a bare Django JSON
view (`/health`) in the same server, under daphne and uvicorn. Prints requests/s, p50/p99 and the ratios.

Usage: make bench   (or: .venv/bin/python scripts/bench_api.py --seconds 5 --concurrency 8)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETUP = """
from accounts.services import user_create, space_create
from auth_app.services import pat_create
u = user_create(username="bench", email="bench@example.com", password="bench pass phrase")
for i in range(30):
    space_create(owner=u, name=f"Bench {i}")
print(pat_create(user=u, name="bench").token)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def one_client(host: str, port: int, request: bytes, stop: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    try:
        while time.perf_counter() < stop:
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            latencies.append(time.perf_counter() - start)
    finally:
        writer.close()
    return errors


def request_bytes(path: str, token: str | None) -> bytes:
    headers = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n"
    if token:
        headers += f"Authorization: Bearer {token}\r\n"
    return (headers + "\r\n").encode()


async def load(port: int, targets: list[tuple[str, str, str | None]], seconds: float, concurrency: int,
               rounds: int) -> dict[str, dict]:
    """Run the targets in alternating short slices, so a change in machine load hits all of them alike."""
    latencies: dict[str, list[float]] = {label: [] for label, _, _ in targets}
    errors: dict[str, int] = dict.fromkeys(latencies, 0)
    for _label, path, token in targets:  # warm-up
        await one_client("127.0.0.1", port, request_bytes(path, token), time.perf_counter() + 0.3, [])
    for _ in range(rounds):
        for label, path, token in targets:
            stop = time.perf_counter() + seconds / rounds
            errors[label] += sum(await asyncio.gather(*(
                one_client("127.0.0.1", port, request_bytes(path, token), stop, latencies[label])
                for _ in range(concurrency))))
    return {label: summary(latencies[label], errors[label], seconds) for label in latencies}


def summary(latencies: list[float], errors: int, seconds: float) -> dict:
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
    }


def wait_ready(port: int, proc: subprocess.Popen) -> None:
    import httpx

    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit("server exited early")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="alternating slices per target")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="takos-bench-")
    env = {**os.environ, "TAKOS_DATA_DIR": data_dir, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    token = subprocess.run([py, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()[-1]
    servers = {
        "daphne": lambda port: [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "takos.asgi:application"],
        "uvicorn": lambda port: [py, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                                 "--log-level", "warning", "takos.asgi:application"],
    }
    targets = [("bare view /health", "/health", None), ("GET /api/me (PAT)", "/api/me", token),
               ("GET /api/spaces?limit=20 (PAT)", "/api/spaces?limit=20", token)]
    print(f"{args.concurrency} keep-alive connections, {args.seconds:.0f} s per target in {args.rounds} alternating "
          f"slices, one server process, load average {os.getloadavg()[0]:.1f}\n")
    for name, command in servers.items():
        port = free_port()
        proc = subprocess.Popen(command(port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, proc)
            results = asyncio.run(load(port, targets, args.seconds, args.concurrency, args.rounds))
            base = results["bare view /health"]["rps"]
            print(f"== {name}")
            print(f"{'target':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs bare':>8}")
            for label, r in results.items():
                print(f"{label:34} {r['rps']:8.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['errors']:7d} "
                      f"{r['rps'] / base:7.2f}x")
            for label in list(results)[1:]:
                verdict = "meets" if results[label]["rps"] / base >= 0.5 else "MISSES"
                print(f"  {label}: {verdict} the 0.5x target")
            print()
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()

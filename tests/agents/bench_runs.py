"""Agent run benchmarks (on demand: `.venv/bin/python tests/agents/bench_runs.py [--clients 500]`).

Starts the real platform (`manage.py up`; Redis broker + channel layer when REDIS_URL is set)
and measures, each against a reference taken in the same run:

1. run start latency: POST /api/threads/:id/runs → the `started` event on the SSE stream,
   against a no-op Celery task round trip on the same `run` queue (target ratio ≤ 2);
2. event throughput of one run (offline model at zero token delay) as seen by an SSE client;
3. fan-out: one run's events to N concurrent SSE clients: p50/p99 delivery delay (event row
   `created_at` → client receive) and the web process's memory per client.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.agents.e2e_helpers import parse_ts, read_until_terminal, sse, user_api  # noqa: E402
from tests.fixtures.processes import start_takos, stop_takos  # noqa: E402


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def daphne_pid(port: int) -> int | None:
    """The web process of the platform under test (daphne listening on `port`)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"takos.asgi:application" in args and str(port).encode() in args:
            return int(proc.name)
    return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def probe_roundtrip(data_dir: Path, samples: int) -> list[float]:
    from takos.celery import app

    out = []
    folder = data_dir / "probes"
    for _ in range(samples):
        marker = uuid.uuid4().hex
        start = time.perf_counter()
        app.send_task("agents.probe", kwargs={"marker": marker}, queue="run")
        while not (folder / marker).exists():
            time.sleep(0.0002)  # a 1 ms poll added ~0.5 ms on average to the reference
        out.append((time.perf_counter() - start) * 1000)
    return out


def wait_torn_down(run_id: str, timeout: float = 5) -> None:
    """Until the run's task has stopped its executor and revoked its token: the next sample starts on
    an idle worker, as the Celery reference does, not while the last run's teardown writes."""
    from hosts.models import ProxyToken

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not ProxyToken.objects.filter(owner=f"run:{run_id}", revoked_at__isnull=True).exists():
            return
        time.sleep(0.01)


def run_start_latency(api: httpx.Client, thread_id: str, samples: int, before: Any = None) -> list[float]:
    """`before()` runs ahead of each sample (the reference's sample, taken under the same load)."""
    out = []
    for _ in range(samples):
        if before is not None:
            before()
        start = time.perf_counter()
        run = api.post(f"/api/threads/{thread_id}/runs", json={"input": {"message": "hi"}}).json()["run"]
        for item in sse(api, f"/api/runs/{run['id']}/sse"):
            if item.event == "started":
                out.append((time.perf_counter() - start) * 1000)
                break
        read_until_terminal(api, run["id"])
        wait_torn_down(run["id"])
    return out


def run_start_latency_stream(api: httpx.Client, thread_id: str, samples: int, before: Any = None) -> list[float]:
    """The same, in one request: POST /api/threads/:id/runs/stream creates the run and streams it."""
    from takos.cli.sse import parse_sse

    out = []
    for _ in range(samples):
        if before is not None:
            before()
        start = time.perf_counter()
        run_id = None
        with api.stream("POST", f"/api/threads/{thread_id}/runs/stream", json={"input": {"message": "hi"}},
                        headers={"Accept": "text/event-stream"}) as response:
            assert response.status_code == 201, response.read()
            for _id, event, data in parse_sse(response.iter_lines()):
                if event == "metadata":
                    run_id = data["run_id"]
                elif event == "started":
                    out.append((time.perf_counter() - start) * 1000)
                    break
        assert run_id is not None
        read_until_terminal(api, run_id)
        wait_torn_down(run_id)
    return out


def run_start_latency_socket(api: httpx.Client, thread_id: str, samples: int, before: Any = None,
                             first: list[float] | None = None) -> list[float]:
    """POST /api/threads/:id/runs/stream as the fan-out readers do, on a plain socket: from the
    connect (a new connection, as a CLI's) and the request's first byte to the `started` frame's
    arrival, without an HTTP library's own cost of building and parsing (about 1.5 ms of httpx's
    Python on this kind of machine, counted in the httpx figure above). `first` gets the time to
    the stream's first event (event 1, `run_status: queued`, written by the create)."""
    import json
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(str(api.base_url))
    body = json.dumps({"input": {"message": "hi"}}).encode()
    request = (f"POST /api/threads/{thread_id}/runs/stream HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\n"
               f"Authorization: {api.headers['Authorization']}\r\nAccept: text/event-stream\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    out = []
    for _ in range(samples):
        if before is not None:
            before()
        start = time.perf_counter()
        with socket.create_connection((url.hostname, url.port)) as sock:
            sock.sendall(request)
            received = b""
            first_at = None
            while b"\nevent: started\n" not in received:
                chunk = sock.recv(65536)
                assert chunk, received
                received += chunk
                if first_at is None and b"\nid: 1\n" in received:
                    first_at = time.perf_counter()
            elapsed = (time.perf_counter() - start) * 1000
            if first is not None and first_at is not None:
                first.append((first_at - start) * 1000)
        head = received.split(b"\r\n", 1)[0]
        assert head.startswith(b"HTTP/1.1 201"), head
        run_id = received.split(b'"run_id":"', 1)[1].split(b'"', 1)[0].decode()
        out.append(elapsed)
        read_until_terminal(api, run_id)
        wait_torn_down(run_id)
    return out


def throughput(api: httpx.Client, thread_id: str, tokens: int) -> tuple[int, float, float]:
    """(events, seconds the SSE client spent receiving them, seconds the rows took to be written)."""
    run = api.post(f"/api/threads/{thread_id}/runs", json={"input": {"message": f"/tokens {tokens}"}}).json()["run"]
    wait_started(api, run["id"])
    first = None
    count = 0
    for item in sse(api, f"/api/runs/{run['id']}/sse", timeout=120):
        first = first or time.perf_counter()
        count += 1
        if item.event == "completed":
            break
    received = time.perf_counter() - first
    events = api.get(f"/api/runs/{run['id']}/events").json()["events"]
    written = parse_ts(events[-1]["created_at"]) - parse_ts(events[0]["created_at"])
    return count, received, written


def wait_started(api: httpx.Client, run_id: str) -> None:
    for item in sse(api, f"/api/runs/{run_id}/sse"):
        if item.event == "started":
            return


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def raw_sse(host: str, port: int, path: str, token: str, on_event: Any, connected: Any) -> None:
    """A lean SSE client on a plain socket (HTTP/1.1, chunked): 500 httpx streams in one process cost
    more CPU than the server they measure, so the fan-out readers parse only what they need."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                 f"Accept: text/event-stream\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    chunked = b"chunked" in head.lower()
    connected()
    pending = b""
    try:
        while True:
            if chunked:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                if size == 0:
                    return
                data = await reader.readexactly(size + 2)
                data = data[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    return
            now = time.time()
            pending += data
            *frames, pending = pending.split(b"\n\n")
            for frame in frames:
                event_id = event = None
                for line in frame.split(b"\n"):
                    if line.startswith(b"id: "):
                        event_id = int(line[4:])
                    elif line.startswith(b"event: "):
                        event = line[7:].decode()
                if event_id is not None and on_event(event_id, event, now):
                    return
    finally:
        writer.close()


async def fan_out(base: str, token: str, thread_id: str, clients: int, web_pid: int | None,
                  slow: float = 4) -> dict[str, float]:
    from urllib.parse import urlsplit

    url = urlsplit(base)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=300) as client:
        run = (await client.post(f"/api/threads/{thread_id}/runs",
                                 json={"input": {"message": f"/slow {slow}"}})).json()["run"]
        before = rss_kb(web_pid) if web_pid else 0
        received: list[list[tuple[int, float]]] = [[] for _ in range(clients)]
        ready = asyncio.Event()
        connected = 0

        def on_connect() -> None:
            nonlocal connected
            connected += 1
            if connected == clients:
                ready.set()

        def recorder(index: int) -> Any:
            def on_event(event_id: int, event: str | None, at: float) -> bool:
                received[index].append((event_id, at))
                return event in ("completed", "cancelled", "run.failed")
            return on_event

        path = f"/api/runs/{run['id']}/sse"
        tasks = [asyncio.create_task(raw_sse(url.hostname, url.port, path, token, recorder(i), on_connect))
                 for i in range(clients)]
        began = time.perf_counter()
        await asyncio.wait_for(ready.wait(), 240)
        print(f"all {clients} SSE clients connected in {time.perf_counter() - began:.2f} s", flush=True)
        during = rss_kb(web_pid) if web_pid else 0
        connected_at = time.time()
        web_cpu = cpu_seconds(web_pid) if web_pid else 0.0
        own_cpu = time.process_time()
        await asyncio.gather(*tasks)
        web_cpu = (cpu_seconds(web_pid) - web_cpu) if web_pid else float("nan")
        own_cpu = time.process_time() - own_cpu
        events = (await client.get(f"/api/runs/{run['id']}/events")).json()["events"]
    created = {e["id"]: parse_ts(e["created_at"]) for e in events}
    delays = [(t - created[i]) * 1000 for per in received for i, t in per if created[i] > connected_at]
    # The same after the first second: what a watcher sees once the crowd's connect burst is over.
    steady = [(t - created[i]) * 1000 for per in received for i, t in per if created[i] > connected_at + 1]
    complete = sum(1 for per in received if [i for i, _ in per] == [e["id"] for e in events])
    return {"clients": clients, "complete_streams": complete, "samples": len(delays),
            "p50_ms": statistics.median(delays), "p99_ms": pct(delays, 0.99), "max_ms": max(delays),
            "steady_p50_ms": statistics.median(steady) if steady else float("nan"),
            "steady_p99_ms": pct(steady, 0.99) if steady else float("nan"),
            "rss_per_client_kb": (during - before) / clients if web_pid else float("nan"),
            "web_cpu_s": web_cpu, "client_cpu_s": own_cpu, "events": len(events)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--slow", type=float, default=4, help="seconds the fanned-out run streams (20 events/s)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="takos-bench-agents-"))
    if not os.environ.get("DATABASE_URL"):  # migrate first: a loaded machine may exceed the ready wait
        env = {**os.environ, "TAKOS_DATA_DIR": str(tmp / "data")}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    running, db_name = start_takos(tmp, {"TAKOS_OFFLINE_TOKEN_DELAY_MS": "0", "TAKOS_WORKER_CONCURRENCY": "2"})
    try:
        os.environ.update({"TAKOS_DATA_DIR": running.env["TAKOS_DATA_DIR"], "DJANGO_SETTINGS_MODULE": "takos.settings"})
        for name in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_URL"):
            if running.env.get(name):
                os.environ[name] = running.env[name]
        import django

        django.setup()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request drowns the report
        backend = "redis" if running.env.get("REDIS_URL") else "embedded (filesystem broker, DB polling)"
        api = user_api(running.url, "bench")
        thread_id = api.post("/api/spaces/me/threads", json={"title": "bench"}).json()["thread"]["id"]
        data_dir = Path(running.env["TAKOS_DATA_DIR"])
        probe_roundtrip(data_dir, 3)  # warm the worker's and our connections
        run_start_latency(api, thread_id, 2)  # warm-up: first imports and connections in web and worker
        # The reference is sampled right before each run start, so both see the same machine (a block
        # of probes taken first varied 2-5 ms between runs of the same build).
        probe: list[float] = []

        def probe_one() -> None:
            probe.extend(probe_roundtrip(data_dir, 1))

        start: list[float] = []
        start_stream: list[float] = []
        start_socket: list[float] = []
        first_socket: list[float] = []
        for _ in range(args.samples):  # interleaved, so the three flows see the same machine
            start += run_start_latency(api, thread_id, 1, before=probe_one)
            start_stream += run_start_latency_stream(api, thread_id, 1, before=probe_one)
            start_socket += run_start_latency_socket(api, thread_id, 1, before=probe_one, first=first_socket)
        print(f"backend: {backend}")
        print(f"no-op Celery task round trip (interleaved with the run starts): p50 {statistics.median(probe):.1f} ms "
              f"(n={len(probe)})")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"run start, POST /runs then GET /runs/:id/sse → 'started': p50 {statistics.median(start):.1f} ms, "
              f"ratio {statistics.median(start) / statistics.median(probe):.2f}")
        print(f"  POST /runs/stream samples (ms): {sorted(round(x, 1) for x in start_stream)}")
        print(f"run start, POST /runs/stream (one request) → 'started': p50 {statistics.median(start_stream):.1f} ms, "
              f"ratio {statistics.median(start_stream) / statistics.median(probe):.2f} (httpx client)")
        print(f"  the same on a plain socket, samples (ms): {sorted(round(x, 1) for x in start_socket)}")
        print(f"run start, POST /runs/stream on a plain socket → 'started': p50 {statistics.median(start_socket):.1f} ms, "
              f"ratio {statistics.median(start_socket) / statistics.median(probe):.2f} (target ≤ 2)")
        if first_socket:
            print(f"  the same request → the stream's first event ('run_status: queued', the create's): p50 "
                  f"{statistics.median(first_socket):.1f} ms, ratio {statistics.median(first_socket) / statistics.median(probe):.2f}")
        count, seconds, written = throughput(api, thread_id, args.tokens)
        print(f"one run, {count} events: written in {written:.2f} s, read by one SSE client (connected after "
              f"'started') in {seconds:.2f} s: {count / seconds:.0f} events/s")
        token = api.headers["Authorization"].split()[1]
        pid = daphne_pid(int(running.env["PORT"]))
        if args.clients <= 0:
            return 0
        result = asyncio.run(fan_out(running.url, token, thread_id, args.clients, pid, args.slow))
        print(f"fan-out to {result['clients']} SSE clients ({result['complete_streams']} complete, "
              f"{result['samples']} deliveries): p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms "
              f"(target ≤ 100), max {result['max_ms']:.1f} ms; web RSS {result['rss_per_client_kb']:.0f} KiB/client; "
              f"CPU while streaming {result['events']} events: web {result['web_cpu_s']:.2f} s, "
              f"bench clients {result['client_cpu_s']:.2f} s")
        print(f"  events written 1 s or more after the last client connected: p50 {result['steady_p50_ms']:.1f} ms, "
              f"p99 {result['steady_p99_ms']:.1f} ms")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        stop_takos(running, db_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Dispatch proxy overhead on loopback, in one run, against references.

Measures with `wrk` (falls back to a Python aiohttp load generator; `apt-get install wrk
nginx-light` for the real references):
  direct   - the runtime itself (an aiohttp "hello" server standing in for a deployed app)
  nginx    - nginx `proxy_pass` to the runtime, keep-alive upstream (skipped without nginx)
  front    - the dispatch front (`manage.py dispatch`: dispatch/front.py on uvloop + httptools),
             the route pre-cached
  mw/...   - the ASGI DispatchMiddleware under uvicorn (uvloop + httptools) and under daphne
             (what the web process runs)
Throughput and p50/p99 at 20 connections (the issue's calibration), and the latency one request
adds: p50 at 1 connection, minus direct's. Targets from the issue: added p50 under 2 ms over
direct, throughput at least 0.25x nginx.

    .venv/bin/python scripts/bench_dispatch.py [--seconds 10] [--connections 20] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "bench.apps.localhost"

RUNTIME = textwrap.dedent("""
    import sys
    from aiohttp import web

    async def hello(request):
        return web.Response(text="hello from the runtime\\n")

    app = web.Application()
    app.router.add_get("/", hello)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
""")

# The ASGI app served by uvicorn/daphne: the real middleware with the route pre-cached, so the
# benchmark needs no database (metrics are counted in memory; their DB flush is disabled).
DISPATCH_APP = textwrap.dedent("""
    import os
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "takos.settings")
    import django
    django.setup()
    from django.conf import settings
    settings.TAKOS_DISPATCH_CACHE_SECONDS = 10 ** 9
    from dispatch import metrics as m
    m.metrics.flush = lambda: 0
    from dispatch.middleware import DispatchMiddleware
    from dispatch.table import RouteEntry, Target, cache

    async def django_stub(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    cache.put("%(host)s", RouteEntry("%(host)s", "svc", "space", Target("dep", 1, "%(upstream)s"), None, 0))
    cache._current_generation = lambda: None
    cache.generation = None
    application = DispatchMiddleware(django_stub)

    if __name__ == "__main__":  # the dispatch front, as `manage.py dispatch` runs it
        import sys
        from dispatch.front import run
        run("127.0.0.1", int(sys.argv[1]))
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def start(cmd: list[str], port: int, **kwargs) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            **kwargs)
    wait_port(port)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def run_wrk(url: str, seconds: int, connections: int, host: str | None) -> dict[str, float]:
    cmd = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
    if host:
        cmd[1:1] = ["-H", f"Host: {host}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout

    def ms(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        if not match:
            return float("nan")
        return float(match.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50_ms": ms("50%"), "p99_ms": ms("99%"),
            "non_2xx": int(errors.group(1)) if errors else 0}


def run_python_load(url: str, seconds: int, connections: int, host: str | None) -> dict[str, float]:
    import asyncio

    import aiohttp

    async def main() -> dict[str, float]:
        latencies: list[float] = []
        errors = 0
        deadline = time.monotonic() + seconds
        headers = {"Host": host} if host else {}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
            async def worker() -> None:
                nonlocal errors
                while time.monotonic() < deadline:
                    t = time.perf_counter()
                    async with session.get(url, headers=headers) as resp:
                        await resp.read()
                        errors += resp.status >= 300
                    latencies.append((time.perf_counter() - t) * 1000)

            await asyncio.gather(*(worker() for _ in range(connections)))
        latencies.sort()
        return {"rps": len(latencies) / seconds, "p50_ms": latencies[len(latencies) // 2],
                "p99_ms": latencies[int(len(latencies) * 0.99)], "non_2xx": errors}

    return asyncio.run(main())


NGINX_CONF = """
worker_processes 1;
daemon off;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %(dir)s; proxy_temp_path %(dir)s; fastcgi_temp_path %(dir)s;
  uwsgi_temp_path %(dir)s; scgi_temp_path %(dir)s;
  upstream runtime { server 127.0.0.1:%(upstream_port)d; keepalive 64; }
  server {
    listen 127.0.0.1:%(port)d;
    location / {
      proxy_pass http://runtime;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="skip the middleware rows")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load = run_wrk if shutil.which("wrk") else run_python_load
    tmp = Path(tempfile.mkdtemp(prefix="takos-bench-"))
    env = {**os.environ, "TAKOS_DATA_DIR": str(tmp / "data"), "PYTHONPATH": str(ROOT), "LOG_LEVEL": "ERROR"}
    procs: list[subprocess.Popen] = []
    results: dict[str, dict[str, float]] = {}
    load_before = os.getloadavg()

    def measure(name: str, url: str, host: str | None) -> None:
        load(url, 2, args.connections, host)  # warm up (connection pools, caches)
        results[name] = load(url, args.seconds, args.connections, host)
        results[name]["p50_1conn_ms"] = load(url, max(2, args.seconds // 2), 1, host)["p50_ms"]

    try:
        upstream_port = free_port()
        (tmp / "runtime.py").write_text(RUNTIME)
        procs.append(start([sys.executable, str(tmp / "runtime.py"), str(upstream_port)], upstream_port))
        upstream = f"http://127.0.0.1:{upstream_port}"
        measure("direct", upstream + "/", None)

        if shutil.which("nginx"):
            port = free_port()
            (tmp / "nginx.conf").write_text(NGINX_CONF % {"dir": tmp, "port": port, "upstream_port": upstream_port})
            procs.append(start(["nginx", "-c", str(tmp / "nginx.conf")], port))
            measure("nginx", f"http://127.0.0.1:{port}/", HOST)

        (tmp / "bench_dispatch_app.py").write_text(DISPATCH_APP % {"host": HOST, "upstream": upstream})
        servers: dict[str, list[str]] = {
            "front (uvloop+httptools)": [sys.executable, str(tmp / "bench_dispatch_app.py")],
        }
        if not args.quick:
            servers["mw/uvicorn (uvloop+httptools)"] = [
                sys.executable, "-m", "uvicorn", "--no-access-log", "--log-level", "error", "--loop", "uvloop",
                "--http", "httptools", "--app-dir", str(tmp), "bench_dispatch_app:application", "--port"]
            servers["mw/daphne (web)"] = [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p"]
        for name, cmd in servers.items():
            port = free_port()
            full = [*cmd, str(port)] if "daphne" not in name else [*cmd, str(port), "bench_dispatch_app:application"]
            proc = start(full, port, cwd=tmp, env=env)
            procs.append(proc)
            measure(name, f"http://127.0.0.1:{port}/", HOST)
            stop(proc)
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()

    direct = results["direct"]
    nginx = results.get("nginx")
    for row in results.values():
        row["added_p50_ms"] = round(row["p50_ms"] - direct["p50_ms"], 3)
        row["added_p50_1conn_ms"] = round(row["p50_1conn_ms"] - direct["p50_1conn_ms"], 3)
        if nginx:
            row["x_nginx_rps"] = round(row["rps"] / nginx["rps"], 3) if nginx["rps"] else 0.0
    if args.json:
        print(json.dumps({"results": results, "load_before": load_before, "load_after": load_after}, indent=2))
        return 0
    print(f"load: {load.__name__}, {args.connections} connections, {args.seconds}s each, loopback; "
          f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print(f"{'target':<30} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'+p50 ms':>8} {'x nginx':>8} "
          f"{'p50@1c':>7} {'+p50@1c':>8} {'non-2xx':>8}")
    for name, row in results.items():
        print(f"{name:<30} {row['rps']:>8.0f} {row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} "
              f"{row['added_p50_ms']:>8.2f} {row.get('x_nginx_rps', float('nan')):>8.2f} "
              f"{row['p50_1conn_ms']:>7.2f} {row['added_p50_1conn_ms']:>8.2f} {row['non_2xx']:>8}")
    front = results.get("front (uvloop+httptools)")
    if front and nginx:
        ratio, added = front["x_nginx_rps"], front["added_p50_1conn_ms"]
        print(f"dispatch front: {ratio:.2f}x nginx throughput (target >= 0.25: {'met' if ratio >= 0.25 else 'NOT met'}); "
              f"+{added:.2f} ms p50 over direct at 1 connection (target < 2: {'met' if added < 2 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

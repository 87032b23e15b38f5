#!/usr/bin/env python
"""Benchmark git smart HTTP: Takos (daphne) against `git http-backend` (CGI) in the same run.

    .venv/bin/python scripts/bench_git.py [--commits 5000] [--files 2000] [--mb 20] [--rounds 3]

Generates a repository (fast-import: --commits commits over --files files, about --mb MiB of
history), then for each server measures: push of the whole history into an empty repository,
a bare clone, a fetch after 50 new commits, and (Takos only) the tree and blob API p50.
Reference server: a small threaded Python HTTP server that runs `git http-backend` as CGI per
request (as nginx + fcgiwrap would). Prints seconds (median of --rounds) and Takos/reference
ratios. The issue's target: clone within 1.3x of http-backend; tree/blob API p50 < 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
                "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"})
    return env


def git(*args: str, cwd: Path | None = None, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=git_env(), input=input, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode(errors="replace")


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# --- repository generation --------------------------------------------------------------


def generate(path: Path, *, commits: int, files: int, mb: float, seed: int = 7) -> None:
    """A non-bare repository with `commits` commits on main touching `files` files (~`mb` MiB)."""
    rng = random.Random(seed)
    git("init", "-q", "--initial-branch=main", str(path))
    per_commit = max(1, int(mb * 1024 * 1024 / commits))
    words = [f"w{i:04d}" for i in range(5000)]
    stream: list[bytes] = []
    ts = 1_600_000_000
    for c in range(commits):
        stream.append(b"commit refs/heads/main\n")
        stream.append(f"mark :{c + 1}\n".encode())
        stream.append(f"committer Bench <bench@example.com> {ts + c * 60} +0000\n".encode())
        msg = f"change {c}\n".encode()
        stream.append(f"data {len(msg)}\n".encode() + msg)
        touched = files if c == 0 else rng.randint(1, 4)
        for i in range(touched):
            idx = i if c == 0 else rng.randrange(files)
            size = 200 if c == 0 else per_commit // touched
            body = (" ".join(rng.choice(words) for _ in range(max(1, size // 6))) + "\n").encode()
            name = f"src/pkg{idx % 50:02d}/file{idx:05d}.txt"
            stream.append(f"M 100644 inline {name}\n".encode())
            stream.append(f"data {len(body)}\n".encode() + body)
        stream.append(b"\n")
    git("fast-import", "--quiet", cwd=path, input=b"".join(stream))
    git("checkout", "-q", "-f", "main", cwd=path)


def add_commits(path: Path, n: int) -> None:
    for i in range(n):
        (path / "extra.txt").write_text(f"extra {i} {time.time()}\n")
        git("add", "extra.txt", cwd=path)
        git("commit", "-q", "-m", f"extra {i}", cwd=path)


# --- reference server: git http-backend as CGI ----------------------------------------


class CgiHandler(BaseHTTPRequestHandler):
    project_root = ""

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _run(self) -> None:
        path, _, query = self.path.partition("?")
        body = self._body() if self.command == "POST" else b""
        env = git_env()
        env.update({
            "GIT_PROJECT_ROOT": self.project_root, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
            "REQUEST_METHOD": self.command, "QUERY_STRING": query, "REMOTE_USER": "bench",
            "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        })
        proc = subprocess.Popen(["git", "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        assert proc.stdin is not None and proc.stdout is not None

        def feed() -> None:
            try:
                proc.stdin.write(body)  # type: ignore[union-attr]
            finally:
                proc.stdin.close()  # type: ignore[union-attr]

        threading.Thread(target=feed, daemon=True).start()
        status, headers = 200, []
        while True:
            line = proc.stdout.readline().decode("latin-1").rstrip("\r\n")
            if not line:
                break
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Connection", "close")
        self.end_headers()
        while chunk := proc.stdout.read(65536):
            self.wfile.write(chunk)
        proc.wait()

    do_GET = _run
    do_POST = _run


def start_reference(root: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = type("Handler", (CgiHandler,), {"project_root": str(root)})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# --- Takos -------------------------------------------------------------------------------

SETUP = r"""
import json
from accounts.services import user_create
from auth_app.services import pat_create
u = user_create(username="bench", email="bench@example.com", password="correct horse battery")
print("JSON" + json.dumps({"token": pat_create(user=u, name="bench").token}))
"""


def start_takos(tmp: Path, settings_module: str) -> tuple[subprocess.Popen, str, dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"TAKOS_DATA_DIR": str(tmp / "data"), "DJANGO_SETTINGS_MODULE": settings_module,
                "LOG_LEVEL": "WARNING", "CELERY_TASK_ALWAYS_EAGER": "0"})
    # No worker runs here: big pushes queue their commit indexing (as in production) and the
    # timing is what the pushing client waits for.
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    info = json.loads(next(line for line in out.splitlines() if line.startswith("JSON"))[4:])
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                             "takos.asgi:application"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url, info
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("takos did not start")


def p50_ms(url: str, n: int = 50) -> float:
    times = []
    with httpx.Client(timeout=30) as client:
        client.get(url)
        for _ in range(n):
            start = time.perf_counter()
            resp = client.get(url)
            times.append((time.perf_counter() - start) * 1000)
            resp.raise_for_status()
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--mb", type=float, default=40, help="raw MiB written; packs to about 0.6x (the issue asks >= 20 MB of history)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settings", default="takos.settings", help="Django settings module for the server")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="takos-bench-git-"))
    takos_proc = None
    try:
        src = tmp / "src"
        t = timed(lambda: generate(src, commits=args.commits, files=args.files, mb=args.mb))
        size = sum(f.stat().st_size for f in (src / ".git").rglob("*") if f.is_file()) / 1024 / 1024
        print(f"generated {args.commits} commits, {args.files} files, .git {size:.1f} MiB in {t:.1f}s", flush=True)

        ref_root = tmp / "ref"
        ref_root.mkdir()
        ref_server, ref_url = start_reference(ref_root)
        takos_proc, takos_url, info = start_takos(tmp / "takos", args.settings)
        host = takos_url.split("://", 1)[1]
        token = info["token"]

        def new_remote(name: str, r: int) -> str:
            """An empty repository on `name` for round `r`; returns its URL."""
            if name == "http-backend":
                path = ref_root / f"bench{r}.git"
                git("init", "-q", "--bare", "--initial-branch=main", str(path))
                git("--git-dir", str(path), "config", "http.receivepack", "true")
                return f"{ref_url}/bench{r}.git"
            resp = httpx.post(f"{takos_url}/api/spaces/me/repos", json={"name": f"bench{r}", "visibility": "public"},
                              headers={"Authorization": f"Bearer {token}"})
            resp.raise_for_status()
            return f"http://bench:{token}@{host}/git/bench/bench{r}.git"

        results: dict[str, dict[str, float]] = {}
        for name in ("http-backend", "takos"):
            pushes, clones, fetches = [], [], []
            remotes = []
            for r in range(args.rounds):
                remote = new_remote(name, r)
                remotes.append(remote)
                pushes.append(timed(lambda remote=remote: git("push", "-q", remote, "main", cwd=src)))
                dest = tmp / f"clone-{name}-{r}"
                clones.append(timed(lambda remote=remote, dest=dest: git("clone", "-q", "--bare", remote, str(dest))))
            # Fetch after new commits, into the clones made above.
            for r in range(args.rounds):
                work = tmp / f"work-{name}-{r}"
                git("clone", "-q", "--depth", "1", remotes[r], str(work))
                add_commits(work, 50)
                git("push", "-q", "origin", "HEAD:main", cwd=work)
                dest = tmp / f"clone-{name}-{r}"
                fetches.append(timed(lambda dest=dest: git("--git-dir", str(dest), "fetch", "-q", "origin",
                                                           "+refs/heads/*:refs/heads/*")))
            results[name] = {"push_s": statistics.median(pushes), "clone_s": statistics.median(clones),
                             "fetch_s": statistics.median(fetches)}
            print(f"{name:>13}: push {results[name]['push_s']:.2f}s  clone {results[name]['clone_s']:.2f}s  "
                  f"fetch {results[name]['fetch_s']:.2f}s", flush=True)
        ref_server.shutdown()

        repo_id = httpx.get(f"{takos_url}/api/spaces/bench/repos", headers={"Authorization": f"Bearer {token}"}
                            ).json()["repositories"][0]["id"]
        api = f"{takos_url}/api/repos/{repo_id}"
        # Reference for the API numbers: the same stack answering a request that touches no git data.
        results["api"] = {"baseline_repo_p50_ms": p50_ms(api), "health_p50_ms": p50_ms(f"{takos_url}/health"),
                          "tree_p50_ms": p50_ms(f"{api}/tree/main/src/pkg07"),
                          "blob_p50_ms": p50_ms(f"{api}/blob/main/src/pkg07/file00007.txt")}
        ratios = {k: results["takos"][k] / results["http-backend"][k] for k in ("push_s", "clone_s", "fetch_s")}
        print(f"ratio takos/http-backend: push {ratios['push_s']:.2f}x  clone {ratios['clone_s']:.2f}x  "
              f"fetch {ratios['fetch_s']:.2f}x  (clone target <= 1.3x)")
        a = results["api"]
        print(f"API p50: tree {a['tree_p50_ms']:.1f} ms  blob {a['blob_p50_ms']:.1f} ms (target < 20 ms); "
              f"same stack without git: GET repo {a['baseline_repo_p50_ms']:.1f} ms, /health {a['health_p50_ms']:.1f} ms")
        if args.json:
            print(json.dumps({"results": results, "ratios": ratios}, indent=2))
        return 0
    finally:
        if takos_proc is not None:
            os.killpg(takos_proc.pid, signal.SIGTERM)
            takos_proc.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

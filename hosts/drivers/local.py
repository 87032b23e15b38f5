"""Local process driver: "containers" are process groups in a work dir under DATA_DIR.

For the embedded default only (trusted, single user): there is no isolation, no memory or
CPU limit, and the process sees the host file system. Refused when TAKOS_ENV=production.

How the container contract maps onto a process:
- image: the folder `docker/<role>/` of this checkout stands in for the image's
  `/opt/takos`, so the same command (`python3 /opt/takos/runtime_agent.py`) runs in both
  drivers; `python3`/`python` run with this interpreter (its packages are the image's).
- mounts: every occurrence of a mount target at the start of a command argument, env value
  or the workdir is rewritten to the host source path (longest target first).
- ports: each requested port gets a free 127.0.0.1 port, passed as $PORT (first) and
  $TAKOS_PORT_<container port>.
- env: only PATH/LANG and the spec's env; the control plane's own environment (database
  URL, secrets) is never inherited.
State lives in `<DATA_DIR>/containers/<id>/meta.json`, so any process (web, worker, beat)
sees the same containers.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings

from hosts.drivers.base import (
    ContainerHandle,
    ContainerSpec,
    ContainerStatus,
    Driver,
    DriverError,
    DriverUnavailable,
    ExecResult,
)

IMAGE_ROOT = "/opt/takos"
_ROLE_DIRS = {"runtime": "runtime", "executor": "executor", "browser": "browser"}
# Exit code file written by the wrapper shell when the command ends on its own.
_WRAPPER = '"$@"; code=$?; echo "$code" > "$TAKOS_EXIT_FILE"; exit "$code"'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tmp_dir(cid: str) -> Path:
    return Path(tempfile.gettempdir()) / f"takos-{cid}"


def _image_dir(spec_image: str, role: str) -> Path:
    label = spec_image if spec_image in ("executor", "browser") else role
    return Path(settings.BASE_DIR) / "docker" / _ROLE_DIRS.get(label, "runtime")


class PathMap:
    """Container path -> host path, longest container path first."""

    def __init__(self, pairs: dict[str, str]):
        self.pairs = sorted(pairs.items(), key=lambda kv: len(kv[0]), reverse=True)

    def host(self, value: str) -> str:
        for target, source in self.pairs:
            if value == target or value.startswith(target.rstrip("/") + "/"):
                return source + value[len(target.rstrip("/")):]
            marker = "=" + target
            if marker in value:  # --flag=/path forms
                head, _, tail = value.partition(marker)
                if tail == "" or tail.startswith("/"):
                    return f"{head}={source}{tail}"
        return value


class LocalProcessDriver(Driver):
    name = "local"

    def __init__(self, root: Path | None = None):
        if settings.TAKOS_ENV == "production":
            raise DriverUnavailable(
                "The local process driver runs code without isolation and is refused when "
                "TAKOS_ENV=production; set TAKOS_CONTAINER_DRIVER=docker."
            )
        self.root = Path(root or Path(settings.DATA_DIR) / "containers")
        self.root.mkdir(parents=True, exist_ok=True)
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    # --- state ------------------------------------------------------------------------
    def _dir(self, cid: str) -> Path:
        if not cid.startswith("loc-") or "/" in cid:
            raise DriverError(f"not a local container id: {cid}")
        return self.root / cid

    def _meta(self, cid: str) -> dict | None:
        try:
            return json.loads((self._dir(cid) / "meta.json").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _write_meta(self, cid: str, meta: dict) -> None:
        tmp = self._dir(cid) / "meta.json.tmp"
        tmp.write_text(json.dumps(meta))
        tmp.replace(self._dir(cid) / "meta.json")

    @staticmethod
    def _handle(meta: dict) -> ContainerHandle:
        return ContainerHandle(id=meta["id"], driver="local", owner=meta["owner"], role=meta["role"],
                               ports={int(k): v for k, v in meta.get("ports", {}).items()})

    # --- contract ----------------------------------------------------------------------
    def start(self, spec: ContainerSpec) -> ContainerHandle:
        cid = "loc-" + secrets.token_hex(6)
        cdir = self._dir(cid)
        (cdir / "root").mkdir(parents=True)
        _tmp_dir(cid).mkdir(mode=0o700)
        pairs = {IMAGE_ROOT: str(_image_dir(spec.image, spec.role))}
        for mount in spec.mounts:
            pairs[mount.target] = str(Path(mount.source).resolve())
        paths = PathMap(pairs)
        ports = {p: free_port() for p in spec.ports}
        workdir = paths.host(spec.workdir) if spec.workdir else str(cdir / "root")
        if spec.workdir and workdir == spec.workdir:
            # An unmounted absolute workdir lives inside the container's own root folder.
            workdir = str(cdir / "root" / spec.workdir.lstrip("/"))
        Path(workdir).mkdir(parents=True, exist_ok=True)
        env = self._env(spec.env, paths, cdir, ports, cid)
        command = self._command(spec.command, paths)
        log = (cdir / "output.log").open("ab")
        try:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", _WRAPPER, "takos-local", *command], cwd=workdir, env=env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        except OSError as exc:
            shutil.rmtree(cdir, ignore_errors=True)
            shutil.rmtree(_tmp_dir(cid), ignore_errors=True)
            raise DriverError(f"could not start {command[0]}: {exc}") from exc
        finally:
            log.close()
        deadline = time.time() + spec.timeout_seconds if spec.timeout_seconds else None
        meta = {
            "id": cid, "pid": proc.pid, "owner": spec.owner, "role": spec.role, "image": spec.image,
            "ports": {str(k): v for k, v in ports.items()}, "workdir": workdir, "env": env,
            "paths": pairs, "labels": spec.labels, "created": time.time(), "deadline": deadline,
        }
        self._write_meta(cid, meta)
        with self._lock:
            self._procs[cid] = proc
        return self._handle(meta)

    def _env(self, extra: dict[str, str], paths: PathMap, cdir: Path, ports: dict[int, int],
             cid: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(cdir / "root"),
            # Short: Chromium puts a unix socket under $TMPDIR (108-byte path limit).
            "TMPDIR": str(_tmp_dir(cid)),
            "PYTHONUNBUFFERED": "1",
            "TAKOS_CONTAINER_ID": cid,
            "TAKOS_EXIT_FILE": str(cdir / "exit_code"),
        }
        if ports:
            first = next(iter(ports.values()))
            env["PORT"] = str(first)
            env.update({f"TAKOS_PORT_{p}": str(h) for p, h in ports.items()})
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium:
            env["TAKOS_CHROMIUM"] = chromium
        env.update({k: paths.host(v) for k, v in extra.items()})
        return env

    @staticmethod
    def _command(command: list[str], paths: PathMap) -> list[str]:
        if not command:
            raise DriverError("the local driver needs an explicit command")
        mapped = [paths.host(arg) for arg in command]
        if mapped[0] in ("python", "python3"):
            mapped[0] = sys.executable
        return mapped

    def _alive(self, meta: dict) -> bool:
        with self._lock:
            proc = self._procs.get(meta["id"])
        if proc is not None:
            return proc.poll() is None
        try:
            os.kill(meta["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie whose parent is gone still answers kill(0); look at /proc.
        try:
            stat = Path(f"/proc/{meta['pid']}/stat").read_text()
            return stat.rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, IndexError):
            return True

    def _exit_code(self, meta: dict) -> int | None:
        with self._lock:
            proc = self._procs.get(meta["id"])
        if proc is not None and proc.poll() is not None:
            return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        try:
            return int((self._dir(meta["id"]) / "exit_code").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def status(self, handle: ContainerHandle) -> ContainerStatus:
        meta = self._meta(handle.id)
        if meta is None:
            return ContainerStatus(state="missing", reason="container not found")
        if self._alive(meta):
            if meta.get("deadline") and time.time() > meta["deadline"]:
                self._kill(meta, signal.SIGKILL)
                meta["reason"] = "timeout"
                self._write_meta(handle.id, meta)
                return ContainerStatus(state="exited", exit_code=137, reason="timeout")
            return ContainerStatus(state="running")
        code = self._exit_code(meta)
        reason = meta.get("reason") or (None if code == 0 else ("killed" if code is None else f"exit code {code}"))
        return ContainerStatus(state="exited", exit_code=code if code is not None else 137, reason=reason)

    def _kill(self, meta: dict, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(meta["pid"], sig)

    def stop(self, handle: ContainerHandle, *, timeout: float = 10) -> None:
        meta = self._meta(handle.id)
        if meta is None:
            return
        self._kill(meta, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._alive(meta) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._kill(meta, signal.SIGKILL)
        with self._lock:
            proc = self._procs.pop(handle.id, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        shutil.rmtree(self._dir(handle.id), ignore_errors=True)
        shutil.rmtree(_tmp_dir(handle.id), ignore_errors=True)

    def logs(self, handle: ContainerHandle, *, since_byte: int = 0) -> bytes:
        path = self._dir(handle.id) / "output.log"
        try:
            with path.open("rb") as fh:
                fh.seek(since_byte)
                return fh.read()
        except FileNotFoundError:
            return b""

    def exec(self, handle: ContainerHandle, command: list[str], *, env: dict[str, str] | None = None,
             workdir: str | None = None, timeout: float | None = None) -> ExecResult:
        meta = self._meta(handle.id)
        if meta is None or not self._alive(meta):
            raise DriverError(f"container {handle.id} is not running")
        paths = PathMap(meta["paths"])
        run_env = dict(meta["env"])
        run_env.update({k: paths.host(v) for k, v in (env or {}).items()})
        cwd = paths.host(workdir) if workdir else meta["workdir"]
        try:
            done = subprocess.run(self._command(command, paths), cwd=cwd, env=run_env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            output = (exc.stdout or b"").decode(errors="replace")
            return ExecResult(exit_code=124, output=output + "\n[takos] exec timed out")
        except OSError as exc:
            return ExecResult(exit_code=127, output=str(exc))
        return ExecResult(exit_code=done.returncode, output=done.stdout.decode(errors="replace"))

    def list(self, *, role: str | None = None, owner: str | None = None) -> list[ContainerHandle]:
        handles = []
        for meta_path in sorted(self.root.glob("loc-*/meta.json")):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue
            if (role is None or meta["role"] == role) and (owner is None or meta["owner"] == owner):
                handles.append(self._handle(meta))
        return handles

    def wait(self, handle: ContainerHandle, *, timeout: float | None = None) -> ContainerStatus:
        with self._lock:
            proc = self._procs.get(handle.id)
        if proc is not None:
            meta = self._meta(handle.id) or {}
            limit = timeout
            if meta.get("deadline"):
                left = max(0.0, meta["deadline"] - time.time())
                limit = left if limit is None else min(limit, left)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=limit)
            return self.status(handle)
        return super().wait(handle, timeout=timeout)

"""Step runner: the main process of a workflow job's container (standard library only).

It runs the commands the control plane drops into a shared folder, one at a time:

    <control>/cmd/<seq>.json   {"argv": [...], "env": {...}, "cwd": "...", "timeout": seconds|null,
                                "log": "<path>", "exit": "<path>", "path_prepend": [...]}
    <control>/cmd/<seq>.cancel  (optional) stop the running command
    <control>/stop              exit

Output goes straight to the command's log file (unbuffered), so the control plane tails it
live; the exit status is written atomically to the exit file as
{"code": int, "timed_out": bool, "cancelled": bool}. Commands run in their own process group
so a timeout or cancel kills everything they started; SIGTERM (container stop) does the same.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

POLL = 0.02
current: subprocess.Popen | None = None


def kill_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + 3
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is not None:
            return


def on_term(signum: int, frame: object) -> None:
    if current is not None and current.poll() is None:
        kill_group(current)
    sys.exit(128 + signum)


def write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def run_command(cmd: dict, cancel_path: str) -> dict:
    global current
    env = dict(os.environ)
    env.update({k: str(v) for k, v in (cmd.get("env") or {}).items()})
    if cmd.get("path_prepend"):  # $GITHUB_PATH entries from earlier steps
        env["PATH"] = os.pathsep.join([*cmd["path_prepend"], env.get("PATH", "")])
    cwd = cmd.get("cwd") or os.getcwd()
    with open(cmd["log"], "ab", buffering=0) as log:
        if not os.path.isdir(cwd):
            log.write(f"##[error]working directory {cwd} does not exist\n".encode())
            return {"code": 1, "timed_out": False, "cancelled": False}
        try:
            current = subprocess.Popen(cmd["argv"], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            log.write(f"##[error]could not start {cmd['argv'][0]}: {exc}\n".encode())
            return {"code": 127, "timed_out": False, "cancelled": False}
        deadline = time.monotonic() + float(cmd["timeout"]) if cmd.get("timeout") else None
        timed_out = cancelled = False
        while current.poll() is None:
            if os.path.exists(cancel_path):
                cancelled = True
                kill_group(current)
                break
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
                kill_group(current)
                break
            time.sleep(POLL)
        code = current.wait()
        current = None
        return {"code": code if code >= 0 else 128 - code, "timed_out": timed_out, "cancelled": cancelled}


def main() -> int:
    control = sys.argv[1]
    idle_limit = float(os.environ.get("TAKOS_RUNNER_IDLE_SECONDS", "900"))
    os.umask(0)  # files created in the shared folders stay removable by the control plane
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    cmd_dir = os.path.join(control, "cmd")
    os.makedirs(cmd_dir, exist_ok=True)
    write_json(os.path.join(control, "ready.json"), {"pid": os.getpid(), "time": time.time()})
    seq = 1
    idle_since = time.monotonic()
    while True:
        path = os.path.join(cmd_dir, f"{seq}.json")
        if os.path.exists(path):
            with open(path) as fh:
                cmd = json.load(fh)
            result = run_command(cmd, os.path.join(cmd_dir, f"{seq}.cancel"))
            write_json(cmd["exit"], result)
            seq += 1
            idle_since = time.monotonic()
            continue
        if os.path.exists(os.path.join(control, "stop")):
            return 0
        if time.monotonic() - idle_since > idle_limit:
            return 0  # nobody is driving this job any more
        time.sleep(POLL)


if __name__ == "__main__":
    sys.exit(main())

"""`manage.py up`: migrate, then run web (daphne), a Celery worker and beat together.

Ctrl-C (or SIGTERM) stops all three; if one of them dies the others are stopped too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from takos.celery import QUEUES


def process_commands(host: str, port: int, concurrency: int) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "web": [py, "-m", "daphne", "-b", host, "-p", str(port), "--proxy-headers", "takos.asgi:application"],
        "worker": [
            py, "-m", "celery", "-A", "takos", "worker", "-Q", ",".join(QUEUES), "-c", str(concurrency),
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO", "-n", "takos@%h",
        ],
        "beat": [py, "-m", "celery", "-A", "takos", "beat", "--loglevel", "INFO",
                 "-s", settings.CELERY_BEAT_SCHEDULE_FILE],
    }


class Command(BaseCommand):
    help = "Migrate and start web, worker and beat on the configured backends (Ctrl-C stops all)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("TAKOS_BIND", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("TAKOS_WORKER_CONCURRENCY", "2")))
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, host: str, port: int, concurrency: int, no_migrate: bool, **options) -> None:  # type: ignore[no-untyped-def]
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        procs: dict[str, subprocess.Popen] = {}
        for name, cmd in process_commands(host, port, concurrency).items():
            procs[name] = subprocess.Popen(cmd, start_new_session=True)
        url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/"
        self.stdout.write(f"Takos is running at {url}  (data in {settings.DATA_DIR}; Ctrl-C stops)", ending="\n")
        self.stdout.flush()

        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with {proc.returncode}; stopping the others")
                    exit_code, stopping = proc.returncode or 1, True
                    break
            time.sleep(0.2)
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        sys.exit(exit_code)

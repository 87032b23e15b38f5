"""`manage.py up`: migrate, then run web (daphne), the dispatch front, a Celery worker and beat together.

Ctrl-C (or SIGTERM) stops them all; if one of them dies the others are stopped too. The dispatch
front serves tenant hostnames on its own port (`--dispatch-port`, default PORT + 1; 0 turns it
off: web's dispatch middleware still serves them on the main port).
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


def process_commands(host: str, port: int, concurrency: int, dispatch_port: int = 0) -> dict[str, list[str]]:
    py = sys.executable
    commands = {
        "web": [py, "-m", "daphne", "-b", host, "-p", str(port), "--proxy-headers", "takos.asgi:application"],
        "worker": [
            py, "-m", "celery", "-A", "takos", "worker", "-Q", ",".join(QUEUES), "-c", str(concurrency),
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO", "-n", "takos@%h",
        ],
        "beat": [py, "-m", "celery", "-A", "takos", "beat", "--loglevel", "INFO",
                 "-s", settings.CELERY_BEAT_SCHEDULE_FILE],
    }
    if dispatch_port:
        commands["dispatch"] = [py, str(settings.BASE_DIR / "manage.py"), "dispatch", "--host", host,
                                "--port", str(dispatch_port)]
    return commands


class Command(BaseCommand):
    help = "Migrate and start web, worker and beat on the configured backends (Ctrl-C stops all)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("TAKOS_BIND", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("TAKOS_WORKER_CONCURRENCY", "2")))
        parser.add_argument("--dispatch-port", type=int, default=None,
                            help="port of the dispatch front (default: $TAKOS_DISPATCH_PORT or PORT + 1; 0: off)")
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, host: str, port: int, concurrency: int, dispatch_port: int | None,  # type: ignore[no-untyped-def]
               no_migrate: bool, **options) -> None:
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        if dispatch_port is None:
            dispatch_port = int(os.environ.get("TAKOS_DISPATCH_PORT") or port + 1)
        procs: dict[str, subprocess.Popen] = {}
        for name, cmd in process_commands(host, port, concurrency, dispatch_port).items():
            procs[name] = subprocess.Popen(cmd, start_new_session=True)
        url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}/"
        self.stdout.write(f"Takos is running at {url}  (data in {settings.DATA_DIR}; Ctrl-C stops)", ending="\n")
        if dispatch_port:
            self.stdout.write(f"Apps are served at http://<service>.{settings.TAKOS_TENANT_DOMAIN}:{dispatch_port}/ "
                              f"(and on {port} through web)", ending="\n")
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
                if name == "dispatch" and proc.poll() is not None:
                    # Not fatal (its port may be taken): web's middleware still serves tenant hosts.
                    self.stderr.write(f"dispatch exited with {proc.returncode}; apps stay served on port {port}")
                    del procs[name]
                    break
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

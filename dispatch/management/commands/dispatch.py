"""`manage.py dispatch`: run the dispatch front (the tenant proxy) on its own port."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve tenant hostnames and verified custom domains (the dispatch front; uvloop + httptools)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("TAKOS_BIND", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("TAKOS_DISPATCH_PORT") or 8001))

    def handle(self, *args, host: str, port: int, **options) -> None:  # type: ignore[no-untyped-def]
        from dispatch.front import run

        self.stdout.write(f"dispatch front on http://{host}:{port}/")
        self.stdout.flush()
        run(host, port)

"""ASGI entry point: HTTP through Django (static files served here too), WebSockets via Channels.

Tenant hostnames are routed by the dispatch middleware before Django (deployments slice).
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "takos.settings")

import sys

import django
from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

django.setup(set_prefix=False)

if "daphne.server" in sys.modules:
    from takos import twisted_requests, twisted_writes

    twisted_requests.install()  # see the module: bodies reach Django unparsed (bad ones get the envelope)
    if os.environ.get("TAKOS_WRITE_THROUGH", "1") == "1":
        twisted_writes.install()  # see the module: one send per write instead of a selector round trip

from takos.asgi_handler import OneHopASGIHandler  # noqa: E402

django_asgi = OneHopASGIHandler(lanes=settings.TAKOS_ASGI_LANES)

from channels.auth import AuthMiddlewareStack  # noqa: E402

from agents.api.sse_asgi import RunStreamRouter  # noqa: E402
from dispatch.middleware import DispatchMiddleware  # noqa: E402
from takos.routing import websocket_urlpatterns  # noqa: E402

# Everything imported so far lives as long as the process: keep it out of the collector's scans, so a
# full collection under many open streams walks only what requests made (a stall of every stream).
gc.collect()
gc.freeze()

application = ProtocolTypeRouter(
    {
        # Run streams skip Django's response machinery (agents/api/sse_asgi.py); the rest is Django.
        "http": DispatchMiddleware(RunStreamRouter(ASGIStaticFilesHandler(django_asgi))),
        "websocket": DispatchMiddleware(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

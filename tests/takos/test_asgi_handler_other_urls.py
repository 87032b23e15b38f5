"""A URLconf a middleware picks for one request (tests/takos/test_asgi_handler.py)."""

from django.urls import path

from tests.takos.test_asgi_handler import other_view

urlpatterns = [path("other", other_view)]

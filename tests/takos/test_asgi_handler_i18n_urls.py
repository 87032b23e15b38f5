"""Language-prefixed URLs (tests/takos/test_asgi_handler.py): resolving depends on the language."""

from django.conf.urls.i18n import i18n_patterns
from django.urls import path

from tests.takos.test_asgi_handler import sync_view

urlpatterns = i18n_patterns(path("sync", sync_view))

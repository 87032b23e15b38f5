"""Every route of the workflows app, mounted with one include in takos/urls.py (before the /api catch-all)."""

from django.urls import include, path

urlpatterns = [
    path("api/", include("workflows.api.urls")),
    path("", include("workflows.console.urls")),
]

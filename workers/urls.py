"""Everything the deployments slice mounts at the root: the API under /api/ and the console pages."""

from django.urls import include, path

urlpatterns = [
    path("api/", include("workers.api.urls")),
    path("", include("workers.console.urls")),
]

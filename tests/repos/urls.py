"""URLconf for the repos unit tests: the foundation plus repos only, so half-built apps of other
slices in the same working tree cannot break these tests (the e2e daphne uses it too)."""

from django.contrib import admin
from django.urls import include, path, re_path

from accounts.api.urls import accounts_urlpatterns
from auth_app.api.urls import auth_urlpatterns
from takos import health
from takos.api.errors import api_not_found

urlpatterns = [
    path("health", health.health, name="health"),
    path("api/", include([*auth_urlpatterns, *accounts_urlpatterns])),
    path("", include("repos.urls")),
    re_path(r"^api(?:/.*)?$", api_not_found),
    path("admin/", admin.site.urls),
    path("", include("takos.console.urls")),
]

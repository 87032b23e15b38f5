"""A URLconf with only what the hosts and sessions tests need (isolates them from other apps'
work in progress), plus the console and admin that the base layout links to."""

from django.contrib import admin
from django.urls import include, path, re_path

from takos.api.errors import api_not_found

urlpatterns = [
    path("api/", include("platform_app.api.session_urls")),
    path("internal/", include("hosts.api.internal_urls")),
    re_path(r"^api(?:/.*)?$", api_not_found),
    path("admin/", admin.site.urls),
    path("", include("hosts.console.urls")),
    path("", include("takos.console.urls")),
]

"""Everything agents serves: /api/... (section 7) and the console pages."""

from django.urls import include, path

urlpatterns = [
    path("api/", include("agents.api.urls")),
    path("", include("agents.console.urls")),
]

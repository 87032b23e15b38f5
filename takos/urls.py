"""Root URLs: API under /api (paths from the spec), console pages, admin, health."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api.urls import accounts_urlpatterns
from auth_app.api.urls import auth_urlpatterns
from takos import health
from takos.api.errors import api_not_found

api_urlpatterns = [
    *accounts_urlpatterns,  # first: /api/me and /api/spaces are the most called (none overlaps auth's)
    *auth_urlpatterns,
    path("", include("platform_app.api.session_urls")),  # hosts: runtime + browser sessions
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("health", health.health, name="health"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/", include(api_urlpatterns)),
    path("internal/", include("hosts.api.internal_urls")),  # hosts: container proxy contract
    path("", include("hosts.console.urls")),  # hosts: sessions console pages
    path("", include("oauth.urls")),  # oauth: /oauth/*, /.well-known/*, /api/oauth/*, /api/me/oauth/*, console
    path("", include("repos.urls")),  # repos: /api/spaces/:id/repos, /api/repos/..., /git/..., console
    path("", include("workflows.urls")),  # workflows: /api/repos/:id/workflows, /api/repos/:id/actions/..., console
    path("", include("agents.urls")),  # agents: threads, runs, streams, memories, skills, console
    path("", include("platform_app.notifications.urls")),  # agents helper: /api/notifications*, console
    path("", include("workers.urls")),  # workers: /api/services*, app-deployments, domains, console
    re_path(r"^api(?:/.*)?$", api_not_found),
    path("admin/", admin.site.urls),
    path("", include("takos.console.urls")),
]

handler404 = "takos.console.views.not_found"
handler500 = "takos.console.views.server_error"

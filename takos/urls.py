"""Root URLs: API under /api (paths from the spec), console pages, admin, health."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api.urls import accounts_urlpatterns
from auth_app.api.urls import auth_urlpatterns
from takos import health
from takos.api.errors import api_not_found

api_urlpatterns = [
    *auth_urlpatterns,
    *accounts_urlpatterns,
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("health", health.health, name="health"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/", include(api_urlpatterns)),
    path("", include("oauth.urls")),  # oauth: /oauth/*, /.well-known/*, /api/oauth/*, /api/me/oauth/*, console
    re_path(r"^api(?:/.*)?$", api_not_found),
    path("admin/", admin.site.urls),
    path("", include("takos.console.urls")),
]

handler404 = "takos.console.views.not_found"
handler500 = "takos.console.views.server_error"

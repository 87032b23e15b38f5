"""Every route of the repos app, mounted with one include in takos/urls.py (before the /api catch-all).

/api/... (spec section 6), /git/<owner>/<repo>.git/... (smart HTTP) and the console pages.
"""

from django.urls import include, path

urlpatterns = [
    path("api/", include("repos.api.urls")),
    path("git/", include("repos.http.urls")),
    path("", include("repos.console.urls")),
]

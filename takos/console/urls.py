from django.urls import include, path

from takos.console import views

urlpatterns = [
    path("", views.home, name="console-home"),
    path("", include("auth_app.console.urls")),
    path("", include("accounts.console.urls")),
]

from django.urls import path

from auth_app.console import views

urlpatterns = [
    path("signup", views.signup, name="console-signup"),
    path("login", views.login_page, name="console-login"),
    path("logout", views.logout_page, name="console-logout"),
    path("settings/tokens", views.tokens_page, name="console-tokens"),
    path("settings/tokens/<str:token_id>/revoke", views.token_revoke, name="console-token-revoke"),
    path("auth/cli", views.cli_login, name="console-cli-login"),
]

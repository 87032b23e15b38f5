from django.urls import path

from auth_app.api import views

auth_urlpatterns = [
    path("auth/csrf", views.CsrfView.as_view(), name="api-auth-csrf"),
    path("auth/signup", views.SignupView.as_view(), name="api-auth-signup"),
    path("auth/login", views.LoginView.as_view(), name="api-auth-login"),
    path("auth/logout", views.LogoutView.as_view(), name="api-auth-logout"),
    path("setup/status", views.SetupStatusView.as_view(), name="api-setup-status"),
    path("setup/complete", views.SetupCompleteView.as_view(), name="api-setup-complete"),
    path("setup/check-username", views.CheckUsernameView.as_view(), name="api-setup-check-username"),
    path("me/personal-access-tokens", views.TokensView.as_view(), name="api-tokens"),
    path("me/personal-access-tokens/<str:token_id>", views.TokenDetailView.as_view(), name="api-token-detail"),
]

"""/api/auth/*, /api/setup/* and /api/me/personal-access-tokens."""

from __future__ import annotations

from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.middleware.csrf import get_token
from rest_framework import status
from rest_framework.authentication import CSRFCheck
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.serializers import user_out
from accounts.selectors import username_problem
from accounts.services import user_change_username, user_update_settings
from auth_app import services
from auth_app.api.serializers import LoginIn, SignupIn, TokenCreateIn, UsernameIn, token_out
from auth_app.models import PersonalAccessToken
from takos.api.errors import Unauthorized
from takos.api.pagination import paginate
from takos.api.permissions import token_scopes
from takos.api.views import AccountApiView, ApiView


def _enforce_csrf(request: Request) -> None:
    """Sign-up and login change the session, so they need the CSRF token like cookie requests."""
    check = CSRFCheck(lambda req: None)
    check.process_request(request._request)
    reason = check.process_view(request._request, None, (), {})
    if reason:
        raise PermissionDenied(f"CSRF check failed ({reason}). GET /api/auth/csrf and send X-CSRFToken.")


def client_ip(request: Request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


class CsrfView(ApiView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request: Request) -> Response:
        return Response({"csrf_token": get_token(request._request)})


class SignupView(ApiView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def post(self, request: Request) -> Response:
        _enforce_csrf(request)
        data = self.parse(SignupIn, request)
        user = services.signup(username=data["username"], email=data["email"], password=data["password"])
        django_login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
        return Response({"user": user_out(user)}, status=status.HTTP_201_CREATED)


class LoginView(ApiView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def post(self, request: Request) -> Response:
        _enforce_csrf(request)
        data = self.parse(LoginIn, request)
        user = services.check_login(login=data["login"], password=data["password"], ip=client_ip(request))
        if user is None:
            raise Unauthorized("Wrong username/email or password.")
        django_login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
        return Response({"user": user_out(user)})


class LogoutView(ApiView):
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        django_logout(request._request)
        return Response({"success": True})


class SetupStatusView(AccountApiView):
    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"setup_completed": user.setup_completed, "username": user.username, "email": user.email})


class SetupCompleteView(AccountApiView):
    def post(self, request: Request) -> Response:
        data = self.parse(UsernameIn, request)
        user = user_change_username(user=request.user, username=data["username"])
        user_update_settings(user=user, data={"setup_completed": True})
        return Response({"success": True, "user": user_out(user)})


class CheckUsernameView(AccountApiView):
    def post(self, request: Request) -> Response:
        data = self.parse(UsernameIn, request)
        problem = username_problem(data["username"].strip().lower(), exclude_user=request.user)
        return Response({"available": problem is None, **({"error": problem} if problem else {})})


class TokensView(AccountApiView):
    scope = None  # tokens are managed by the account itself, whatever the token's scopes

    def get(self, request: Request) -> Response:
        qs = PersonalAccessToken.objects.live().filter(user=request.user).order_by("-created_at")
        return Response(paginate(request, qs, key="tokens", serialize=lambda items: [token_out(t) for t in items]))

    def post(self, request: Request) -> Response:
        data = self.parse(TokenCreateIn, request)
        issued = services.pat_create(
            user=request.user,
            name=data["name"],
            scopes=data.get("scopes", "*"),
            creator_scopes=token_scopes(request),
            expires_at=data.get("expiresAt") or data.get("expires_at"),
        )
        return Response({"token": issued.token, **token_out(issued.record), "id": issued.record.id}, status=201)


class TokenDetailView(AccountApiView):
    def delete(self, request: Request, token_id: str) -> Response:
        services.pat_revoke(user=request.user, token_id=token_id)
        return Response({"success": True})

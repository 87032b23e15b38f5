"""Console pages: sign up, sign in, sign out, tokens and the CLI hand-off."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from auth_app import services
from auth_app.models import PersonalAccessToken
from takos.api.errors import ApiError
from takos.api.scopes import SCOPES
from takos.console.helpers import attempt, field_errors

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return "/"
    return target


def signup(request: HttpRequest) -> HttpResponse:
    errors: dict = {}
    form_error = None
    if request.method == "POST":
        try:
            user = services.signup(
                username=request.POST.get("username", ""),
                email=request.POST.get("email", ""),
                password=request.POST.get("password", ""),
            )
        except ApiError as exc:
            errors = field_errors(exc)
            form_error = None if errors else str(exc.detail)
        else:
            django_login(request, user, backend=BACKEND)
            messages.success(request, "Welcome to Takos! Your personal space is ready.")
            return redirect(_next_url(request))
    return render(request, "auth_app/signup.html", {"errors": errors, "form_error": form_error, "form": request.POST,
                                                   "next": _next_url(request)},
                  status=400 if errors or form_error else 200)


def login_page(request: HttpRequest) -> HttpResponse:
    error = None
    if request.method == "POST":
        from auth_app.api.views import client_ip

        try:
            user = services.check_login(
                login=request.POST.get("login", ""), password=request.POST.get("password", ""), ip=client_ip(request)
            )
        except ApiError as exc:
            user, error = None, str(exc.detail)
        else:
            if user is None:
                error = "Wrong username/email or password."
        if user is not None:
            django_login(request, user, backend=BACKEND)
            return redirect(_next_url(request))
    status = 401 if error else 200
    return render(request, "auth_app/login.html", {"error": error, "form": request.POST, "next": _next_url(request)},
                  status=status)


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    django_logout(request)
    return redirect("console-login")


@login_required
def tokens_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        days = request.POST.get("expires_in_days", "")
        expires = timezone.now() + timedelta(days=int(days)) if days.isdigit() and int(days) > 0 else None
        scopes = request.POST.getlist("scopes") or "*"
        issued = attempt(request, lambda: services.pat_create(
            user=request.user, name=request.POST.get("name", ""), scopes=scopes, expires_at=expires))
        if issued is not None:
            # Post/redirect/get: the clear token rides in the session for exactly one page view.
            request.session["new_token"] = {"name": issued.record.name, "token": issued.token}
        return redirect("console-tokens")
    created = request.session.pop("new_token", None)
    tokens = PersonalAccessToken.objects.live().filter(user=request.user).order_by("-created_at")
    return render(request, "auth_app/tokens.html",
                  {"nav": "tokens", "tokens": tokens, "created": created, "scopes": SCOPES})


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: str) -> HttpResponse:
    attempt(request, lambda: services.pat_revoke(user=request.user, token_id=token_id))
    if request.headers.get("HX-Request"):
        return HttpResponse("")  # htmx removes the row
    messages.success(request, "Token revoked.")
    return redirect("console-tokens")


def _loopback_callback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"} and bool(parts.port)


@login_required
def cli_login(request: HttpRequest) -> HttpResponse:
    """`takos login` opens this page; on approval a new PAT is POSTed to the CLI's loopback server."""
    callback = request.GET.get("callback") or request.POST.get("callback", "")
    state = request.GET.get("state") or request.POST.get("state", "")
    if not _loopback_callback(callback) or not state:
        return HttpResponseBadRequest("The CLI login link is invalid: it needs a loopback callback and a state.")
    if request.method == "POST":
        hostname = (request.POST.get("hostname") or "cli")[:60]
        issued = services.pat_create(user=request.user, name=f"takos CLI ({hostname})")
        return render(request, "auth_app/cli_done.html", {"callback": callback, "state": state, "token": issued.token})
    return render(request, "auth_app/cli_login.html",
                  {"callback": callback, "state": state, "hostname": request.GET.get("hostname", "")})

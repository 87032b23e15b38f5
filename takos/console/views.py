from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import Membership
from accounts.services import ensure_personal_space
from auth_app.models import PersonalAccessToken
from takos.api.errors import error_response


@login_required
def home(request: HttpRequest) -> HttpResponse:
    ensure_personal_space(request.user)
    memberships = Membership.objects.filter(user=request.user).select_related("space").order_by("space__kind", "space__slug")
    tokens = PersonalAccessToken.objects.live().filter(user=request.user).count()
    return render(request, "takos/home.html", {"nav": "home", "memberships": memberships, "token_count": tokens})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(("/api/", "/oauth/", "/git/", "/internal/")):
        return error_response(404, f"Nothing at {request.path}.")
    return render(request, "takos/error.html", {"status": 404, "message": "Page not found."}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(("/api/", "/oauth/", "/git/", "/internal/")):
        return error_response(500, "Internal server error.")
    return render(request, "takos/error.html", {"status": 500, "message": "Something went wrong."}, status=500)

"""Console pages: apps I authorized (revoke) and OAuth clients I own (create, delete)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from oauth import selectors, services
from oauth.models import GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE, SUPPORTED_GRANT_TYPES
from oauth.scopes import describe
from takos.api.errors import ApiError
from takos.api.scopes import SCOPES
from takos.console.helpers import attempt


@login_required
def apps_page(request: HttpRequest) -> HttpResponse:
    consents = [{"consent": c, "scopes": describe(c.scopes)} for c in selectors.consents_for(request.user)]
    return render(request, "oauth/apps.html", {"nav": "oauth", "consents": consents})


@login_required
@require_POST
def app_revoke(request: HttpRequest, client_id: str) -> HttpResponse:
    try:
        services.consent_revoke(user=request.user, client_id=client_id, request=request)
    except ApiError as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, "Access revoked. The app's tokens stopped working.")
    return redirect("console-oauth-apps")


@login_required
def clients_page(request: HttpRequest) -> HttpResponse:
    created = None
    if request.method == "POST":
        grants = request.POST.getlist("grant_types") or ["authorization_code", "refresh_token"]
        data = {
            "client_name": request.POST.get("client_name", ""),
            "redirect_uris": request.POST.get("redirect_uris", "").split(),
            "client_uri": request.POST.get("client_uri", ""),
            "client_type": request.POST.get("client_type", "confidential"),
            "grant_types": grants,
            "scopes": request.POST.getlist("scopes"),
        }
        created = attempt(request, lambda: services.client_create(owner=request.user, data=data, request=request))
    clients = selectors.clients_owned_by(request.user)
    return render(request, "oauth/clients.html", {
        "nav": "oauth", "clients": clients, "created": created, "scopes": SCOPES,
        "grant_types": list(SUPPORTED_GRANT_TYPES), "device_grant": GRANT_DEVICE_CODE,
        "cc_grant": GRANT_CLIENT_CREDENTIALS,
    })


@login_required
@require_POST
def client_delete(request: HttpRequest, client_id: str) -> HttpResponse:
    try:
        services.client_delete(owner=request.user, client_id=client_id, request=request)
    except ApiError as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, "Client deleted; every token it held is revoked.")
    return redirect("console-oauth-clients")

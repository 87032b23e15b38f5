"""/api/oauth/* (consent JSON for the SPA, session only) and /api/me/oauth/* (grants, audit, clients)."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from auth_app.authentication import CsrfSessionAuthentication
from oauth import selectors, services
from oauth.api.serializers import (
    AuthorizeDecisionIn,
    ClientIn,
    DeviceDecisionIn,
    audit_out,
    client_out,
    client_public_out,
    consent_out,
)
from oauth.flow import AuthorizationRejected, validate_authorization
from oauth.models import OAuthClient
from oauth.scopes import describe
from takos.api.errors import BadRequest, NotFound
from takos.api.pagination import paginate
from takos.api.permissions import TokenScope
from takos.api.views import ApiView


class NotOAuthToken(BasePermission):
    """OAuth grants and clients are managed by the person (session or PAT), never by an OAuth client."""

    message = "OAuth access tokens cannot manage OAuth grants or clients."

    def has_permission(self, request: Request, view: Any) -> bool:
        return getattr(request.auth, "kind", None) != "oauth"


class MeOAuthView(ApiView):
    permission_classes = [IsAuthenticated, NotOAuthToken, TokenScope]
    scope = None


class ConsentApiView(ApiView):
    """SPA consent endpoints: the browser session only, CSRF-checked; no bearer token may consent."""

    authentication_classes = [CsrfSessionAuthentication]
    permission_classes = [IsAuthenticated]
    scope = None


class AuthorizeContextView(ConsentApiView):
    def get(self, request: Request) -> Response:
        django_request = request._request
        request_id = request.query_params.get("request_id")
        if request_id:
            entry = services.pending_get(django_request, request_id)
            credentials, scopes = entry["credentials"], entry["scopes"]
            client = OAuthClient.objects.filter(client_id=credentials["client_id"]).first()
            if client is None:
                raise NotFound("This client no longer exists.")
        else:
            try:
                auth = validate_authorization(django_request)
            except AuthorizationRejected as exc:
                raise BadRequest(exc.description, details={"error": exc.error, "redirect_url": exc.redirect_url}) from None
            credentials, scopes, client = auth.credentials, auth.scopes, auth.client
            request_id = services.pending_put(django_request, credentials=credentials, scopes=scopes)
        consent = selectors.consent_for(request.user, client.client_id)
        return Response({
            "request_id": request_id,
            "client": client_public_out(client),
            "scopes": describe(scopes),
            "redirect_uri": credentials["redirect_uri"],
            "resource": credentials.get("resource") or [],
            "already_granted": bool(consent and consent.covers(scopes)),
        })


class AuthorizeDecisionView(ConsentApiView):
    def post(self, request: Request) -> Response:
        data = self.parse(AuthorizeDecisionIn, request)
        url = services.authorization_decide(request._request, request_id=data["request_id"], approve=data["approve"],
                                            scopes=data.get("scopes"))
        return Response({"redirect_url": url, "approved": data["approve"]})


class DeviceContextView(ConsentApiView):
    def get(self, request: Request) -> Response:
        device = services.device_lookup(user=request.user, user_code=request.query_params.get("user_code", ""))
        client = OAuthClient.objects.filter(client_id=device.client_id).first()
        if client is None:
            raise NotFound("This client no longer exists.")
        return Response({
            "user_code": device.user_code,
            "client": client_public_out(client),
            "scopes": describe(device.scope.split() if device.scope else []),
            "expires_at": device.expires.isoformat(),
        })


class DeviceDecisionView(ConsentApiView):
    def post(self, request: Request) -> Response:
        data = self.parse(DeviceDecisionIn, request)
        outcome = services.device_decide(request._request, user_code=data["user_code"], approve=data["approve"])
        return Response({"status": outcome})


class ConsentsView(MeOAuthView):
    def get(self, request: Request) -> Response:
        qs = selectors.consents_for(request.user)
        return Response(paginate(request, qs, key="consents", serialize=lambda items: [consent_out(c) for c in items]))


class ConsentDetailView(MeOAuthView):
    def get(self, request: Request, client_id: str) -> Response:
        consent = selectors.consent_for(request.user, client_id)
        if consent is None:
            raise NotFound("No active grant for this client.")
        return Response({"consent": consent_out(consent)})

    def delete(self, request: Request, client_id: str) -> Response:
        services.consent_revoke(user=request.user, client_id=client_id, request=request._request)
        return Response({"success": True})


class AuditLogsView(MeOAuthView):
    def get(self, request: Request) -> Response:
        qs = selectors.audit_logs_for(request.user)
        return Response(paginate(request, qs, key="audit_logs", serialize=lambda items: [audit_out(e) for e in items]))


class ClientsView(MeOAuthView):
    def get(self, request: Request) -> Response:
        qs = selectors.clients_owned_by(request.user)
        return Response(paginate(request, qs, key="clients", serialize=lambda items: [client_out(c) for c in items]))

    def post(self, request: Request) -> Response:
        data = self.parse(ClientIn, request)
        issued = services.client_create(owner=request.user, data=data, request=request._request)
        body = {"client": client_out(issued.client)}
        if issued.client_secret:
            body["client_secret"] = issued.client_secret  # shown once; stored hashed
        return Response(body, status=status.HTTP_201_CREATED)


class ClientDetailView(MeOAuthView):
    def get(self, request: Request, client_id: str) -> Response:
        return Response({"client": client_out(services.owned_client(owner=request.user, client_id=client_id))})

    def patch(self, request: Request, client_id: str) -> Response:
        data = self.parse(ClientIn, request, partial=True)
        client = services.client_update(owner=request.user, client_id=client_id, data=data, request=request._request)
        return Response({"client": client_out(client)})

    def delete(self, request: Request, client_id: str) -> Response:
        services.client_delete(owner=request.user, client_id=client_id, request=request._request)
        return Response({"success": True})


class ClientSecretView(MeOAuthView):
    def post(self, request: Request, client_id: str) -> Response:
        issued = services.client_rotate_secret(owner=request.user, client_id=client_id, request=request._request)
        return Response({"client": client_out(issued.client), "client_secret": issued.client_secret})

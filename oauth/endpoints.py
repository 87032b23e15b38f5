"""The /oauth/* and /.well-known/* endpoints: django-oauth-toolkit views with Takos policy on top."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider import views as dot_views
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.models import (
    DeviceCodeResponse,
    DeviceRequest,
    create_device_grant,
    get_access_token_model,
    get_refresh_token_model,
)
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import Request as OauthlibRequest
from oauthlib.oauth2 import DeviceApplicationServer

from oauth import conf, services
from oauth.flow import AuthorizationRejected, validate_authorization
from oauth.models import DEVICE_CODE_TTL, GRANT_DEVICE_CODE, SUPPORTED_GRANT_TYPES, OAuthClient
from oauth.scopes import TakosScopes, describe
from takos.api.errors import ApiError
from takos.api.scopes import SCOPES

NO_FRAMES = "frame-ancestors 'none'"


def oauth_error(error: str, description: str, status: int = 400, headers: dict[str, str] | None = None) -> JsonResponse:
    """RFC 6749 §5.2 error body."""
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _protect_page(response: HttpResponse) -> HttpResponse:
    # Consent pages must never be framed (clickjacking) nor cached.
    response["Content-Security-Policy"] = NO_FRAMES
    response["Cache-Control"] = "no-store"
    return response


# --- authorization endpoint ---------------------------------------------------------------------
@method_decorator(never_cache, name="dispatch")
class AuthorizeView(LoginRequiredMixin, View):
    """GET validates and shows the consent page (or answers at once for a remembered grant);
    POST carries the person's decision for a request kept in the session."""

    def _redirect(self, url: str, client: OAuthClient | None) -> HttpResponse:
        schemes = client.get_allowed_schemes() if client else settings.OAUTH2_PROVIDER["ALLOWED_REDIRECT_URI_SCHEMES"]
        return OAuth2ResponseRedirect(url, schemes)

    def _error_page(self, request: HttpRequest, error: str, description: str, status: int = 400) -> HttpResponse:
        return _protect_page(render(request, "oauth/consent.html", {"error": error, "error_description": description},
                                    status=status))

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            auth = validate_authorization(request)
        except AuthorizationRejected as exc:
            if exc.redirect_url:
                return self._redirect(exc.redirect_url, None)
            return self._error_page(request, exc.error, exc.description)
        client = auth.client
        if "login" in auth.prompt:
            from django.contrib.auth.views import redirect_to_login

            query = request.GET.copy()
            query.pop("prompt", None)
            return redirect_to_login(f"{request.path}?{query.urlencode()}", settings.LOGIN_URL)
        granted = auth.already_granted(request.user) or client.skip_authorization
        if granted and "consent" not in auth.prompt:
            url = services.issue_authorization(request, credentials=auth.credentials, scopes=auth.scopes, allow=True)
            services.audit_request(request, "authorize.auto_approved", client_id=client.client_id, scopes=auth.scopes)
            return self._redirect(url, client)
        if "none" in auth.prompt:
            from oauth.flow import _error_redirect

            return self._redirect(_error_redirect(request, auth.credentials, "consent_required",
                                                  "The user has not granted these scopes yet."), client)
        request_id = services.pending_put(request, credentials=auth.credentials, scopes=auth.scopes)
        context = {"request_id": request_id, "client": client, "scopes": describe(auth.scopes),
                   "redirect_uri": auth.credentials["redirect_uri"], "resources": auth.resources}
        return _protect_page(render(request, "oauth/consent.html", context))

    def post(self, request: HttpRequest) -> HttpResponse:
        request_id = request.POST.get("request_id", "")
        approve = request.POST.get("decision") == "allow"
        chosen = request.POST.getlist("scope") if approve and request.POST.get("choose_scopes") else None
        try:
            entry = services.pending_get(request, request_id)
            client = OAuthClient.objects.filter(client_id=entry["credentials"]["client_id"]).first()
            url = services.authorization_decide(request, request_id=request_id, approve=approve, scopes=chosen)
        except ApiError as exc:
            return self._error_page(request, "invalid_request", str(exc.detail), status=exc.status_code)
        return self._redirect(url, client)


# --- token, revocation, introspection, userinfo ---------------------------------------------------
class TokenView(dot_views.TokenView):
    """All grants go through oauthlib, including device_code (our validator checks the device code,
    its client binding and polling rate; DOT's pre-check answered 404 for unknown codes)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = self.authorization_flow_token_response(request)
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response


class RevokeView(dot_views.RevokeTokenView):
    pass


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectView(OAuthLibMixin, View):
    """RFC 7662 for authenticated confidential clients, about their own tokens only."""

    def post(self, request: HttpRequest) -> HttpResponse:
        core = self.get_oauthlib_core()
        uri, method, body, headers = core._extract_params(request)
        oauth_request = OauthlibRequest(uri, method, body, headers)
        if not core.server.request_validator.authenticate_client(oauth_request) or oauth_request.client is None:
            return oauth_error("invalid_client", "Client authentication failed.", 401, {"WWW-Authenticate": "Basic"})
        client = oauth_request.client
        token = request.POST.get("token", "")
        if not token:
            return oauth_error("invalid_request", "The token parameter is missing.")
        return JsonResponse(self._describe(request, client, token), headers={"Cache-Control": "no-store"})

    @staticmethod
    def _describe(request: HttpRequest, client: OAuthClient, token: str) -> dict[str, Any]:
        import hashlib

        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        access = (get_access_token_model().objects.select_related("user")
                  .filter(token_checksum=checksum, application=client).first())
        base = {"client_id": client.client_id, "iss": conf.issuer(request)}
        if access is not None and access.is_valid():
            data = {"active": True, "scope": access.scope, "token_type": "Bearer",
                    "exp": int(access.expires.timestamp()), "iat": int(access.created.timestamp()), **base}
            if access.resource:
                data["aud"] = access.resource
            if access.user:
                data.update({"sub": access.user.pk, "username": access.user.get_username()})
            return data
        refresh = (get_refresh_token_model().objects.select_related("user", "access_token")
                   .filter(token_checksum=checksum, application=client, revoked__isnull=True).first())
        if refresh is not None and refresh.access_token is not None:
            return {"active": True, "token_type": "refresh_token", "scope": refresh.access_token.scope,
                    "sub": refresh.user.pk, "username": refresh.user.get_username(),
                    "iat": int(refresh.created.timestamp()), **base}
        return {"active": False}


class UserInfoView(dot_views.UserInfoView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # RFC 9700 §4.3.2: access tokens never travel in the query string.
        if "access_token" in request.GET:
            return oauth_error("invalid_request", "Send the access token in the Authorization header.", 400)
        return super().dispatch(request, *args, **kwargs)


# --- device authorization (RFC 8628) -------------------------------------------------------------
class _DeviceServer(DeviceApplicationServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._expires_in = DEVICE_CODE_TTL


class DeviceCodeView(dot_views.DeviceAuthorizationView):
    server_class = _DeviceServer

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            services.rate_limit_hit(bucket="device-code", key=client_ip(request),
                                    limit=settings.TAKOS_OAUTH_DEVICE_CODE_PER_MINUTE)
        except ApiError as exc:
            return oauth_error("slow_down", str(exc.detail), 429, {"Retry-After": str(exc.wait)})
        client_id = request.POST.get("client_id", "")
        if client_id == services.CLI_CLIENT_ID:
            services.ensure_cli_client()
        client = OAuthClient.objects.filter(client_id=client_id).first()
        if client is None or not client.is_usable(request):
            return oauth_error("invalid_client", "Unknown client.", 401)
        if not client.allows_grant_type(GRANT_DEVICE_CODE):
            return oauth_error("unauthorized_client", "This client may not use the device flow.")
        headers, data, status = self.create_device_authorization_response(request)
        if status != 200:
            return JsonResponse(json.loads(data) if isinstance(data, str) else data, status=status, headers=headers)
        # DOT's own post() passes oauthlib 4's extra `scope` key into DeviceCodeResponse and fails;
        # the grant is created here with the same helper.
        scope = request.POST.get("scope", "").strip() or " ".join(TakosScopes().get_default_scopes(application=client))
        fields = {f.name for f in dataclasses.fields(DeviceCodeResponse)}
        create_device_grant(DeviceRequest(client_id=client.client_id, scope=scope),
                            DeviceCodeResponse(**{k: v for k, v in data.items() if k in fields}))
        data = dict(data)
        data.pop("scope", None)
        verify = conf.public_base(request) + "/oauth/device"
        data["verification_uri"] = verify
        data["verification_uri_complete"] = f"{verify}?user_code={data['user_code']}"
        services.audit_request(request, "device.code_issued", client_id=client.client_id, user=None)
        return JsonResponse(data, headers={"Cache-Control": "no-store"})


@method_decorator([login_required, never_cache], name="dispatch")
class DeviceVerifyView(View):
    """The page a person opens to approve a device: enter the code, review, allow or deny."""

    def _page(self, request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
        return _protect_page(render(request, "oauth/device.html", context, status=status))

    def _review(self, request: HttpRequest, user_code: str) -> HttpResponse:
        try:
            device = services.device_lookup(user=request.user, user_code=user_code)
        except ApiError as exc:
            return self._page(request, {"error": str(exc.detail), "user_code": user_code}, status=exc.status_code)
        client = OAuthClient.objects.filter(client_id=device.client_id).first()
        scopes = device.scope.split() if device.scope else []
        return self._page(request, {"device": device, "client": client, "scopes": describe(scopes),
                                    "user_code": device.user_code})

    def get(self, request: HttpRequest) -> HttpResponse:
        user_code = request.GET.get("user_code", "")
        return self._review(request, user_code) if user_code else self._page(request, {})

    def post(self, request: HttpRequest) -> HttpResponse:
        user_code = request.POST.get("user_code", "")
        decision = request.POST.get("decision")
        if decision not in ("allow", "deny"):
            return self._review(request, user_code)
        try:
            outcome = services.device_decide(request, user_code=user_code, approve=decision == "allow")
        except ApiError as exc:
            return self._page(request, {"error": str(exc.detail)}, status=exc.status_code)
        return self._page(request, {"done": outcome})


# --- dynamic client registration (RFC 7591 / 7592) --------------------------------------------
def _registration_extras(data: dict[str, Any]) -> tuple[dict[str, Any], JsonResponse | None]:
    """Takos metadata beyond what DOT's DCR maps: scope, URIs, the full grant list."""
    extras: dict[str, Any] = {}
    scope = data.get("scope")
    if scope is not None:
        if not isinstance(scope, str):
            return {}, oauth_error("invalid_client_metadata", "scope must be a space-separated string.")
        unknown = [s for s in scope.split() if s not in SCOPES]
        if unknown:
            return {}, oauth_error("invalid_client_metadata", f"Unknown scopes: {', '.join(unknown)}.")
        extras["allowed_scopes"] = sorted(set(scope.split()))
    grants = data.get("grant_types", ["authorization_code", "refresh_token"])
    if isinstance(grants, list):
        unsupported = [g for g in grants if g not in SUPPORTED_GRANT_TYPES]
        if unsupported:
            return {}, oauth_error("invalid_client_metadata", f"Unsupported grant_types: {', '.join(map(str, unsupported))}.")
        if "client_credentials" in grants:
            # client_credentials acts as the client's owner; anonymous registrations have none.
            return {}, oauth_error("invalid_client_metadata", "client_credentials clients are created in the console.")
        extras["grant_types"] = list(dict.fromkeys(grants))
    for key in ("client_uri", "logo_uri", "policy_uri", "tos_uri"):
        value = data.get(key)
        if value is not None:
            if not isinstance(value, str) or not value.startswith("https://"):
                return {}, oauth_error("invalid_client_metadata", f"{key} must be an https URL.")
            extras[key] = value[:500]
    return extras, None


def _finish_registration(request: HttpRequest, response: HttpResponse, extras: dict[str, Any]) -> HttpResponse:
    if response.status_code not in (200, 201):
        return response
    data = json.loads(response.content)
    client = OAuthClient.objects.get(client_id=data["client_id"])
    for key, value in extras.items():
        setattr(client, key, value)
    client.save()
    data.update({
        "grant_types": client.rfc_grant_types,
        "scope": " ".join(client.scope_list),
        "client_id_issued_at": int(client.created.timestamp()),
        **({"client_secret_expires_at": 0} if "client_secret" in data else {}),
        **{k: getattr(client, k) for k in ("client_uri", "logo_uri", "policy_uri", "tos_uri") if getattr(client, k)},
    })
    result = JsonResponse(data, status=response.status_code)
    result["Cache-Control"] = "no-store"
    return result


class RegisterView(dot_views.DynamicClientRegistrationView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            services.rate_limit_hit(bucket="register", key=client_ip(request),
                                    limit=settings.TAKOS_OAUTH_REGISTER_PER_MINUTE)
        except ApiError as exc:
            return oauth_error("rate_limited", str(exc.detail), 429, {"Retry-After": str(exc.wait)})
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            data = None
        extras, error = _registration_extras(data) if isinstance(data, dict) else ({}, None)
        if error is not None:
            return error
        response = _finish_registration(request, super().post(request, *args, **kwargs), extras)
        if response.status_code == 201:
            services.audit_request(request, "client.registered", client_id=json.loads(response.content)["client_id"],
                                   user=request.user if request.user.is_authenticated else None)
        return response


class RegisterManageView(dot_views.DynamicClientRegistrationManagementView):
    def get(self, request: HttpRequest, client_id: str, *args: Any, **kwargs: Any) -> HttpResponse:
        return _finish_registration(request, super().get(request, client_id, *args, **kwargs), {})

    def put(self, request: HttpRequest, client_id: str, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            data = None
        extras, error = _registration_extras(data) if isinstance(data, dict) else ({}, None)
        if error is not None:
            return error
        return _finish_registration(request, super().put(request, client_id, *args, **kwargs), extras)


# --- discovery -----------------------------------------------------------------------------------
def _extend(response: HttpResponse, request: HttpRequest, **extra: Any) -> JsonResponse:
    data = json.loads(response.content)
    base = conf.public_base(request)
    data.update({
        "device_authorization_endpoint": f"{base}/oauth/device/code",
        "registration_endpoint": f"{base}/oauth/register",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "grant_types_supported": settings.OAUTH2_PROVIDER["OAUTH2_GRANT_TYPES_SUPPORTED"],
        "code_challenge_methods_supported": ["S256"],
        "response_modes_supported": ["query"],
        "authorization_response_iss_parameter_supported": True,
        "resource_indicators_supported": True,
        **extra,
    })
    result = JsonResponse(data)
    result["Access-Control-Allow-Origin"] = "*"
    return result


class ServerMetadataView(dot_views.OAuthServerMetadataView):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _extend(super().get(request, *args, **kwargs), request)


class OpenIDConfigurationView(dot_views.ConnectDiscoveryInfoView):
    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _extend(super().get(request, *args, **kwargs), request)


class ProtectedResourceMetadataView(dot_views.OAuthProtectedResourceMetadataView):
    """RFC 9728 for the Takos API (`<base>/api`), served at the path-inserted and root URLs."""

    def get_resource(self, request: HttpRequest) -> str:
        return conf.api_resource(request)

    def get_authorization_servers(self, request: HttpRequest) -> list[str]:
        return [conf.issuer(request)]

    def get_resource_documentation(self) -> str:
        return ""


JwksView = dot_views.JwksInfoView

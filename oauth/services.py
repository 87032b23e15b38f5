"""Writes for the OAuth group: consents, clients, pending authorizations, device decisions, audit.

Protocol work (codes, tokens, PKCE, rotation) stays in django-oauth-toolkit; these functions
wrap it with Takos' consent, ownership and audit rules.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import (
    get_access_token_model,
    get_device_grant_model,
    get_grant_model,
    get_refresh_token_model,
)
from oauth2_provider.oauth2_backends import _add_iss_to_redirect, get_oauthlib_core

from oauth import conf
from oauth.models import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_REFRESH_TOKEN,
    SUPPORTED_GRANT_TYPES,
    OAuthAuditLog,
    OAuthClient,
    OAuthConsent,
)
from takos.api.errors import BadRequest, Forbidden, NotFound, RateLimited

PENDING_SESSION_KEY = "oauth_pending"
PENDING_TTL = 600
PENDING_MAX = 10
CREDENTIAL_KEYS = (
    "client_id", "redirect_uri", "response_type", "state", "code_challenge", "code_challenge_method",
    "nonce", "claims", "resource",
)


# --- audit & rate limits ------------------------------------------------------------------
def audit(*, event_type: str, user: Any = None, client_id: str = "", ip: str = "", user_agent: str = "",
          details: dict[str, Any] | None = None) -> OAuthAuditLog:
    return OAuthAuditLog.objects.create(
        user=user if getattr(user, "pk", None) else None,
        client_id=client_id or "",
        event_type=event_type,
        ip_address=(ip or "")[:64],
        user_agent=(user_agent or "")[:300],
        details=details or {},
    )


def audit_request(request: HttpRequest, event_type: str, *, client_id: str = "", user: Any = None,
                  **details: Any) -> OAuthAuditLog:
    actor = user if user is not None else getattr(request, "user", None)
    return audit(event_type=event_type, user=actor, client_id=client_id, ip=request.META.get("REMOTE_ADDR", ""),
                 user_agent=request.META.get("HTTP_USER_AGENT", ""), details=details)


def rate_limit_hit(*, bucket: str, key: str, limit: int, window: int = 60) -> None:
    """Count one request in a fixed window; raise RateLimited past `limit`."""
    slot = int(time.time() // window)
    cache_key = f"oauth:rl:{bucket}:{key}:{slot}"
    if cache.add(cache_key, 1, window + 5):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:
            cache.set(cache_key, 1, window + 5)
            count = 1
    if count > limit:
        raise RateLimited(f"Too many requests; try again in {window - int(time.time()) % window} s.",
                          retry_after=window - int(time.time()) % window)


# --- consents -----------------------------------------------------------------------------
def consent_grant(*, user: Any, client: OAuthClient, scopes: list[str]) -> OAuthConsent:
    consent, created = OAuthConsent.objects.get_or_create(user=user, client=client, defaults={"scopes": sorted(scopes)})
    if not created:
        keep = set(consent.scopes) if consent.status == OAuthConsent.Status.ACTIVE else set()
        consent.scopes = sorted(keep | set(scopes))
        consent.status = OAuthConsent.Status.ACTIVE
        consent.save(update_fields=["scopes", "status", "updated_at"])
    return consent


def revoke_user_client_tokens(*, user: Any, client: OAuthClient) -> int:
    """Revoke every refresh token, access token and pending code `user` gave `client`."""
    refresh_model, access_model = get_refresh_token_model(), get_access_token_model()
    count = 0
    for refresh in refresh_model.objects.filter(user=user, application=client, revoked__isnull=True):
        refresh.revoke()
        count += 1
    count += access_model.objects.filter(user=user, application=client).delete()[0]
    get_grant_model().objects.filter(user=user, application=client).delete()
    return count


@transaction.atomic
def consent_revoke(*, user: Any, client_id: str, request: HttpRequest | None = None) -> None:
    consent = (
        OAuthConsent.objects.select_related("client")
        .filter(user=user, client__client_id=client_id, status=OAuthConsent.Status.ACTIVE)
        .first()
    )
    if consent is None:
        raise NotFound("No active grant for this client.")
    consent.status = OAuthConsent.Status.REVOKED
    consent.save(update_fields=["status", "updated_at"])
    revoked = revoke_user_client_tokens(user=user, client=consent.client)
    if request is not None:
        audit_request(request, "consent.revoked", client_id=client_id, tokens_revoked=revoked)
    else:
        audit(event_type="consent.revoked", user=user, client_id=client_id, details={"tokens_revoked": revoked})


# --- authorization requests (consent screen and SPA API) ----------------------------------
def pending_put(request: HttpRequest, *, credentials: dict[str, Any], scopes: list[str]) -> str:
    """Keep a validated authorization request server-side; the consent form refers to it by id."""
    store: dict[str, Any] = dict(request.session.get(PENDING_SESSION_KEY, {}))
    now = time.time()
    store = {k: v for k, v in store.items() if v.get("created", 0) > now - PENDING_TTL}
    while len(store) >= PENDING_MAX:
        store.pop(min(store, key=lambda k: store[k]["created"]))
    request_id = secrets.token_urlsafe(16)
    clean = {k: credentials[k] for k in CREDENTIAL_KEYS if credentials.get(k) not in (None, "", [])}
    store[request_id] = {"credentials": clean, "scopes": list(scopes), "created": now}
    request.session[PENDING_SESSION_KEY] = store
    return request_id


def pending_get(request: HttpRequest, request_id: str) -> dict[str, Any]:
    entry = request.session.get(PENDING_SESSION_KEY, {}).get(request_id or "")
    if entry is None or entry.get("created", 0) <= time.time() - PENDING_TTL:
        raise NotFound("This authorization request has expired or was already answered. Start again from the app.")
    return entry


def _pending_pop(request: HttpRequest, request_id: str) -> None:
    store = dict(request.session.get(PENDING_SESSION_KEY, {}))
    store.pop(request_id, None)
    request.session[PENDING_SESSION_KEY] = store


def _with_iss(url: str, request: HttpRequest) -> str:
    return url if "iss=" in url else _add_iss_to_redirect(url, conf.issuer(request))


def issue_authorization(request: HttpRequest, *, credentials: dict[str, Any], scopes: list[str], allow: bool) -> str:
    """Let DOT create the code (or the access_denied error) and return the redirect URL."""
    core = get_oauthlib_core()
    creds = dict(credentials)
    try:
        uri, _headers, _body, _status = core.create_authorization_response(
            request=request, scopes=list(scopes), credentials=creds, allow=allow
        )
    except OAuthToolkitError as error:
        oauthlib_error = error.oauthlib_error
        redirect_uri = oauthlib_error.redirect_uri or credentials["redirect_uri"]
        separator = "&" if "?" in redirect_uri else "?"
        uri = redirect_uri + separator + oauthlib_error.urlencoded
    return _with_iss(uri, request)


def authorization_decide(request: HttpRequest, *, request_id: str, approve: bool,
                         scopes: list[str] | None = None) -> str:
    """Answer a pending authorization request for the signed-in user; returns where to send the browser."""
    entry = pending_get(request, request_id)
    credentials, requested = entry["credentials"], entry["scopes"]
    client = OAuthClient.objects.filter(client_id=credentials["client_id"]).first()
    if client is None or not client.is_usable(None):
        raise NotFound("This client no longer exists.")
    granted = list(requested)
    if scopes is not None:
        extra = set(scopes) - set(requested)
        if extra:
            raise BadRequest(f"Scopes were not requested: {', '.join(sorted(extra))}.")
        granted = [s for s in requested if s in scopes]
    _pending_pop(request, request_id)
    if approve:
        consent_grant(user=request.user, client=client, scopes=granted)
        audit_request(request, "authorize.approved", client_id=client.client_id, scopes=granted)
    else:
        audit_request(request, "authorize.denied", client_id=client.client_id, scopes=requested)
    return issue_authorization(request, credentials=credentials, scopes=granted, allow=approve)


# --- device flow --------------------------------------------------------------------------
def normalize_user_code(raw: str) -> str:
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())


def device_lookup(*, user: Any, user_code: str) -> Any:
    """The pending device grant for a user code; counts failures per user against guessing."""
    code = normalize_user_code(user_code)
    model = get_device_grant_model()
    device = model.objects.filter(user_code=code).first() if code else None
    if device is None or device.is_expired() or device.status != model.AUTHORIZATION_PENDING:
        rate_limit_hit(bucket="device-guess", key=str(user.pk), limit=20, window=600)
        raise NotFound("That code is not valid or has expired. Check the code shown on your device.")
    return device


@transaction.atomic
def device_decide(request: HttpRequest, *, user_code: str, approve: bool) -> str:
    user = request.user
    device = device_lookup(user=user, user_code=user_code)
    model = get_device_grant_model()
    client = OAuthClient.objects.filter(client_id=device.client_id).first()
    if client is None or not client.is_usable(None):
        raise NotFound("This client no longer exists.")
    status = model.AUTHORIZED if approve else model.DENIED
    won = model.objects.filter(pk=device.pk, status=model.AUTHORIZATION_PENDING).update(status=status, user=user)
    if not won:
        raise BadRequest("This code was already answered.")
    scopes = device.scope.split() if device.scope else []
    if approve:
        consent_grant(user=user, client=client, scopes=scopes)
    audit_request(request, "device.approved" if approve else "device.denied", client_id=client.client_id,
                  scopes=scopes)
    return "approved" if approve else "denied"


# --- clients --------------------------------------------------------------------------------
CLI_CLIENT_ID = "takos-cli"


def ensure_cli_client() -> OAuthClient:
    """The first-party public device-flow client of the `takos` CLI (also created by migration 0002)."""
    from oauth.models import GRANT_DEVICE_CODE

    client, _ = OAuthClient.objects.get_or_create(client_id=CLI_CLIENT_ID, defaults={
        "name": "takos CLI", "description": "The takos command line (takos login-device).", "client_type": "public",
        "grant_types": [GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN], "redirect_uris": "", "client_secret": "",
        "hash_client_secret": False,
    })
    return client

@dataclass
class IssuedClient:
    client: OAuthClient
    client_secret: str | None


def _as_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of strings.", details={"fields": {name: ["Must be a list."]}})
    return value


def _validation_to_api(exc: ValidationError) -> BadRequest:
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    first = next(iter(fields.values()))[0]
    return BadRequest(first, details={"fields": fields})


def _apply_client_fields(client: OAuthClient, data: dict[str, Any]) -> None:
    mapping = {"client_name": "name", "name": "name", "description": "description", "client_uri": "client_uri",
               "logo_uri": "logo_uri", "policy_uri": "policy_uri", "tos_uri": "tos_uri"}
    for key, field in mapping.items():
        if key in data and data[key] is not None:
            setattr(client, field, str(data[key]).strip())
    if "redirect_uris" in data:
        client.redirect_uris = " ".join(_as_list(data["redirect_uris"], "redirect_uris"))
    if "grant_types" in data:
        grants = _as_list(data["grant_types"], "grant_types")
        unknown = [g for g in grants if g not in SUPPORTED_GRANT_TYPES]
        if unknown or not grants:
            raise BadRequest(f"grant_types must be some of: {', '.join(SUPPORTED_GRANT_TYPES)}.")
        client.grant_types = grants
    for key in ("scopes", "scope", "allowed_scopes"):
        if key in data:
            client.allowed_scopes = sorted(set(_as_list(data[key], "scopes")))
    client.sync_primary_grant()


@transaction.atomic
def client_create(*, owner: Any, data: dict[str, Any], request: HttpRequest | None = None) -> IssuedClient:
    client_type = data.get("client_type") or (
        "public" if data.get("token_endpoint_auth_method") == "none" else "confidential")
    if client_type not in ("public", "confidential"):
        raise BadRequest("client_type must be 'public' or 'confidential'.")
    if not str(data.get("client_name") or data.get("name") or "").strip():
        raise BadRequest("client_name is required.", details={"fields": {"client_name": ["Required."]}})
    client = OAuthClient(user=owner, client_type=client_type,
                         grant_types=[GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN])
    _apply_client_fields(client, data)
    raw_secret = generate_client_secret() if client_type == "confidential" else ""
    client.client_secret = raw_secret
    try:
        client.full_clean(exclude=["client_secret"])
    except ValidationError as exc:
        raise _validation_to_api(exc) from None
    client.save()
    if request is not None:
        audit_request(request, "client.created", client_id=client.client_id)
    return IssuedClient(client=client, client_secret=raw_secret or None)


def owned_client(*, owner: Any, client_id: str) -> OAuthClient:
    client = OAuthClient.objects.filter(user=owner, client_id=client_id).first()
    if client is None:
        raise NotFound("OAuth client not found.")
    return client


@transaction.atomic
def client_update(*, owner: Any, client_id: str, data: dict[str, Any], request: HttpRequest | None = None) -> OAuthClient:
    client = owned_client(owner=owner, client_id=client_id)
    if "client_type" in data and data["client_type"] != client.client_type:
        raise BadRequest("client_type cannot be changed; register a new client.")
    _apply_client_fields(client, data)
    try:
        client.full_clean(exclude=["client_secret"])
    except ValidationError as exc:
        raise _validation_to_api(exc) from None
    client.save()
    if request is not None:
        audit_request(request, "client.updated", client_id=client.client_id)
    return client


@transaction.atomic
def client_rotate_secret(*, owner: Any, client_id: str, request: HttpRequest | None = None) -> IssuedClient:
    client = owned_client(owner=owner, client_id=client_id)
    if client.client_type != client.CLIENT_CONFIDENTIAL:
        raise Forbidden("Public clients have no secret.")
    raw_secret = generate_client_secret()
    client.client_secret = raw_secret
    client.save()
    if request is not None:
        audit_request(request, "client.secret_rotated", client_id=client.client_id)
    return IssuedClient(client=client, client_secret=raw_secret)


@transaction.atomic
def client_delete(*, owner: Any, client_id: str, request: HttpRequest | None = None) -> None:
    client = owned_client(owner=owner, client_id=client_id)
    # Deleting the client cascades to its codes and tokens in DOT's tables.
    client.delete()
    if request is not None:
        audit_request(request, "client.deleted", client_id=client_id)


def device_grants_cleanup() -> int:
    """Drop device grants that expired more than a day ago."""
    model = get_device_grant_model()
    return model.objects.filter(expires__lt=timezone.now() - timedelta(days=1)).delete()[0]

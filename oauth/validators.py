"""Takos rules on top of DOT's OAuth2Validator: audiences, device polling, reuse alarms."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from django.core.cache import cache
from django.db.models import F
from django.utils import timezone
from oauth2_provider.models import get_device_grant_model
from oauth2_provider.oauth2_validators import AccessToken, OAuth2Validator, RefreshToken
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc8628.grant_types.device_code import DeviceCodeGrant

from oauth import conf
from oauth.models import DEVICE_CODE_TTL, GRANT_CLIENT_CREDENTIALS

USED_CODE_TTL = 24 * 3600


def _checksum(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _audit(request: Any, event: str, *, user: Any = None, client_id: str = "", **details: Any) -> None:
    from oauth.services import audit

    headers = getattr(request, "headers", {}) or {}
    audit(
        event_type=event,
        user=user,
        client_id=client_id,
        ip=headers.get("REMOTE_ADDR", ""),
        user_agent=headers.get("HTTP_USER_AGENT", ""),
        details=details,
    )


class TakosOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope}

    # --- clients and grants --------------------------------------------------------------
    def validate_response_type(self, client_id: str, response_type: str, client: Any, request: Any, *a: Any, **k: Any) -> bool:
        # Code flow only (OAuth 2.1): no implicit, no hybrid.
        return response_type == "code" and client.allows_grant_type(client.GRANT_AUTHORIZATION_CODE)

    def validate_grant_type(self, client_id: str, grant_type: str, client: Any, request: Any, *a: Any, **k: Any) -> bool:
        if grant_type == "refresh_token":
            return request.client.allows_refresh()
        if grant_type == GRANT_CLIENT_CREDENTIALS and request.client.user_id is None:
            # client_credentials acts as the client's owner; an ownerless (anonymous DCR) client has none.
            return False
        return super().validate_grant_type(client_id, grant_type, client, request, *a, **k)

    # --- RFC 8707 resources --------------------------------------------------------------
    def _check_and_set_request_resource(self, request: Any) -> None:
        super()._check_and_set_request_resource(request)
        resources = [conf.normalize_resource(r) for r in (request.resource or [])]
        if not resources:
            resources = [conf.api_resource(request)]
        known = set(conf.known_resources(request))
        for res in resources:
            if res not in known:
                raise errors.CustomOAuth2Error(
                    error="invalid_target",
                    description=f"This server issues no tokens for the resource '{res}'.",
                    request=request,
                )
        request.resource = resources

    # --- token storage -------------------------------------------------------------------
    def _create_access_token(self, expires: Any, request: Any, token: dict, source_refresh_token: Any = None) -> Any:
        if request.grant_type == GRANT_CLIENT_CREDENTIALS:
            request.user = request.client.user
        access_token = super()._create_access_token(expires, request, token, source_refresh_token)
        request.takos_access_token = access_token
        return access_token

    def invalidate_authorization_code(self, client_id: str, code: str, request: Any, *a: Any, **k: Any) -> None:
        super().invalidate_authorization_code(client_id, code, request, *a, **k)
        issued = getattr(request, "takos_access_token", None)
        if issued is not None:
            # Remember which token this code produced, to revoke it if the code is replayed.
            cache.set(f"oauth:usedcode:{_checksum(code)}", issued.pk, USED_CODE_TTL)

    def validate_code(self, client_id: str, code: str, client: Any, request: Any, *a: Any, **k: Any) -> bool:
        ok = super().validate_code(client_id, code, client, request, *a, **k)
        if not ok:
            key = f"oauth:usedcode:{_checksum(code)}"
            token_pk = cache.get(key)
            if token_pk is not None:
                # RFC 6749 §4.1.2: a replayed code revokes what it was exchanged for.
                cache.delete(key)
                self._revoke_issued_from_code(token_pk)
                _audit(request, "code.reuse_detected", client_id=client_id)
        return ok

    @staticmethod
    def _revoke_issued_from_code(token_pk: int) -> None:
        refresh = RefreshToken.objects.filter(access_token_id=token_pk).first()
        if refresh is not None and refresh.token_family:
            RefreshToken.revoke_family(refresh.token_family)
        AccessToken.objects.filter(pk=token_pk).delete()

    def validate_refresh_token(self, refresh_token: str, client: Any, request: Any, *a: Any, **k: Any) -> bool:
        rt = (
            RefreshToken.objects.filter(token_checksum=_checksum(refresh_token))
            .order_by(F("revoked").desc(nulls_first=True))
            .first()
        )
        ok = super().validate_refresh_token(refresh_token, client, request, *a, **k)
        if not ok and rt is not None and rt.revoked is not None:
            _audit(request, "token.refresh_reuse_detected", user=rt.user, client_id=getattr(client, "client_id", ""),
                   token_family=str(rt.token_family))
        if ok and not rt.user.is_active:
            return False
        return ok

    # --- device flow (RFC 8628) ----------------------------------------------------------
    def validate_device_code(self, client_id: str, code: str, request: Any, *a: Any, **k: Any) -> str | None:
        model = get_device_grant_model()
        device = model.objects.filter(device_code=code, client_id=client_id).first()
        if device is None:
            return None
        now = timezone.now()
        if device.is_expired():
            return DeviceCodeGrant.DEVICE_CODE_EXPIRED
        if device.status == model.DENIED:
            return DeviceCodeGrant.DEVICE_CODE_DENIED
        if device.status == model.AUTHORIZATION_PENDING:
            # RFC 8628 §3.5 slow_down: the previous poll of this code came sooner than `interval`.
            key = f"oauth:devicepoll:{device.pk}"
            last = cache.get(key)
            cache.set(key, now.timestamp(), DEVICE_CODE_TTL)
            too_fast = last is not None and now.timestamp() - last < device.interval
            device.save(update_fields=["last_checked"])
            return DeviceCodeGrant.DEVICE_CODE_SLOW_DOWN if too_fast else DeviceCodeGrant.DEVICE_CODE_PENDING
        if device.status != model.AUTHORIZED or device.user is None:
            return None
        # One device code, one token: whoever flips AUTHORIZED -> EXPIRED first gets it.
        won = model.objects.filter(pk=device.pk, status=model.AUTHORIZED).update(status=model.EXPIRED)
        if not won:
            return DeviceCodeGrant.DEVICE_CODE_EXPIRED
        request.user = device.user
        request.scopes = device.scope.split() if device.scope else []
        return DeviceCodeGrant.DEVICE_CODE_AUTHORIZED

    # --- resource server side (userinfo) -------------------------------------------------
    def validate_bearer_token(self, token: str, scopes: list[str], request: Any) -> bool:
        if not token:
            return False
        access_token = self._load_access_token(token)
        if access_token is None or not access_token.is_valid(scopes):
            self._set_oauth2_error_on_request(request, access_token, scopes)
            return False
        application = access_token.application
        user = access_token.user
        if (application is not None and not application.is_usable(request)) or (user is not None and not user.is_active):
            request.oauth2_error = OrderedDict([("error", "invalid_token")])
            return False
        # The only bearer endpoint DOT serves here is /oauth/userinfo, which belongs to the
        # authorization server itself: any live token issued by it may read the claims.
        request.client = application
        request.user = user
        request.scopes = list(access_token.scopes)
        request.access_token = access_token
        return True

    # --- OIDC claims ---------------------------------------------------------------------
    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        return {
            "name": user.name,
            "preferred_username": user.username,
            "picture": user.picture or None,
            "email": user.email,
            "email_verified": False,
        }

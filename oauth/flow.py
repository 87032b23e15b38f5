"""Validating an authorization request: DOT/oauthlib checks first, then Takos' stricter rules.

Shared by the console consent page (/oauth/authorize) and the SPA JSON API
(/api/oauth/authorize/context), so both enforce exactly the same policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.oauth2_backends import get_oauthlib_core
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from oauth import conf
from oauth.models import OAuthClient, OAuthConsent


@dataclass
class AuthorizationRequest:
    client: OAuthClient
    scopes: list[str]
    credentials: dict[str, Any]
    prompt: set[str] = field(default_factory=set)

    @property
    def resources(self) -> list[str]:
        return list(self.credentials.get("resource") or [])

    def consent(self, user: Any) -> OAuthConsent | None:
        return OAuthConsent.objects.filter(user=user, client=self.client).first()

    def already_granted(self, user: Any) -> bool:
        consent = self.consent(user)
        return bool(consent and consent.covers(self.scopes))


class AuthorizationRejected(Exception):
    """The request is invalid. `redirect_url` is set when the client may be told (safe redirect)."""

    def __init__(self, error: str, description: str, redirect_url: str | None = None):
        super().__init__(description)
        self.error, self.description, self.redirect_url = error, description, redirect_url


def _error_redirect(request: HttpRequest, credentials: dict[str, Any], error: str, description: str) -> str:
    from oauth.services import _with_iss

    err = oauth_errors.CustomOAuth2Error(error=error, description=description, state=credentials.get("state"))
    redirect_uri = credentials["redirect_uri"]
    separator = "&" if "?" in redirect_uri else "?"
    return _with_iss(redirect_uri + separator + err.urlencoded, request)


def validate_authorization(request: HttpRequest) -> AuthorizationRequest:
    """Validate the authorization query of `request`; raise AuthorizationRejected on any problem.

    Errors about the client or redirect URI never redirect (open-redirect protection); every
    other error goes back to the registered redirect URI with `state` and `iss`.
    """
    core = get_oauthlib_core()
    try:
        scopes, credentials = core.validate_authorization_request(request)
    except FatalClientError as exc:
        err = exc.oauthlib_error
        raise AuthorizationRejected(err.error, err.description or "Invalid client or redirect URI.") from None
    except OAuthToolkitError as exc:
        err = exc.oauthlib_error
        url = None
        if err.redirect_uri:
            separator = "&" if "?" in err.redirect_uri else "?"
            from oauth.services import _with_iss

            url = _with_iss(err.redirect_uri + separator + err.urlencoded, request)
        raise AuthorizationRejected(err.error, err.description or err.error, url) from None
    credentials = {k: v for k, v in credentials.items() if k != "request"}
    client = OAuthClient.objects.get(client_id=credentials["client_id"])

    def reject(error: str, description: str) -> AuthorizationRejected:
        return AuthorizationRejected(error, description, _error_redirect(request, credentials, error, description))

    if not credentials.get("state"):
        raise reject("invalid_request", "The state parameter is required.")
    if credentials.get("code_challenge_method") != "S256" or not credentials.get("code_challenge"):
        raise reject("invalid_request", "PKCE with code_challenge_method=S256 is required.")
    resources = [conf.normalize_resource(r) for r in request.GET.getlist("resource") if r.strip()]
    known = set(conf.known_resources(request))
    for res in resources:
        if res not in known:
            raise reject("invalid_target", f"This server issues no tokens for the resource '{res}'.")
    credentials["resource"] = resources or [conf.api_resource(request)]
    prompt = set(request.GET.get("prompt", "").split())
    return AuthorizationRequest(client=client, scopes=list(scopes), credentials=credentials, prompt=prompt)

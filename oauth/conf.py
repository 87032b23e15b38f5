"""Issuer, resource identifiers and URLs, from TAKOS_PUBLIC_URL or the request."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from oauth2_provider.settings import oauth2_settings

API_PATH = "/api"


class _PhonyRequest(HttpRequest):
    scheme_value = "http"

    def _get_scheme(self) -> str:
        return self.scheme_value


def django_request(request: Any) -> HttpRequest:
    """A Django request for an oauthlib request (its headers are Django's META)."""
    if isinstance(request, HttpRequest):
        return request
    phony = _PhonyRequest()
    phony.META = dict(request.headers)
    if request.headers.get("X_DJANGO_OAUTH_TOOLKIT_SECURE"):
        phony.scheme_value = "https"
    return phony


def public_base(request: Any | None = None) -> str:
    if settings.TAKOS_PUBLIC_URL:
        return settings.TAKOS_PUBLIC_URL.rstrip("/")
    if request is None:
        return ""
    return django_request(request).build_absolute_uri("/").rstrip("/")


def normalize_resource(uri: str) -> str:
    return uri.strip().rstrip("/")


def api_resource(request: Any | None = None) -> str:
    """The RFC 8707 resource identifier of the Takos API."""
    return public_base(request) + API_PATH


def known_resources(request: Any) -> list[str]:
    return [api_resource(request), *(normalize_resource(r) for r in settings.TAKOS_OAUTH_EXTRA_RESOURCES)]


def is_api_resource(uri: str) -> bool:
    """Whether a token audience names the Takos API (used where no request is at hand)."""
    uri = normalize_resource(uri)
    if settings.TAKOS_PUBLIC_URL:
        return uri == api_resource()
    extra = {normalize_resource(r) for r in settings.TAKOS_OAUTH_EXTRA_RESOURCES}
    # Without a configured public URL the host is whatever the request used; this server only
    # issues tokens for its own resources (checked at issue time), so the path identifies it.
    return uri not in extra and urlsplit(uri).path.rstrip("/") == API_PATH


def issuer(request: Any) -> str:
    return oauth2_settings.oauth2_authorization_server_issuer(django_request(request))


def resource_metadata_url(request: Any) -> str:
    """RFC 9728 metadata URL of the API (path-inserted form for the `/api` resource)."""
    return public_base(request) + "/.well-known/oauth-protected-resource" + API_PATH

"""Sign in with an external OpenID Connect provider (Google, or any issuer by discovery).

Off unless TAKOS_OIDC_LOGIN_ISSUER and TAKOS_OIDC_LOGIN_CLIENT_ID are set. The flow is
authorization code + PKCE S256 with `state` and `nonce` kept in the session; the ID token is
verified (signature against the provider's JWKS, `iss`, `aud`, `exp`, `nonce`). The person is
then, in this order:
1. the local account already linked to that (issuer, subject);
2. when a person is signed in (linking from the console): that account, now linked;
3. the local account with the same email, only if the provider says `email_verified`
   (otherwise a stranger could claim someone's address at a lax provider);
4. a new account (TAKOS_OIDC_LOGIN_CREATE_ACCOUNTS), unless the email is already used.
The provider is configured by the operator, so it is reached directly (not through the
egress guard that protects against user-supplied URLs).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as django_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from jwcrypto import jwk, jwt

from oauth import conf
from oauth.models import ExternalIdentity

SESSION_KEY = "takos_oidc_login"
CALLBACK_PATH = "/login/oidc/callback"
BACKEND = "django.contrib.auth.backends.ModelBackend"
TIMEOUT = 15
CLOCK_SKEW = 120


class LoginRefused(Exception):
    """Shown to the person on the sign-in page."""


def enabled() -> bool:
    return bool(settings.TAKOS_OIDC_LOGIN_ISSUER and settings.TAKOS_OIDC_LOGIN_CLIENT_ID)


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context: the sign-in page shows the button when the provider is configured."""
    return {"oidc_login_name": settings.TAKOS_OIDC_LOGIN_NAME if enabled() else ""}


def _metadata() -> dict[str, Any]:
    issuer = settings.TAKOS_OIDC_LOGIN_ISSUER.rstrip("/")
    try:
        response = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
        data = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        data = None
    if not isinstance(data, dict) or data.get("issuer", "").rstrip("/") != issuer:
        raise LoginRefused("The sign-in provider is not reachable right now.")
    return data


def start(request: HttpRequest) -> HttpResponse:
    if not enabled():
        raise Http404
    try:
        meta = _metadata()
    except LoginRefused as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect("/login")
    verifier, state, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    target = request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    request.session[SESSION_KEY] = {"state": state, "nonce": nonce, "verifier": verifier, "next": target,
                                    "started": time.time()}
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"response_type": "code", "client_id": settings.TAKOS_OIDC_LOGIN_CLIENT_ID,
              "redirect_uri": conf.public_base(request) + CALLBACK_PATH, "scope": "openid email profile",
              "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"}
    return HttpResponseRedirect(meta["authorization_endpoint"] + "?" + urlencode(params))


def callback(request: HttpRequest) -> HttpResponse:
    if not enabled():
        raise Http404
    pending = request.session.pop(SESSION_KEY, None)
    try:
        user = _finish(request, pending)
    except LoginRefused as exc:
        messages.error(request, f"Sign-in with {settings.TAKOS_OIDC_LOGIN_NAME} failed: {exc}")
        return HttpResponseRedirect("/login")
    django_login(request, user, backend=BACKEND)
    return HttpResponseRedirect(pending["next"])


def _finish(request: HttpRequest, pending: dict[str, Any] | None) -> Any:
    state = request.GET.get("state", "")
    if not pending or not state or not secrets.compare_digest(state, pending["state"]):
        raise LoginRefused("the answer does not belong to a sign-in started here (state).")
    if time.time() - pending["started"] > 600:
        raise LoginRefused("it took too long; try again.")
    if request.GET.get("error"):
        raise LoginRefused(request.GET.get("error_description") or request.GET["error"])
    meta = _metadata()
    form = {"grant_type": "authorization_code", "code": request.GET.get("code", ""),
            "redirect_uri": conf.public_base(request) + CALLBACK_PATH, "code_verifier": pending["verifier"],
            "client_id": settings.TAKOS_OIDC_LOGIN_CLIENT_ID}
    auth = None
    if settings.TAKOS_OIDC_LOGIN_CLIENT_SECRET:
        auth = (settings.TAKOS_OIDC_LOGIN_CLIENT_ID, settings.TAKOS_OIDC_LOGIN_CLIENT_SECRET)
    try:
        response = httpx.post(meta["token_endpoint"], data=form, auth=auth, timeout=TIMEOUT)
        tokens = response.json()
    except (httpx.HTTPError, ValueError):
        raise LoginRefused("the provider did not answer the token request.") from None
    if response.status_code != 200 or not tokens.get("id_token"):
        raise LoginRefused(str(tokens.get("error_description") or tokens.get("error") or "no ID token"))
    claims = verify_id_token(tokens["id_token"], meta=meta, nonce=pending["nonce"])
    return _account_for(request, claims, issuer=meta["issuer"])


def verify_id_token(id_token: str, *, meta: dict[str, Any], nonce: str) -> dict[str, Any]:
    try:
        keys = jwk.JWKSet.from_json(httpx.get(meta["jwks_uri"], timeout=TIMEOUT).text)
        token = jwt.JWT(jwt=id_token, key=keys, algs=["RS256", "ES256", "PS256"], check_claims={"exp": None})
        claims = json.loads(token.claims)
    except Exception as exc:  # jwcrypto raises many types; any of them means "not valid"
        raise LoginRefused(f"the ID token is not valid ({type(exc).__name__}).") from None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if claims.get("iss", "").rstrip("/") != meta["issuer"].rstrip("/"):
        raise LoginRefused("the ID token is from another issuer.")
    if settings.TAKOS_OIDC_LOGIN_CLIENT_ID not in audiences:
        raise LoginRefused("the ID token is for another client.")
    if not claims.get("nonce") or not secrets.compare_digest(str(claims["nonce"]), nonce):
        raise LoginRefused("the ID token does not answer this sign-in (nonce).")
    if int(claims.get("exp") or 0) < time.time() - CLOCK_SKEW or not claims.get("sub"):
        raise LoginRefused("the ID token has expired.")
    return claims


def _account_for(request: HttpRequest, claims: dict[str, Any], *, issuer: str) -> Any:
    from accounts.models import User
    from accounts.services import user_create
    from takos.api.errors import ApiError

    subject, email = str(claims["sub"]), str(claims.get("email") or "").lower()
    identity = ExternalIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    if identity is not None:
        if request.user.is_authenticated and request.user.pk != identity.user_id:
            raise LoginRefused("that identity is already linked to another account.")
        user = identity.user
    elif request.user.is_authenticated:
        user = request.user
    elif email and claims.get("email_verified") is True and User.objects.filter(email__iexact=email).exists():
        user = User.objects.get(email__iexact=email)
    elif settings.TAKOS_OIDC_LOGIN_CREATE_ACCOUNTS and email:
        if User.objects.filter(email__iexact=email).exists():
            raise LoginRefused("an account with that email exists; sign in with it, then link this provider.")
        try:
            user = user_create(username=_free_username(claims, email), email=email, password=None,
                               display_name=str(claims.get("name") or "")[:100])
        except ApiError as exc:
            raise LoginRefused(str(exc.detail)) from None
    else:
        raise LoginRefused("no Takos account is linked to that identity.")
    if not user.is_active:
        raise LoginRefused("this account is deactivated.")
    if identity is None:
        identity = ExternalIdentity.objects.create(user=user, issuer=issuer, subject=subject, email=email)
    ExternalIdentity.objects.filter(pk=identity.pk).update(last_login_at=timezone.now(), email=email)
    return user


def _free_username(claims: dict[str, Any], email: str) -> str:
    from accounts.selectors import username_problem

    base = re.sub(r"[^a-z0-9-]+", "-", str(claims.get("preferred_username") or email.split("@")[0]).lower())
    base = base.strip("-")[:30] or "user"
    candidate = base
    for number in range(2, 50):
        if username_problem(candidate) is None:
            return candidate
        candidate = f"{base}-{number}"
    return f"{base}-{secrets.token_hex(3)}"

"""Custom domains: add, verify (HTTP token under /.well-known/, TXT or CNAME), re-check, remove.

DNS is an external service, so the resolver is injectable: TAKOS_DNS_RESOLVER = "system"
(the machine's resolver through dnspython) or "host:port" of a nameserver (tests run a stub
on loopback). The HTTP check resolves the domain's A/AAAA records with that resolver and
connects to the address on TAKOS_DOMAIN_HTTP_PORT with the domain as Host header; dispatch
answers `/.well-known/takos-domain-verification` for pending domains, so the check passes
exactly when the domain's DNS points at this Takos.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from services.models import Service
from takos.api.errors import BadRequest, Conflict
from workers.models import CustomDomain

WELL_KNOWN_PATH = "/.well-known/takos-domain-verification"
TXT_PREFIX = "_takos-verify."
DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_FAILURES = 3


def normalize_domain(domain: str) -> str:
    domain = (domain or "").strip().lower().rstrip(".")
    if not DOMAIN_RE.match(domain):
        raise BadRequest("domain must be a fully qualified hostname like app.example.com.",
                         details={"fields": {"domain": ["Invalid hostname."]}})
    tenant = settings.TAKOS_TENANT_DOMAIN.lower()
    if domain == tenant or domain.endswith("." + tenant):
        raise BadRequest("Hostnames under the tenant domain are assigned by slug, not added as custom domains.")
    return domain


def domain_add(*, service: Service, domain: str, method: str = CustomDomain.Method.HTTP) -> CustomDomain:
    domain = normalize_domain(domain)
    if method not in CustomDomain.Method.values:
        raise BadRequest("verification_method must be http, txt or cname.")
    if CustomDomain.objects.filter(domain=domain).exists():
        raise Conflict("This domain is already added to a service.")
    return CustomDomain.objects.create(service=service, domain=domain, verification_method=method,
                                       verification_token=secrets.token_urlsafe(24))


def instructions(domain: CustomDomain) -> dict[str, Any]:
    target = domain.service.hostname
    return {
        "http": {"url": f"http://{domain.domain}{WELL_KNOWN_PATH}", "expected_body": domain.verification_token,
                 "how": f"point {domain.domain} at this Takos (CNAME {target} or A records); we fetch the URL"},
        "txt": {"name": f"{TXT_PREFIX}{domain.domain}", "value": f"takos-verify={domain.verification_token}"},
        "cname": {"name": domain.domain, "value": target},
    }


# --- the resolver ------------------------------------------------------------------------------


def _resolver():  # type: ignore[no-untyped-def]
    import dns.resolver

    configured = settings.TAKOS_DNS_RESOLVER
    if configured in ("", "system"):
        resolver = dns.resolver.Resolver()
    else:
        host, _, port = configured.rpartition(":")
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host or configured]
        resolver.port = int(port) if host and port else 53
    resolver.lifetime = 5.0
    return resolver


def lookup(name: str, rdtype: str) -> list[str]:
    """Answers for `name`/`rdtype` as text ([] when there are none)."""
    import dns.exception
    import dns.resolver

    try:
        answer = _resolver().resolve(name, rdtype)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
        return []
    except dns.exception.DNSException as exc:
        raise CheckError(f"DNS lookup of {name} failed: {exc}") from None
    out = []
    for record in answer:
        if rdtype == "TXT":
            out.append(b"".join(record.strings).decode(errors="replace"))
        else:
            out.append(record.to_text().rstrip(".").lower())
    return out


class CheckError(Exception):
    pass


def _check_http(domain: CustomDomain) -> tuple[bool, str]:
    addresses = lookup(domain.domain, "A") or lookup(domain.domain, "AAAA")
    if not addresses:
        return False, f"{domain.domain} has no A/AAAA record"
    port = settings.TAKOS_DOMAIN_HTTP_PORT
    last = ""
    for address in addresses[:3]:
        host = f"[{address}]" if ":" in address else address
        try:
            resp = httpx.get(f"http://{host}:{port}{WELL_KNOWN_PATH}", headers={"Host": domain.domain}, timeout=5,
                             follow_redirects=False)
        except httpx.HTTPError as exc:
            last = f"could not fetch {WELL_KNOWN_PATH} from {address}: {type(exc).__name__}"
            continue
        if resp.status_code == 200 and resp.text.strip() == domain.verification_token:
            return True, f"token served by {address}"
        last = f"{address} answered HTTP {resp.status_code} without the token"
    return False, last


def _check_txt(domain: CustomDomain) -> tuple[bool, str]:
    values = lookup(TXT_PREFIX + domain.domain, "TXT")
    if f"takos-verify={domain.verification_token}" in values or domain.verification_token in values:
        return True, "TXT record found"
    return False, f"no TXT record takos-verify=<token> at {TXT_PREFIX}{domain.domain}"


def _check_cname(domain: CustomDomain) -> tuple[bool, str]:
    values = lookup(domain.domain, "CNAME")
    if domain.service.hostname in values:
        return True, "CNAME points at the service"
    return False, f"{domain.domain} has no CNAME to {domain.service.hostname}"


CHECKS = {CustomDomain.Method.HTTP: _check_http, CustomDomain.Method.TXT: _check_txt,
          CustomDomain.Method.CNAME: _check_cname}


def domain_verify(*, domain: CustomDomain) -> CustomDomain:
    """Run the check now; verified domains are routed at once, failing ones after MAX_FAILURES re-checks."""
    from dispatch.services import sync_service_routes

    try:
        ok, detail = CHECKS[domain.verification_method](domain)
    except CheckError as exc:
        ok, detail = False, str(exc)
    with transaction.atomic():
        domain = CustomDomain.objects.select_for_update(of=("self",)).select_related("service").get(pk=domain.pk)
        domain.last_checked_at = timezone.now()
        domain.last_error = "" if ok else detail[:300]
        if ok:
            if domain.status != CustomDomain.Status.VERIFIED:
                domain.verified_at = timezone.now()
            domain.status = CustomDomain.Status.VERIFIED
            domain.check_failures = 0
            domain.ssl_status = "on_demand"
        else:
            domain.check_failures += 1
            if domain.status == CustomDomain.Status.VERIFIED and domain.check_failures < MAX_FAILURES:
                pass  # keep serving through a transient DNS problem
            elif domain.status == CustomDomain.Status.VERIFIED or domain.check_failures >= MAX_FAILURES:
                domain.status = CustomDomain.Status.FAILED
        domain.save()
        sync_service_routes(domain.service)
    return domain


def domain_remove(*, domain: CustomDomain) -> None:
    from dispatch.services import sync_service_routes

    with transaction.atomic():
        service = domain.service
        domain.delete()
        sync_service_routes(service, also_changed=[domain.domain])


def tls_allowed(hostname: str) -> bool:
    """For a TLS terminator's on-demand certificates: a verified custom domain or a live tenant hostname."""
    from dispatch.models import Route

    return Route.objects.filter(hostname=(hostname or "").lower().rstrip(".")).exists()

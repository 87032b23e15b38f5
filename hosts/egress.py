"""The egress proxy: outbound HTTP for containers, with the address guard.

`check_url(url)` decides BEFORE any connection: scheme http/https, no credentials in the
URL, an allowed port, no internal host names, then it resolves the name and refuses when
ANY address is private, loopback, link-local (cloud metadata 169.254.169.254 included),
multicast, reserved or unspecified (IPv4-mapped IPv6 unwrapped). `fetch()` then connects
to the address that was checked (the Host header and TLS SNI keep the name), so a DNS
answer that changes between the check and the connect cannot reach an internal address.

Operators may exempt names or networks with TAKOS_EGRESS_ALLOWED_HOSTS (e.g.
"127.0.0.1,10.0.0.0/8,intranet.example.com").
"""

from __future__ import annotations

import base64
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

BLOCKED_SUFFIXES = (".local", ".internal", ".localhost", ".svc.cluster.local", ".home.arpa")
BLOCKED_NAMES = {"localhost", "metadata.google.internal", "metadata", "kubernetes.default",
                 "kubernetes.default.svc"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length", "forwarded", "x-forwarded-for",
              "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "cookie"}


class EgressRefused(Exception):
    """The request may not leave: the message says why (shown to the container)."""


@dataclass
class CheckedUrl:
    url: str
    host: str
    port: int
    scheme: str
    addresses: list[str]
    allowed_by_operator: bool = False


@dataclass
class EgressResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool = False
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"status": self.status, "headers": self.headers,
                "body_base64": base64.b64encode(self.body).decode(), "truncated": self.truncated}


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(value.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False
    # is_global also excludes 100.64.0.0/10 (carrier-grade NAT), which is not the internet.
    return ip.is_global


def _operator_allows(host: str, addresses: list[str]) -> bool:
    allowed = [a.strip().lower() for a in settings.TAKOS_EGRESS_ALLOWED_HOSTS if a.strip()]
    if not allowed:
        return False
    if host.lower() in allowed:
        return True
    nets = []
    for item in allowed:
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            continue
    ips = [ip for ip in (_ip(a) for a in addresses) if ip is not None]
    return bool(ips) and all(any(ip in net for net in nets) for ip in ips)


def resolve(host: str, port: int) -> list[str]:
    """All addresses of `host` (getaddrinfo: a lookup, never a connection to the host)."""
    literal = _ip(host)
    if literal is not None:
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise EgressRefused(f"cannot resolve {host}: {exc}") from None
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return seen


def check_url(url: str) -> CheckedUrl:
    """Validate and resolve `url`; raise EgressRefused without connecting anywhere."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EgressRefused(f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise EgressRefused("only http and https URLs may leave")
    if parts.username or parts.password:
        raise EgressRefused("credentials in the URL are refused")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise EgressRefused("the URL has no host")
    port = port or (443 if scheme == "https" else 80)
    literal = _ip(host)
    internal_name = literal is None and (host in BLOCKED_NAMES or host.endswith(BLOCKED_SUFFIXES) or "." not in host)
    if internal_name and not _operator_allows(host, []):
        raise EgressRefused(f"the host {host} is internal")
    addresses = resolve(host, port)
    if _operator_allows(host, addresses):
        return CheckedUrl(url=url, host=host, port=port, scheme=scheme, addresses=addresses,
                          allowed_by_operator=True)
    if port not in settings.TAKOS_EGRESS_ALLOWED_PORTS:
        raise EgressRefused(f"port {port} is not allowed (allowed: {settings.TAKOS_EGRESS_ALLOWED_PORTS})")
    for addr in addresses:
        ip = _ip(addr)
        if ip is None or not is_public_address(ip):
            raise EgressRefused(f"{host} resolves to {addr}, a private, loopback, link-local or reserved address")
    return CheckedUrl(url=url, host=host, port=port, scheme=scheme, addresses=addresses)


def clean_headers(headers: dict[str, str] | None) -> dict[str, str]:
    out = {}
    for key, value in (headers or {}).items():
        low = key.lower()
        if low in HOP_BY_HOP or low.startswith(("x-takos-", "cf-")):
            continue
        out[key] = value
    return out


def fetch(*, method: str, url: str, headers: dict[str, str] | None = None, body: bytes = b"",
          timeout: float | None = None, keep_headers: tuple[str, ...] = ()) -> EgressResponse:
    """Check, then send one request to the checked address. Redirects are not followed.

    Only Content-Type comes back by default (containers see what they asked for, nothing of
    the hop); control-plane callers name extra response headers in `keep_headers`."""
    import httpx

    if len(body) > settings.TAKOS_EGRESS_MAX_REQUEST:
        raise EgressRefused(f"request body over {settings.TAKOS_EGRESS_MAX_REQUEST} bytes")
    checked = check_url(url)
    parts = urlsplit(url)
    address = checked.addresses[0]
    netloc_ip = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((checked.scheme, f"{netloc_ip}:{checked.port}", parts.path or "/", parts.query, ""))
    send_headers = clean_headers(headers)
    send_headers["Host"] = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": checked.host} if checked.scheme == "https" else {}
    limit = settings.TAKOS_EGRESS_MAX_RESPONSE
    with httpx.Client(timeout=timeout or settings.TAKOS_EGRESS_TIMEOUT, follow_redirects=False,
                      trust_env=False) as client:
        request = client.build_request(method.upper(), pinned, headers=send_headers, content=body or None,
                                       extensions=extensions)
        try:
            response = client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise EgressRefused(f"request failed: {exc}") from None
        try:
            chunks, size, truncated = [], 0, False
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    truncated = True
                    chunks.append(chunk[: limit - (size - len(chunk))])
                    break
                chunks.append(chunk)
        finally:
            response.close()
    wanted = {"content-type", *(h.lower() for h in keep_headers)}
    keep = {k: v for k, v in response.headers.items() if k.lower() in wanted}
    keep["Cache-Control"] = "no-store"
    if 300 <= response.status_code < 400 and response.headers.get("location"):
        keep["Location"] = response.headers["location"]  # reported, not followed
    return EgressResponse(status=response.status_code, headers=keep, body=b"".join(chunks), truncated=truncated)

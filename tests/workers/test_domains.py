"""Custom domain verification against a DNS stub on loopback (DNS is an external service: the
resolver is injected through TAKOS_DNS_RESOLVER) and dispatch routing of verified domains only."""

from __future__ import annotations

import http.server
import threading

import pytest

from dispatch.models import Route
from tests.workers.dnsstub import DnsStub
from workers.domains import domain_add, domain_remove, domain_verify, tls_allowed

pytestmark = pytest.mark.django_db


@pytest.fixture
def stub(settings):  # type: ignore[no-untyped-def]
    dns = DnsStub()
    settings.TAKOS_DNS_RESOLVER = dns.address
    yield dns
    dns.close()


@pytest.fixture
def service(alice, space):  # type: ignore[no-untyped-def]
    from services.services import service_create

    return service_create(space=space, actor=alice, slug="web")


def test_txt_verification_routes_the_domain(service, stub):
    domain = domain_add(service=service, domain="App.Example.COM.", method="txt")
    assert domain.domain == "app.example.com" and domain.status == "pending"
    checked = domain_verify(domain=domain)
    assert checked.status == "pending" and "no TXT record" in checked.last_error
    assert not Route.objects.filter(hostname="app.example.com").exists()
    stub.set("_takos-verify.app.example.com", "TXT", f'"takos-verify={domain.verification_token}"')
    checked = domain_verify(domain=domain)
    assert checked.status == "verified" and checked.verified_at
    assert Route.objects.get(hostname="app.example.com").kind == "custom_domain"
    assert tls_allowed("app.example.com") and not tls_allowed("other.example.com")
    assert ("_takos-verify.app.example.com", "TXT") in stub.queries
    domain_remove(domain=checked)
    assert not Route.objects.filter(hostname="app.example.com").exists()


def test_cname_verification(service, stub):
    domain = domain_add(service=service, domain="www.example.net", method="cname")
    stub.set("www.example.net", "CNAME", "elsewhere.example.org.")
    assert domain_verify(domain=domain).status == "pending"
    stub.set("www.example.net", "CNAME", "web.apps.localhost.")
    assert domain_verify(domain=domain).status == "verified"


def test_http_verification_fetches_the_token_from_the_domains_address(service, stub, settings):
    domain = domain_add(service=service, domain="shop.example.org")
    served = {"token": "wrong"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

        def do_GET(self) -> None:
            ok = self.path == "/.well-known/takos-domain-verification" and self.headers["Host"] == "shop.example.org"
            body = served["token"].encode() if ok else b"no"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.TAKOS_DOMAIN_HTTP_PORT = server.server_address[1]
    try:
        assert "no A/AAAA record" in domain_verify(domain=domain).last_error
        stub.set("shop.example.org", "A", "127.0.0.1")
        assert domain_verify(domain=domain).status == "pending"
        served["token"] = domain.verification_token
        assert domain_verify(domain=domain).status == "verified"
    finally:
        server.shutdown()
        server.server_close()


def test_a_verified_domain_survives_transient_failures_then_fails(service, stub):
    domain = domain_add(service=service, domain="flap.example.com", method="txt")
    stub.set("_takos-verify.flap.example.com", "TXT", f'"takos-verify={domain.verification_token}"')
    assert domain_verify(domain=domain).status == "verified"
    stub.records.clear()
    assert domain_verify(domain=domain).status == "verified"  # one miss keeps serving
    domain_verify(domain=domain)
    assert domain_verify(domain=domain).status == "failed"
    assert not Route.objects.filter(hostname="flap.example.com").exists()


def test_invalid_and_duplicate_domains(service, alice, space):
    from services.services import service_create
    from takos.api.errors import BadRequest, Conflict

    with pytest.raises(BadRequest):
        domain_add(service=service, domain="not a domain")
    with pytest.raises(BadRequest):
        domain_add(service=service, domain="x.apps.localhost")
    domain_add(service=service, domain="dup.example.com")
    other = service_create(space=space, actor=alice, slug="other")
    with pytest.raises(Conflict):
        domain_add(service=other, domain="dup.example.com")

"""The egress guard refuses internal targets before any connection is attempted."""

from __future__ import annotations

import base64
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hosts import egress
from hosts.services import issue_proxy_token


@pytest.fixture
def no_connections(monkeypatch):  # type: ignore[no-untyped-def]
    """Fail the test if anything opens an outbound connection (the stdlib entry points)."""
    calls: list[object] = []

    def forbidden(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise AssertionError(f"a connection was attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket.socket, "connect_ex", forbidden)
    return calls


REFUSED = [
    "http://127.0.0.1/",
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "https://localhost/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://db.internal/",
    "http://printer.local/",
    "http://intranet/",
    "ftp://example.com/",
    "http://user:pw@example.com/",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("url", REFUSED)
def test_the_guard_refuses_internal_targets_without_connecting(url: str, no_connections, settings) -> None:
    settings.TAKOS_EGRESS_ALLOWED_HOSTS = []
    with pytest.raises(egress.EgressRefused):
        egress.fetch(method="GET", url=url)
    assert no_connections == []


def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch, no_connections, settings) -> None:
    settings.TAKOS_EGRESS_ALLOWED_HOSTS = []

    def fake_getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        # One public and one private answer: any private answer refuses the request.
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(egress.EgressRefused, match=r"10\.0\.0\.1"):
        egress.check_url("https://rebind.example.com/")
    assert no_connections == []


def test_public_addresses_pass_the_check(monkeypatch, no_connections, settings) -> None:
    settings.TAKOS_EGRESS_ALLOWED_HOSTS = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))])
    checked = egress.check_url("https://example.com/path?q=1")
    assert checked.addresses == ["93.184.216.34"] and checked.port == 443
    with pytest.raises(egress.EgressRefused, match="port"):
        egress.check_url("https://example.com:8443/")


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"host={self.headers['Host']} takos={self.headers.get('X-Takos-Secret')}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Set-Cookie", "a=b")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server():  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_operator_can_allow_an_internal_address(settings, loopback_server) -> None:
    url = f"http://127.0.0.1:{loopback_server}/x"
    settings.TAKOS_EGRESS_ALLOWED_HOSTS = []
    with pytest.raises(egress.EgressRefused):
        egress.fetch(method="GET", url=url)
    settings.TAKOS_EGRESS_ALLOWED_HOSTS = ["127.0.0.0/8"]
    result = egress.fetch(method="GET", url=url, headers={"X-Takos-Secret": "s", "Accept": "*/*"})
    assert result.status == 200
    assert result.body == f"host=127.0.0.1:{loopback_server} takos=None".encode()  # x-takos-* stripped
    assert "Set-Cookie" not in result.headers and result.headers["Cache-Control"] == "no-store"


# --- through /internal/egress with a proxy token ----------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]/"])
def test_the_internal_egress_endpoint_refuses_with_403_before_connecting(url, settings, no_connections) -> None:
    from rest_framework.test import APIClient

    settings.TAKOS_EGRESS_ALLOWED_HOSTS = []
    token = issue_proxy_token(owner="run:abc", capabilities=["egress"], ttl_seconds=60)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post("/internal/egress", {"url": url}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN" and "Egress refused" in response.json()["error"]["message"]
    assert no_connections == []


@pytest.mark.django_db
def test_the_internal_egress_endpoint_fetches_an_allowed_target(settings, loopback_server) -> None:
    from rest_framework.test import APIClient

    settings.TAKOS_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    token = issue_proxy_token(owner="run:abc", capabilities=["egress"], ttl_seconds=60)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post("/internal/egress", {"url": f"http://127.0.0.1:{loopback_server}/"}, format="json")
    assert response.status_code == 200, response.content
    assert base64.b64decode(response.json()["body_base64"]).startswith(b"host=127.0.0.1")

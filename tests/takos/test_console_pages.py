"""Every console page renders for its audience (the browser test covers the flows)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import make_team_space


@pytest.mark.django_db
def test_signed_out_pages_render():
    client = Client()
    for path in ("/login", "/signup"):
        assert client.get(path).status_code == 200, path
    assert client.get("/").status_code == 302
    response = client.post("/signup", {"username": "x", "email": "bad", "password": "1"})
    assert response.status_code == 400 and b"field-errors" in response.content


@pytest.mark.django_db
def test_signed_in_pages_render(alice, bob):
    team = make_team_space(alice, "Console", bob="viewer")
    client = Client()
    client.force_login(alice)
    for path in ("/", "/spaces", f"/spaces/{team.slug}", f"/spaces/{team.slug}/members", "/settings",
                 "/settings/tokens", "/auth/cli?callback=http://127.0.0.1:9/cb&state=s"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    assert client.get("/auth/cli?callback=https://evil.example/cb&state=s").status_code == 400


@pytest.mark.django_db
def test_other_tenants_space_page_is_404(alice, charlie):
    team = make_team_space(alice, "Hidden")
    client = Client()
    client.force_login(charlie)
    assert client.get(f"/spaces/{team.slug}").status_code == 404
    assert client.post(f"/spaces/{team.slug}/members", {"who": "charlie", "role": "owner"}).status_code == 404


@pytest.mark.django_db
def test_viewer_cannot_change_space_from_console(alice, bob):
    team = make_team_space(alice, "Viewonly", bob="viewer")
    client = Client()
    client.force_login(bob)
    client.post(f"/spaces/{team.slug}", {"name": "pwned"})
    team.refresh_from_db()
    assert team.name == "Viewonly"

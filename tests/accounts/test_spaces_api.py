"""Spaces and members (spec section 5): roles, tenancy (404), and bad input."""

from __future__ import annotations

import pytest

from accounts.models import Membership, Space
from tests.factories import make_team_space


@pytest.mark.django_db
def test_it_creates_and_lists_spaces(alice_api):
    response = alice_api.post("/api/spaces", {"name": "Acme Robots", "description": "bots"})
    assert response.status_code == 201, response.content
    space = response.json()["space"]
    assert space["slug"] == "acme-robots" and space["kind"] == "team" and space["member_role"] == "owner"
    assert response.json()["repository"]["name"] == "main"
    assert len(space["id"]) == 12 and space["id"].isalnum() and space["id"].islower()
    listed = alice_api.get("/api/spaces").json()
    assert listed["total"] == 2 and listed["has_more"] is False
    assert {s["slug"] for s in listed["spaces"]} == {"alice", "acme-robots"}
    assert alice_api.post("/api/spaces", {"name": "Acme Robots"}).json()["space"]["slug"] == "acme-robots-2"


@pytest.mark.django_db
def test_space_is_reachable_by_id_slug_and_me(alice_api, alice):
    team = make_team_space(alice, "Crew")
    for ref in (team.id, team.slug):
        assert alice_api.get(f"/api/spaces/{ref}").json()["space"]["id"] == team.id
    me = alice_api.get("/api/spaces/me").json()["space"]
    assert me["kind"] == "personal" and me["slug"] == "alice"
    assert alice_api.get("/api/me/personal-space").json()["space"]["id"] == me["id"]


@pytest.mark.django_db
def test_pagination_is_capped_and_validated(alice_api, alice):
    for i in range(5):
        make_team_space(alice, f"S{i}")
    page = alice_api.get("/api/spaces?limit=2&offset=1").json()
    assert len(page["spaces"]) == 2 and page["total"] == 6 and page["has_more"] is True
    assert alice_api.get("/api/spaces?limit=1000").json()["limit"] == 100
    past_end = alice_api.get("/api/spaces?limit=5&offset=10").json()
    assert past_end["spaces"] == [] and past_end["total"] == 6 and past_end["has_more"] is False
    full = alice_api.get("/api/spaces?limit=6").json()
    assert full["spaces"][0]["slug"] == "alice" and full["spaces"][0]["member_role"] == "owner"
    assert full["spaces"][0]["created_at"].endswith("+00:00") and full["has_more"] is False
    # SQLite builds the page as one JSON array: its rows must keep the query's order.
    assert [(s["kind"], s["slug"]) for s in full["spaces"]] == sorted((s["kind"], s["slug"]) for s in full["spaces"])
    assert [s["id"] for s in page["spaces"]] == [s["id"] for s in full["spaces"][1:3]]
    response = alice_api.get("/api/spaces?limit=abc")
    assert response.status_code == 400 and "limit" in response.json()["error"]["details"]["fields"]


@pytest.mark.django_db
def test_another_tenants_space_is_404(alice, bob_api):
    team = make_team_space(alice, "Private")
    for method, body in (("get", None), ("patch", {"name": "x"}), ("delete", None)):
        call = getattr(bob_api, method)
        response = call(f"/api/spaces/{team.id}", body) if body else call(f"/api/spaces/{team.id}")
        assert response.status_code == 404, (method, response.content)
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert bob_api.get(f"/api/spaces/{team.slug}/members").status_code == 404
    assert Space.objects.get(pk=team.pk).name == "Private"


@pytest.mark.django_db
def test_roles_gate_changes(alice, bob, charlie, bob_api, charlie_api):
    team = make_team_space(alice, "Roles", bob="viewer", charlie="admin")
    response = bob_api.patch(f"/api/spaces/{team.id}", {"name": "hijack"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "FORBIDDEN"
    assert Space.objects.get(pk=team.pk).name == "Roles"
    assert charlie_api.patch(f"/api/spaces/{team.id}", {"name": "Renamed"}).json()["space"]["name"] == "Renamed"
    assert charlie_api.delete(f"/api/spaces/{team.id}").status_code == 403  # owner only
    assert charlie_api.patch(f"/api/spaces/{team.id}/model", {"model": "claude-x", "provider": "anthropic"}).json() == {
        "model": "claude-x", "provider": "anthropic"}
    assert bob_api.get(f"/api/spaces/{team.id}/model").json()["provider"] == "anthropic"
    response = charlie_api.patch(f"/api/spaces/{team.id}", {"security_posture": "wide-open"})
    assert response.status_code == 400 and "security_posture" in response.json()["error"]["details"]["fields"]


@pytest.mark.django_db
def test_members_lifecycle(alice, bob, charlie, alice_api, bob_api):
    team = make_team_space(alice, "Members")
    response = alice_api.post(f"/api/spaces/{team.id}/members", {"email": "BOB@example.com", "role": "editor"})
    assert response.status_code == 201, response.content
    assert response.json()["member"]["role"] == "editor"
    assert alice_api.post(f"/api/spaces/{team.id}/members", {"username": "bob", "role": "viewer"}).status_code == 409
    assert alice_api.post(f"/api/spaces/{team.id}/members", {"email": "ghost@example.com"}).status_code == 404
    assert alice_api.post(f"/api/spaces/{team.id}/members", {"role": "viewer"}).status_code == 400
    assert alice_api.post(f"/api/spaces/{team.id}/members", {"username": "charlie", "role": "god"}).status_code == 400
    # an editor cannot manage members
    assert bob_api.post(f"/api/spaces/{team.id}/members", {"username": "charlie"}).status_code == 403
    members = alice_api.get(f"/api/spaces/{team.id}/members").json()
    assert [(m["username"], m["role"]) for m in members["members"]] == [("alice", "owner"), ("bob", "editor")]
    assert alice_api.patch(f"/api/spaces/{team.id}/members/bob", {"role": "admin"}).json()["member"]["role"] == "admin"
    # an admin cannot demote the owner; the last owner cannot leave
    assert bob_api.patch(f"/api/spaces/{team.id}/members/alice", {"role": "viewer"}).status_code == 403
    assert alice_api.delete(f"/api/spaces/{team.id}/members/alice").status_code == 409
    assert alice_api.patch(f"/api/spaces/{team.id}/members/alice", {"role": "editor"}).status_code == 409
    # bob leaves on his own
    assert bob_api.delete(f"/api/spaces/{team.id}/members/bob").status_code == 200
    assert not Membership.objects.filter(space=team, user=bob).exists()
    assert bob_api.get(f"/api/spaces/{team.id}").status_code == 404


@pytest.mark.django_db
def test_personal_space_cannot_be_deleted_or_shared(alice_api, bob):
    assert alice_api.delete("/api/spaces/me").status_code == 400
    assert alice_api.post("/api/spaces/me/members", {"username": "bob"}).status_code == 400


@pytest.mark.django_db
def test_owner_deletes_a_team_space(alice, alice_api):
    team = make_team_space(alice, "Gone")
    assert alice_api.delete(f"/api/spaces/{team.slug}").status_code == 200
    assert not Space.objects.filter(pk=team.pk).exists()
    assert alice_api.get(f"/api/spaces/{team.id}").status_code == 404


@pytest.mark.django_db
def test_list_spaces_query_count_is_constant(alice, alice_api, django_assert_max_num_queries):
    for i in range(10):
        make_team_space(alice, f"Q{i}")
    with django_assert_max_num_queries(6):
        assert len(alice_api.get("/api/spaces").json()["spaces"]) == 11


@pytest.mark.django_db
def test_an_added_member_is_notified(alice, bob, alice_api, bob_api):
    team = make_team_space(alice, "Invites")
    assert alice_api.post(f"/api/spaces/{team.id}/members", {"username": "bob", "role": "editor"}).status_code == 201
    listed = bob_api.get("/api/notifications").json()
    invite = next(n for n in listed["notifications"] if n["type"] == "workspace.invite")
    assert "Invites" in invite["title"] and invite["data"]["space_id"] == team.id


@pytest.mark.django_db
def test_list_rows_match_the_detail_shape(alice, alice_api):
    """The list page is built from raw rows (ISO text timestamps): it must equal what the detail
    endpoint, built from the model, returns for each space, microseconds and all."""
    from datetime import UTC, datetime

    team = make_team_space(alice, "Shape")
    Space.objects.filter(pk=team.pk).update(created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                                            picture="https://example.com/p.png")
    listed = alice_api.get("/api/spaces").json()["spaces"]
    assert len(listed) == 2
    for row in listed:
        assert row == alice_api.get(f"/api/spaces/{row['id']}").json()["space"]
    shaped = next(row for row in listed if row["id"] == team.id)
    assert shaped["created_at"] == "2026-01-02T03:04:05+00:00" and shaped["picture"] == "https://example.com/p.png"

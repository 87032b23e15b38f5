"""/api/me/* and the social toggles."""

from __future__ import annotations

import pytest

from accounts.models import Follow


@pytest.mark.django_db
def test_me_settings_and_username(alice_api, bob):
    me = alice_api.get("/api/me").json()
    assert me["username"] == "alice" and me["email"] == "alice@example.com" and "setup_completed" in me
    settings = alice_api.patch("/api/me/settings", {"private_account": True, "activity_visibility": "followers"}).json()
    assert settings["private_account"] is True and settings["activity_visibility"] == "followers"
    assert alice_api.patch("/api/me/settings", {"activity_visibility": "everyone"}).status_code == 400
    assert alice_api.patch("/api/me/username", {"username": "bob"}).status_code == 409
    assert alice_api.patch("/api/me/username", {"username": "al"}).json()["user"]["username"] == "al"
    assert alice_api.get("/api/spaces/al").json()["space"]["kind"] == "personal"


@pytest.mark.django_db
def test_follow_block_mute(alice_api, bob_api, alice, bob):
    assert alice_api.post("/api/users/bob/follow").json() == {"success": True, "following": True, "requested": False}
    profile = alice_api.get("/api/users/bob").json()["user"]
    assert profile["is_following"] is True and profile["followers_count"] == 1
    assert "email" not in profile
    assert alice_api.post("/api/users/alice/follow").status_code == 400
    assert alice_api.post("/api/users/nobody/follow").status_code == 404
    # bob blocks alice: the follow ends and alice can neither follow nor see bob
    assert bob_api.post("/api/users/alice/block").status_code == 200
    assert not Follow.objects.filter(follower=alice, following=bob).exists()
    assert alice_api.post("/api/users/bob/follow").status_code == 403
    assert alice_api.get("/api/users/bob").status_code == 404
    assert bob_api.get("/api/users/alice").json()["user"]["is_blocking"] is True
    assert bob_api.delete("/api/users/alice/block").json()["blocking"] is False
    assert alice_api.post("/api/users/bob/mute").json()["muting"] is True
    assert alice_api.get("/api/users/bob").json()["user"]["is_muting"] is True
    assert alice_api.delete("/api/users/bob/mute").status_code == 200


@pytest.mark.django_db
def test_profiles_are_public(anon_api, alice):
    response = anon_api.get("/api/users/alice")
    assert response.status_code == 200 and response.json()["user"]["username"] == "alice"


@pytest.mark.django_db
def test_createsuperuser_gets_a_personal_space(monkeypatch):
    from django.core.management import call_command

    from accounts.models import Space

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "operator pass phrase")
    call_command("createsuperuser", "--noinput", username="root1", email="root1@example.com")
    assert Space.objects.get(owner__username="root1", kind="personal").slug == "root1"


@pytest.mark.django_db
def test_private_accounts_get_follow_requests(alice_api, bob_api, charlie_api, alice, bob):
    bob_api.patch("/api/me/settings", {"private_account": True})
    response = alice_api.post("/api/users/bob/follow")
    assert response.json() == {"success": True, "following": False, "requested": True}
    assert not Follow.objects.filter(follower=alice, following=bob).exists()
    assert charlie_api.post("/api/users/bob/follow").json()["requested"] is True
    assert alice_api.get("/api/users/bob/follow-requests").status_code == 404  # not alice's inbox
    pending = bob_api.get("/api/users/bob/follow-requests").json()["requests"]
    assert {r["requester"]["username"] for r in pending} == {"alice", "charlie"}
    by_name = {r["requester"]["username"]: r["id"] for r in pending}
    assert bob_api.post(f"/api/users/bob/follow-requests/{by_name['alice']}/accept").json()["status"] == "accepted"
    assert bob_api.post(f"/api/users/bob/follow-requests/{by_name['charlie']}/reject").json()["status"] == "rejected"
    assert bob_api.post(f"/api/users/bob/follow-requests/{by_name['charlie']}/accept").status_code == 404
    assert Follow.objects.filter(follower=alice, following=bob).exists()
    assert alice_api.get("/api/users/bob").json()["user"]["is_following"] is True

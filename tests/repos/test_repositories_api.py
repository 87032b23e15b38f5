"""Repositories: create/list/get/patch/delete, visibility, tenancy, default repo of a new space."""

from __future__ import annotations

import pytest

from accounts.models import Space
from repos import git as g
from repos.models import Repository
from repos.selectors import default_repository, repo_for_user
from takos.api.errors import Forbidden, NotFound
from tests.factories import make_team_space

pytestmark = pytest.mark.django_db


def test_it_creates_a_repository_with_a_bare_git_dir(alice, alice_api):
    resp = alice_api.post("/api/spaces/me/repos", {"name": "app", "description": "d", "visibility": "private"})
    assert resp.status_code == 201, resp.json()
    repo = resp.json()["repository"]
    assert repo["name"] == "app" and repo["owner"] == "alice" and repo["default_branch"] == "main"
    assert repo["clone_url"].endswith("/git/alice/app.git")
    obj = Repository.objects.get(pk=repo["id"])
    assert (obj.git_dir / "HEAD").exists()
    ok, _ = g.fsck(obj)
    assert ok


def test_it_refuses_duplicate_and_bad_names(alice_api):
    assert alice_api.post("/api/spaces/me/repos", {"name": "app"}).status_code == 201
    resp = alice_api.post("/api/spaces/me/repos", {"name": "APP"})
    assert resp.status_code == 409
    for bad in ("../x", "a b", "x.git", "-x"):
        resp = alice_api.post("/api/spaces/me/repos", {"name": bad})
        assert resp.status_code == 400, bad
        assert resp.json()["error"]["code"] == "BAD_REQUEST"


def test_it_lists_repos_of_a_space(alice_api):
    for name in ("b", "a"):
        alice_api.post("/api/spaces/me/repos", {"name": name})
    data = alice_api.get("/api/spaces/me/repos").json()
    assert [r["name"] for r in data["repositories"]] == ["a", "b"]
    assert data["total"] == 2


def test_other_tenants_get_404_and_public_repos_are_readable(alice_api, bob_api, anon_api):
    private = alice_api.post("/api/spaces/me/repos", {"name": "secret"}).json()["repository"]
    public = alice_api.post("/api/spaces/me/repos", {"name": "open", "visibility": "public"}).json()["repository"]
    internal = alice_api.post("/api/spaces/me/repos", {"name": "inside", "visibility": "internal"}).json()["repository"]
    assert bob_api.get(f"/api/repos/{private['id']}").status_code == 404
    assert anon_api.get(f"/api/repos/{private['id']}").status_code == 404
    assert anon_api.get(f"/api/repos/{public['id']}").status_code == 200
    assert bob_api.get(f"/api/repos/{internal['id']}").status_code == 200
    assert anon_api.get(f"/api/repos/{internal['id']}").status_code == 404
    # Bob sees only what he may read when listing alice's space.
    names = [r["name"] for r in bob_api.get("/api/spaces/alice/repos").json()["repositories"]]
    assert names == ["inside", "open"]
    # Writing to a readable repo without membership is forbidden; to an invisible one, not found.
    assert bob_api.patch(f"/api/repos/{public['id']}", {"description": "x"}).status_code == 403
    assert bob_api.delete(f"/api/repos/{private['id']}").status_code == 404
    assert anon_api.patch(f"/api/repos/{public['id']}", {"description": "x"}).status_code == 401


def test_repo_for_user_contract(alice, bob):
    space = make_team_space(alice, "T", bob="viewer")
    repo = default_repository(space)
    assert repo is not None and repo.name == "main"
    assert repo_for_user(bob, repo.id) == repo
    with pytest.raises(Forbidden):
        repo_for_user(bob, repo.id, min_role="editor")
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(NotFound):
        repo_for_user(AnonymousUser(), repo.id)
    with pytest.raises(NotFound):
        repo_for_user(alice, "zzzzzzzzzzzz")


def test_new_team_space_gets_default_repo_main(alice_api):
    resp = alice_api.post("/api/spaces", {"name": "Crew"})
    assert resp.status_code == 201
    space = Space.objects.get(pk=resp.json()["space"]["id"])
    repo = default_repository(space)
    assert repo is not None and repo.git_dir.exists()


def test_patch_and_delete(alice_api, alice):
    repo = alice_api.post("/api/spaces/me/repos", {"name": "app"}).json()["repository"]
    resp = alice_api.patch(f"/api/repos/{repo['id']}", {"name": "app2", "visibility": "public", "description": "x"})
    assert resp.status_code == 200
    assert resp.json()["repository"]["name"] == "app2"
    obj = Repository.objects.get(pk=repo["id"])
    path = obj.git_dir
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        assert alice_api.delete(f"/api/repos/{repo['id']}").status_code == 200
    assert not Repository.objects.filter(pk=repo["id"]).exists()
    assert not path.exists()


def test_editor_can_create_viewer_cannot(alice, bob, charlie, bob_api, charlie_api):
    space = make_team_space(alice, "T", bob="viewer", charlie="editor")
    assert bob_api.post(f"/api/spaces/{space.id}/repos", {"name": "x"}).status_code == 403
    assert charlie_api.post(f"/api/spaces/{space.id}/repos", {"name": "x"}).status_code == 201

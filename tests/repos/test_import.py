"""POST /api/repos/import-external through the egress rules, and init-repo."""

from __future__ import annotations

import pytest

from repos import git as g
from repos.models import Repository
from tests.factories import make_team_space
from tests.repos.conftest import LiveGit, git, make_project

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/x.git", "http://localhost/x.git", "http://169.254.169.254/x",
                                 "http://10.1.2.3/x.git", "file:///etc/passwd", "ssh://example.com/x.git"])
def test_import_refuses_internal_addresses(alice_api, url):
    resp = alice_api.post("/api/repos/import-external", {"url": url, "space_id": "me"})
    assert resp.status_code == 400, resp.json()
    assert not Repository.objects.filter(name="x").exists()


def test_init_repo_creates_main(alice, alice_api, bob, bob_api):
    # A personal space has no default repository until asked for one.
    assert not Repository.objects.filter(space__slug="alice").exists()
    resp = alice_api.post("/api/spaces/me/init-repo")
    assert resp.status_code == 201 and resp.json()["repository"]["name"] == "main"
    first = resp.json()["repository"]["id"]
    assert alice_api.post("/api/spaces/me/init-repo").json()["repository"]["id"] == first
    space = make_team_space(alice, "T", bob="editor")
    assert bob_api.post(f"/api/spaces/{space.id}/init-repo").status_code == 403


@pytest.mark.e2e
def test_import_from_an_operator_allowed_server(live_git: LiveGit, alice, alice_api, settings, tmp_path):
    """The live test server is on loopback, so the operator allow-list must name it."""
    with live_git.api("alice") as api:
        api.post("/api/spaces/me/repos", json={"name": "upstream", "visibility": "public"})
    src = make_project(tmp_path / "src", {"a.txt": "1\n"})
    git("tag", "v1", cwd=src)
    git("push", "-q", live_git.remote("alice", "upstream", "alice"), "main", "--tags", cwd=src)
    url = f"{live_git.url}/git/alice/upstream.git"
    assert alice_api.post("/api/repos/import-external", {"url": url}).status_code == 400
    settings.TAKOS_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]
    resp = alice_api.post("/api/repos/import-external", {"url": url, "name": "copy"})
    assert resp.status_code == 201, resp.json()
    repo = Repository.objects.get(pk=resp.json()["repository"]["id"])
    assert g.resolve_ref(repo, "main") == git("rev-parse", "HEAD", cwd=src).stdout.strip()
    assert g.resolve_ref(repo, "refs/tags/v1") is not None
    assert repo.commits.count() == 1 and repo.remote_clone_url == url

"""Console pages: list, code browser, history, branches, PR page with merge button, releases."""

from __future__ import annotations

import pytest
from django.test import Client

from repos import git as g
from repos import services
from repos.models import PullRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def repo(alice):  # type: ignore[no-untyped-def]
    from accounts.selectors import personal_space

    r = services.repo_create(space=personal_space(alice), actor=alice, name="site", visibility="public")
    services.commit_create(repo=r, actor=alice, branch="main", message="init", files={
        "README.md": b"# Site\n\nHello **world** <script>alert(1)</script> [x](javascript:alert(1))\n",
        "src/app.py": b"def main():\n    return 1\n",
    })
    services.commit_create(repo=r, actor=alice, branch="topic", message="topic work", files={"src/new.py": b"N = 1\n"})
    return r


def test_space_list_and_create(web, alice):
    page = web.get("/spaces/alice/repos")
    assert page.status_code == 200
    resp = web.post("/spaces/alice/repos", {"name": "made-here", "visibility": "private"})
    assert resp.status_code == 302
    assert "made-here" in web.get("/spaces/alice/repos").content.decode()
    assert "made-here" in web.get("/repos").content.decode()


def test_repo_home_tree_blob_commits(web, repo):
    home = web.get(f"/repos/{repo.id}").content.decode()
    assert "<strong>world</strong>" in home  # README rendered
    assert "<script>alert(1)</script>" not in home and "javascript:alert" not in home.split("</nav>", 1)[1]
    assert "/git/alice/site.git" in home  # clone URL
    tree = web.get(f"/repos/{repo.id}/tree/main/src").content.decode()
    assert "app.py" in tree
    blob = web.get(f"/repos/{repo.id}/blob/main/src/app.py").content.decode()
    assert 'class="hl' in blob and "main" in blob
    assert web.get(f"/repos/{repo.id}/blob/main/../../etc/passwd").status_code == 404
    commits = web.get(f"/repos/{repo.id}/commits").content.decode()
    assert "init" in commits
    sha = g.resolve_ref(repo, "main")
    assert "src/app.py" in web.get(f"/repos/{repo.id}/commit/{sha}").content.decode()
    assert web.get(f"/repos/{repo.id}/branches").status_code == 200


def test_anonymous_public_ok_private_404(repo, alice):
    anon = Client()
    assert anon.get(f"/repos/{repo.id}").status_code == 200
    services.repo_update(repo=repo, data={"visibility": "private"})
    assert anon.get(f"/repos/{repo.id}").status_code == 404


def test_pull_request_page_and_merge_button(web, repo):
    resp = web.post(f"/repos/{repo.id}/pulls", {"title": "Topic", "head_branch": "topic", "base_branch": "main"})
    assert resp.status_code == 302
    page = web.get(f"/repos/{repo.id}/pulls/1").content.decode()
    assert "Merge pull request" in page and "src/new.py" in page and "can be merged cleanly" in page
    web.post(f"/repos/{repo.id}/pulls/1", {"action": "review", "status": "approved", "body": "lgtm"})
    web.post(f"/repos/{repo.id}/pulls/1", {"action": "merge", "merge_method": "squash"})
    assert PullRequest.objects.get(repo=repo, number=1).status == "merged"
    assert g.read_blob(repo, "main", "src/new.py") == b"N = 1\n"
    assert "approved" in web.get(f"/repos/{repo.id}/pulls/1").content.decode()


def test_releases_page_and_settings(web, repo):
    from django.core.files.uploadedfile import SimpleUploadedFile

    resp = web.post(f"/repos/{repo.id}/releases", {"tag": "v1", "name": "One",
                                                   "file": SimpleUploadedFile("a.json", b"{}")})
    assert resp.status_code == 302
    page = web.get(f"/repos/{repo.id}/releases").content.decode()
    assert "v1" in page and "a.json" in page
    assert web.post(f"/repos/{repo.id}/settings", {"name": "site", "description": "new", "visibility": "public"}
                    ).status_code == 302
    repo.refresh_from_db()
    assert repo.description == "new"
    assert web.post(f"/repos/{repo.id}/star").status_code == 302
    repo.refresh_from_db()
    assert repo.stars == 1


def test_non_member_cannot_use_write_pages(repo, bob):
    client = Client()
    client.force_login(bob)
    assert client.get(f"/repos/{repo.id}").status_code == 200  # public
    assert client.get(f"/repos/{repo.id}/settings").status_code == 403
    resp = client.post(f"/repos/{repo.id}/pulls/1", {"action": "merge"})
    assert resp.status_code in (403, 404)
    assert client.get("/spaces/alice/repos").status_code == 404

"""Pull requests: create/list/get/patch/close, comments, reviews, conflicts, merge (merge|squash|rebase)."""

from __future__ import annotations

import pytest

from repos import git as g
from repos import services
from repos.models import PullRequest, Repository

pytestmark = pytest.mark.django_db


@pytest.fixture
def repo(alice, alice_api) -> Repository:
    data = alice_api.post("/api/spaces/me/repos", {"name": "app"}).json()["repository"]
    obj = Repository.objects.get(pk=data["id"])
    services.commit_create(repo=obj, actor=alice, branch="main", message="base",
                           files={"a.txt": b"a\n", "shared.txt": b"one\ntwo\nthree\n"})
    services.branch_create(repo=obj, actor=alice, name="feature")
    services.commit_create(repo=obj, actor=alice, branch="feature", message="feat 1", files={"b.txt": b"b\n"})
    services.commit_create(repo=obj, actor=alice, branch="feature", message="feat 2", files={"c.txt": b"c\n"})
    services.commit_create(repo=obj, actor=alice, branch="main", message="main moves", files={"d.txt": b"d\n"})
    return obj


def _open(api, repo, **extra):  # type: ignore[no-untyped-def]
    body = {"title": "Add feature", "head_branch": "feature", **extra}
    resp = api.post(f"/api/repos/{repo.id}/pulls", body)
    assert resp.status_code == 201, resp.json()
    return resp.json()["pull_request"]


def test_create_list_get_patch_close(repo, alice_api, bob_api):
    pr = _open(alice_api, repo, description="desc")
    assert pr["number"] == 1 and pr["base_branch"] == "main" and pr["status"] == "open"
    assert alice_api.post(f"/api/repos/{repo.id}/pulls", {"title": "dup", "head_branch": "feature"}).status_code == 409
    assert alice_api.post(f"/api/repos/{repo.id}/pulls", {"title": "x", "head_branch": "nope"}).status_code == 400
    base = f"/api/repos/{repo.id}/pulls"
    assert [p["number"] for p in alice_api.get(f"{base}?status=open").json()["pull_requests"]] == [1]
    assert alice_api.get(f"{base}/1").json()["pull_request"]["description"] == "desc"
    assert alice_api.patch(f"{base}/1", {"title": "Renamed"}).json()["pull_request"]["title"] == "Renamed"
    assert alice_api.post(f"{base}/1/close").json()["pull_request"]["status"] == "closed"
    assert alice_api.get(f"{base}?status=open").json()["pull_requests"] == []
    assert alice_api.patch(f"{base}/1", {"status": "open"}).json()["pull_request"]["status"] == "open"
    services.branch_create(repo=repo, actor=None, name="other")
    second = alice_api.post(base, {"title": "Two", "head_branch": "other"}).json()["pull_request"]
    assert second["number"] == 2
    assert alice_api.get(f"{base}/99").status_code == 404
    assert bob_api.get(f"{base}/1").status_code == 404


def test_diff_comments_reviews_conflicts(repo, alice_api):
    _open(alice_api, repo)
    base = f"/api/repos/{repo.id}/pulls/1"
    diff = alice_api.get(f"{base}/diff").json()["diff"]
    # Three-dot: only the feature's own changes, not main's d.txt.
    assert sorted(f["path"] for f in diff["files"]) == ["b.txt", "c.txt"]
    resp = alice_api.post(f"{base}/comments", {"content": "nice", "file_path": "b.txt", "line_number": 1})
    assert resp.status_code == 201
    assert alice_api.get(f"{base}/comments").json()["comments"][0]["content"] == "nice"
    assert alice_api.post(f"{base}/reviews", {"status": "approved", "body": "ok"}).status_code == 201
    assert alice_api.post(f"{base}/reviews", {"status": "meh"}).status_code == 400
    assert alice_api.get(f"{base}/reviews").json()["reviews"][0]["status"] == "approved"
    conflicts = alice_api.get(f"{base}/conflicts").json()
    assert conflicts["mergeable"] is True and conflicts["conflicts"] == []


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_merge_methods(repo, alice_api, method):
    _open(alice_api, repo)
    main_before = g.resolve_ref(repo, "main")
    resp = alice_api.post(f"/api/repos/{repo.id}/pulls/1/merge", {"merge_method": method})
    assert resp.status_code == 200, resp.json()
    pr = resp.json()["pull_request"]
    assert pr["status"] == "merged" and pr["merge_method"] == method
    head = g.resolve_ref(repo, "main")
    assert head == pr["merge_commit_sha"]
    assert sorted(g.list_files(repo, "main")) == ["a.txt", "b.txt", "c.txt", "d.txt", "shared.txt"]
    info = g.commit_info(repo, head)
    if method == "merge":
        assert info["parent_shas"] == [main_before, g.resolve_ref(repo, "feature")]
    elif method == "squash":
        assert info["parent_shas"] == [main_before] and info["message"].startswith("Add feature (#1)")
    else:
        log = [c["message"] for c in g.log(repo, "main", limit=3)]
        assert log == ["feat 2", "feat 1", "main moves"]
    assert g.is_ancestor(repo, main_before, head)
    again = alice_api.post(f"/api/repos/{repo.id}/pulls/1/merge", {"merge_method": method})
    assert again.status_code == 409


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_conflicting_merge_is_409_and_changes_nothing(repo, alice, alice_api, method):
    services.commit_create(repo=repo, actor=alice, branch="feature", message="f edit",
                           files={"shared.txt": b"one\nFEATURE\nthree\n"})
    services.commit_create(repo=repo, actor=alice, branch="main", message="m edit",
                           files={"shared.txt": b"one\nMAIN\nthree\n"})
    _open(alice_api, repo)
    conflicts = alice_api.get(f"/api/repos/{repo.id}/pulls/1/conflicts").json()
    assert conflicts["mergeable"] is False and conflicts["conflicts"] == ["shared.txt"]
    before = g.list_refs(repo)
    resp = alice_api.post(f"/api/repos/{repo.id}/pulls/1/merge", {"merge_method": method})
    assert resp.status_code == 409
    assert resp.json()["error"]["details"]["conflicts"] == ["shared.txt"]
    assert g.list_refs(repo) == before
    assert PullRequest.objects.get(repo=repo, number=1).status == "open"
    assert g.run(repo, "worktree", "list").stdout.decode().count("\n") == 1  # no leftover worktree


def test_required_checks_gate_merges(repo, alice_api, monkeypatch):
    # Only this test's checker: other apps (workflows) register theirs at start-up.
    monkeypatch.setattr(services, "STATUS_CHECKERS", [])
    _open(alice_api, repo)
    alice_api.put(f"/api/repos/{repo.id}/branches/main/protection", {"is_protected": True, "required_checks": ["ci"]})
    resp = alice_api.post(f"/api/repos/{repo.id}/pulls/1/merge", {})
    assert resp.status_code == 409 and "ci" in resp.json()["error"]["message"]
    seen = []

    def checker(r, pr, required):  # type: ignore[no-untyped-def]
        seen.append(required)
        return True, ""

    services.register_status_checker(checker)
    assert alice_api.post(f"/api/repos/{repo.id}/pulls/1/merge", {}).status_code == 200
    assert seen == [["ci"]]


def test_viewer_cannot_merge(alice, bob, bob_api):
    from tests.factories import make_team_space

    space = make_team_space(alice, "T", bob="viewer")
    team_repo = services.repo_create(space=space, actor=alice, name="r")
    services.commit_create(repo=team_repo, actor=alice, branch="main", message="m", files={"a": b"1"})
    services.commit_create(repo=team_repo, actor=alice, branch="f", message="f", files={"b": b"1"})
    services.pull_request_create(repo=team_repo, actor=alice, title="t", head_branch="f")
    assert bob_api.get(f"/api/repos/{team_repo.id}/pulls/1").status_code == 200
    assert bob_api.post(f"/api/repos/{team_repo.id}/pulls/1/merge", {}).status_code == 403
    assert bob_api.post(f"/api/repos/{team_repo.id}/pulls", {"title": "x", "head_branch": "f"}).status_code == 403

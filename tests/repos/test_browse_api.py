"""Browsing API, branches and the commit API (DRF client; git data written through repos.git)."""

from __future__ import annotations

import base64

import pytest
from django.test import TestCase

from repos import git as g
from repos import services
from repos.models import Commit, Push, Repository
from takos.hooks import repo_pushed

pytestmark = pytest.mark.django_db


@pytest.fixture
def repo(alice, alice_api) -> Repository:
    data = alice_api.post("/api/spaces/me/repos", {"name": "app"}).json()["repository"]
    obj = Repository.objects.get(pk=data["id"])
    services.commit_create(repo=obj, actor=alice, branch="main", message="first",
                           files={"README.md": b"# App\n", "src/app.py": b"print('hi')\n", "img.bin": b"\x00\x01\x02"})
    services.commit_create(repo=obj, actor=alice, branch="main", message="second",
                           files={"src/app.py": b"print('hello')\n", "src/util.py": b"X = 1\n"})
    return obj


def test_tree_and_blob(repo, alice_api):
    base = f"/api/repos/{repo.id}"
    root = alice_api.get(f"{base}/tree/main").json()
    assert [(e["name"], e["type"]) for e in root["entries"]] == [("src", "tree"), ("img.bin", "blob"), ("README.md", "blob")]
    sub = alice_api.get(f"{base}/tree/main/src").json()
    assert [e["path"] for e in sub["entries"]] == ["src/app.py", "src/util.py"]
    blob = alice_api.get(f"{base}/blob/main/src/app.py").json()
    assert blob["content"] == "print('hello')\n" and blob["encoding"] == "utf-8" and blob["is_binary"] is False
    binary = alice_api.get(f"{base}/blob/main/img.bin").json()
    assert binary["encoding"] == "base64" and base64.b64decode(binary["content"]) == b"\x00\x01\x02"
    raw = alice_api.get(f"{base}/blob/main/README.md?raw=1")
    assert raw.status_code == 200 and raw.content == b"# App\n" and raw["Content-Type"].startswith("text/")
    raw2 = alice_api.get(f"{base}/blob/main/img.bin", HTTP_ACCEPT="application/octet-stream")
    assert raw2.status_code == 200 and raw2.content == b"\x00\x01\x02"
    assert alice_api.get(f"{base}/blob/main/src").status_code == 404
    assert alice_api.get(f"{base}/tree/main/README.md").status_code == 404
    assert alice_api.get(f"{base}/blob/nope/README.md").status_code == 404


@pytest.mark.parametrize("path", ["../../etc/passwd", "src/../../x", "%2e%2e/%2e%2e/etc/passwd", ".git/config",
                                  "src/./app.py", "/etc/passwd"])
def test_path_traversal_is_404(repo, alice_api, path):
    for kind in ("blob", "tree", "blame"):
        resp = alice_api.get(f"/api/repos/{repo.id}/{kind}/main/{path}")
        assert resp.status_code == 404, (kind, path, resp.status_code)
        assert resp.json()["error"]["code"] == "NOT_FOUND"


def test_blob_size_limit(repo, alice, alice_api, settings):
    settings.TAKOS_REPO_BLOB_MAX_BYTES = 10
    blob = alice_api.get(f"/api/repos/{repo.id}/blob/main/src/app.py").json()
    assert blob["too_large"] is True and blob["content"] is None


def test_commits_log_diff_blame_search(repo, alice_api):
    base = f"/api/repos/{repo.id}"
    commits = alice_api.get(f"{base}/commits?branch=main").json()
    assert [c["message"] for c in commits["commits"]] == ["second", "first"]
    page2 = alice_api.get(f"{base}/commits?branch=main&limit=1&page=2").json()
    assert [c["message"] for c in page2["commits"]] == ["first"] and page2["has_more"] is False
    by_path = alice_api.get(f"{base}/log/main/src/util.py").json()
    assert [c["message"] for c in by_path["commits"]] == ["second"]
    first, second = commits["commits"][1]["sha"], commits["commits"][0]["sha"]
    diff = alice_api.get(f"{base}/diff/{first}...{second}").json()["diff"]
    files = {f["path"]: f for f in diff["files"]}
    assert files["src/util.py"]["status"] == "added" and files["src/app.py"]["status"] == "modified"
    assert "+print('hello')" in files["src/app.py"]["patch"]
    blame = alice_api.get(f"{base}/blame/main/src/app.py").json()
    assert blame["lines"][0]["sha"] == second and blame["lines"][0]["content"] == "print('hello')"
    found = alice_api.get(f"{base}/search?q=HELLO").json()["matches"]
    assert found == [{"path": "src/app.py", "line": 1, "content": "print('hello')"}]
    assert Commit.objects.filter(repo=repo).count() == 2  # the commit index


def test_diff_is_capped(repo, alice, alice_api, monkeypatch):
    monkeypatch.setattr(g, "MAX_DIFF_FILES", 3)
    before = g.resolve_ref(repo, "main")
    services.commit_create(repo=repo, actor=alice, branch="main", message="many",
                           files={f"f{i}.txt": b"x\n" for i in range(5)})
    diff = alice_api.get(f"/api/repos/{repo.id}/diff/{before}...main").json()["diff"]
    assert diff["truncated"] is True and len(diff["files"]) == 3 and diff["total_files"] == 5


def test_branches_create_delete_default(repo, alice_api, bob_api):
    base = f"/api/repos/{repo.id}"
    resp = alice_api.post(f"{base}/branches", {"name": "feature/a", "source": "main"})
    assert resp.status_code == 201
    assert alice_api.post(f"{base}/branches", {"name": "feature/a"}).status_code == 409
    assert alice_api.post(f"{base}/branches", {"name": "bad..name"}).status_code == 400
    listed = alice_api.get(f"{base}/branches?include_commits=1").json()["branches"]
    assert [b["name"] for b in listed] == ["main", "feature/a"]
    assert listed[1]["commit"]["message"] == "second"
    assert alice_api.delete(f"{base}/branches/main").status_code == 409
    assert alice_api.post(f"{base}/branches/feature/a/default").status_code == 200
    assert alice_api.get(base).json()["repository"]["default_branch"] == "feature/a"
    assert g.run(repo, "symbolic-ref", "HEAD").stdout.decode().strip() == "refs/heads/feature/a"
    alice_api.post(f"{base}/branches/main/default")
    assert alice_api.delete(f"{base}/branches/feature/a").status_code == 200
    assert g.resolve_ref(repo, "refs/heads/feature/a") is None
    assert bob_api.post(f"{base}/branches", {"name": "x"}).status_code == 404


def test_commit_api_and_push_hook(repo, alice_api):
    calls = []

    def receiver(sender, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)

    repo_pushed.connect(receiver)
    try:
        head = g.resolve_ref(repo, "main")
        with TestCase.captureOnCommitCallbacks(execute=True):
            resp = alice_api.post(f"/api/repos/{repo.id}/commit", {
                "branch": "main", "message": "api change", "parent_sha": head,
                "files": [{"path": "new/file.txt", "content": "hello"},
                          {"path": "bin.dat", "content": base64.b64encode(b"\xff\x00").decode(), "encoding": "base64"},
                          {"path": "src/util.py", "action": "delete"}],
            })
        assert resp.status_code == 201, resp.json()
        sha = resp.json()["commit"]["sha"]
        assert g.read_blob(repo, "main", "new/file.txt") == b"hello"
        assert g.read_blob(repo, "main", "bin.dat") == b"\xff\x00"
        assert g.read_blob(repo, "main", "src/util.py") is None
        assert calls and calls[0]["ref_updates"] == [("refs/heads/main", head, sha)]
        assert calls[0]["repo"] == repo and calls[0]["pusher"].username == "alice"
        with TestCase.captureOnCommitCallbacks(execute=True):
            created = alice_api.post(f"/api/repos/{repo.id}/commit", {
                "branch": "agent/new", "message": "new branch", "files": [{"path": "x.txt", "content": "x"}]})
        assert created.status_code == 201
        assert calls[-1]["ref_updates"] == [("refs/heads/agent/new", g.ZERO_SHA, created.json()["commit"]["sha"])]
        assert Push.objects.filter(repo=repo, via="api").count() == 4
        # Stale parent: compare-and-set refuses it.
        stale = alice_api.post(f"/api/repos/{repo.id}/commit", {
            "branch": "main", "message": "late", "parent_sha": head, "files": [{"path": "a", "content": "b"}]})
        assert stale.status_code == 409
        bad = alice_api.post(f"/api/repos/{repo.id}/commit", {
            "branch": "main", "message": "m", "files": [{"path": "../x", "content": "b"}]})
        assert bad.status_code == 400
    finally:
        repo_pushed.disconnect(receiver)


def test_commit_files_creates_branch_from_default_and_archive(repo, alice, tmp_path):
    sha = g.commit_files(repo, branch="agent/work", files={"agent.txt": b"done"}, message="agent",
                         author_name="Agent", author_email="agent@example.com")
    assert g.resolve_ref(repo, "agent/work") == sha
    assert g.read_blob(repo, "agent/work", "README.md") == b"# App\n"  # started from main
    out = g.archive(repo, sha, tmp_path / "co")
    assert (out / "agent.txt").read_text() == "done" and (out / "src/app.py").exists()
    assert not (out / ".git").exists()
    assert [e["name"] for e in g.list_tree(repo, sha, "src")] == ["app.py", "util.py"]


def test_empty_repo_browsing(alice_api):
    data = alice_api.post("/api/spaces/me/repos", {"name": "empty"}).json()["repository"]
    assert alice_api.get(f"/api/repos/{data['id']}/commits").json()["commits"] == []
    assert alice_api.get(f"/api/repos/{data['id']}/branches").json()["branches"] == []
    assert alice_api.get(f"/api/repos/{data['id']}/tree/main").status_code == 404


def test_big_pushes_are_indexed_by_the_worker_task(alice, alice_api, monkeypatch):
    from repos import tasks

    data = alice_api.post("/api/spaces/me/repos", {"name": "big"}).json()["repository"]
    repo = Repository.objects.get(pk=data["id"])
    monkeypatch.setattr(services, "INLINE_INDEX_LIMIT", 1)
    queued = []
    monkeypatch.setattr(tasks.index_commits, "delay", lambda **kw: queued.append(kw))
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.commit_create(repo=repo, actor=alice, branch="main", message="one", files={"a": b"1"})
    assert queued == [] and Commit.objects.filter(repo=repo).count() == 1  # one commit: inline
    sha1 = g.resolve_ref(repo, "main")
    g.commit_files(repo, branch="main", files={"b": b"2"}, message="two", author_name="A", author_email="a@x")
    sha3 = g.commit_files(repo, branch="main", files={"c": b"3"}, message="three", author_name="A", author_email="a@x")
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.record_push(repo=repo, pusher=alice, ref_updates=[("refs/heads/main", sha1, sha3)])
    assert len(queued) == 1 and Commit.objects.filter(repo=repo).count() == 1
    assert tasks.index_commits(**queued[0]) == 2
    assert tasks.index_commits(**queued[0]) == 2  # safe to run twice: rows are not duplicated
    assert Commit.objects.filter(repo=repo).count() == 3


def test_export_streams_a_tarball(repo, alice_api):
    import io
    import tarfile

    resp = alice_api.get(f"/api/repos/{repo.id}/export?ref=main")
    assert resp.status_code == 200 and resp["Content-Type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(b"".join(resp.streaming_content)), mode="r:gz") as tar:
        assert "src/app.py" in tar.getnames()
    assert alice_api.get(f"/api/repos/{repo.id}/export?ref=nope").status_code == 404

"""Smart HTTP against a real daphne with the real `git` client (see conftest.live_git)."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from tests.repos.conftest import LiveGit, git, make_project

pytestmark = pytest.mark.e2e


def _create_repo(live: LiveGit, name: str, *, space: str = "me", user: str = "alice", visibility: str = "private"):
    with live.api(user) as api:
        resp = api.post(f"/api/spaces/{space}/repos", json={"name": name, "visibility": visibility})
        assert resp.status_code == 201, resp.text
        return resp.json()["repository"]


def _tree(path: Path, ref: str = "HEAD") -> str:
    return git("ls-tree", "-r", ref, cwd=path).stdout


def _server_git_dir(live: LiveGit, repo: dict) -> Path:
    return Path(live.server) / "data" / "git" / repo["space_id"] / f"{repo['id']}.git"


def _fsck_ok(path: Path) -> bool:
    return subprocess.run(["git", f"--git-dir={path}", "fsck", "--no-progress"], capture_output=True).returncode == 0


def test_push_history_and_branches_then_clone_back(live_git: LiveGit, tmp_path: Path):
    repo = _create_repo(live_git, "project")
    src = make_project(tmp_path / "src", {"README.md": "# hi\n", "src/app.py": "print(1)\n"})
    make_project(src, {"src/app.py": "print(2)\n", "docs/guide.md": "guide\n"}, "second")
    git("checkout", "-q", "-b", "feature/x", cwd=src)
    make_project(src, {"feature.txt": "f\n"}, "feature")
    git("checkout", "-q", "main", cwd=src)
    git("tag", "v1", cwd=src)
    remote = live_git.remote("alice", "project", "alice")
    git("push", remote, "main", "feature/x", "--tags", cwd=src)

    dst = tmp_path / "dst"
    git("clone", "-q", remote, str(dst))
    assert _tree(dst) == _tree(src, "main")
    git("checkout", "-q", "feature/x", cwd=dst)
    assert _tree(dst) == _tree(src, "feature/x")
    assert git("log", "--format=%H", "main", cwd=dst).stdout == git("log", "--format=%H", "main", cwd=src).stdout
    assert _fsck_ok(_server_git_dir(live_git, repo))

    with live_git.api("alice") as api:
        branches = api.get(f"/api/repos/{repo['id']}/branches").json()["branches"]
        assert {b["name"] for b in branches} == {"main", "feature/x"}
        commits = api.get(f"/api/repos/{repo['id']}/commits", params={"branch": "main"}).json()["commits"]
        assert [c["message"] for c in commits] == ["second", "initial"]
        blob = api.get(f"/api/repos/{repo['id']}/blob/feature/x/feature.txt").json()
        assert blob["content"] == "f\n"


def test_fetch_after_new_commits_with_protocol_v0_and_v2(live_git: LiveGit, tmp_path: Path):
    repo = _create_repo(live_git, "fetchme")
    remote = live_git.remote("alice", "fetchme", "alice")
    a = make_project(tmp_path / "a", {"one.txt": "1\n"})
    git("push", "-q", remote, "main", cwd=a)
    with live_git.api("alice") as api:
        assert api.get(f"/api/repos/{repo['id']}/blob/main/one.txt").json()["content"] == "1\n"
        # A push of >100 objects is kept as a new pack; the server's cached reader must see it.
        make_project(a, {f"many/f{i}.txt": f"{i}\n" for i in range(150)}, "many")
        git("push", "-q", remote, "main", cwd=a)
        assert api.get(f"/api/repos/{repo['id']}/blob/main/many/f149.txt").json()["content"] == "149\n"
        assert len(api.get(f"/api/repos/{repo['id']}/tree/main/many").json()["entries"]) == 150
    b = tmp_path / "b"
    git("-c", "protocol.version=0", "clone", "-q", remote, str(b))
    make_project(a, {"two.txt": "2\n"}, "more")
    git("push", "-q", remote, "main", cwd=a)
    for version in ("0", "2"):
        git("-c", f"protocol.version={version}", "fetch", "-q", "origin", cwd=b)
    assert git("rev-parse", "origin/main", cwd=b).stdout == git("rev-parse", "main", cwd=a).stdout
    # The v2 capability advertisement is served when asked for.
    resp = httpx.get(f"{remote}/info/refs", params={"service": "git-upload-pack"},
                     headers={"Git-Protocol": "version=2"})
    assert resp.status_code == 200 and b"version 2" in resp.content[:20]


def test_anonymous_access_and_viewer_push(live_git: LiveGit, tmp_path: Path):
    _create_repo(live_git, "closed", space="team-one")
    _create_repo(live_git, "opened", space="team-one", visibility="public")
    seed = make_project(tmp_path / "seed", {"a.txt": "a\n"})
    for name in ("closed", "opened"):
        git("push", "-q", live_git.remote("team-one", name, "alice"), "main", cwd=seed)

    # Anonymous clone of a private repository: 401 + Basic challenge, so git asks for credentials.
    anon = git("clone", live_git.remote("team-one", "closed"), str(tmp_path / "x"), check=False)
    assert anon.returncode != 0 and "could not read Username" in anon.stderr
    resp = httpx.get(f"{live_git.remote('team-one', 'closed')}/info/refs", params={"service": "git-upload-pack"})
    assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Basic")
    # Anonymous clone of a public one works; anonymous push does not.
    pub = tmp_path / "pub"
    git("clone", "-q", live_git.remote("team-one", "opened"), str(pub))
    assert (pub / "a.txt").read_text() == "a\n"
    make_project(pub, {"b.txt": "b\n"}, "anon")
    push = git("push", "origin", "main", cwd=pub, check=False)
    assert push.returncode != 0 and "could not read Username" in push.stderr
    # bob is a viewer in team-one: he may clone, not push (403).
    bob_clone = tmp_path / "bob"
    git("clone", "-q", live_git.remote("team-one", "closed", "bob"), str(bob_clone))
    make_project(bob_clone, {"b.txt": "b\n"}, "bob")
    push = git("push", "origin", "main", cwd=bob_clone, check=False)
    assert push.returncode != 0 and "403" in push.stderr
    # charlie is outside the space: the private repository does not exist for him.
    out = git("ls-remote", live_git.remote("team-one", "closed", "charlie"), check=False)
    assert out.returncode != 0 and "not found" in out.stderr.lower()
    # A read-only token cannot push even for the owner.
    host = live_git.url.split("://", 1)[1]
    ro = f"http://alice:{live_git.tokens['alice_read']}@{host}/git/team-one/closed.git"
    push = git("push", ro, "main", cwd=bob_clone, check=False)
    assert push.returncode != 0 and "403" in push.stderr


def test_protected_branch_refuses_force_push_and_delete(live_git: LiveGit, tmp_path: Path):
    repo = _create_repo(live_git, "guarded")
    remote = live_git.remote("alice", "guarded", "alice")
    src = make_project(tmp_path / "src", {"a.txt": "1\n"})
    make_project(src, {"a.txt": "2\n"}, "two")
    git("push", "-q", remote, "main", cwd=src)
    with live_git.api("alice") as api:
        resp = api.put(f"/api/repos/{repo['id']}/branches/main/protection", json={"is_protected": True})
        assert resp.status_code == 200 and resp.json()["branch"]["is_protected"] is True
    head = git("rev-parse", "main", cwd=src).stdout.strip()
    git("reset", "-q", "--hard", "HEAD~1", cwd=src)
    make_project(src, {"a.txt": "rewritten\n"}, "rewrite")
    forced = git("push", "--force", remote, "main", cwd=src, check=False)
    assert forced.returncode != 0
    assert "force push" in forced.stderr and "protected" in forced.stderr
    deleted = git("push", remote, ":main", cwd=src, check=False)
    assert deleted.returncode != 0
    out = git("ls-remote", remote, "refs/heads/main", cwd=src).stdout
    assert out.split()[0] == head
    # A fast-forward is still fine.
    git("reset", "-q", "--hard", head, cwd=src)
    make_project(src, {"a.txt": "3\n"}, "three")
    git("push", "-q", remote, "main", cwd=src)


def test_two_concurrent_pushes_one_wins(live_git: LiveGit, tmp_path: Path):
    repo = _create_repo(live_git, "race")
    remote = live_git.remote("alice", "race", "alice")
    base = make_project(tmp_path / "base", {"a.txt": "0\n"})
    git("push", "-q", remote, "main", cwd=base)
    clones = []
    for i in range(2):
        path = tmp_path / f"c{i}"
        git("clone", "-q", remote, str(path))
        # Enough data that both pushes overlap on the server.
        make_project(path, {f"big{i}.bin": os.urandom(1_500_000).hex()[:2_000_000], "a.txt": f"{i}\n"}, f"c{i}")
        clones.append(path)
    results: list[subprocess.CompletedProcess] = [None, None]  # type: ignore[list-item]
    barrier = threading.Barrier(2)

    def push(i: int) -> None:
        barrier.wait()
        results[i] = git("push", "origin", "main", cwd=clones[i], check=False)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.returncode == 0 for r in results)
    assert codes == [False, True], [r.stderr for r in results]
    winner = next(i for i, r in enumerate(results) if r.returncode == 0)
    server_head = git("ls-remote", remote, "refs/heads/main").stdout.split()[0]
    assert server_head == git("rev-parse", "HEAD", cwd=clones[winner]).stdout.strip()
    assert _fsck_ok(_server_git_dir(live_git, repo))


def test_malformed_pack_leaves_repository_unchanged(live_git: LiveGit, tmp_path: Path):
    repo = _create_repo(live_git, "broken")
    remote = live_git.remote("alice", "broken", "alice")
    src = make_project(tmp_path / "src", {"a.txt": "1\n"})
    git("push", "-q", remote, "main", cwd=src)
    head = git("rev-parse", "HEAD", cwd=src).stdout.strip()
    new = "1" * 40
    command = f"{head} {new} refs/heads/main\0 report-status\n".encode()
    body = f"{len(command) + 4:04x}".encode() + command + b"0000" + b"PACK\x00\x00\x00\x02\x00\x00\x00\x01garbage!"
    resp = httpx.post(f"{live_git.remote('alice', 'broken')}/git-receive-pack", content=body,
                      auth=("alice", live_git.tokens["alice"]),
                      headers={"Content-Type": "application/x-git-receive-pack-request"})
    assert resp.status_code == 200
    assert b"unpack" in resp.content and b"ok refs/heads/main" not in resp.content
    assert git("ls-remote", remote, "refs/heads/main").stdout.split()[0] == head
    assert _fsck_ok(_server_git_dir(live_git, repo))


def test_pack_size_limit(live_git: LiveGit, tmp_path: Path):
    repo = _create_repo(live_git, "huge")
    remote = live_git.remote("alice", "huge", "alice")
    src = make_project(tmp_path / "src", {"small.txt": "1\n"})
    git("push", "-q", remote, "main", cwd=src)
    (src / "big.bin").write_bytes(os.urandom(6 * 1024 * 1024))  # incompressible, over the 5 MB test limit
    git("add", "big.bin", cwd=src)
    git("commit", "-q", "-m", "big", cwd=src)
    out = git("push", remote, "main", cwd=src, check=False)
    assert out.returncode != 0
    assert git("ls-remote", remote, "refs/heads/main").stdout.split()[0] == git(
        "rev-parse", "HEAD~1", cwd=src).stdout.strip()
    assert _fsck_ok(_server_git_dir(live_git, repo))


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_pull_request_merge_gives_expected_tree_on_fresh_clone(live_git: LiveGit, tmp_path: Path, method: str):
    name = f"pr-{method}"
    repo = _create_repo(live_git, name)
    remote = live_git.remote("alice", name, "alice")
    src = make_project(tmp_path / "src", {"a.txt": "a\n", "lib/x.py": "x = 1\n"})
    git("checkout", "-q", "-b", "topic", cwd=src)
    make_project(src, {"lib/x.py": "x = 2\n", "new.txt": "n\n"}, "topic 1")
    make_project(src, {"more.txt": "m\n"}, "topic 2")
    git("checkout", "-q", "main", cwd=src)
    make_project(src, {"main.txt": "main\n"}, "main 2")
    git("push", "-q", remote, "main", "topic", cwd=src)
    # What a local merge of topic into main would look like.
    git("merge", "-q", "--no-edit", "topic", cwd=src)
    expected = _tree(src)
    with live_git.api("alice") as api:
        pr = api.post(f"/api/repos/{repo['id']}/pulls", json={"title": "Topic", "head_branch": "topic"}).json()
        number = pr["pull_request"]["number"]
        resp = api.post(f"/api/repos/{repo['id']}/pulls/{number}/merge", json={"merge_method": method})
        assert resp.status_code == 200, resp.text
    fresh = tmp_path / "fresh"
    git("clone", "-q", remote, str(fresh))
    assert _tree(fresh) == expected
    parents = git("log", "-1", "--format=%P", cwd=fresh).stdout.split()
    assert len(parents) == (2 if method == "merge" else 1)
    assert _fsck_ok(_server_git_dir(live_git, repo))

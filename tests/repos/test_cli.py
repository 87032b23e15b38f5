"""`takos repos ...` and `takos pr ...` against the live server (real HTTP, real git for clone)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from takos.cli.main import main
from tests.repos.conftest import LiveGit, git, make_project

pytestmark = pytest.mark.e2e


def _run(capsys, *argv: str) -> dict:  # type: ignore[no-untyped-def]
    code = main(["--json", *argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out) if out.out.strip().startswith("{") else {}


def test_repos_and_pr_commands(live_git: LiveGit, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("TAKOS_CONFIG", str(tmp_path / "cli.json"))
    monkeypatch.setenv("TAKOS_URL", live_git.url)
    monkeypatch.setenv("TAKOS_TOKEN", live_git.tokens["alice"])
    created = _run(capsys, "repos", "create", "cli-made", "--visibility", "private")["repository"]
    assert created["full_name"] == "alice/cli-made"
    names = [r["name"] for r in _run(capsys, "repos", "list")["repositories"]]
    assert "cli-made" in names
    url = _run(capsys, "repo", "clone-url", "alice/cli-made")["clone_url"]
    assert url.endswith("/git/alice/cli-made.git")

    src = make_project(tmp_path / "src", {"a.txt": "a\n"})
    git("push", "-q", live_git.remote("alice", "cli-made", "alice"), "main", cwd=src)
    git("checkout", "-q", "-b", "work", cwd=src)
    make_project(src, {"b.txt": "b\n"}, "work")
    git("push", "-q", live_git.remote("alice", "cli-made", "alice"), "work", cwd=src)

    pr = _run(capsys, "pr", "create", "alice/cli-made", "--title", "Work", "--head", "work")["pull_request"]
    assert pr["number"] == 1
    assert [p["number"] for p in _run(capsys, "pr", "list", created["id"])["pull_requests"]] == [1]
    view = _run(capsys, "pr", "view", "alice/cli-made", "1")
    assert view["conflicts"]["mergeable"] is True
    merged = _run(capsys, "pr", "merge", "alice/cli-made", "1", "--method", "squash")
    assert merged["merged"] is True

    # `takos repos clone` runs git with the token as a header; the checkout has the merged file.
    code = main(["repos", "clone", "alice/cli-made", str(tmp_path / "co")])
    capsys.readouterr()
    assert code == 0
    assert (tmp_path / "co" / "b.txt").read_text() == "b\n"
    assert "tak_pat_" not in (tmp_path / "co" / ".git" / "config").read_text()

    assert main(["pr", "view", "alice/nope", "1"]) == 1
    assert "No repository" in capsys.readouterr().err

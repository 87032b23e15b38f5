"""Smoke test on the whole platform (`manage.py up`: daphne + Celery worker + beat, full URLconf).

The detailed git tests run on a repos-only server (conftest.live_git); this one checks that the
same flow works with every app mounted and that big pushes get indexed by the real worker.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from repos.services import INLINE_INDEX_LIMIT
from tests.repos.conftest import SETUP_CODE, git, make_project

pytestmark = pytest.mark.e2e


def test_push_clone_and_worker_indexing_on_the_full_stack(takos_server, tmp_path: Path):
    proc = takos_server.manage("shell", "-c", SETUP_CODE.replace('"alice", "bob", "charlie"', '"dora", "eve", "finn"')
                               .replace('users["alice"]', 'users["dora"]').replace('users["bob"]', 'users["eve"]')
                               .replace('slug="team-one"', 'slug="team-full"'))
    tokens = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("JSON"))[4:])
    headers = {"Authorization": f"Bearer {tokens['dora']}"}
    with httpx.Client(base_url=takos_server.url, headers=headers, timeout=60) as api:
        repo = api.post("/api/spaces/me/repos", json={"name": "full"}).json()["repository"]
        host = takos_server.url.split("://", 1)[1]
        remote = f"http://dora:{tokens['dora']}@{host}/git/dora/full.git"
        src = make_project(tmp_path / "src", {"a.txt": "0\n"})
        for i in range(INLINE_INDEX_LIMIT + 5):  # more commits than the request indexes itself
            (src / "a.txt").write_text(f"v{i}\n")
            git("commit", "-q", "-am", f"c{i}", cwd=src)
        git("push", "-q", remote, "main", cwd=src)
        dst = tmp_path / "dst"
        git("clone", "-q", remote, str(dst))
        assert git("rev-parse", "HEAD", cwd=dst).stdout == git("rev-parse", "HEAD", cwd=src).stdout
        assert api.get(f"/api/repos/{repo['id']}/blob/main/a.txt").json()["content"] == f"v{INLINE_INDEX_LIMIT + 4}\n"
    # The worker fills the commit index for the big push.
    code = (f"from repos.models import Commit; print('COUNT', Commit.objects.filter(repo_id='{repo['id']}').count())")
    deadline = time.monotonic() + 60
    count = 0
    while time.monotonic() < deadline:
        out = takos_server.manage("shell", "-c", code).stdout
        count = int(next(x for x in out.splitlines() if x.startswith("COUNT")).split()[1])
        if count == INLINE_INDEX_LIMIT + 6:
            break
        time.sleep(1)
    assert count == INLINE_INDEX_LIMIT + 6

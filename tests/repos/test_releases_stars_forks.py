"""Releases with assets in default storage, stars and forks."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase

from repos import git as g
from repos import services
from repos.models import ReleaseAsset, Repository

pytestmark = pytest.mark.django_db


@pytest.fixture
def repo(alice, alice_api) -> Repository:
    data = alice_api.post("/api/spaces/me/repos", {"name": "app", "visibility": "public"}).json()["repository"]
    obj = Repository.objects.get(pk=data["id"])
    services.commit_create(repo=obj, actor=alice, branch="main", message="base", files={"a.txt": b"a\n"})
    return obj


def test_release_crud_latest_and_tag(repo, alice_api, anon_api):
    base = f"/api/repos/{repo.id}/releases"
    resp = alice_api.post(base, {"tag": "v1.0", "name": "First", "description": "notes"})
    assert resp.status_code == 201, resp.json()
    rel = resp.json()["release"]
    assert rel["commit_sha"] == g.resolve_ref(repo, "main") and rel["published_at"]
    assert g.resolve_ref(repo, "refs/tags/v1.0") == rel["commit_sha"]
    assert alice_api.post(base, {"tag": "v1.0"}).status_code == 409
    alice_api.post(base, {"tag": "v2.0-rc", "is_prerelease": True})
    alice_api.post(base, {"tag": "v3-draft", "is_draft": True})
    assert alice_api.get(f"{base}/latest").json()["release"]["tag"] == "v1.0"
    assert sorted(r["tag"] for r in anon_api.get(base).json()["releases"]) == ["v1.0", "v2.0-rc"]
    assert anon_api.get(f"{base}/v3-draft").status_code == 404
    assert alice_api.get(f"{base}/v3-draft").status_code == 200
    patched = alice_api.patch(f"{base}/v1.0", {"name": "Renamed"}).json()["release"]
    assert patched["name"] == "Renamed"
    assert anon_api.patch(f"{base}/v1.0", {"name": "x"}).status_code == 401
    assert alice_api.delete(f"{base}/v2.0-rc").status_code == 200
    assert alice_api.get(f"{base}/v2.0-rc").status_code == 404


def test_assets_upload_download_delete(repo, alice_api, anon_api):
    base = f"/api/repos/{repo.id}/releases"
    alice_api.post(base, {"tag": "v1"})
    payload = b"PK\x03\x04" + bytes(range(256)) * 100
    upload = SimpleUploadedFile("app.zip", payload, content_type="application/zip")
    resp = alice_api.client.post(f"{base}/v1/assets", {"file": upload}, format="multipart")
    assert resp.status_code == 201, resp.json()
    asset = resp.json()["asset"]
    assert asset["size_bytes"] == len(payload) and asset["bundle_format"] == "zip"
    assert asset["checksum_sha256"] == hashlib.sha256(payload).hexdigest()
    stored = ReleaseAsset.objects.get(pk=asset["id"])
    assert default_storage.exists(stored.asset_key)
    dl = anon_api.get(asset["download_url"])
    assert dl.status_code == 200 and b"".join(dl.streaming_content) == payload
    assert dl["Content-Disposition"].startswith('attachment; filename="app.zip"')
    assert alice_api.get(f"{base}/v1").json()["release"]["assets"][0]["download_count"] == 1
    assert alice_api.get(f"{base}/v1").json()["release"]["downloads"] == 1
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert alice_api.delete(f"{base}/v1/assets/{asset['id']}").status_code == 200
    assert not default_storage.exists(stored.asset_key)
    assert alice_api.client.post(f"{base}/v1/assets", {}, format="multipart").status_code == 400


def test_stars(repo, alice_api, bob_api, anon_api):
    base = f"/api/repos/{repo.id}/star"
    assert bob_api.post(base).json() == {"starred": True, "stars": 1}
    assert bob_api.post(base).json() == {"starred": True, "stars": 1}  # idempotent
    assert alice_api.post(base).json()["stars"] == 2
    assert [r["id"] for r in bob_api.get("/api/repos/starred").json()["repositories"]] == [repo.id]
    assert bob_api.delete(base).json() == {"starred": False, "stars": 1}
    assert anon_api.post(base).status_code == 401


def test_fork(repo, alice, bob, bob_api):
    services.branch_create(repo=repo, actor=alice, name="dev")
    resp = bob_api.post(f"/api/repos/{repo.id}/fork", {"name": "my-app"})
    assert resp.status_code == 201, resp.json()
    fork = Repository.objects.get(pk=resp.json()["repository"]["id"])
    assert fork.space.slug == "bob" and fork.forked_from_id == repo.id
    assert g.resolve_ref(fork, "main") == g.resolve_ref(repo, "main")
    assert set(fork.branches.values_list("name", flat=True)) == {"main", "dev"}
    assert fork.commits.count() == 1
    repo.refresh_from_db()
    assert repo.forks == 1
    ok, _ = g.fsck(fork)
    assert ok
    # Independent: a commit in the fork does not show up upstream.
    services.commit_create(repo=fork, actor=bob, branch="main", message="mine", files={"b": b"b"})
    assert g.resolve_ref(fork, "main") != g.resolve_ref(repo, "main")
    assert bob_api.post(f"/api/repos/{repo.id}/fork", {"name": "my-app"}).status_code == 409

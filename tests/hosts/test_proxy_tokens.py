"""Proxy tokens: hashed, scoped to one owner and named capabilities, short-lived."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from hosts.models import HostEvent, ProxyToken
from hosts.services import issue_proxy_token, revoke_proxy_tokens

pytestmark = pytest.mark.django_db


def client_for(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_tokens_are_stored_hashed(alice) -> None:
    token = issue_proxy_token(owner="session:s1", capabilities=["heartbeat", "events"], ttl_seconds=60, user=alice)
    assert token.startswith("tak_pxy_")
    row = ProxyToken.objects.get()
    assert token not in row.token_hash and len(row.token_hash) == 64
    assert row.capabilities == ["events", "heartbeat"] and row.owner == "session:s1"


def test_events_and_logs_need_the_capability(alice) -> None:
    good = client_for(issue_proxy_token(owner="run:r1", capabilities=["events"], ttl_seconds=60))
    assert good.post("/internal/events", {"type": "progress", "data": {"n": 1}}, format="json").status_code == 201
    assert good.post("/internal/logs", {"text": "line 1\n"}, format="json").status_code == 201
    assert list(HostEvent.objects.values_list("owner", "kind", "type").order_by("created_at")) == [
        ("run:r1", "event", "progress"), ("run:r1", "log", "stdout")]
    lacking = client_for(issue_proxy_token(owner="run:r1", capabilities=["heartbeat"], ttl_seconds=60))
    response = lacking.post("/internal/events", {"type": "x"}, format="json")
    assert response.status_code == 403 and "events" in response.json()["error"]["message"]


def test_expired_revoked_unknown_and_missing_tokens_are_401() -> None:
    token = issue_proxy_token(owner="run:r1", capabilities=["events"], ttl_seconds=60)
    ProxyToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client_for(token).post("/internal/events", {"type": "x"}, format="json").status_code == 401

    token = issue_proxy_token(owner="run:r2", capabilities=["events"], ttl_seconds=60)
    revoke_proxy_tokens(owner="run:r2")
    assert client_for(token).post("/internal/events", {"type": "x"}, format="json").status_code == 401

    assert client_for("tak_pxy_nope").post("/internal/events", {"type": "x"}, format="json").status_code == 401
    response = APIClient().post("/internal/events", {"type": "x"}, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_personal_access_token_is_not_a_proxy_token(alice_api) -> None:
    assert alice_api.post("/internal/events", {"type": "x"}).status_code == 401


def test_a_token_reads_only_its_own_repository(alice, data_dir) -> None:
    from accounts.selectors import personal_space
    from repos import git
    from repos.services import repo_create

    space = personal_space(alice)
    mine = repo_create(space=space, actor=alice, name="mine")
    other = repo_create(space=space, actor=alice, name="other")
    for repo, text in ((mine, b"mine\n"), (other, b"secret\n")):
        git.commit_files(repo, branch="main", files={"README.md": text}, message="init", author_name="A",
                         author_email="a@example.com")
    client = client_for(issue_proxy_token(owner="session:s1", capabilities=["repo:read", "repo:write"],
                                          ttl_seconds=60, user=alice, space=space, repo_id=mine.id))
    ok = client.get(f"/internal/repos/{mine.id}/files/README.md")
    assert ok.status_code == 200 and ok.content == b"mine\n"
    denied = client.get(f"/internal/repos/{other.id}/files/README.md")
    assert denied.status_code == 404 and b"secret" not in denied.content
    assert client.get(f"/internal/repos/{mine.id}/files/nope.txt").status_code == 404

    wrote = client.put(f"/internal/repos/{mine.id}/files/docs/new.md",
                       {"content_base64": base64.b64encode(b"new\n").decode(), "branch": "main",
                        "message": "from the container"}, format="json")
    assert wrote.status_code == 200, wrote.content
    assert git.read_blob(mine, "main", "docs/new.md") == b"new\n"
    assert client.put(f"/internal/repos/{other.id}/files/x", {"content_base64": "", "branch": "main",
                                                             "message": "m"}, format="json").status_code == 404

    read_only = client_for(issue_proxy_token(owner="session:s1", capabilities=["repo:read"], ttl_seconds=60,
                                             user=alice, repo_id=mine.id))
    assert read_only.put(f"/internal/repos/{mine.id}/files/x", {"content_base64": "", "branch": "main",
                                                                "message": "m"}, format="json").status_code == 403


def test_artifacts_are_stored_under_the_owner(data_dir) -> None:
    from django.core.files.storage import default_storage

    client = client_for(issue_proxy_token(owner="job:j1", capabilities=["artifacts"], ttl_seconds=60))
    response = client.post("/internal/artifacts", {"name": "report.txt",
                                                   "content_base64": base64.b64encode(b"done").decode()}, format="json")
    assert response.status_code == 201
    key = response.json()["key"]
    assert key.startswith("host-artifacts/job/j1/") and default_storage.open(key).read() == b"done"
    bad = client.post("/internal/artifacts", {"name": "../x", "content_base64": ""}, format="json")
    assert bad.status_code == 400

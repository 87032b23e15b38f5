"""Every repos model has a working admin changelist (with search) and change page."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from repos import services
from repos.models import Repository

pytestmark = pytest.mark.django_db


def test_admin_pages_render(alice):
    from accounts.selectors import personal_space

    assert alice.is_superuser
    repo = services.repo_create(space=personal_space(alice), actor=alice, name="adm")
    services.commit_create(repo=repo, actor=alice, branch="main", message="m", files={"a": b"1"})
    services.commit_create(repo=repo, actor=alice, branch="f", message="f", files={"b": b"1"})
    pr = services.pull_request_create(repo=repo, actor=alice, title="t", head_branch="f")
    services.review_create(pr=pr, actor=alice, status="approved")
    services.comment_create(pr=pr, actor=alice, content="c")
    release = services.release_create(repo=repo, actor=alice, tag="v1")
    from django.core.files.uploadedfile import SimpleUploadedFile

    services.asset_upload(release=release, upload=SimpleUploadedFile("x.zip", b"PK"))
    services.star_add(repo=repo, user=alice)
    client = Client()
    client.force_login(alice)
    models = [m for m in admin.site._registry if m._meta.app_label == "repos"]
    assert len(models) == 11
    for model in models:
        url = reverse(f"admin:repos_{model._meta.model_name}_changelist")
        resp = client.get(url, {"q": "a"})
        assert resp.status_code == 200, url
        obj = model.objects.first()
        assert obj is not None, model
        resp = client.get(reverse(f"admin:repos_{model._meta.model_name}_change", args=[obj.pk]))
        assert resp.status_code == 200, model
    resp = client.post(reverse("admin:repos_repository_changelist"),
                       {"action": "fsck", "_selected_action": [repo.pk]}, follow=True)
    assert "clean" in resp.content.decode()
    assert Repository.objects.count() == 1

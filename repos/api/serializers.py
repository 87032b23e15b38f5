"""Input serializers and output shapes for the repositories API (spec section 6)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from repos.models import (
    Branch,
    PullRequest,
    PullRequestComment,
    PullRequestReview,
    Release,
    ReleaseAsset,
    Repository,
    Visibility,
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def clone_url(repo: Repository, request: Any = None) -> str:
    base = settings.TAKOS_PUBLIC_URL
    if not base and request is not None:
        base = request.build_absolute_uri("/").rstrip("/")
    return f"{base}/git/{repo.space.slug}/{repo.name}.git"


def repo_out(repo: Repository, request: Any = None, *, starred: bool | None = None) -> dict[str, Any]:
    data = {
        "id": repo.id,
        "space_id": repo.space_id,
        "owner": repo.space.slug,
        "name": repo.name,
        "full_name": f"{repo.space.slug}/{repo.name}",
        "description": repo.description,
        "visibility": repo.visibility,
        "default_branch": repo.default_branch,
        "forked_from_id": repo.forked_from_id,
        "stars": repo.stars,
        "forks": repo.forks,
        "clone_url": clone_url(repo, request),
        "pushed_at": _iso(repo.pushed_at),
        "created_at": _iso(repo.created_at),
        "updated_at": _iso(repo.updated_at),
    }
    if starred is not None:
        data["is_starred"] = starred
    return data


def branch_out(branch: Branch, commit: dict[str, Any] | None = None) -> dict[str, Any]:
    data = {
        "name": branch.name,
        "commit_sha": branch.commit_sha,
        "is_default": branch.is_default,
        "is_protected": branch.is_protected,
        "required_checks": branch.required_checks,
        "updated_at": _iso(branch.updated_at),
    }
    if commit is not None:
        data["commit"] = commit
    return data


def commit_out(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "sha": c["sha"],
        "tree_sha": c["tree_sha"],
        "parent_shas": c["parent_shas"],
        "message": c["message"],
        "author": {"name": c["author_name"], "email": c["author_email"], "date": c["author_date"]},
        "committer": {"name": c["committer_name"], "email": c["committer_email"], "date": c["commit_date"]},
    }


def _user_ref(user: Any) -> dict[str, Any] | None:
    return {"id": user.id, "username": user.username, "name": user.name} if user else None


def pr_out(pr: PullRequest) -> dict[str, Any]:
    return {
        "id": pr.id,
        "repo_id": pr.repo_id,
        "number": pr.number,
        "title": pr.title,
        "description": pr.description,
        "head_branch": pr.head_branch,
        "base_branch": pr.base_branch,
        "status": pr.status,
        "author_type": pr.author_type,
        "author": _user_ref(pr.author),
        "author_id": pr.author_id,
        "run_id": pr.run_id or None,
        "merged_at": _iso(pr.merged_at),
        "merged_by": _user_ref(pr.merged_by),
        "merge_commit_sha": pr.merge_commit_sha or None,
        "merge_method": pr.merge_method or None,
        "closed_at": _iso(pr.closed_at),
        "created_at": _iso(pr.created_at),
        "updated_at": _iso(pr.updated_at),
    }


def review_out(review: PullRequestReview) -> dict[str, Any]:
    return {
        "id": review.id, "status": review.status, "body": review.body, "reviewer_type": review.reviewer_type,
        "reviewer": _user_ref(review.reviewer), "analysis": review.analysis or None,
        "created_at": _iso(review.created_at),
    }


def comment_out(comment: PullRequestComment) -> dict[str, Any]:
    return {
        "id": comment.id, "content": comment.content, "author_type": comment.author_type,
        "author": _user_ref(comment.author), "file_path": comment.file_path or None,
        "line_number": comment.line_number, "created_at": _iso(comment.created_at),
    }


def asset_out(asset: ReleaseAsset) -> dict[str, Any]:
    return {
        "id": asset.id, "name": asset.name, "content_type": asset.content_type, "size_bytes": asset.size_bytes,
        "checksum_sha256": asset.checksum_sha256, "download_count": asset.download_count,
        "bundle_format": asset.bundle_format or None, "created_at": _iso(asset.created_at),
        "download_url": f"/api/repos/{asset.release.repo_id}/releases/{asset.release.tag}/assets/{asset.id}/download",
    }


def release_out(release: Release) -> dict[str, Any]:
    return {
        "id": release.id, "repo_id": release.repo_id, "tag": release.tag, "name": release.name,
        "description": release.description, "commit_sha": release.commit_sha or None,
        "is_prerelease": release.is_prerelease, "is_draft": release.is_draft, "downloads": release.downloads,
        "author_id": release.author_id, "published_at": _iso(release.published_at),
        "created_at": _iso(release.created_at), "updated_at": _iso(release.updated_at),
        "assets": [asset_out(a) for a in release.assets.all()],
    }


# --- input ------------------------------------------------------------------------------


class RepoCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    visibility = serializers.ChoiceField(choices=Visibility.values, required=False, default=Visibility.PRIVATE)


class RepoUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Visibility.values, required=False)
    default_branch = serializers.CharField(max_length=255, required=False)


class ForkIn(serializers.Serializer):
    target_space_id = serializers.CharField(required=False, allow_blank=True)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    copy_workflows = serializers.BooleanField(required=False, default=True)


class BranchCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    source = serializers.CharField(max_length=255, required=False, allow_blank=True)


class BranchProtectionIn(serializers.Serializer):
    is_protected = serializers.BooleanField(default=True)
    required_checks = serializers.ListField(child=serializers.CharField(max_length=100), required=False,
                                            max_length=50)


class FileChangeIn(serializers.Serializer):
    path = serializers.CharField(max_length=1000)
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    encoding = serializers.ChoiceField(choices=["utf-8", "base64"], required=False, default="utf-8")
    action = serializers.ChoiceField(choices=["upsert", "delete"], required=False, default="upsert")


class CommitIn(serializers.Serializer):
    branch = serializers.CharField(max_length=255, required=False)
    message = serializers.CharField(max_length=10000, trim_whitespace=False)
    files = FileChangeIn(many=True)
    parent_sha = serializers.RegexField(r"^[0-9a-f]{40}$", required=False)
    author_name = serializers.CharField(max_length=255, required=False)
    author_email = serializers.EmailField(required=False)


class PullCreateIn(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    head_branch = serializers.CharField(max_length=255)
    base_branch = serializers.CharField(max_length=255, required=False, allow_blank=True)
    author_type = serializers.ChoiceField(choices=PullRequest.AuthorType.values, required=False, default="user")
    run_id = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)


class PullUpdateIn(serializers.Serializer):
    title = serializers.CharField(max_length=300, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    base_branch = serializers.CharField(max_length=255, required=False)
    status = serializers.ChoiceField(choices=["open", "closed"], required=False)


class CommentIn(serializers.Serializer):
    content = serializers.CharField(max_length=65536)
    file_path = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    line_number = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class ReviewIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=PullRequestReview.Status.values)
    body = serializers.CharField(required=False, allow_blank=True, default="")


class MergeIn(serializers.Serializer):
    merge_method = serializers.ChoiceField(choices=["merge", "squash", "rebase"], required=False, default="merge")
    commit_message = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class ReleaseCreateIn(serializers.Serializer):
    tag = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    commit_sha = serializers.CharField(max_length=255, required=False, allow_blank=True)
    is_prerelease = serializers.BooleanField(required=False, default=False)
    is_draft = serializers.BooleanField(required=False, default=False)


class ReleaseUpdateIn(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    is_prerelease = serializers.BooleanField(required=False)
    is_draft = serializers.BooleanField(required=False)


class ImportAuthIn(serializers.Serializer):
    token = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class ImportExternalIn(serializers.Serializer):
    url = serializers.URLField(max_length=1000)
    space_id = serializers.CharField(max_length=64, required=False, default="me")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    visibility = serializers.ChoiceField(choices=Visibility.values, required=False, default=Visibility.PRIVATE)
    auth = ImportAuthIn(required=False)

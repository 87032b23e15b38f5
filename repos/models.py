"""Repositories, refs, the commit index, pull requests, releases, stars and the push log.

Git itself (objects and refs) lives in bare repositories under settings.TAKOS_GIT_ROOT; the
rows here mirror the refs (`Branch`, `Tag`) and index commits so lists do not need git.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from takos.models import IdModel, TimestampedModel


class Visibility(models.TextChoices):
    PUBLIC = "public"
    PRIVATE = "private"
    INTERNAL = "internal"  # any signed-in user can read


class Repository(TimestampedModel):
    """A git repository owned by a space.

    `git_dir` is the bare repository on disk. It is named by id, not by name, so a rename
    never moves files.
    """

    space = models.ForeignKey("accounts.Space", on_delete=models.CASCADE, related_name="repositories")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    default_branch = models.CharField(max_length=255, default="main")
    forked_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks_set")
    remote_clone_url = models.CharField(max_length=500, blank=True)
    stars = models.PositiveIntegerField(default=0)
    forks = models.PositiveIntegerField(default=0)
    # Per-repository counter for pull request numbers (1, 2, ...), bumped under a row update.
    pr_counter = models.PositiveIntegerField(default=0)
    pushed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "repositories"
        constraints = [
            models.UniqueConstraint(Lower("name"), "space", name="repos_repository_space_name_ci_unique"),
        ]
        indexes = [models.Index(fields=["visibility", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.space.slug}/{self.name}" if self.space_id else self.name

    @property
    def git_dir(self) -> Path:
        """The bare repository: TAKOS_GIT_ROOT/<space id>/<repo id>.git."""
        return Path(settings.TAKOS_GIT_ROOT) / self.space_id / f"{self.id}.git"

    @property
    def full_name(self) -> str:
        return f"{self.space.slug}/{self.name}"


class Branch(IdModel):
    """Mirror of refs/heads/<name>; protection settings live here too."""

    repo = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="branches")
    name = models.CharField(max_length=255)
    commit_sha = models.CharField(max_length=40)
    is_default = models.BooleanField(default=False)
    is_protected = models.BooleanField(default=False)
    # Names of status checks that must pass before a PR into this branch can merge.
    required_checks = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "branches"
        constraints = [models.UniqueConstraint(fields=["repo", "name"], name="repos_branch_unique")]

    def __str__(self) -> str:
        return self.name


class Tag(IdModel):
    repo = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=255)
    commit_sha = models.CharField(max_length=40)
    message = models.TextField(blank=True)
    tagger_name = models.CharField(max_length=255, blank=True)
    tagger_email = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "name"], name="repos_tag_unique")]

    def __str__(self) -> str:
        return self.name


class Commit(IdModel):
    """Commit index: filled on every push and API commit."""

    repo = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="commits")
    sha = models.CharField(max_length=40)
    tree_sha = models.CharField(max_length=40)
    parent_shas = models.JSONField(default=list)
    author_name = models.CharField(max_length=255, blank=True)
    author_email = models.CharField(max_length=255, blank=True)
    author_date = models.DateTimeField(null=True)
    committer_name = models.CharField(max_length=255, blank=True)
    committer_email = models.CharField(max_length=255, blank=True)
    commit_date = models.DateTimeField(null=True)
    message = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "sha"], name="repos_commit_unique")]
        indexes = [models.Index(fields=["repo", "commit_date"])]

    def __str__(self) -> str:
        return self.sha[:10]


class Star(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="repo_stars")
    repo = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="star_set")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "repo"], name="repos_star_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} ★ {self.repo_id}"


class Push(IdModel):
    """Push log: one row per accepted push (smart HTTP, API commit, merge)."""

    class Via(models.TextChoices):
        HTTP = "http"
        API = "api"
        MERGE = "merge"
        FORK = "fork"

    repo = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="pushes")
    pusher = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.HTTP)
    ref_updates = models.JSONField(default=list)  # [[ref, old, new], ...]
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"push {self.id} to {self.repo_id}"


class PullRequest(TimestampedModel):
    class Status(models.TextChoices):
        OPEN = "open"
        MERGED = "merged"
        CLOSED = "closed"

    class AuthorType(models.TextChoices):
        USER = "user"
        AGENT = "agent"

    repo = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="pull_requests")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    head_branch = models.CharField(max_length=255)
    base_branch = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    author_type = models.CharField(max_length=10, choices=AuthorType.choices, default=AuthorType.USER)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    # Agent run that opened it (agents app); a plain id so this app does not depend on agents.
    run_id = models.CharField(max_length=32, blank=True)
    merged_at = models.DateTimeField(null=True, blank=True)
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    merge_commit_sha = models.CharField(max_length=40, blank=True)
    merge_method = models.CharField(max_length=10, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "number"], name="repos_pr_number_unique")]
        indexes = [models.Index(fields=["repo", "status"])]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"


class PullRequestReview(IdModel):
    class Status(models.TextChoices):
        APPROVED = "approved"
        CHANGES_REQUESTED = "changes_requested"
        COMMENTED = "commented"

    pr = models.ForeignKey(PullRequest, on_delete=models.CASCADE, related_name="reviews")
    reviewer_type = models.CharField(max_length=10, default="user")  # user | ai
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices)
    body = models.TextField(blank=True)
    analysis = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.status} on {self.pr_id}"


class PullRequestComment(IdModel):
    pr = models.ForeignKey(PullRequest, on_delete=models.CASCADE, related_name="comments")
    author_type = models.CharField(max_length=10, default="user")  # user | ai
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    content = models.TextField()
    file_path = models.CharField(max_length=1000, blank=True)
    line_number = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"comment {self.id} on {self.pr_id}"


class Release(TimestampedModel):
    repo = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="releases")
    tag = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)
    description = models.TextField(blank=True)
    commit_sha = models.CharField(max_length=40, blank=True)
    is_prerelease = models.BooleanField(default=False)
    is_draft = models.BooleanField(default=False)
    downloads = models.PositiveIntegerField(default=0)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "tag"], name="repos_release_tag_unique")]

    def __str__(self) -> str:
        return self.tag


class ReleaseAsset(IdModel):
    """A file attached to a release; the bytes are in default_storage under `asset_key`."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="assets")
    asset_key = models.CharField(max_length=500)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    checksum_sha256 = models.CharField(max_length=64, blank=True)
    download_count = models.PositiveIntegerField(default=0)
    bundle_format = models.CharField(max_length=20, blank=True)
    bundle_meta_json = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["release", "asset_key"], name="repos_asset_key_unique")]

    def __str__(self) -> str:
        return self.name

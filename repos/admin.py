"""Operator views of repositories, refs, pull requests, releases and the push log."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from repos import git
from repos.models import (
    Branch,
    Commit,
    PullRequest,
    PullRequestComment,
    PullRequestReview,
    Push,
    Release,
    ReleaseAsset,
    Repository,
    Star,
    Tag,
)
from repos.services import sync_refs


class BranchInline(admin.TabularInline):
    model = Branch
    extra = 0
    fields = ["name", "commit_sha", "is_default", "is_protected", "required_checks"]
    readonly_fields = ["name", "commit_sha", "is_default"]
    can_delete = False
    show_change_link = True


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ["name", "space", "visibility", "default_branch", "stars", "forks", "pushed_at", "created_at"]
    list_filter = ["visibility", "created_at", "pushed_at"]
    search_fields = ["id", "name", "description", "space__slug", "space__name"]
    readonly_fields = ["id", "git_dir", "created_at", "updated_at", "pushed_at", "pr_counter", "stars", "forks"]
    autocomplete_fields = ["space"]
    raw_id_fields = ["forked_from"]
    list_select_related = ["space"]
    inlines = [BranchInline]
    actions = ["resync_refs", "fsck"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A repository needs its bare git directory: create it through the API or console (repo_create).
        return False

    @admin.action(description="Re-read refs from disk into branches and tags")
    def resync_refs(self, request: HttpRequest, queryset: QuerySet[Repository]) -> None:
        for repo in queryset:
            sync_refs(repo)
        messages.success(request, f"Re-synced {queryset.count()} repositories.")

    @admin.action(description="Check repositories with git fsck")
    def fsck(self, request: HttpRequest, queryset: QuerySet[Repository]) -> None:
        for repo in queryset:
            ok, output = git.fsck(repo)
            level = messages.SUCCESS if ok else messages.ERROR
            messages.add_message(request, level, f"{repo}: {'clean' if ok else output[-500:]}")


@admin.register(Branch)
class BranchAdmin(admin.ModelAdmin):
    list_display = ["name", "repo", "commit_sha", "is_default", "is_protected", "updated_at"]
    list_filter = ["is_default", "is_protected"]
    search_fields = ["name", "repo__name", "repo__id", "commit_sha"]
    raw_id_fields = ["repo"]
    list_select_related = ["repo", "repo__space"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "repo", "commit_sha", "created_at"]
    search_fields = ["name", "repo__name", "commit_sha"]
    raw_id_fields = ["repo"]
    list_select_related = ["repo", "repo__space"]


@admin.register(Commit)
class CommitAdmin(admin.ModelAdmin):
    list_display = ["short_sha", "repo", "author_name", "commit_date", "summary"]
    list_filter = ["commit_date"]
    search_fields = ["sha", "message", "author_name", "author_email", "repo__name"]
    raw_id_fields = ["repo"]
    list_select_related = ["repo", "repo__space"]
    date_hierarchy = "commit_date"

    @admin.display(description="sha")
    def short_sha(self, obj: Commit) -> str:
        return obj.sha[:10]

    @admin.display(description="message")
    def summary(self, obj: Commit) -> str:
        return (obj.message.splitlines() or [""])[0][:80]


@admin.register(Push)
class PushAdmin(admin.ModelAdmin):
    list_display = ["id", "repo", "pusher", "via", "ref_count", "created_at"]
    list_filter = ["via", "created_at"]
    search_fields = ["id", "repo__name", "repo__id", "pusher__username"]
    raw_id_fields = ["repo", "pusher"]
    readonly_fields = ["repo", "pusher", "via", "ref_updates", "created_at"]
    list_select_related = ["repo", "repo__space", "pusher"]
    date_hierarchy = "created_at"

    @admin.display(description="refs")
    def ref_count(self, obj: Push) -> int:
        return len(obj.ref_updates or [])


class ReviewInline(admin.TabularInline):
    model = PullRequestReview
    extra = 0
    fields = ["reviewer", "reviewer_type", "status", "body", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["reviewer"]


class CommentInline(admin.TabularInline):
    model = PullRequestComment
    extra = 0
    fields = ["author", "author_type", "content", "file_path", "line_number", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["author"]


@admin.register(PullRequest)
class PullRequestAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "repo", "status", "head_branch", "base_branch", "author_type", "author",
                    "created_at", "merged_at"]
    list_filter = ["status", "author_type", "merge_method", "created_at"]
    search_fields = ["title", "description", "repo__name", "head_branch", "base_branch", "author__username"]
    raw_id_fields = ["repo", "author", "merged_by"]
    readonly_fields = ["number", "merge_commit_sha", "merged_at", "merged_by", "merge_method", "created_at",
                       "updated_at"]
    list_select_related = ["repo", "repo__space", "author"]
    inlines = [ReviewInline, CommentInline]


@admin.register(PullRequestReview)
class PullRequestReviewAdmin(admin.ModelAdmin):
    list_display = ["pr", "status", "reviewer_type", "reviewer", "created_at"]
    list_filter = ["status", "reviewer_type"]
    search_fields = ["body", "pr__title", "reviewer__username"]
    raw_id_fields = ["pr", "reviewer"]


@admin.register(PullRequestComment)
class PullRequestCommentAdmin(admin.ModelAdmin):
    list_display = ["pr", "author_type", "author", "file_path", "created_at"]
    list_filter = ["author_type"]
    search_fields = ["content", "pr__title", "author__username", "file_path"]
    raw_id_fields = ["pr", "author"]


class AssetInline(admin.TabularInline):
    model = ReleaseAsset
    extra = 0
    fields = ["name", "content_type", "size_bytes", "checksum_sha256", "download_count", "asset_key"]
    readonly_fields = fields


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ["tag", "name", "repo", "is_prerelease", "is_draft", "downloads", "published_at"]
    list_filter = ["is_prerelease", "is_draft", "published_at"]
    search_fields = ["tag", "name", "description", "repo__name"]
    raw_id_fields = ["repo", "author"]
    list_select_related = ["repo", "repo__space"]
    inlines = [AssetInline]


@admin.register(ReleaseAsset)
class ReleaseAssetAdmin(admin.ModelAdmin):
    list_display = ["name", "release", "content_type", "size_bytes", "download_count", "bundle_format", "created_at"]
    list_filter = ["bundle_format", "content_type"]
    search_fields = ["name", "asset_key", "checksum_sha256", "release__tag", "release__repo__name"]
    raw_id_fields = ["release"]
    readonly_fields = ["asset_key", "size_bytes", "checksum_sha256", "download_count", "created_at"]


@admin.register(Star)
class StarAdmin(admin.ModelAdmin):
    list_display = ["user", "repo", "created_at"]
    search_fields = ["user__username", "repo__name"]
    raw_id_fields = ["user", "repo"]

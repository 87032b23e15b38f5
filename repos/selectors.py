"""Reads for repositories: access-checked lookups used by the API, console, git HTTP and other apps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import Membership, Role, Space, role_at_least
from repos.models import PullRequest, Release, Repository, Star, Visibility
from takos.api.errors import Forbidden, NotFound
from takos.api.ids import is_id


@dataclass(frozen=True)
class RepoAccess:
    repo: Repository
    role: str | None  # the caller's role in the owning space; None = not a member


def role_in(user: Any, space_id: str) -> str | None:
    """The user's role in the space, or None (anonymous or not a member)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.filter(space_id=space_id, user=user).values_list("role", flat=True).first()


def can_read(repo: Repository, user: Any, role: str | None) -> bool:
    if role is not None:
        return True
    if repo.visibility == Visibility.PUBLIC:
        return True
    return repo.visibility == Visibility.INTERNAL and bool(user is not None and user.is_authenticated)


def check_access(repo: Repository, user: Any, *, min_role: str = Role.VIEWER) -> RepoAccess:
    """404 when the caller cannot see the repository; 403 when they can see it but lack the role.

    Reading (min_role viewer) is allowed for members, anyone for public repositories
    (anonymous too) and any signed-in user for internal ones.
    """
    role = role_in(user, repo.space_id)
    if not can_read(repo, user, role):
        raise NotFound("Repository not found.")
    if min_role != Role.VIEWER and not role_at_least(role, min_role):
        raise Forbidden(f"This needs the {min_role} role or higher in the repository's space.")
    return RepoAccess(repo=repo, role=role)


def repo_access(user: Any, repo_id: str, *, min_role: str = Role.VIEWER) -> RepoAccess:
    repo = Repository.objects.select_related("space").filter(pk=repo_id).first() if is_id(repo_id) else None
    if repo is None:
        raise NotFound("Repository not found.")
    return check_access(repo, user, min_role=min_role)


def repo_for_user(user: Any, repo_id: str, *, min_role: str = "viewer") -> Repository:
    """The repository `repo_id` as seen by `user` (None or AnonymousUser allowed).

    Raises NotFound (404) for another tenant's repository or an invisible private one, and
    Forbidden (403) for a visible repository when the caller's role is below `min_role`.
    Public repositories are readable by anyone, including anonymous callers.
    """
    return repo_access(user, repo_id, min_role=min_role).repo


def repo_by_path(owner_slug: str, name: str) -> Repository | None:
    """Look a repository up by `<space slug>/<name>` (no access check)."""
    return (
        Repository.objects.select_related("space")
        .filter(space__slug=owner_slug.lower(), name__iexact=name)
        .first()
    )


def default_repository(space: Space) -> Repository | None:
    """The space's default repository (named `main`), or None."""
    return Repository.objects.filter(space=space, name__iexact="main").first()


def repos_for_space(space: Space, user: Any) -> QuerySet[Repository]:
    qs = Repository.objects.filter(space=space).select_related("space").order_by("name")
    if role_in(user, space.pk) is None:
        allowed = [Visibility.PUBLIC] + ([Visibility.INTERNAL] if user is not None and user.is_authenticated else [])
        qs = qs.filter(visibility__in=allowed)
    return qs


def visible_repos(user: Any) -> QuerySet[Repository]:
    """Every repository `user` may read."""
    cond = Q(visibility=Visibility.PUBLIC)
    if user is not None and user.is_authenticated:
        cond |= Q(visibility=Visibility.INTERNAL) | Q(space__memberships__user=user)
    return Repository.objects.filter(cond).select_related("space").distinct()


def starred_repos(user: Any) -> QuerySet[Repository]:
    return visible_repos(user).filter(star_set__user=user).order_by("-star_set__created_at")


def is_starred(user: Any, repo: Repository) -> bool:
    return bool(user is not None and user.is_authenticated and Star.objects.filter(user=user, repo=repo).exists())


def pull_request(repo: Repository, number: int) -> PullRequest:
    pr = PullRequest.objects.filter(repo=repo, number=number).select_related("author", "merged_by").first()
    if pr is None:
        raise NotFound("Pull request not found.")
    return pr


def release_by_tag(repo: Repository, tag: str, *, include_drafts: bool = True) -> Release:
    qs = Release.objects.filter(repo=repo, tag=tag)
    if not include_drafts:
        qs = qs.filter(is_draft=False)
    release = qs.prefetch_related("assets").first()
    if release is None:
        raise NotFound("Release not found.")
    return release


def latest_release(repo: Repository) -> Release:
    release = (
        Release.objects.filter(repo=repo, is_draft=False, is_prerelease=False)
        .order_by("-published_at", "-created_at").prefetch_related("assets").first()
    )
    if release is None:
        raise NotFound("This repository has no published release.")
    return release

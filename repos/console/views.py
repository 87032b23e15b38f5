"""Console pages for repositories: list, code browser, history, branches, pull requests, releases.

They call the same selectors and services as the API. Public repositories are viewable
without signing in; every write needs a signed-in user with the role the API asks for.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.models import Role, Space, role_at_least
from accounts.selectors import resolve_space
from repos import git, selectors, services
from repos.api.serializers import clone_url
from repos.api.views import _split_ref_path
from repos.console.render import highlight, markdown
from repos.models import Branch, PullRequest, Release
from takos.api.errors import ApiError, Forbidden, NotFound
from takos.console.helpers import attempt

README_NAMES = ("README.md", "readme.md", "README", "README.txt", "Readme.md")


def _access(request: HttpRequest, repo_id: str, min_role: str = Role.VIEWER) -> selectors.RepoAccess:
    try:
        return selectors.repo_access(request.user, repo_id, min_role=min_role)
    except NotFound:
        raise Http404("Repository not found") from None
    except Forbidden:
        raise PermissionDenied from None


def _ctx(request: HttpRequest, access: selectors.RepoAccess, tab: str, **extra: Any) -> dict[str, Any]:
    repo = access.repo
    return {
        "nav": "repos", "repo": repo, "role": access.role, "tab": tab,
        "can_write": role_at_least(access.role, Role.EDITOR), "can_admin": role_at_least(access.role, Role.ADMIN),
        "clone_url": clone_url(repo, request), "starred": selectors.is_starred(request.user, repo),
        "open_prs": PullRequest.objects.filter(repo=repo, status=PullRequest.Status.OPEN).count(),
        **extra,
    }


def _crumbs(path: str) -> list[dict[str, str]]:
    parts = [p for p in path.split("/") if p]
    return [{"name": p, "path": "/".join(parts[: i + 1])} for i, p in enumerate(parts)]


@login_required
def all_repos(request: HttpRequest) -> HttpResponse:
    spaces = Space.objects.filter(memberships__user=request.user)
    repos = selectors.visible_repos(request.user).filter(space__in=spaces).order_by("space__slug", "name")
    starred = selectors.starred_repos(request.user)[:50]
    return render(request, "repos/all.html", {"nav": "repos", "repos": repos, "starred": starred})


@login_required
def space_repos(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        access = resolve_space(request.user, slug)
    except NotFound:
        raise Http404("Space not found") from None
    can_create = role_at_least(access.role, Role.EDITOR)
    if request.method == "POST":
        if not can_create:
            raise PermissionDenied
        repo = attempt(request, lambda: services.repo_create(
            space=access.space, actor=request.user, name=request.POST.get("name", ""),
            description=request.POST.get("description", ""), visibility=request.POST.get("visibility", "private")))
        if repo is not None:
            messages.success(request, f"Repository {repo.name} created.")
            return redirect("console-repo", repo.id)
    repos = selectors.repos_for_space(access.space, request.user)
    return render(request, "repos/space_repos.html", {
        "nav": "spaces", "space": access.space, "role": access.role, "repos": repos, "can_create": can_create,
        "visibilities": ["private", "internal", "public"],
    })


def repo_home(request: HttpRequest, repo_id: str) -> HttpResponse:
    access = _access(request, repo_id)
    repo = access.repo
    ref = request.GET.get("ref") or repo.default_branch
    empty = git.resolve_ref(repo, ref) is None
    entries = [] if empty else git.list_tree(repo, ref, "")
    readme = None
    for entry in entries:
        if entry["type"] == "blob" and entry["name"] in README_NAMES:
            data = git.read_blob(repo, ref, entry["path"]) or b""
            text = data.decode("utf-8", errors="replace")
            readme = markdown(text) if entry["name"].lower().endswith(".md") else None
            readme = readme if readme is not None else markdown(f"```\n{text}\n```")
            break
    last = git.log(repo, ref, limit=1) if not empty else []
    return render(request, "repos/tree.html", _ctx(
        request, access, "code", ref=ref, path="", entries=entries, readme=readme, empty=empty,
        last_commit=last[0] if last else None, branches=Branch.objects.filter(repo=repo).order_by("name")))


def tree(request: HttpRequest, repo_id: str, rest: str) -> HttpResponse:
    access = _access(request, repo_id)
    repo = access.repo
    ref, path = _split_ref_path(repo, rest)
    entry = git.tree_entry(repo, ref, path)
    if entry is None:
        raise Http404("Path not found")
    if entry["type"] != "tree":
        return redirect("console-repo-blob", repo.id, rest)
    entries = git.tree_entries(repo, entry["sha"], entry["path"])
    readme = None
    for e in entries:
        if e["type"] == "blob" and e["name"] in README_NAMES and e["name"].lower().endswith(".md"):
            readme = markdown((git.read_blob(repo, entry["commit"], e["path"]) or b"").decode("utf-8", "replace"))
            break
    return render(request, "repos/tree.html", _ctx(
        request, access, "code", ref=ref, path=entry["path"], entries=entries, readme=readme, empty=False,
        crumbs=_crumbs(entry["path"]), branches=Branch.objects.filter(repo=repo).order_by("name")))


def blob(request: HttpRequest, repo_id: str, rest: str) -> HttpResponse:
    from django.conf import settings

    access = _access(request, repo_id)
    repo = access.repo
    ref, path = _split_ref_path(repo, rest)
    entry = git.tree_entry(repo, ref, path)
    if entry is None or entry["type"] != "blob" or not entry["path"]:
        raise Http404("File not found")
    size = entry["size"] or 0
    code_html, css, binary, too_large = None, "", False, size > settings.TAKOS_REPO_BLOB_MAX_BYTES
    if not too_large:
        data = git.read_object(repo, entry["sha"])
        binary = git.is_binary(data)
        if not binary:
            code_html, css = highlight(data.decode("utf-8", errors="replace"), entry["name"])
    raw_url = reverse("api-repo-blob", args=[repo.id, rest]) + "?raw=1"
    return render(request, "repos/blob.html", _ctx(
        request, access, "code", ref=ref, path=entry["path"], entry=entry, code_html=code_html, css=css,
        binary=binary, too_large=too_large, raw_url=raw_url, crumbs=_crumbs(entry["path"])))


def commits(request: HttpRequest, repo_id: str) -> HttpResponse:
    access = _access(request, repo_id)
    repo = access.repo
    ref = request.GET.get("ref") or repo.default_branch
    try:
        page = max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        page = 1
    per = 30
    items = git.log(repo, ref, path=request.GET.get("path", ""), skip=(page - 1) * per, limit=per + 1)
    return render(request, "repos/commits.html", _ctx(
        request, access, "commits", ref=ref, commits=items[:per], page=page, has_more=len(items) > per,
        branches=Branch.objects.filter(repo=repo).order_by("name")))


def commit_detail(request: HttpRequest, repo_id: str, sha: str) -> HttpResponse:
    access = _access(request, repo_id)
    repo = access.repo
    full = git.resolve_ref(repo, sha)
    info = git.commit_info(repo, full) if full else None
    if info is None:
        raise Http404("Commit not found")
    parent = info["parent_shas"][0] if info["parent_shas"] else git.run(
        repo, "hash-object", "-t", "tree", "/dev/null").stdout.decode().strip()
    diff = git.diff(repo, parent, full, three_dot=False)
    return render(request, "repos/commit.html", _ctx(request, access, "commits", commit=info, diff=diff))


def branches(request: HttpRequest, repo_id: str) -> HttpResponse:
    access = _access(request, repo_id)
    repo = access.repo
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('console-login')}?next={request.path}")
        _access(request, repo_id, Role.EDITOR)
        action = request.POST.get("action")
        name = request.POST.get("name", "")
        if action == "create":
            if attempt(request, lambda: services.branch_create(repo=repo, actor=request.user, name=name,
                                                               source=request.POST.get("source") or None)):
                messages.success(request, f"Branch {name} created.")
        elif action == "delete":
            attempt(request, lambda: services.branch_delete(repo=repo, actor=request.user, name=name))
        elif action in ("default", "protect", "unprotect"):
            _access(request, repo_id, Role.ADMIN)
            if action == "default":
                attempt(request, lambda: services.branch_set_default(repo=repo, name=name))
            else:
                attempt(request, lambda: services.branch_protect(
                    repo=repo, name=name, is_protected=action == "protect",
                    required_checks=[c for c in request.POST.get("required_checks", "").split(",") if c.strip()]))
        return redirect("console-repo-branches", repo.id)
    rows = Branch.objects.filter(repo=repo).order_by("-is_default", "name")
    return render(request, "repos/branches.html", _ctx(request, access, "branches", branches=rows))


def pulls(request: HttpRequest, repo_id: str) -> HttpResponse:
    access = _access(request, repo_id)
    repo = access.repo
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('console-login')}?next={request.path}")
        _access(request, repo_id, Role.EDITOR)
        pr = attempt(request, lambda: services.pull_request_create(
            repo=repo, actor=request.user, title=request.POST.get("title", ""),
            head_branch=request.POST.get("head_branch", ""), base_branch=request.POST.get("base_branch") or None,
            description=request.POST.get("description", "")))
        if pr is not None:
            return redirect("console-repo-pull", repo.id, pr.number)
    status = request.GET.get("status", "open")
    qs = PullRequest.objects.filter(repo=repo).select_related("author").order_by("-number")
    if status != "all":
        qs = qs.filter(status=status)
    return render(request, "repos/pulls.html", _ctx(
        request, access, "pulls", pulls=qs[:200], status=status,
        branches=Branch.objects.filter(repo=repo).order_by("name")))


def pull_detail(request: HttpRequest, repo_id: str, number: int) -> HttpResponse:
    access = _access(request, repo_id)
    repo = access.repo
    try:
        pr = selectors.pull_request(repo, number)
    except NotFound:
        raise Http404("Pull request not found") from None
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('console-login')}?next={request.path}")
        action = request.POST.get("action")
        if action == "comment":
            attempt(request, lambda: services.comment_create(pr=pr, actor=request.user,
                                                              content=request.POST.get("content", "")))
        elif action == "review":
            attempt(request, lambda: services.review_create(pr=pr, actor=request.user,
                                                             status=request.POST.get("status", "commented"),
                                                             body=request.POST.get("body", "")))
        elif action in ("merge", "close", "reopen"):
            _access(request, repo_id, Role.EDITOR)
            if action == "merge":
                if attempt(request, lambda: services.pull_request_merge(
                        pr=pr, actor=request.user, merge_method=request.POST.get("merge_method", "merge"))):
                    messages.success(request, f"Pull request #{pr.number} merged.")
            elif action == "close":
                attempt(request, lambda: services.pull_request_close(pr=pr))
            else:
                attempt(request, lambda: services.pull_request_update(pr=pr, data={"status": "open"}))
        return redirect("console-repo-pull", repo.id, pr.number)
    conflicts = services.pull_request_conflicts(pr=pr) if pr.status == PullRequest.Status.OPEN else None
    diff = None
    try:
        if pr.status == PullRequest.Status.MERGED and pr.merge_commit_sha:
            info = git.commit_info(repo, pr.merge_commit_sha)
            base = info["parent_shas"][0] if info and info["parent_shas"] else pr.merge_commit_sha
            diff = git.diff(repo, base, pr.merge_commit_sha, three_dot=False)
        elif conflicts and conflicts["base_sha"] and conflicts["head_sha"]:
            diff = git.diff(repo, conflicts["base_sha"], conflicts["head_sha"], three_dot=True)
    except git.GitError:
        diff = None
    checks_ok, checks_reason = services.required_checks_passed(repo, pr)
    timeline = sorted(
        [{"kind": "comment", "obj": c, "at": c.created_at} for c in pr.comments.select_related("author")]
        + [{"kind": "review", "obj": r, "at": r.created_at} for r in pr.reviews.select_related("reviewer")],
        key=lambda item: item["at"],
    )
    return render(request, "repos/pull.html", _ctx(
        request, access, "pulls", pr=pr, conflicts=conflicts, diff=diff, timeline=timeline,
        checks_ok=checks_ok, checks_reason=checks_reason, merge_methods=services.MERGE_METHODS))


def releases(request: HttpRequest, repo_id: str) -> HttpResponse:
    access = _access(request, repo_id)
    repo = access.repo
    can_write = role_at_least(access.role, Role.EDITOR)
    if request.method == "POST":
        if not can_write:
            raise PermissionDenied
        upload = request.FILES.get("file")
        release = attempt(request, lambda: services.release_create(
            repo=repo, actor=request.user, tag=request.POST.get("tag", ""), name=request.POST.get("name", ""),
            description=request.POST.get("description", ""), commit_sha=request.POST.get("commit_sha") or None,
            is_prerelease=bool(request.POST.get("is_prerelease")), is_draft=bool(request.POST.get("is_draft"))))
        if release is not None and upload is not None:
            attempt(request, lambda: services.asset_upload(release=release, upload=upload))
        return redirect("console-repo-releases", repo.id)
    qs = Release.objects.filter(repo=repo).prefetch_related("assets").order_by("-created_at")
    if not can_write:
        qs = qs.filter(is_draft=False)
    return render(request, "repos/releases.html", _ctx(request, access, "releases", releases=qs[:100]))


@login_required
@require_POST
def star(request: HttpRequest, repo_id: str) -> HttpResponse:
    repo = _access(request, repo_id).repo
    if selectors.is_starred(request.user, repo):
        services.star_remove(repo=repo, user=request.user)
    else:
        services.star_add(repo=repo, user=request.user)
    return redirect("console-repo", repo.id)


@login_required
def settings_page(request: HttpRequest, repo_id: str) -> HttpResponse:
    access = _access(request, repo_id, Role.ADMIN)
    repo = access.repo
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            if request.POST.get("confirm") != repo.name:
                messages.error(request, "Type the repository name to confirm.")
                return redirect("console-repo-settings", repo.id)
            slug = repo.space.slug
            services.repo_delete(repo=repo)
            messages.success(request, f"Repository {repo.name} deleted.")
            return redirect("console-space-repos", slug)
        try:
            services.repo_update(repo=repo, data={k: request.POST[k] for k in ("name", "description", "visibility")
                                                  if k in request.POST})
            messages.success(request, "Saved.")
        except ApiError as exc:
            messages.error(request, str(exc.detail))
        return redirect("console-repo-settings", repo.id)
    return render(request, "repos/settings.html", _ctx(request, access, "settings",
                                                       visibilities=["private", "internal", "public"]))


"""/api/spaces/:spaceId/repos and /api/repos/:repoId/... (spec section 6). Thin: parse, call, respond."""

from __future__ import annotations

import base64
import binascii
import mimetypes
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Role, Space
from accounts.selectors import resolve_space
from repos import git, selectors, services
from repos.api import serializers as s
from repos.models import Branch, PullRequest, Release, ReleaseAsset
from takos.api.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from takos.api.ids import is_id
from takos.api.pagination import page_params, paginate
from takos.api.permissions import TokenScope
from takos.api.views import ApiView


class ReadAnonymousWriteAuthenticated(BasePermission):
    """Reads are open (the repository's visibility decides); writes need a signed-in caller."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_authenticated)


class RepoView(ApiView):
    scope = "repos"
    permission_classes = [ReadAnonymousWriteAuthenticated, TokenScope]

    def access(self, request: Request, repo_id: str, min_role: str = Role.VIEWER) -> selectors.RepoAccess:
        return selectors.repo_access(request.user, repo_id, min_role=min_role)

    def repo(self, request: Request, repo_id: str, min_role: str = Role.VIEWER):  # type: ignore[no-untyped-def]
        return self.access(request, repo_id, min_role).repo


def _split_ref_path(repo: Any, rest: str) -> tuple[str, str]:
    """Split "feature/x/src/app.py" into (ref, path), preferring the longest existing branch or tag."""
    rest = rest.strip("/")
    if "/" not in rest:
        return rest, ""
    names = git.ref_names(repo)
    parts = rest.split("/")
    for i in range(len(parts) - 1, 0, -1):
        candidate = "/".join(parts[:i])
        if candidate in names:
            return candidate, "/".join(parts[i:])
    return parts[0], "/".join(parts[1:])


# --- repositories -----------------------------------------------------------------------


class SpaceReposView(RepoView):
    permission_classes = ApiView.permission_classes

    def _space(self, request: Request, space_id: str) -> tuple[Space, str | None]:
        try:
            access = resolve_space(request.user, space_id)
            return access.space, access.role
        except NotFound:
            # Non-members see the space's public (and internal) repositories only.
            space = Space.objects.filter(slug=space_id.lower()).first() or (
                Space.objects.filter(pk=space_id).first() if is_id(space_id) else None)
            if space is None:
                raise
            return space, None

    def get(self, request: Request, space_id: str) -> Response:
        space, _ = self._space(request, space_id)
        qs = selectors.repos_for_space(space, request.user)
        return Response(paginate(request, qs, key="repositories",
                                 serialize=lambda items: [s.repo_out(r, request) for r in items]))

    def post(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id, min_role=Role.EDITOR).space
        data = self.parse(s.RepoCreateIn, request)
        repo = services.repo_create(space=space, actor=request.user, name=data["name"],
                                    description=data.get("description", ""), visibility=data["visibility"])
        return Response({"repository": s.repo_out(repo, request)}, status=status.HTTP_201_CREATED)


class SpaceInitRepoView(RepoView):
    permission_classes = ApiView.permission_classes

    def post(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id, min_role=Role.ADMIN).space
        repo = services.ensure_default_repository(space=space, actor=request.user)
        return Response({"repository": s.repo_out(repo, request)}, status=status.HTTP_201_CREATED)


class ImportExternalView(RepoView):
    permission_classes = ApiView.permission_classes

    def post(self, request: Request) -> Response:
        data = self.parse(s.ImportExternalIn, request)
        space = resolve_space(request.user, data["space_id"] or "me", min_role=Role.EDITOR).space
        repo = services.repo_import_external(
            space=space, actor=request.user, url=data["url"], name=data.get("name") or None,
            description=data.get("description", ""), visibility=data["visibility"],
            token=(data.get("auth") or {}).get("token") or None,
        )
        return Response({"repository": s.repo_out(repo, request)}, status=status.HTTP_201_CREATED)


class RepoDetailView(RepoView):
    def get(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id)
        return Response({"repository": s.repo_out(repo, request, starred=selectors.is_starred(request.user, repo))})

    def patch(self, request: Request, repo_id: str) -> Response:
        data = self.parse(s.RepoUpdateIn, request)
        # Renames and visibility changes are admin decisions; the rest is editor work.
        needs_admin = "name" in data or "visibility" in data
        repo = self.repo(request, repo_id, Role.ADMIN if needs_admin else Role.EDITOR)
        repo = services.repo_update(repo=repo, data=data)
        return Response({"repository": s.repo_out(repo, request)})

    def delete(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.ADMIN)
        services.repo_delete(repo=repo)
        return Response({"success": True})


class StarredView(RepoView):
    permission_classes = ApiView.permission_classes

    def get(self, request: Request) -> Response:
        qs = selectors.starred_repos(request.user)
        return Response(paginate(request, qs, key="repositories",
                                 serialize=lambda items: [s.repo_out(r, request, starred=True) for r in items]))


class StarView(RepoView):
    def get(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id)
        return Response({"starred": selectors.is_starred(request.user, repo), "stars": repo.stars})

    def post(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id)
        services.star_add(repo=repo, user=request.user)
        repo.refresh_from_db(fields=["stars"])
        return Response({"starred": True, "stars": repo.stars})

    def delete(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id)
        services.star_remove(repo=repo, user=request.user)
        repo.refresh_from_db(fields=["stars"])
        return Response({"starred": False, "stars": repo.stars})


class ForkView(RepoView):
    def post(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id)
        data = self.parse(s.ForkIn, request)
        target = resolve_space(request.user, data.get("target_space_id") or "me", min_role=Role.EDITOR).space
        fork = services.repo_fork(repo=repo, actor=request.user, target_space=target, name=data.get("name") or None)
        return Response({"repository": s.repo_out(fork, request)}, status=status.HTTP_201_CREATED)


# --- branches ---------------------------------------------------------------------------


class BranchesView(RepoView):
    def get(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id)
        if not Branch.objects.filter(repo=repo).exists():
            services.sync_refs(repo)  # repositories restored from disk get their rows on first read
        qs = Branch.objects.filter(repo=repo).order_by("-is_default", "name")
        include = request.query_params.get("include_commits") in ("1", "true")

        def serialize(items: list[Branch]) -> list[dict[str, Any]]:
            if not include:
                return [s.branch_out(b) for b in items]
            out = []
            for b in items:
                info = git.commit_info(repo, b.commit_sha)
                out.append(s.branch_out(b, s.commit_out(info) if info else None))
            return out

        return Response(paginate(request, qs, key="branches", serialize=serialize, maximum=1000, default=100))

    def post(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        data = self.parse(s.BranchCreateIn, request)
        branch = services.branch_create(repo=repo, actor=request.user, name=data["name"],
                                        source=data.get("source") or None)
        return Response({"branch": s.branch_out(branch)}, status=status.HTTP_201_CREATED)


class BranchDetailView(RepoView):
    def get(self, request: Request, repo_id: str, name: str) -> Response:
        repo = self.repo(request, repo_id)
        branch = Branch.objects.filter(repo=repo, name=name).first()
        if branch is None:
            raise NotFound("Branch not found.")
        info = git.commit_info(repo, branch.commit_sha)
        return Response({"branch": s.branch_out(branch, s.commit_out(info) if info else None)})

    def delete(self, request: Request, repo_id: str, name: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        services.branch_delete(repo=repo, actor=request.user, name=name)
        return Response({"success": True})


class BranchDefaultView(RepoView):
    def post(self, request: Request, repo_id: str, name: str) -> Response:
        repo = self.repo(request, repo_id, Role.ADMIN)
        repo = services.branch_set_default(repo=repo, name=name)
        return Response({"repository": s.repo_out(repo, request)})


class BranchProtectionView(RepoView):
    def put(self, request: Request, repo_id: str, name: str) -> Response:
        repo = self.repo(request, repo_id, Role.ADMIN)
        data = self.parse(s.BranchProtectionIn, request)
        branch = services.branch_protect(repo=repo, name=name, is_protected=data["is_protected"],
                                         required_checks=data.get("required_checks"))
        return Response({"branch": s.branch_out(branch)})

    def delete(self, request: Request, repo_id: str, name: str) -> Response:
        repo = self.repo(request, repo_id, Role.ADMIN)
        branch = services.branch_protect(repo=repo, name=name, is_protected=False, required_checks=[])
        return Response({"branch": s.branch_out(branch)})


# --- history, tree, blob, diff ----------------------------------------------------------


class CommitsView(RepoView):
    def get(self, request: Request, repo_id: str, rest: str | None = None) -> Response:
        repo = self.repo(request, repo_id)
        if rest:
            ref, path = _split_ref_path(repo, rest)
        else:
            ref = request.query_params.get("branch") or request.query_params.get("ref") or repo.default_branch
            path = request.query_params.get("path", "")
        limit, offset = page_params(request, default=30, maximum=100)
        page = request.query_params.get("page")
        if page:
            try:
                offset = (max(int(page), 1) - 1) * limit
            except ValueError:
                raise BadRequest("'page' must be an integer.") from None
        if git.clean_path(path) is None:
            raise NotFound("Path not found.")
        if git.resolve_ref(repo, ref) is None:
            if git.is_empty(repo):
                return Response({"commits": [], "has_more": False, "limit": limit, "offset": offset, "ref": ref})
            raise NotFound(f"Unknown ref '{ref}'.")
        items = git.log(repo, ref, path=path, skip=offset, limit=limit + 1)
        return Response({
            "commits": [s.commit_out(c) for c in items[:limit]], "has_more": len(items) > limit,
            "limit": limit, "offset": offset, "page": offset // limit + 1, "ref": ref,
        })


class CommitDetailView(RepoView):
    def get(self, request: Request, repo_id: str, sha: str) -> Response:
        repo = self.repo(request, repo_id)
        commit = git.resolve_ref(repo, sha)
        info = git.commit_info(repo, commit) if commit else None
        if info is None:
            raise NotFound("Commit not found.")
        parent = info["parent_shas"][0] if info["parent_shas"] else git.run(
            repo, "hash-object", "-t", "tree", "/dev/null").stdout.decode().strip()
        return Response({"commit": s.commit_out(info), "diff": git.diff(repo, parent, commit, three_dot=False)})


class TreeView(RepoView):
    def get(self, request: Request, repo_id: str, rest: str = "") -> Response:
        repo = self.repo(request, repo_id)
        ref, path = _split_ref_path(repo, rest) if rest else (repo.default_branch, "")
        entry = git.tree_entry(repo, ref, path)
        if entry is None:
            raise NotFound("Path not found.")
        if entry["type"] != "tree":
            raise NotFound("Not a folder; use the blob endpoint.")
        entries = git.tree_entries(repo, entry["sha"], entry["path"])
        return Response({"ref": ref, "commit_sha": entry["commit"], "path": entry["path"], "sha": entry["sha"],
                         "entries": entries})


def _wants_raw(request: Request) -> bool:
    if request.query_params.get("raw") in ("1", "true"):
        return True
    accept = request.META.get("HTTP_ACCEPT", "")
    return bool(accept) and "json" not in accept and accept.strip() != "*/*"


# Types a browser would run or render from our origin are served as plain text.
_UNSAFE_TYPES = ("text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml",
                 "application/javascript", "text/javascript")


class BlobView(RepoView):
    def perform_content_negotiation(self, request: Request, force: bool = False):  # type: ignore[no-untyped-def]
        # Raw downloads accept any Accept header; JSON is the default.
        return super().perform_content_negotiation(request, force=True)

    def get(self, request: Request, repo_id: str, rest: str) -> Response | HttpResponse:
        repo = self.repo(request, repo_id)
        ref, path = _split_ref_path(repo, rest)
        entry = git.tree_entry(repo, ref, path)
        if entry is None or entry["type"] != "blob" or not entry["path"]:
            raise NotFound("File not found.")
        raw_limit = settings.TAKOS_REPO_RAW_MAX_BYTES
        json_limit = settings.TAKOS_REPO_BLOB_MAX_BYTES
        size = entry["size"] or 0
        if _wants_raw(request):
            if size > raw_limit:
                raise PayloadTooLarge(f"The file is larger than {raw_limit} bytes; clone the repository.")
            data = git.read_object(repo, entry["sha"])
            ctype = mimetypes.guess_type(entry["name"])[0] or (
                "application/octet-stream" if git.is_binary(data) else "text/plain")
            if ctype in _UNSAFE_TYPES or ctype.startswith("text/"):
                ctype = "text/plain; charset=utf-8"
            resp = HttpResponse(data, content_type=ctype)
            resp["Content-Security-Policy"] = "sandbox; default-src 'none'"
            resp["X-Content-Type-Options"] = "nosniff"
            resp["Content-Disposition"] = f'inline; filename="{entry["name"]}"'
            return resp
        out: dict[str, Any] = {"ref": ref, "commit_sha": entry["commit"], "path": entry["path"],
                               "name": entry["name"], "sha": entry["sha"], "size": size, "mode": entry["mode"]}
        if size > json_limit:
            out.update({"content": None, "encoding": None, "is_binary": None, "too_large": True})
            return Response(out)
        data = git.read_object(repo, entry["sha"])
        binary = git.is_binary(data)
        out.update({
            "content": base64.b64encode(data).decode() if binary else data.decode("utf-8", errors="replace"),
            "encoding": "base64" if binary else "utf-8", "is_binary": binary, "too_large": False,
        })
        return Response(out)


class DiffView(RepoView):
    def get(self, request: Request, repo_id: str, basehead: str) -> Response:
        repo = self.repo(request, repo_id)
        three_dot = "..." in basehead
        sep = "..." if three_dot else ".."
        if sep not in basehead:
            raise BadRequest("Use base...head (or base..head).")
        base_ref, head_ref = basehead.split(sep, 1)
        base, head = git.resolve_ref(repo, base_ref), git.resolve_ref(repo, head_ref)
        if base is None or head is None:
            raise NotFound("Unknown ref.")
        return Response({"diff": git.diff(repo, base, head, three_dot=three_dot)})


class BlameView(RepoView):
    def get(self, request: Request, repo_id: str, rest: str) -> Response:
        repo = self.repo(request, repo_id)
        ref, path = _split_ref_path(repo, rest)
        lines = git.blame(repo, ref, path)
        if lines is None:
            raise NotFound("File not found.")
        return Response({"ref": ref, "path": path, "lines": lines})


class SearchView(RepoView):
    def get(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id)
        q = request.query_params.get("q", "")
        if not q.strip():
            raise BadRequest("'q' is required.")
        ref = request.query_params.get("ref") or repo.default_branch
        limit, _ = page_params(request, default=50, maximum=500)
        return Response({"ref": ref, "query": q, "matches": git.grep(repo, ref, q, limit=limit)})


class ExportView(RepoView):
    def perform_content_negotiation(self, request: Request, force: bool = False):  # type: ignore[no-untyped-def]
        return super().perform_content_negotiation(request, force=True)

    def get(self, request: Request, repo_id: str) -> HttpResponse:
        repo = self.repo(request, repo_id)
        ref = request.query_params.get("ref") or repo.default_branch
        sha = git.resolve_ref(repo, ref)
        if sha is None:
            raise NotFound(f"Unknown ref '{ref}'.")
        resp = StreamingHttpResponse(git.archive_stream(repo, sha), content_type="application/gzip")
        resp["Content-Disposition"] = f'attachment; filename="{repo.name}-{sha[:10]}.tar.gz"'
        return resp


class CommitCreateView(RepoView):
    def post(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        data = self.parse(s.CommitIn, request)
        files: dict[str, bytes | None] = {}
        for change in data["files"]:
            if git.clean_path(change["path"]) in (None, ""):
                raise BadRequest(f"Invalid path: {change['path']!r}.")
            if change["action"] == "delete":
                files[change["path"]] = None
            elif change["encoding"] == "base64":
                try:
                    files[change["path"]] = base64.b64decode(change.get("content", ""), validate=True)
                except (binascii.Error, ValueError):
                    raise BadRequest(f"{change['path']}: content is not valid base64.") from None
            else:
                files[change["path"]] = change.get("content", "").encode()
        sha = services.commit_create(
            repo=repo, actor=request.user, branch=data.get("branch") or repo.default_branch, files=files,
            message=data["message"], parent_sha=data.get("parent_sha"), author_name=data.get("author_name"),
            author_email=data.get("author_email"),
        )
        info = git.commit_info(repo, sha)
        return Response({"commit": s.commit_out(info) if info else {"sha": sha},
                         "branch": data.get("branch") or repo.default_branch}, status=status.HTTP_201_CREATED)


# --- pull requests ----------------------------------------------------------------------


class PullsView(RepoView):
    def get(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id)
        qs = PullRequest.objects.filter(repo=repo).select_related("author", "merged_by").order_by("-number")
        status_filter = request.query_params.get("status") or request.query_params.get("state")
        if status_filter and status_filter != "all":
            if status_filter not in PullRequest.Status.values:
                raise BadRequest("status must be open, merged, closed or all.")
            qs = qs.filter(status=status_filter)
        return Response(paginate(request, qs, key="pull_requests",
                                 serialize=lambda items: [s.pr_out(p) for p in items]))

    def post(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        data = self.parse(s.PullCreateIn, request)
        pr = services.pull_request_create(
            repo=repo, actor=request.user, title=data["title"], head_branch=data["head_branch"],
            base_branch=data.get("base_branch") or None, description=data.get("description", ""),
            author_type=data["author_type"], run_id=data.get("run_id") or None,
        )
        return Response({"pull_request": s.pr_out(pr)}, status=status.HTTP_201_CREATED)


class PullView(RepoView):
    def pr(self, request: Request, repo_id: str, number: int, min_role: str = Role.VIEWER) -> PullRequest:
        repo = self.repo(request, repo_id, min_role)
        return selectors.pull_request(repo, number)


class PullDetailView(PullView):
    def get(self, request: Request, repo_id: str, number: int) -> Response:
        pr = self.pr(request, repo_id, number)
        return Response({"pull_request": s.pr_out(pr)})

    def patch(self, request: Request, repo_id: str, number: int) -> Response:
        access = self.access(request, repo_id)
        pr = selectors.pull_request(access.repo, number)
        _require_editor_or_author(access, pr, request)
        data = self.parse(s.PullUpdateIn, request)
        return Response({"pull_request": s.pr_out(services.pull_request_update(pr=pr, data=data))})


def _require_editor_or_author(access: selectors.RepoAccess, pr: PullRequest, request: Request) -> None:
    from accounts.models import role_at_least

    if not (role_at_least(access.role, Role.EDITOR) or (pr.author_id and pr.author_id == request.user.pk)):
        raise Forbidden("Only editors and the author can change this pull request.")


class PullCloseView(PullView):
    def post(self, request: Request, repo_id: str, number: int) -> Response:
        access = self.access(request, repo_id)
        pr = selectors.pull_request(access.repo, number)
        _require_editor_or_author(access, pr, request)
        return Response({"pull_request": s.pr_out(services.pull_request_close(pr=pr))})


class PullDiffView(PullView):
    def get(self, request: Request, repo_id: str, number: int) -> Response:
        pr = self.pr(request, repo_id, number)
        repo = pr.repo
        if pr.status == PullRequest.Status.MERGED and pr.merge_commit_sha:
            info = git.commit_info(repo, pr.merge_commit_sha)
            base = info["parent_shas"][0] if info and info["parent_shas"] else pr.merge_commit_sha
            return Response({"diff": git.diff(repo, base, pr.merge_commit_sha, three_dot=False)})
        base = git.resolve_ref(repo, f"refs/heads/{pr.base_branch}")
        head = git.resolve_ref(repo, f"refs/heads/{pr.head_branch}")
        if base is None or head is None:
            raise NotFound("A branch of this pull request no longer exists.")
        return Response({"diff": git.diff(repo, base, head, three_dot=True)})


class PullCommentsView(PullView):
    def get(self, request: Request, repo_id: str, number: int) -> Response:
        pr = self.pr(request, repo_id, number)
        qs = pr.comments.select_related("author").order_by("created_at")
        return Response(paginate(request, qs, key="comments", serialize=lambda items: [s.comment_out(c) for c in items]))

    def post(self, request: Request, repo_id: str, number: int) -> Response:
        pr = self.pr(request, repo_id, number)
        data = self.parse(s.CommentIn, request)
        comment = services.comment_create(pr=pr, actor=request.user, content=data["content"],
                                          file_path=data.get("file_path", ""), line_number=data.get("line_number"))
        return Response({"comment": s.comment_out(comment)}, status=status.HTTP_201_CREATED)


class PullReviewsView(PullView):
    def get(self, request: Request, repo_id: str, number: int) -> Response:
        pr = self.pr(request, repo_id, number)
        qs = pr.reviews.select_related("reviewer").order_by("created_at")
        return Response(paginate(request, qs, key="reviews", serialize=lambda items: [s.review_out(r) for r in items]))

    def post(self, request: Request, repo_id: str, number: int) -> Response:
        pr = self.pr(request, repo_id, number)
        data = self.parse(s.ReviewIn, request)
        review = services.review_create(pr=pr, actor=request.user, status=data["status"], body=data.get("body", ""))
        return Response({"review": s.review_out(review)}, status=status.HTTP_201_CREATED)


class PullConflictsView(PullView):
    def get(self, request: Request, repo_id: str, number: int) -> Response:
        pr = self.pr(request, repo_id, number)
        return Response(services.pull_request_conflicts(pr=pr))


class PullMergeView(PullView):
    def post(self, request: Request, repo_id: str, number: int) -> Response:
        pr = self.pr(request, repo_id, number, Role.EDITOR)
        data = self.parse(s.MergeIn, request)
        pr = services.pull_request_merge(pr=pr, actor=request.user, merge_method=data["merge_method"],
                                         commit_message=data.get("commit_message") or None)
        return Response({"pull_request": s.pr_out(pr), "merged": True, "sha": pr.merge_commit_sha})


# --- releases ---------------------------------------------------------------------------


def _release_visible(access: selectors.RepoAccess, release: Release) -> Release:
    from accounts.models import role_at_least

    if release.is_draft and not role_at_least(access.role, Role.EDITOR):
        raise NotFound("Release not found.")
    return release


class ReleasesView(RepoView):
    def get(self, request: Request, repo_id: str) -> Response:
        from accounts.models import role_at_least

        access = self.access(request, repo_id)
        qs = Release.objects.filter(repo=access.repo).prefetch_related("assets").order_by("-created_at")
        if not role_at_least(access.role, Role.EDITOR):
            qs = qs.filter(is_draft=False)
        return Response(paginate(request, qs, key="releases", serialize=lambda items: [s.release_out(r) for r in items]))

    def post(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        data = self.parse(s.ReleaseCreateIn, request)
        release = services.release_create(repo=repo, actor=request.user, **data)
        return Response({"release": s.release_out(release)}, status=status.HTTP_201_CREATED)


class ReleaseLatestView(RepoView):
    def get(self, request: Request, repo_id: str) -> Response:
        repo = self.repo(request, repo_id)
        return Response({"release": s.release_out(selectors.latest_release(repo))})


class ReleaseDetailView(RepoView):
    def get(self, request: Request, repo_id: str, tag: str) -> Response:
        access = self.access(request, repo_id)
        release = _release_visible(access, selectors.release_by_tag(access.repo, tag))
        return Response({"release": s.release_out(release)})

    def patch(self, request: Request, repo_id: str, tag: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        data = self.parse(s.ReleaseUpdateIn, request)
        release = services.release_update(release=selectors.release_by_tag(repo, tag), data=data)
        return Response({"release": s.release_out(release)})

    def delete(self, request: Request, repo_id: str, tag: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        services.release_delete(release=selectors.release_by_tag(repo, tag))
        return Response({"success": True})


class ReleaseAssetsView(RepoView):
    parser_classes = [MultiPartParser, FormParser]

    def get(self, request: Request, repo_id: str, tag: str) -> Response:
        access = self.access(request, repo_id)
        release = _release_visible(access, selectors.release_by_tag(access.repo, tag))
        return Response({"assets": [s.asset_out(a) for a in release.assets.all()]})

    def post(self, request: Request, repo_id: str, tag: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        release = selectors.release_by_tag(repo, tag)
        upload = request.FILES.get("file")
        if upload is None:
            raise BadRequest("Send the asset as multipart field 'file'.")
        if upload.size > settings.TAKOS_RELEASE_ASSET_MAX_BYTES:
            raise PayloadTooLarge(f"Assets are limited to {settings.TAKOS_RELEASE_ASSET_MAX_BYTES} bytes.")
        asset = services.asset_upload(release=release, upload=upload, name=request.data.get("name") or None)
        return Response({"asset": s.asset_out(asset)}, status=status.HTTP_201_CREATED)


def _asset(repo: Any, tag: str, asset_id: str) -> ReleaseAsset:
    asset = ReleaseAsset.objects.select_related("release").filter(
        pk=asset_id, release__repo=repo, release__tag=tag).first() if is_id(asset_id) else None
    if asset is None:
        raise NotFound("Asset not found.")
    return asset


class ReleaseAssetView(RepoView):
    def delete(self, request: Request, repo_id: str, tag: str, asset_id: str) -> Response:
        repo = self.repo(request, repo_id, Role.EDITOR)
        services.asset_delete(asset=_asset(repo, tag, asset_id))
        return Response({"success": True})


class ReleaseAssetDownloadView(RepoView):
    def perform_content_negotiation(self, request: Request, force: bool = False):  # type: ignore[no-untyped-def]
        return super().perform_content_negotiation(request, force=True)

    def get(self, request: Request, repo_id: str, tag: str, asset_id: str) -> FileResponse:
        access = self.access(request, repo_id)
        asset = _asset(access.repo, tag, asset_id)
        _release_visible(access, asset.release)
        try:
            fh = default_storage.open(asset.asset_key, "rb")
        except FileNotFoundError:
            raise NotFound("The asset's file is missing from storage.") from None
        services.asset_count_download(asset=asset)
        # FileResponse streams the file in chunks; nothing is read into memory at once.
        return FileResponse(fh, as_attachment=True, filename=asset.name,
                            content_type=asset.content_type or "application/octet-stream")

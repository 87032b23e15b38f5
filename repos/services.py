"""Writes for repositories: the only code that changes repository rows, refs and git data.

Git is the source of truth for refs; `sync_refs` mirrors them into Branch/Tag rows and
`record_push` indexes new commits, logs the push and fires `takos.hooks.repo_pushed`
after the transaction commits.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import subprocess
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Space, User
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
    Visibility,
)
from takos.api.errors import BadRequest, Conflict, NotFound
from takos.hooks import repo_pushed

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _field_error(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", details={"fields": {field: [message]}})


def _validate_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name) or name.lower().endswith(".git"):
        raise _field_error("name", "Use 1-100 letters, digits, '.', '-' or '_', not ending in .git.")
    return name


def _validate_visibility(visibility: str) -> str:
    if visibility not in Visibility.values:
        raise _field_error("visibility", "Must be public, private or internal.")
    return visibility


# --- repositories ---------------------------------------------------------------------


def repo_create(*, space: Space, actor: User | None, name: str, description: str = "",
                visibility: str = "private", default_branch: str = "main") -> Repository:
    """Create the repository row and its empty bare repository on disk.

    Raises Conflict if the space already has a repository with that name (case-insensitive).
    The caller has checked that `actor` may create repositories in `space` (editor+).
    """
    name = _validate_name(name)
    _validate_visibility(visibility)
    if Repository.objects.filter(space=space, name__iexact=name).exists():
        raise Conflict("A repository with that name already exists in this space.",
                       details={"fields": {"name": ["Already exists."]}})
    repo = Repository(space=space, name=name, description=description or "", visibility=visibility,
                      default_branch=default_branch)
    try:
        with transaction.atomic():
            repo.save()
            git.init_bare(repo.git_dir, default_branch=default_branch)
    except IntegrityError:
        git.remove_repo(repo.git_dir)
        raise Conflict("A repository with that name already exists in this space.") from None
    except Exception:
        git.remove_repo(repo.git_dir)
        raise
    return repo


def ensure_default_repository(*, space: Space, actor: User | None) -> Repository:
    """The space's `main` repository, created if missing (POST /api/spaces, init-repo)."""
    from repos.selectors import default_repository

    return default_repository(space) or repo_create(space=space, actor=actor, name="main",
                                                    description=f"Default repository of {space.name}")


def on_space_created(sender: Any, *, space: Space, actor: User, **kwargs: Any) -> None:
    """takos.hooks.space_created receiver: a new team space gets its default repository `main`."""
    if space.kind == Space.Kind.TEAM:
        ensure_default_repository(space=space, actor=actor)


def repo_update(*, repo: Repository, data: dict[str, Any]) -> Repository:
    fields = []
    if "name" in data and data["name"] != repo.name:
        name = _validate_name(data["name"])
        if Repository.objects.filter(space_id=repo.space_id, name__iexact=name).exclude(pk=repo.pk).exists():
            raise Conflict("A repository with that name already exists in this space.")
        repo.name = name
        fields.append("name")
    if "description" in data:
        repo.description = data["description"] or ""
        fields.append("description")
    if "visibility" in data:
        repo.visibility = _validate_visibility(data["visibility"])
        fields.append("visibility")
    if fields:
        repo.save(update_fields=[*fields, "updated_at"])
    if data.get("default_branch") and data["default_branch"] != repo.default_branch:
        branch_set_default(repo=repo, name=data["default_branch"])
    return repo


def repo_delete(*, repo: Repository) -> None:
    path = repo.git_dir
    with transaction.atomic():
        if repo.forked_from_id:
            Repository.objects.filter(pk=repo.forked_from_id, forks__gt=0).update(forks=F("forks") - 1)
        keys = list(ReleaseAsset.objects.filter(release__repo=repo).values_list("asset_key", flat=True))
        repo.delete()
        transaction.on_commit(lambda: _remove_files(path, keys))


def _remove_files(path: Any, keys: list[str]) -> None:
    git.remove_repo(path)
    for key in keys:
        default_storage.delete(key)


# --- refs, commit index, push log ------------------------------------------------------


def _parse_date(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def sync_refs(repo: Repository) -> dict[str, str]:
    """Mirror refs/heads and refs/tags into Branch and Tag rows; fix the default branch.

    Returns the current refs. When the default branch does not exist but others do (first
    push of a `master` project), the default moves to main, master or the first branch.
    """
    refs = git.list_refs(repo)
    heads = {r[len("refs/heads/"):]: sha for r, sha in refs.items() if r.startswith("refs/heads/")}
    tags = {r[len("refs/tags/"):]: sha for r, sha in refs.items() if r.startswith("refs/tags/")}
    if heads and repo.default_branch not in heads:
        new_default = next((b for b in ("main", "master") if b in heads), sorted(heads)[0])
        repo.default_branch = new_default
        repo.save(update_fields=["default_branch", "updated_at"])
        git.set_head(repo, new_default)
    existing = {b.name: b for b in Branch.objects.filter(repo=repo)}
    for name, sha in heads.items():
        row = existing.pop(name, None)
        is_default = name == repo.default_branch
        if row is None:
            Branch.objects.create(repo=repo, name=name, commit_sha=sha, is_default=is_default)
        elif row.commit_sha != sha or row.is_default != is_default:
            row.commit_sha, row.is_default = sha, is_default
            row.save(update_fields=["commit_sha", "is_default", "updated_at"])
    if existing:
        Branch.objects.filter(repo=repo, name__in=list(existing)).delete()
    existing_tags = {t.name: t for t in Tag.objects.filter(repo=repo)}
    for name, sha in tags.items():
        row = existing_tags.pop(name, None)
        if row is None:
            Tag.objects.create(repo=repo, name=name, commit_sha=sha)
        elif row.commit_sha != sha:
            row.commit_sha = sha
            row.save(update_fields=["commit_sha"])
    if existing_tags:
        Tag.objects.filter(repo=repo, name__in=list(existing_tags)).delete()
    return refs


def index_commits(repo: Repository, *, tips: list[str], known: list[str]) -> int:
    """Add commits reachable from `tips` and not from `known` to the commit index."""
    tips = [t for t in tips if t and t != git.ZERO_SHA]
    if not tips:
        return 0
    rows = [
        Commit(repo=repo, sha=c["sha"], tree_sha=c["tree_sha"], parent_shas=c["parent_shas"],
               author_name=c["author_name"][:255], author_email=c["author_email"][:255],
               author_date=_parse_date(c["author_date"]), committer_name=c["committer_name"][:255],
               committer_email=c["committer_email"][:255], commit_date=_parse_date(c["commit_date"]),
               message=c["message"])
        for c in git.new_commits(repo, tips, [k for k in known if k and k != git.ZERO_SHA])
    ]
    Commit.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return len(rows)


# Pushes with more new commits than this are indexed by a Celery task instead of in the request.
INLINE_INDEX_LIMIT = 200


def record_push(*, repo: Repository, pusher: User | None, ref_updates: list[tuple[str, str, str]],
                via: str = Push.Via.HTTP) -> Push | None:
    """After refs moved in git: mirror refs, index commits, log the push, fire repo_pushed on commit.

    `ref_updates` is [(refname, old sha, new sha)], ZERO_SHA for created/deleted refs.
    """
    if not ref_updates:
        return None
    with transaction.atomic():
        refs = sync_refs(repo)
        updated = {r for r, _, _ in ref_updates}
        known = [sha for r, sha in refs.items() if r not in updated] + [old for _, old, _ in ref_updates]
        tips = [new for _, _, new in ref_updates]
        if git.count_new_commits(repo, tips, known) <= INLINE_INDEX_LIMIT:
            index_commits(repo, tips=tips, known=known)
        else:
            # Big pushes (a whole project's history) are indexed by the worker, after the response.
            from repos.tasks import index_commits as index_task

            repo_id = repo.pk
            transaction.on_commit(lambda: index_task.delay(repo_id=repo_id, tips=tips, known=known))
        push = Push.objects.create(repo=repo, pusher=pusher if pusher and pusher.is_authenticated else None,
                                   via=via, ref_updates=[list(u) for u in ref_updates])
        now = timezone.now()
        Repository.objects.filter(pk=repo.pk).update(pushed_at=now, updated_at=now)
        updates = [tuple(u) for u in ref_updates]
        actor = push.pusher
        transaction.on_commit(
            lambda: repo_pushed.send(sender=Repository, repo=repo, pusher=actor, ref_updates=updates)
        )
    return push


def commit_create(*, repo: Repository, actor: User | None, branch: str, files: dict[str, bytes | None],
                  message: str, parent_sha: str | None = None, author_name: str | None = None,
                  author_email: str | None = None) -> str:
    """Commit file changes on `branch` through the API (agents use this); returns the new sha.

    CAS on the branch: with `parent_sha` the branch must still be there (409 otherwise).
    """
    if not message.strip():
        raise _field_error("message", "This field is required.")
    if not files:
        raise _field_error("files", "At least one file change is required.")
    if not git.valid_ref_name(branch):
        raise _field_error("branch", "Invalid branch name.")
    ref = f"refs/heads/{branch}"
    name = author_name or (actor.name if actor else "Takos")
    email = author_email or (actor.email if actor else "noreply@takos.local")
    try:
        new, old = git.commit_files_with_old(repo, branch=branch, files=files, message=message, author_name=name,
                                             author_email=email, parent_sha=parent_sha)
    except git.RefConflict as exc:
        raise Conflict(f"The branch moved: {exc}") from None
    except git.GitError as exc:
        raise BadRequest(str(exc)) from None
    record_push(repo=repo, pusher=actor, ref_updates=[(ref, old, new)], via=Push.Via.API)
    return new


def repo_import_external(*, space: Space, actor: User, url: str, name: str | None = None, description: str = "",
                         visibility: str = "private", token: str | None = None) -> Repository:
    """Create a repository from an external git URL (http/https) through the egress rules.

    The URL must resolve to public addresses only, unless the operator exempts the host in
    TAKOS_EGRESS_ALLOWED_HOSTS (hosts.egress.check_url). Runs the fetch in the request.
    """
    from urllib.parse import urlsplit

    from hosts.egress import EgressRefused, check_url

    try:
        checked = check_url(url)
    except EgressRefused as exc:
        raise _field_error("url", f"This URL may not be imported: {exc}") from None
    if name is None:
        name = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "imported"
    repo = repo_create(space=space, actor=actor, name=name, description=description, visibility=visibility)
    try:
        git.fetch_external(repo.git_dir, url=url, host=checked.host, port=checked.port,
                           address=checked.addresses[0], token=token)
    except (git.GitError, subprocess.TimeoutExpired) as exc:
        repo_delete(repo=repo)
        raise BadRequest(f"Import failed: {exc}") from None
    with transaction.atomic():
        repo.remote_clone_url = url
        repo.save(update_fields=["remote_clone_url", "updated_at"])
        refs = sync_refs(repo)
        if repo.default_branch in [r[len("refs/heads/"):] for r in refs if r.startswith("refs/heads/")]:
            git.set_head(repo, repo.default_branch)
        index_commits(repo, tips=list(set(refs.values())), known=[])
        updates = [(ref, git.ZERO_SHA, sha) for ref, sha in git.raw_refs(repo).items()]
        Push.objects.create(repo=repo, pusher=actor, via=Push.Via.API, ref_updates=[list(u) for u in updates])
        transaction.on_commit(lambda: repo_pushed.send(sender=Repository, repo=repo, pusher=actor,
                                                       ref_updates=updates))
    return repo


# --- branches -------------------------------------------------------------------------


def branch_create(*, repo: Repository, actor: User | None, name: str, source: str | None = None) -> Branch:
    if not git.valid_ref_name(name):
        raise _field_error("name", "Invalid branch name.")
    source = source or repo.default_branch
    sha = git.resolve_ref(repo, source)
    if sha is None:
        raise _field_error("source", f"Unknown ref '{source}'.")
    ref = f"refs/heads/{name}"
    try:
        with git.push_lock(repo):
            git.update_ref(repo, ref, sha, git.ZERO_SHA)
    except git.RefConflict:
        raise Conflict(f"Branch '{name}' already exists.") from None
    record_push(repo=repo, pusher=actor, ref_updates=[(ref, git.ZERO_SHA, sha)], via=Push.Via.API)
    return Branch.objects.get(repo=repo, name=name)


def branch_delete(*, repo: Repository, actor: User | None, name: str) -> None:
    if name == repo.default_branch:
        raise Conflict("The default branch cannot be deleted.")
    branch = Branch.objects.filter(repo=repo, name=name).first()
    if branch is not None and branch.is_protected:
        raise Conflict(f"Branch '{name}' is protected.")
    ref = f"refs/heads/{name}"
    with git.push_lock(repo):
        sha = git.resolve_ref(repo, ref)
        if sha is None:
            raise NotFound("Branch not found.")
        git.delete_ref(repo, ref, sha)
    record_push(repo=repo, pusher=actor, ref_updates=[(ref, sha, git.ZERO_SHA)], via=Push.Via.API)


def branch_set_default(*, repo: Repository, name: str) -> Repository:
    if git.resolve_ref(repo, f"refs/heads/{name}") is None:
        raise NotFound("Branch not found.")
    with transaction.atomic():
        repo.default_branch = name
        repo.save(update_fields=["default_branch", "updated_at"])
        git.set_head(repo, name)
        Branch.objects.filter(repo=repo).update(is_default=False)
        Branch.objects.filter(repo=repo, name=name).update(is_default=True)
    return repo


def branch_protect(*, repo: Repository, name: str, is_protected: bool,
                   required_checks: list[str] | None = None) -> Branch:
    branch = Branch.objects.filter(repo=repo, name=name).first()
    if branch is None:
        raise NotFound("Branch not found.")
    branch.is_protected = is_protected
    if required_checks is not None:
        branch.required_checks = sorted({c.strip() for c in required_checks if c.strip()})
    branch.save(update_fields=["is_protected", "required_checks", "updated_at"])
    return branch


def protected_refs(repo: Repository) -> list[str]:
    return [f"refs/heads/{n}" for n in Branch.objects.filter(repo=repo, is_protected=True).values_list("name", flat=True)]


# --- stars and forks ------------------------------------------------------------------


def star_add(*, repo: Repository, user: User) -> None:
    with transaction.atomic():
        _, created = Star.objects.get_or_create(user=user, repo=repo)
        if created:
            Repository.objects.filter(pk=repo.pk).update(stars=F("stars") + 1)


def star_remove(*, repo: Repository, user: User) -> None:
    with transaction.atomic():
        deleted, _ = Star.objects.filter(user=user, repo=repo).delete()
        if deleted:
            Repository.objects.filter(pk=repo.pk, stars__gt=0).update(stars=F("stars") - 1)


def repo_fork(*, repo: Repository, actor: User, target_space: Space, name: str | None = None) -> Repository:
    """Copy `repo` (all branches and tags) into `target_space`; the caller checked editor there."""
    name = _validate_name(name or repo.name)
    if Repository.objects.filter(space=target_space, name__iexact=name).exists():
        raise Conflict("A repository with that name already exists in the target space.")
    fork = Repository(space=target_space, name=name, description=repo.description, visibility=repo.visibility,
                      default_branch=repo.default_branch, forked_from=repo)
    try:
        with transaction.atomic():
            fork.save()
            git.clone_bare(repo, fork.git_dir)
            refs = sync_refs(fork)
            index_commits(fork, tips=list(set(refs.values())), known=[])
            Repository.objects.filter(pk=repo.pk).update(forks=F("forks") + 1)
    except Exception:
        git.remove_repo(fork.git_dir)
        raise
    return fork


# --- pull requests --------------------------------------------------------------------

# Status-check providers (the workflows slice appends one): fn(repo, pr, required_names) -> (ok, reason).
STATUS_CHECKERS: list[Callable[[Repository, PullRequest, list[str]], tuple[bool, str]]] = []


def register_status_checker(fn: Callable[[Repository, PullRequest, list[str]], tuple[bool, str]]) -> None:
    if fn not in STATUS_CHECKERS:
        STATUS_CHECKERS.append(fn)


def required_checks_passed(repo: Repository, pr: PullRequest) -> tuple[bool, str]:
    """Whether the base branch's required status checks pass for `pr`.

    True when the base branch is unprotected or names no required checks. Otherwise every
    function in STATUS_CHECKERS is asked with the list of required check names; with no
    checker registered, required checks cannot pass.
    """
    branch = Branch.objects.filter(repo=repo, name=pr.base_branch).first()
    required = list(branch.required_checks) if branch is not None and branch.is_protected else []
    if not required:
        return True, ""
    if not STATUS_CHECKERS:
        return False, f"Required checks have not run: {', '.join(required)}."
    for checker in STATUS_CHECKERS:
        ok, reason = checker(repo, pr, required)
        if not ok:
            return False, reason or "Required checks have not passed."
    return True, ""


def pull_request_create(*, repo: Repository, actor: User | None, title: str, head_branch: str,
                        base_branch: str | None = None, description: str = "", author_type: str = "user",
                        run_id: str | None = None) -> PullRequest:
    """Open a pull request from `head_branch` into `base_branch` (default: the default branch).

    Numbers are per repository, starting at 1. 409 if an open PR already joins the same branches.
    """
    title = (title or "").strip()
    if not title:
        raise _field_error("title", "This field is required.")
    base_branch = base_branch or repo.default_branch
    if author_type not in PullRequest.AuthorType.values:
        raise _field_error("author_type", "Must be user or agent.")
    if head_branch == base_branch:
        raise _field_error("head_branch", "The head and base branches must differ.")
    if git.resolve_ref(repo, f"refs/heads/{head_branch}") is None:
        raise _field_error("head_branch", f"Branch '{head_branch}' does not exist.")
    if git.resolve_ref(repo, f"refs/heads/{base_branch}") is None:
        raise _field_error("base_branch", f"Branch '{base_branch}' does not exist.")
    with transaction.atomic():
        if PullRequest.objects.filter(repo=repo, head_branch=head_branch, base_branch=base_branch,
                                      status=PullRequest.Status.OPEN).exists():
            raise Conflict("An open pull request already exists for these branches.")
        Repository.objects.filter(pk=repo.pk).update(pr_counter=F("pr_counter") + 1)
        number = Repository.objects.values_list("pr_counter", flat=True).get(pk=repo.pk)
        pr = PullRequest.objects.create(
            repo=repo, number=number, title=title[:300], description=description or "", head_branch=head_branch,
            base_branch=base_branch, author_type=author_type,
            author=actor if actor is not None and actor.is_authenticated else None, run_id=run_id or "",
        )
        _pr_changed(pr, "opened", actor)
        return pr


def _pr_changed(pr: PullRequest, action: str, actor: User | None) -> None:
    """Tell subscribers (workflows' pull_request trigger) once the change is committed."""
    from takos.hooks import pull_request_changed

    who = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    transaction.on_commit(lambda: pull_request_changed.send(sender=PullRequest, pr=pr, action=action, actor=who))


def pull_request_update(*, pr: PullRequest, data: dict[str, Any], actor: User | None = None) -> PullRequest:
    if pr.status == PullRequest.Status.MERGED and data:
        raise Conflict("A merged pull request cannot be changed.")
    fields = []
    for name in ("title", "description"):
        if name in data:
            setattr(pr, name, data[name] or "")
            fields.append(name)
    if "base_branch" in data and data["base_branch"] != pr.base_branch:
        if git.resolve_ref(pr.repo, f"refs/heads/{data['base_branch']}") is None:
            raise _field_error("base_branch", "Branch does not exist.")
        pr.base_branch = data["base_branch"]
        fields.append("base_branch")
    if "status" in data and data["status"] != pr.status:
        if data["status"] == PullRequest.Status.CLOSED:
            pr.status, pr.closed_at = PullRequest.Status.CLOSED, timezone.now()
        elif data["status"] == PullRequest.Status.OPEN:
            pr.status, pr.closed_at = PullRequest.Status.OPEN, None
        else:
            raise _field_error("status", "Use the merge endpoint to merge.")
        fields += ["status", "closed_at"]
    if fields:
        pr.save(update_fields=[*fields, "updated_at"])
        if "status" in fields:
            _pr_changed(pr, "closed" if pr.status == PullRequest.Status.CLOSED else "reopened", actor)
        else:
            _pr_changed(pr, "edited", actor)
    return pr


def pull_request_close(*, pr: PullRequest) -> PullRequest:
    if pr.status == PullRequest.Status.MERGED:
        raise Conflict("The pull request is already merged.")
    return pull_request_update(pr=pr, data={"status": PullRequest.Status.CLOSED})


def comment_create(*, pr: PullRequest, actor: User | None, content: str, file_path: str = "",
                   line_number: int | None = None, author_type: str = "user") -> PullRequestComment:
    if not (content or "").strip():
        raise _field_error("content", "This field is required.")
    return PullRequestComment.objects.create(pr=pr, author=actor, author_type=author_type, content=content,
                                             file_path=file_path or "", line_number=line_number)


def review_create(*, pr: PullRequest, actor: User | None, status: str, body: str = "",
                  reviewer_type: str = "user", analysis: str = "") -> PullRequestReview:
    if status not in PullRequestReview.Status.values:
        raise _field_error("status", "Must be approved, changes_requested or commented.")
    return PullRequestReview.objects.create(pr=pr, reviewer=actor, reviewer_type=reviewer_type, status=status,
                                            body=body or "", analysis=analysis or "")


def pull_request_conflicts(*, pr: PullRequest) -> dict[str, Any]:
    """Would the PR merge cleanly? {mergeable, conflicts: [paths], base_sha, head_sha}."""
    repo = pr.repo
    base = git.resolve_ref(repo, f"refs/heads/{pr.base_branch}")
    head = git.resolve_ref(repo, f"refs/heads/{pr.head_branch}")
    if base is None or head is None:
        return {"mergeable": False, "conflicts": [], "base_sha": base, "head_sha": head,
                "reason": "A branch of this pull request no longer exists."}
    _, conflicts = git.merge_trees(repo, base, head)
    return {"mergeable": not conflicts, "conflicts": conflicts, "base_sha": base, "head_sha": head}


MERGE_METHODS = ("merge", "squash", "rebase")


def pull_request_merge(*, pr: PullRequest, actor: User, merge_method: str = "merge",
                       commit_message: str | None = None) -> PullRequest:
    """Merge `pr` into its base branch with merge | squash | rebase.

    A conflict raises 409 with `details.conflicts` (the paths) and changes nothing; the
    base branch moves by compare-and-set under the repository's push lock.
    """
    if merge_method not in MERGE_METHODS:
        raise _field_error("merge_method", "Must be merge, squash or rebase.")
    if pr.status != PullRequest.Status.OPEN:
        raise Conflict(f"The pull request is {pr.status}.")
    repo = pr.repo
    ok, reason = required_checks_passed(repo, pr)
    if not ok:
        raise Conflict(reason, details={"reason": "required_checks"})
    base_ref = f"refs/heads/{pr.base_branch}"
    name, email = actor.name, actor.email
    with git.push_lock(repo):
        base = git.resolve_ref(repo, base_ref)
        head = git.resolve_ref(repo, f"refs/heads/{pr.head_branch}")
        if base is None or head is None:
            raise Conflict("A branch of this pull request no longer exists.")
        if git.is_ancestor(repo, head, base):
            raise Conflict("Nothing to merge: the base branch already contains the head branch.")
        try:
            if merge_method == "rebase":
                new = git.rebase_commits(repo, onto=base, head=head, committer_name=name, committer_email=email)
            else:
                tree, conflicts = git.merge_trees(repo, base, head)
                if tree is None:
                    raise git.MergeConflict(conflicts)
                if merge_method == "merge":
                    message = commit_message or (
                        f"Merge pull request #{pr.number} from {pr.head_branch}\n\n{pr.title}")
                    parents = [base, head]
                else:
                    subjects = [c["message"].splitlines()[0] for c in git.log(repo, head, exclude=[base], limit=100)
                                if c["message"]]
                    message = commit_message or (
                        f"{pr.title} (#{pr.number})\n\n" + "\n".join(f"* {s}" for s in reversed(subjects)))
                    parents = [base]
                new = git.commit_tree(repo, tree=tree, parents=parents, message=message,
                                      author_name=name, author_email=email)
        except git.MergeConflict as exc:
            raise Conflict("The pull request has merge conflicts.", details={"conflicts": exc.paths}) from None
        try:
            git.update_ref(repo, base_ref, new, base)
        except git.RefConflict:
            raise Conflict("The base branch moved during the merge; try again.") from None
    with transaction.atomic():
        record_push(repo=repo, pusher=actor, ref_updates=[(base_ref, base, new)], via=Push.Via.MERGE)
        pr.status, pr.merged_at, pr.merged_by = PullRequest.Status.MERGED, timezone.now(), actor
        pr.merge_commit_sha, pr.merge_method = new, merge_method
        pr.save(update_fields=["status", "merged_at", "merged_by", "merge_commit_sha", "merge_method", "updated_at"])
    return pr


# --- releases -------------------------------------------------------------------------

BUNDLE_FORMATS = {".takopack": "takopack", ".zip": "zip", ".tgz": "tgz", ".tar.gz": "tgz", ".json": "json"}


def release_create(*, repo: Repository, actor: User | None, tag: str, name: str = "", description: str = "",
                   commit_sha: str | None = None, is_prerelease: bool = False, is_draft: bool = False) -> Release:
    """Create a release; the tag is created (lightweight) at `commit_sha` or the default branch if missing."""
    if not git.valid_ref_name(tag) or "/" in tag:
        raise _field_error("tag", "Invalid tag name.")
    if Release.objects.filter(repo=repo, tag=tag).exists():
        raise Conflict("A release for that tag already exists.")
    tag_ref = f"refs/tags/{tag}"
    existing = git.resolve_ref(repo, tag_ref)
    if existing is None:
        target = git.resolve_ref(repo, commit_sha or repo.default_branch)
        if target is None:
            raise _field_error("commit_sha", "Unknown commit; push some code first.")
        try:
            with git.push_lock(repo):
                git.update_ref(repo, tag_ref, target, git.ZERO_SHA)
        except git.RefConflict:
            raise Conflict("The tag was created concurrently; try again.") from None
        record_push(repo=repo, pusher=actor, ref_updates=[(tag_ref, git.ZERO_SHA, target)], via=Push.Via.API)
        existing = target
    elif commit_sha and git.resolve_ref(repo, commit_sha) != existing:
        raise Conflict("The tag already exists at another commit.")
    try:
        with transaction.atomic():
            return Release.objects.create(
                repo=repo, tag=tag, name=name or tag, description=description or "", commit_sha=existing,
                is_prerelease=is_prerelease, is_draft=is_draft,
                author=actor if actor is not None and actor.is_authenticated else None,
                published_at=None if is_draft else timezone.now(),
            )
    except IntegrityError:
        raise Conflict("A release for that tag already exists.") from None


def release_update(*, release: Release, data: dict[str, Any]) -> Release:
    fields = [f for f in ("name", "description", "is_prerelease", "is_draft") if f in data]
    for f in fields:
        setattr(release, f, data[f])
    if "is_draft" in data:
        release.published_at = None if data["is_draft"] else (release.published_at or timezone.now())
        fields.append("published_at")
    if fields:
        release.save(update_fields=[*fields, "updated_at"])
    return release


def release_delete(*, release: Release) -> None:
    keys = list(release.assets.values_list("asset_key", flat=True))
    with transaction.atomic():
        release.delete()
        transaction.on_commit(lambda: [default_storage.delete(k) for k in keys])


def _bundle_format(filename: str) -> str:
    lower = filename.lower()
    return next((fmt for ext, fmt in BUNDLE_FORMATS.items() if lower.endswith(ext)), "")


def asset_upload(*, release: Release, upload: UploadedFile, name: str | None = None) -> ReleaseAsset:
    """Store an uploaded file in default storage (streamed in chunks) and attach it to `release`."""
    from django.core.files.base import File

    filename = (name or upload.name or "asset").replace("/", "_").replace("\\", "_").strip() or "asset"
    if release.assets.filter(name=filename).exists():
        raise Conflict("An asset with that name already exists on this release.")
    asset = ReleaseAsset(release=release, name=filename)
    key = f"release-assets/{release.repo_id}/{release.id}/{asset.id}/{filename}"
    sha = hashlib.sha256()
    size = 0
    upload.seek(0)
    for chunk in upload.chunks():
        sha.update(chunk)
        size += len(chunk)
    upload.seek(0)
    stored_key = default_storage.save(key, File(upload, name=filename))
    asset.asset_key = stored_key
    asset.size_bytes = size
    asset.checksum_sha256 = sha.hexdigest()
    asset.content_type = (upload.content_type if upload.content_type not in (None, "", "application/octet-stream")
                          else mimetypes.guess_type(filename)[0]) or "application/octet-stream"
    asset.bundle_format = _bundle_format(filename)
    try:
        asset.save()
    except Exception:
        default_storage.delete(stored_key)
        raise
    return asset


def asset_delete(*, asset: ReleaseAsset) -> None:
    key = asset.asset_key
    with transaction.atomic():
        asset.delete()
        transaction.on_commit(lambda: default_storage.delete(key))


def asset_count_download(*, asset: ReleaseAsset) -> None:
    ReleaseAsset.objects.filter(pk=asset.pk).update(download_count=F("download_count") + 1)
    Release.objects.filter(pk=asset.release_id).update(downloads=F("downloads") + 1)

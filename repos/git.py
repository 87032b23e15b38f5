"""Thin wrapper over the `git` binary for bare repositories.

Everything here works on `repo.git_dir` (a bare repository) and never needs a work tree,
except `archive` (which writes one into a folder the caller owns) and rebase merges (which
use a throw-away worktree). Callers pass a Repository or a path to a git dir.

Stable API used by other apps (workflows, agents, deployments):
    resolve_ref(repo, ref) -> sha | None
    read_blob(repo, ref, path) -> bytes | None
    list_tree(repo, ref, path="") -> list[dict]
    commit_files(repo, *, branch, files, message, author_name, author_email, parent_sha=None) -> sha
    archive(repo, sha, dest_dir)
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings

ZERO_SHA = "0" * 40
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
# Branch/tag names: what `git check-ref-format --branch` accepts, minus the exotic bits.
_REF_NAME_RE = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)(?!.*\.lock(?:/|$))[A-Za-z0-9._/+@-]{1,255}(?<!/)(?<!\.)$")


class GitError(Exception):
    """git failed in a way the caller did not expect (stderr in the message)."""


class RefConflict(GitError):
    """A compare-and-set ref update lost the race: the ref is not at the expected sha."""


class MergeConflict(GitError):
    def __init__(self, paths: list[str]):
        super().__init__("merge conflict in: " + ", ".join(paths))
        self.paths = paths


def git_dir_of(repo: Any) -> Path:
    return repo if isinstance(repo, Path) else Path(repo.git_dir)


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: no inherited GIT_* variables, no user or system config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
        "HOME": str(Path(settings.TAKOS_GIT_ROOT)),
    })
    if extra:
        env.update(extra)
    return env


def run(repo: Any, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
        check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Run `git --git-dir=<repo> args...` and return the completed process (bytes)."""
    cmd = ["git", f"--git-dir={git_dir_of(repo)}", *args]
    proc = subprocess.run(cmd, input=input, capture_output=True, env=git_env(env), timeout=timeout)
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:3])} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc


def valid_ref_name(name: str) -> bool:
    return bool(name) and bool(_REF_NAME_RE.match(name)) and not name.startswith("-")


def clean_path(path: str) -> str | None:
    """Normalise a repository path; None if it tries to leave the tree (.., absolute, NUL)."""
    path = (path or "").strip("/")
    if not path:
        return ""
    if "\0" in path or "\\" in path:
        return None
    parts = path.split("/")
    if any(p in ("..", ".", "") for p in parts) or parts[0].lower() == ".git":
        return None
    return "/".join(parts)


# --- repository lifecycle -------------------------------------------------------------

HOOKS_DIR_NAME = ".takos-hooks"
PRE_RECEIVE = """#!/bin/sh
# Takos pre-receive (installed by repos.git.ensure_hooks). Only branches and tags can be
# pushed; protected refs (TAKOS_PROTECTED_REFS, space separated) refuse deletion and
# non-fast-forward updates.
zero=0000000000000000000000000000000000000000
status=0
while read old new ref; do
  case "$ref" in
    refs/heads/*|refs/tags/*) ;;
    *) echo "takos: only branches and tags can be pushed ($ref refused)"; status=1; continue;;
  esac
  case " $TAKOS_PROTECTED_REFS " in
    *" $ref "*) ;;
    *) continue;;
  esac
  if [ "$new" = "$zero" ]; then
    echo "takos: $ref is protected and cannot be deleted"; status=1; continue
  fi
  if [ "$old" != "$zero" ] && ! git merge-base --is-ancestor "$old" "$new"; then
    echo "takos: $ref is protected: force push (non-fast-forward) is not allowed"; status=1
  fi
done
exit $status
"""


def hooks_dir() -> Path:
    """Shared hooks folder passed as core.hooksPath to receive-pack (written on first use)."""
    path = Path(settings.TAKOS_GIT_ROOT) / HOOKS_DIR_NAME
    hook = path / "pre-receive"
    if not hook.exists() or hook.read_text() != PRE_RECEIVE:
        path.mkdir(parents=True, exist_ok=True)
        tmp = path / f"pre-receive.{os.getpid()}.tmp"
        tmp.write_text(PRE_RECEIVE)
        tmp.chmod(0o755)
        tmp.replace(hook)
    return path


def init_bare(path: Path, *, default_branch: str = "main") -> None:
    """Create a bare repository in git's own layout (idempotent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(path)],
                   check=True, capture_output=True, env=git_env())
    for key, value in (
        ("receive.fsckObjects", "true"),
        ("receive.denyDeleteCurrent", "false"),
        ("uploadpack.allowFilter", "true"),
        ("uploadpack.allowReachableSHA1InWant", "true"),
        ("core.logAllRefUpdates", "true"),
        ("gc.auto", "0"),  # repacking is done explicitly, never inside a request
    ):
        run(path, "config", key, value)


def set_head(repo: Any, branch: str) -> None:
    run(repo, "symbolic-ref", "HEAD", f"refs/heads/{branch}")


def remove_repo(path: Path) -> None:
    with _idle_lock:
        stale = _idle.pop(str(path), [])
    for opened in stale:
        opened.close()
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def push_lock(repo: Any, *, timeout: float = 60) -> Iterator[None]:
    """Per-repository exclusive lock (flock on a file in the git dir) for ref-changing work.

    Held by smart-HTTP receive-pack, API commits and merges, so they run one at a time per
    repository across processes on the same filesystem.
    """
    path = git_dir_of(repo) / "takos-push.lock"
    with open(path, "a+b") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GitError("timed out waiting for the repository push lock") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# --- refs -----------------------------------------------------------------------------


_SIMPLE_REF_RE = re.compile(r"^[A-Za-z0-9._/+-]+$")


_CACHE_SIZE = 32  # repositories kept open per process
_IDLE_PER_REPO = 4  # open instances kept per repository (one per concurrent reader)
_idle: OrderedDict[str, list[Any]] = OrderedDict()
_idle_lock = threading.Lock()


class _Borrowed:
    """Context manager around a pooled dulwich Repo: returned to the pool on exit, not closed."""

    def __init__(self, path: str, repo: Any):
        self.path = path
        self.repo = repo

    def __enter__(self) -> Any:
        return self.repo

    def __exit__(self, *exc: object) -> None:
        _give_back(self.path, self.repo)


def _give_back(path: str, repo: Any) -> None:
    evicted: list[Any] = []
    with _idle_lock:
        idle = _idle.setdefault(path, [])
        _idle.move_to_end(path)
        if len(idle) < _IDLE_PER_REPO:
            idle.append(repo)
        else:
            evicted.append(repo)
        while len(_idle) > _CACHE_SIZE:
            evicted.extend(_idle.popitem(last=False)[1])
    for old in evicted:
        old.close()


def _dulwich(repo: Any) -> _Borrowed:
    """The bare repository opened with dulwich, for in-process reads (no fork per lookup).

    Open instances are pooled per process, not per thread: under ASGI every request runs on a
    new thread, and a per-thread cache reloaded the pack indexes on every request (measured
    50-100 ms per tree/blob call on a 5,000-commit repository). A dulwich Repo is used by one
    thread at a time (borrowed, then given back). dulwich re-scans the pack folder when an
    object is missing, and refs are read from disk on every lookup, so new pushes are seen.
    """
    from dulwich.repo import Repo as DulwichRepo

    path = str(git_dir_of(repo))
    with _idle_lock:
        idle = _idle.get(path)
        opened = idle.pop() if idle else None
    if opened is None or not os.path.isdir(path):
        opened = DulwichRepo(path, bare=True)
    return _Borrowed(path, opened)


def _peel_to_commit(store: Any, sha: bytes) -> str | None:
    from dulwich.objects import Commit, Tag

    try:
        obj = store[sha]
        while isinstance(obj, Tag):
            obj = store[obj.object[1]]
    except KeyError:
        return None
    return obj.id.decode() if isinstance(obj, Commit) else None


def resolve_ref(repo: Any, ref: str) -> str | None:
    """The commit sha a branch, tag, sha or HEAD points to, or None.

    Plain names and full shas are looked up in-process (dulwich); anything else git
    understands (short shas, `main~2`, `v1^{}`) goes to `git rev-parse`.
    """
    if not ref or ref.startswith("-") or "\0" in ref or ":" in ref:
        return None
    if SHA_RE.match(ref) or ref == "HEAD" or _SIMPLE_REF_RE.match(ref):
        try:
            borrowed = _dulwich(repo)
        except Exception:
            return None
        with borrowed as r:
            if SHA_RE.match(ref):
                found = _peel_to_commit(r.object_store, ref.encode())
                if found:
                    return found
            else:
                names = [ref] if ref == "HEAD" or ref.startswith("refs/") else [
                    f"refs/heads/{ref}", f"refs/tags/{ref}", ref]
                for name in names:
                    try:
                        sha = r.refs[name.encode()]
                    except KeyError:
                        continue
                    found = _peel_to_commit(r.object_store, sha)
                    if found:
                        return found
        # Full names that dulwich did not find do not exist; short hex may be an abbreviated sha.
        if not re.match(r"^[0-9a-f]{4,39}$", ref):
            return None
    proc = run(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def ref_names(repo: Any) -> set[str]:
    """Short names of all branches and tags (in-process)."""
    with _dulwich(repo) as r:
        return {k.decode(errors="replace").split("/", 2)[2] for k in r.refs.allkeys()
                if k.startswith((b"refs/heads/", b"refs/tags/"))}


def list_refs(repo: Any) -> dict[str, str]:
    """{"refs/heads/main": sha, "refs/tags/v1": sha (peeled to the commit), ...}."""
    proc = run(repo, "for-each-ref", "--format=%(refname) %(objectname) %(*objectname)", check=False)
    refs: dict[str, str] = {}
    for line in proc.stdout.decode().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            refs[parts[0]] = parts[2] if len(parts) > 2 and parts[2] else parts[1]
    return refs


def raw_refs(repo: Any) -> dict[str, str]:
    """Refs to their own object ids (not peeled): what receive-pack compares against."""
    proc = run(repo, "for-each-ref", "--format=%(refname) %(objectname)", check=False)
    return dict(line.split(" ", 1) for line in proc.stdout.decode().splitlines() if " " in line)


def update_ref(repo: Any, ref: str, new: str, old: str | None) -> None:
    """Compare-and-set: move `ref` to `new` only if it is at `old` (ZERO_SHA = must not exist)."""
    args = ["update-ref", "-m", "takos", ref, new]
    if old is not None:
        args.append(old)
    proc = run(repo, *args, check=False)
    if proc.returncode != 0:
        raise RefConflict(proc.stderr.decode(errors="replace").strip())


def delete_ref(repo: Any, ref: str, old: str | None = None) -> None:
    args = ["update-ref", "-d", ref] + ([old] if old else [])
    proc = run(repo, *args, check=False)
    if proc.returncode != 0:
        raise RefConflict(proc.stderr.decode(errors="replace").strip())


def is_ancestor(repo: Any, ancestor: str, descendant: str) -> bool:
    return run(repo, "merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0


def merge_base(repo: Any, a: str, b: str) -> str | None:
    proc = run(repo, "merge-base", a, b, check=False)
    return proc.stdout.decode().strip() or None


# --- objects --------------------------------------------------------------------------


def _treeish(ref_sha: str, path: str) -> str:
    return f"{ref_sha}:{path}" if path else f"{ref_sha}^{{tree}}"


def tree_entry(repo: Any, ref: str, path: str) -> dict[str, Any] | None:
    """Type/sha/mode/size of `path` at `ref` (root = a tree entry with path ""), or None.

    Walks the trees in-process; `size` is filled for blobs only.
    """
    import stat

    path_c = clean_path(path)
    sha = resolve_ref(repo, ref)
    if path_c is None or sha is None:
        return None
    with _dulwich(repo) as r:
        store = r.object_store
        tree_sha = store[sha.encode()].tree
        mode, obj_sha = stat.S_IFDIR, tree_sha
        try:
            for part in path_c.split("/") if path_c else []:
                tree = store[obj_sha]
                if not stat.S_ISDIR(mode):
                    return None
                mode, obj_sha = tree[part.encode(errors="surrogateescape")]
        except KeyError:
            return None
        if stat.S_ISDIR(mode):
            otype, size = "tree", None
        elif stat.S_ISLNK(mode) or stat.S_ISREG(mode):
            otype, size = "blob", _object_size(store, obj_sha)
        else:
            otype, size = "commit", None  # submodule
    return {"name": path_c.rsplit("/", 1)[-1], "path": path_c, "type": otype, "sha": obj_sha.decode(),
            "mode": f"{mode:06o}", "size": size, "commit": sha}


def _parse_ls_tree(out: bytes, *, prefix: str) -> list[dict[str, Any]]:
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, name_b = record.partition(b"\t")
        mode, otype, sha, size = meta.decode().split(maxsplit=3)
        name = name_b.decode(errors="surrogateescape")
        full = name if not prefix else f"{prefix}/{name}"
        entries.append({
            "name": full.rsplit("/", 1)[-1],
            "path": full,
            "type": "commit" if otype == "commit" else otype,  # submodules show as commit
            "size": int(size) if size.strip() != "-" else None,
            "mode": mode,
            "sha": sha,
        })
    return entries


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _object_size(store: Any, sha: bytes) -> int:
    """An object's size without resolving delta chains (what `git ls-tree -l` reads).

    A packed delta starts with two varints, the base size and the result size; reading the
    delta itself is cheap, rebuilding the object through its chain is not.
    """
    from dulwich.pack import DELTA_TYPES

    for pack in store.packs:
        if sha in pack:
            obj = pack.get_unpacked_object(sha)
            if obj.pack_type_num in DELTA_TYPES:
                data = b"".join(obj.decomp_chunks)
                _, pos = _varint(data, 0)
                return _varint(data, pos)[0]
            return obj.decomp_len
    return len(store[sha].as_raw_string())


# Above this many entries a folder is listed by `git ls-tree -l` (one fork) instead of reading
# every blob in-process to learn its size.
_INPROCESS_TREE_LIMIT = 300


def list_tree(repo: Any, ref: str, path: str = "") -> list[dict[str, Any]]:
    """Entries directly under `path` at `ref`: dicts with name, path, type (blob|tree), size, mode, sha.

    Returns [] when the ref or path does not exist or is not a folder. Trees first, then by name.
    """
    entry = tree_entry(repo, ref, path)
    if entry is None or entry["type"] != "tree":
        return []
    return tree_entries(repo, entry["sha"], entry["path"])


# Listings by tree sha: a tree object never changes, so a listing is cached with no invalidation.
_listings: OrderedDict[tuple[str, str, str], list[dict[str, Any]]] = OrderedDict()
_LISTINGS_MAX = 512


def tree_entries(repo: Any, tree_sha: str, prefix: str) -> list[dict[str, Any]]:
    """The entries of the tree object `tree_sha` (found at `prefix`), sorted trees first, then by name."""
    key = (str(git_dir_of(repo)), tree_sha, prefix)
    with _idle_lock:
        cached = _listings.get(key)
        if cached is not None:
            _listings.move_to_end(key)
    if cached is not None:
        return [dict(e) for e in cached]
    entries = _read_tree_entries(repo, tree_sha, prefix)
    with _idle_lock:
        _listings[key] = entries
        while len(_listings) > _LISTINGS_MAX:
            _listings.popitem(last=False)
    return [dict(e) for e in entries]


def _read_tree_entries(repo: Any, tree_sha: str, prefix: str) -> list[dict[str, Any]]:
    import stat

    entries: list[dict[str, Any]] = []
    with _dulwich(repo) as r:
        store = r.object_store
        tree = store[tree_sha.encode()]
        items = list(tree.iteritems())
        if len(items) > _INPROCESS_TREE_LIMIT:
            proc = run(repo, "ls-tree", "-l", "-z", tree_sha, check=False)
            entries = _parse_ls_tree(proc.stdout, prefix=prefix) if proc.returncode == 0 else []
        else:
            for item in items:
                name = item.path.decode(errors="surrogateescape")
                mode = item.mode
                if stat.S_ISDIR(mode):
                    otype, size = "tree", None
                elif stat.S_ISREG(mode) or stat.S_ISLNK(mode):
                    otype, size = "blob", _object_size(store, item.sha)
                else:
                    otype, size = "commit", None
                entries.append({"name": name, "path": f"{prefix}/{name}" if prefix else name, "type": otype,
                                "size": size, "mode": f"{mode:06o}", "sha": item.sha.decode()})
    entries.sort(key=lambda e: (e["type"] != "tree", e["name"].lower()))
    return entries


def list_files(repo: Any, ref: str) -> list[str]:
    sha = resolve_ref(repo, ref)
    if sha is None:
        return []
    out = run(repo, "ls-tree", "-r", "-z", "--name-only", sha).stdout
    return [p.decode(errors="surrogateescape") for p in out.split(b"\0") if p]


def read_blob(repo: Any, ref: str, path: str) -> bytes | None:
    """The bytes of the file `path` at `ref`, or None (missing ref, missing path, or a folder)."""
    entry = tree_entry(repo, ref, path)
    if entry is None or entry["type"] != "blob" or not entry["path"]:
        return None
    return read_object(repo, entry["sha"])


def read_object(repo: Any, sha: str) -> bytes:
    """A blob's bytes by sha (in-process)."""
    with _dulwich(repo) as r:
        return r.object_store[sha.encode()].as_raw_string()


def is_empty(repo: Any) -> bool:
    return not list_refs(repo)


# --- commits --------------------------------------------------------------------------

_LOG_FORMAT = "%H%x1f%T%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B%x1e"


def _parse_log(out: bytes) -> list[dict[str, Any]]:
    commits = []
    for record in out.decode(errors="replace").split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        f = record.split("\x1f")
        if len(f) < 10:
            continue
        commits.append({
            "sha": f[0], "tree_sha": f[1], "parent_shas": f[2].split() if f[2] else [],
            "author_name": f[3], "author_email": f[4], "author_date": f[5],
            "committer_name": f[6], "committer_email": f[7], "commit_date": f[8],
            "message": f[9].rstrip("\n"),
        })
    return commits


def log(repo: Any, ref: str, *, path: str = "", skip: int = 0, limit: int = 30,
        exclude: list[str] | None = None) -> list[dict[str, Any]]:
    """Commits reachable from `ref` (newest first), optionally touching `path`."""
    sha = resolve_ref(repo, ref)
    path_c = clean_path(path)
    if sha is None or path_c is None:
        return []
    args = ["log", f"--format={_LOG_FORMAT}", f"--skip={skip}", f"-n{limit}", sha]
    for ex in exclude or []:
        args.append(f"^{ex}")
    if path_c:
        args += ["--", path_c]
    return _parse_log(run(repo, *args).stdout)


def new_commits(repo: Any, tips: list[str], known: list[str]) -> list[dict[str, Any]]:
    """Commits reachable from `tips` but not from `known` (for the commit index)."""
    if not tips:
        return []
    args = ["log", f"--format={_LOG_FORMAT}", *tips]
    if known:
        args += ["--not", *known]
    return _parse_log(run(repo, *args, timeout=600).stdout)


def count_new_commits(repo: Any, tips: list[str], known: list[str]) -> int:
    tips = [t for t in tips if t and t != ZERO_SHA]
    if not tips:
        return 0
    args = ["rev-list", "--count", *tips]
    known = [k for k in known if k and k != ZERO_SHA]
    if known:
        args += ["--not", *known]
    return int(run(repo, *args, timeout=600).stdout.decode().strip() or 0)


def commit_info(repo: Any, sha: str) -> dict[str, Any] | None:
    proc = run(repo, "log", "-n1", f"--format={_LOG_FORMAT}", sha, "--", check=False)
    items = _parse_log(proc.stdout) if proc.returncode == 0 else []
    return items[0] if items else None


def commit_tree(repo: Any, *, tree: str, parents: list[str], message: str, author_name: str,
                author_email: str, committer_name: str | None = None, committer_email: str | None = None,
                author_date: str | None = None) -> str:
    env = {
        "GIT_AUTHOR_NAME": author_name or "Takos", "GIT_AUTHOR_EMAIL": author_email or "noreply@takos.local",
        "GIT_COMMITTER_NAME": committer_name or author_name or "Takos",
        "GIT_COMMITTER_EMAIL": committer_email or author_email or "noreply@takos.local",
    }
    if author_date:
        env["GIT_AUTHOR_DATE"] = author_date
    args = ["commit-tree", tree]
    for p in parents:
        args += ["-p", p]
    proc = run(repo, *args, input=message.encode(), env=env)
    return proc.stdout.decode().strip()


def commit_files(repo: Any, *, branch: str, files: dict[str, bytes | None], message: str, author_name: str,
                 author_email: str, parent_sha: str | None = None) -> str:
    """Write one commit that changes `files` on `branch` and move the branch (compare-and-set).

    `files` maps a path to its new bytes, or to None to delete it. `parent_sha`, when given,
    must be the branch's current head (else RefConflict); when omitted the current head is
    used. A missing branch is created from the repository's default branch (or as a root
    commit in an empty repository). Returns the new commit sha. Holds the push lock; does
    NOT touch the database: use repos.services.commit_create for that (index, push log, hook).
    """
    return commit_files_with_old(repo, branch=branch, files=files, message=message, author_name=author_name,
                                 author_email=author_email, parent_sha=parent_sha)[0]


def commit_files_with_old(repo: Any, *, branch: str, files: dict[str, bytes | None], message: str,
                          author_name: str, author_email: str, parent_sha: str | None = None) -> tuple[str, str]:
    """commit_files, also returning the branch's previous sha (ZERO_SHA when it was created)."""
    if not valid_ref_name(branch):
        raise GitError(f"invalid branch name: {branch}")
    clean: dict[str, bytes | None] = {}
    for path, content in files.items():
        path_c = clean_path(path)
        if not path_c:
            raise GitError(f"invalid path: {path!r}")
        clean[path_c] = content
    ref = f"refs/heads/{branch}"
    with push_lock(repo):
        current = resolve_ref(repo, ref)
        if parent_sha is not None and current is not None and parent_sha != current:
            raise RefConflict(f"{branch} is at {current}, not {parent_sha}")
        base = current
        if base is None:
            base = parent_sha or _default_head(repo)
        with tempfile.TemporaryDirectory(prefix="takos-idx-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base:
                run(repo, "read-tree", base, env=env)
            else:
                run(repo, "read-tree", "--empty", env=env)
            lines = []
            from dulwich.objects import Blob

            with _dulwich(repo) as r:
                for path, content in clean.items():
                    if content is None:
                        lines.append(f"0 {ZERO_SHA}\t{path}")
                    else:
                        # Written as loose objects in-process: one fork per file would dominate big commits.
                        blob = Blob.from_string(content)
                        r.object_store.add_object(blob)
                        lines.append(f"100644 {blob.id.decode()}\t{path}")
            if lines:
                run(repo, "update-index", "--index-info", input=("\n".join(lines) + "\n").encode(), env=env)
            tree = run(repo, "write-tree", env=env).stdout.decode().strip()
        new = commit_tree(repo, tree=tree, parents=[base] if base else [], message=message,
                          author_name=author_name, author_email=author_email)
        update_ref(repo, ref, new, current or ZERO_SHA)
    return new, current or ZERO_SHA


def _default_head(repo: Any) -> str | None:
    proc = run(repo, "symbolic-ref", "-q", "HEAD", check=False)
    head_ref = proc.stdout.decode().strip()
    return resolve_ref(repo, head_ref) if head_ref else None


def archive(repo: Any, sha: str, dest_dir: str | Path) -> Path:
    """Export the tree of commit `sha` into `dest_dir` (created if needed); returns the folder.

    Used to check out code for workflow jobs and deployments: no .git folder is written.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    commit = resolve_ref(repo, sha)
    if commit is None:
        raise GitError(f"unknown commit {sha}")
    proc = subprocess.Popen(["git", f"--git-dir={git_dir_of(repo)}", "archive", "--format=tar", commit],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=git_env())
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        tar.extractall(dest, filter="data")
    if proc.wait() != 0:
        raise GitError(f"git archive failed: {proc.stderr.read().decode(errors='replace') if proc.stderr else ''}")
    return dest


def archive_stream(repo: Any, sha: str, fmt: str = "tar.gz", chunk: int = 64 * 1024) -> Iterator[bytes]:
    """`git archive` output in chunks (the process is killed if the reader stops early)."""
    proc = subprocess.Popen(["git", f"--git-dir={git_dir_of(repo)}", "archive", f"--format={fmt}", sha],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=git_env())
    assert proc.stdout is not None
    try:
        while data := proc.stdout.read(chunk):
            yield data
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


# --- diff, blame, grep ----------------------------------------------------------------

MAX_DIFF_FILES = 200
MAX_DIFF_LINES = 2000


def diff(repo: Any, base: str, head: str, *, three_dot: bool = True, path: str = "") -> dict[str, Any]:
    """Files changed between two commits (base...head compares from their merge base).

    Capped like the spec: at most 200 files and 2000 patch lines; `truncated` says so.
    """
    if three_dot:
        base = merge_base(repo, base, head) or base
    numstat = run(repo, "diff", "--numstat", "-z", "-M", base, head, *(["--", path] if path else [])).stdout
    status = run(repo, "diff", "--name-status", "-z", "-M", base, head, *(["--", path] if path else [])).stdout
    statuses: list[tuple[str, str, str | None]] = []
    parts = status.decode(errors="surrogateescape").split("\0")
    i = 0
    while i < len(parts) - 1:
        code = parts[i]
        if code.startswith(("R", "C")):
            statuses.append((code[0], parts[i + 2], parts[i + 1]))
            i += 3
        else:
            statuses.append((code[0], parts[i + 1], None))
            i += 2
    stats: dict[str, tuple[int | None, int | None]] = {}
    nparts = numstat.decode(errors="surrogateescape").split("\0")
    j = 0
    while j < len(nparts):
        rec = nparts[j]
        if not rec:
            j += 1
            continue
        add, rem, name = rec.split("\t", 2)
        if name == "":  # rename: old and new names follow
            name = nparts[j + 2]
            j += 3
        else:
            j += 1
        stats[name] = (None if add == "-" else int(add), None if rem == "-" else int(rem))
    names = {"A": "added", "D": "deleted", "M": "modified", "R": "renamed", "C": "copied", "T": "modified"}
    files = []
    total_lines = 0
    truncated = len(statuses) > MAX_DIFF_FILES
    for code, name, old in statuses[:MAX_DIFF_FILES]:
        add, rem = stats.get(name, (0, 0))
        entry: dict[str, Any] = {
            "path": name, "old_path": old, "status": names.get(code, "modified"),
            "additions": add or 0, "deletions": rem or 0, "binary": add is None, "patch": None,
        }
        if add is not None and total_lines < MAX_DIFF_LINES:
            paths = [old, name] if old else [name]
            patch = run(repo, "diff", "-M", base, head, "--", *paths).stdout.decode(errors="replace")
            lines = patch.splitlines()
            # Drop the "diff --git / index / --- / +++" header; keep hunks.
            start = next((k for k, line in enumerate(lines) if line.startswith("@@")), len(lines))
            hunk = lines[start:]
            room = MAX_DIFF_LINES - total_lines
            if len(hunk) > room:
                hunk, truncated = hunk[:room], True
            total_lines += len(hunk)
            entry["patch"] = "\n".join(hunk)
        elif add is not None:
            truncated = True
        files.append(entry)
    return {
        "base": base, "head": head, "files": files, "truncated": truncated,
        "total_files": len(statuses),
        "additions": sum(f["additions"] for f in files), "deletions": sum(f["deletions"] for f in files),
    }


def blame(repo: Any, ref: str, path: str) -> list[dict[str, Any]] | None:
    sha = resolve_ref(repo, ref)
    path_c = clean_path(path)
    if sha is None or not path_c:
        return None
    proc = run(repo, "blame", "--line-porcelain", sha, "--", path_c, check=False)
    if proc.returncode != 0:
        return None
    lines: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for raw in proc.stdout.decode(errors="replace").split("\n"):
        if raw.startswith("\t"):
            current["content"] = raw[1:]
            lines.append(current)
            current = {}
        elif SHA_RE.match(raw[:40]) and (len(raw) == 40 or raw[40] == " "):
            bits = raw.split()
            current = {"sha": bits[0], "line": int(bits[2])}
        elif raw.startswith("author "):
            current["author_name"] = raw[7:]
        elif raw.startswith("author-time "):
            current["author_date"] = datetime.fromtimestamp(int(raw[12:]), tz=UTC).isoformat()
        elif raw.startswith("summary "):
            current["summary"] = raw[8:]
    return lines


def grep(repo: Any, ref: str, pattern: str, *, limit: int = 100, ignore_case: bool = True) -> list[dict[str, Any]]:
    """Fixed-string search in the tree at `ref`: [{path, line, content}], at most `limit`."""
    sha = resolve_ref(repo, ref)
    if sha is None or not pattern:
        return []
    args = ["grep", "-n", "-I", "-F", "--full-name", "-z"]
    if ignore_case:
        args.append("-i")
    args += ["-e", pattern, sha]
    proc = run(repo, *args, check=False)
    matches = []
    for line in proc.stdout.decode(errors="replace").splitlines():
        # <sha>:<path>\0<line>\0<content>
        bits = line.split("\0")
        if len(bits) < 3:
            continue
        path = bits[0].split(":", 1)[1] if ":" in bits[0] else bits[0]
        matches.append({"path": path, "line": int(bits[1]), "content": bits[2][:500]})
        if len(matches) >= limit:
            break
    return matches


# --- merges ---------------------------------------------------------------------------


def merge_trees(repo: Any, base: str, head: str) -> tuple[str | None, list[str]]:
    """Three-way merge of two commits without a work tree: (tree sha, []) or (None, conflicting paths)."""
    proc = run(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", base, head, check=False)
    if proc.returncode not in (0, 1):
        raise GitError(proc.stderr.decode(errors="replace").strip())
    parts = [p for p in proc.stdout.decode(errors="surrogateescape").split("\0") if p]
    if proc.returncode == 0:
        return parts[0].strip(), []
    return None, sorted(set(parts[1:]))


def rebase_commits(repo: Any, *, onto: str, head: str, committer_name: str, committer_email: str) -> str:
    """Replay the commits of `head` that are not in `onto` on top of `onto`; returns the new tip.

    Uses a throw-away worktree and cherry-pick; raises MergeConflict and leaves nothing behind.
    """
    commits = run(repo, "rev-list", "--reverse", "--no-merges", head, f"^{onto}").stdout.decode().split()
    if not commits:
        return onto
    tmp = tempfile.mkdtemp(prefix="takos-rebase-")
    wt = Path(tmp) / "wt"
    env = {"GIT_COMMITTER_NAME": committer_name, "GIT_COMMITTER_EMAIL": committer_email}
    try:
        run(repo, "worktree", "add", "--detach", "--quiet", str(wt), onto)
        for commit in commits:
            proc = subprocess.run(["git", "-C", str(wt), "cherry-pick", "--allow-empty", "--keep-redundant-commits",
                                   commit], capture_output=True, env=git_env(env))
            if proc.returncode != 0:
                unmerged = subprocess.run(["git", "-C", str(wt), "diff", "--name-only", "--diff-filter=U"],
                                          capture_output=True, env=git_env()).stdout.decode().split()
                raise MergeConflict(unmerged or ["(unknown)"])
        return subprocess.run(["git", "-C", str(wt), "rev-parse", "HEAD"], capture_output=True, check=True,
                              env=git_env()).stdout.decode().strip()
    finally:
        run(repo, "worktree", "remove", "--force", str(wt), check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        run(repo, "worktree", "prune", check=False)


def fsck(repo: Any) -> tuple[bool, str]:
    proc = run(repo, "fsck", "--no-progress", check=False, timeout=600)
    return proc.returncode == 0, (proc.stdout + proc.stderr).decode(errors="replace")


def clone_bare(source: Any, dest: Path) -> None:
    """Copy a repository (objects hard-linked when on the same filesystem) for forks."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--bare", "--quiet", "--local", str(git_dir_of(source)), str(dest)],
                   check=True, capture_output=True, env=git_env())
    run(dest, "remote", "remove", "origin", check=False)


def is_binary(data: bytes) -> bool:
    if b"\0" in data[:8000]:
        return True
    try:
        data[:8000].decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 8000-byte edge is still text.
        return exc.start < 7996
    return False



def fetch_external(dest: Path, *, url: str, host: str, port: int, address: str, token: str | None = None,
                   timeout: float = 600) -> None:
    """Mirror-fetch branches and tags of an external repository into the bare repo `dest`.

    The connection is pinned to `address` (already checked by the caller's egress guard) with
    http.curloptResolve, redirects are off and only http(s) transports are allowed, so DNS
    changes or redirects cannot reach an internal address.
    """
    pin = f"{host}:{port}:[{address}]" if ":" in address else f"{host}:{port}:{address}"
    args = [
        "git", f"--git-dir={dest}",
        "-c", "protocol.allow=never", "-c", "protocol.http.allow=always", "-c", "protocol.https.allow=always",
        "-c", "http.followRedirects=false", "-c", f"http.curloptResolve={pin}",
    ]
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        args += ["-c", f"http.extraHeader=Authorization: Basic {basic}"]
    args += ["fetch", "--quiet", "--no-tags", url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
    proc = subprocess.run(args, capture_output=True, env=git_env(), timeout=timeout)
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip()
        if token:
            message = message.replace(token, "***")
        raise GitError(f"fetch from {url} failed: {message[-500:]}")

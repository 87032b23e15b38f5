"""Git smart HTTP at /git/<owner>/<repo>.git/{info/refs, git-upload-pack, git-receive-pack}.

The pack protocol is served by the `git` binary (`upload-pack` / `receive-pack
--stateless-rpc`, as Gitea and GitLab do), run as asyncio subprocesses so the web process
never holds a pack in memory: fetch output is streamed to the client chunk by chunk; the
request body (already spooled to a temporary file by Django's ASGI handler) is copied into
git's stdin in chunks.

Auth: HTTP Basic with a personal access token as the password (or Bearer). Anonymous
callers may fetch public repositories; pushing needs the editor role and the `repos:write`
scope. A missing or wrong credential gets 401 + `WWW-Authenticate: Basic` so git prompts.

Pushes: one at a time per repository (flock), refs move by receive-pack's own
compare-and-set, a pre-receive hook guards protected branches, `receive.maxInputSize`
and a byte counter cap the pack at TAKOS_GIT_MAX_PACK_BYTES.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fcntl
import logging
import re
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.models import Role, role_at_least
from auth_app.authentication import resolve_token
from repos import git, selectors, services
from repos.models import Push, Repository
from takos.api.scopes import grants

logger = logging.getLogger("takos.git")

CHUNK = 64 * 1024
SERVICES = ("git-upload-pack", "git-receive-pack")
# Git-Protocol is a colon-separated list like "version=2"; anything else is ignored.
_GIT_PROTOCOL_RE = re.compile(r"^[A-Za-z0-9_.=-]+(?::[A-Za-z0-9_.=-]+)*$")


@dataclass
class GitCaller:
    repo: Repository
    user: Any  # User or None (anonymous)


def _text(status: int, message: str, **headers: str) -> HttpResponse:
    resp = HttpResponse(message.rstrip("\n") + "\n", status=status, content_type="text/plain; charset=utf-8")
    for key, value in headers.items():
        resp[key.replace("_", "-")] = value
    return resp


def _challenge(message: str = "Authentication required.") -> HttpResponse:
    return _text(401, message, WWW_Authenticate='Basic realm="Takos"')


def _credentials(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username, _, password = decoded.partition(":")
    # The token is the password; accept it as the user name too (some tools send it there).
    return password or username or None


def authorize(request: HttpRequest, owner: str, name: str, *, write: bool) -> GitCaller | HttpResponse:
    """Who is calling and may they read (or push to) the repository? (runs in a thread)"""
    user = None
    scopes: Any = "*"
    if request.META.get("HTTP_AUTHORIZATION"):
        token = _credentials(request)
        resolved = resolve_token(token) if token else None
        if resolved is None or resolved[0] is None:
            return _challenge("Invalid credentials: use a personal access token as the password.")
        user, auth = resolved
        scopes = auth.scopes
    repo = selectors.repo_by_path(owner, name)
    if repo is None:
        return _challenge() if user is None else _text(404, "Repository not found.")
    role = selectors.role_in(user, repo.space_id)
    readable = selectors.can_read(repo, user, role)
    if write:
        if user is None:
            return _challenge()
        if not readable:
            return _text(404, "Repository not found.")
        if not role_at_least(role, Role.EDITOR):
            return _text(403, "Pushing needs the editor role in the repository's space.")
        if not grants(scopes, "repos:write"):
            return _text(403, "The token lacks the 'repos:write' scope.")
    else:
        if not readable:
            return _challenge() if user is None else _text(404, "Repository not found.")
        if user is not None and not grants(scopes, "repos:read"):
            return _text(403, "The token lacks the 'repos:read' scope.")
    return GitCaller(repo=repo, user=user)


def _pkt_line(text: str) -> bytes:
    data = text.encode()
    return f"{len(data) + 4:04x}".encode() + data


def _protocol_env(request: HttpRequest) -> dict[str, str]:
    # Protocol v2 (and v1) is requested with the Git-Protocol header; git reads GIT_PROTOCOL.
    proto = request.META.get("HTTP_GIT_PROTOCOL", "")
    return {"GIT_PROTOCOL": proto} if proto and _GIT_PROTOCOL_RE.match(proto) else {}


def _no_cache(resp: HttpResponse) -> HttpResponse:
    resp["Cache-Control"] = "no-cache, max-age=0, must-revalidate"
    resp["Expires"] = "Fri, 01 Jan 1980 00:00:00 GMT"
    resp["Pragma"] = "no-cache"
    return resp


def _split_repo(repo: str) -> str:
    return repo[:-4] if repo.endswith(".git") else repo


@csrf_exempt
async def info_refs(request: HttpRequest, owner: str, repo: str) -> HttpResponse:
    service = request.GET.get("service")
    if request.method not in ("GET", "HEAD"):
        return _text(405, "Method not allowed.")
    if service not in SERVICES:
        return _text(403, "Only the smart HTTP protocol is supported; use a git client >= 1.6.6.")
    write = service == "git-receive-pack"
    caller = await sync_to_async(authorize)(request, owner, _split_repo(repo), write=write)
    if isinstance(caller, HttpResponse):
        return caller
    env = _protocol_env(request) if not write else {}
    proc = await asyncio.create_subprocess_exec(
        "git", service[4:], "--stateless-rpc", "--advertise-refs", str(caller.repo.git_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=git.git_env(env),
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        logger.error("advertise-refs failed for %s: %s", caller.repo.pk, err.decode(errors="replace"))
        return _text(500, "The repository could not be read.")
    v2 = "version=2" in env.get("GIT_PROTOCOL", "")
    body = out if v2 else _pkt_line(f"# service={service}\n") + b"0000" + out
    return _no_cache(HttpResponse(body, content_type=f"application/x-{service}-advertisement"))


class _BodyTooLarge(Exception):
    pass


async def _feed(request: HttpRequest, stdin: asyncio.StreamWriter, *, limit: int | None) -> int:
    """Copy the request body into git's stdin chunk by chunk (inflating gzip); returns bytes fed."""
    gzipped = request.META.get("HTTP_CONTENT_ENCODING", "").lower() in ("gzip", "x-gzip")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    total = 0
    try:
        while True:
            chunk = request.read(CHUNK)
            if not chunk:
                break
            if inflater is not None:
                chunk = inflater.decompress(chunk)
            total += len(chunk)
            if limit is not None and total > limit:
                raise _BodyTooLarge
            if chunk:
                stdin.write(chunk)
                await stdin.drain()
        if inflater is not None:
            tail = inflater.flush()
            if tail:
                stdin.write(tail)
                await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # git stopped reading (it failed); its exit status tells the story
    except zlib.error:
        pass  # corrupt gzip body: git sees a truncated request and fails
    finally:
        with contextlib.suppress(Exception):
            stdin.close()
    return total


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


@csrf_exempt
async def upload_pack(request: HttpRequest, owner: str, repo: str) -> HttpResponse:
    """Fetch/clone: stream `git upload-pack --stateless-rpc` output as it is produced."""
    if request.method != "POST":
        return _text(405, "Method not allowed.")
    caller = await sync_to_async(authorize)(request, owner, _split_repo(repo), write=False)
    if isinstance(caller, HttpResponse):
        return caller
    git_dir = str(caller.repo.git_dir)
    env = git.git_env(_protocol_env(request))

    async def stream() -> AsyncIterator[bytes]:
        # The process starts when the response starts, on the server's event loop.
        proc = await asyncio.create_subprocess_exec(
            "git", "upload-pack", "--stateless-rpc", git_dir,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
        assert proc.stdin is not None and proc.stdout is not None
        feeder = asyncio.ensure_future(_feed(request, proc.stdin, limit=None))
        try:
            while True:
                chunk = await proc.stdout.read(CHUNK)
                if not chunk:
                    break
                yield chunk
            await feeder
            await proc.wait()
        finally:
            feeder.cancel()
            await _kill(proc)

    return _no_cache(StreamingHttpResponse(stream(), content_type="application/x-git-upload-pack-result"))


@contextlib.asynccontextmanager
async def _async_push_lock(repo: Repository, timeout: float = 120) -> AsyncIterator[None]:
    """The same flock as repos.git.push_lock, awaited without blocking the event loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    with open(repo.git_dir / "takos-push.lock", "a+b") as fh:
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if loop.time() > deadline:
                    raise TimeoutError("push lock") from None
                await asyncio.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@csrf_exempt
async def receive_pack(request: HttpRequest, owner: str, repo: str) -> HttpResponse:
    """Push: run `git receive-pack --stateless-rpc` under the per-repository lock, then record it."""
    if request.method != "POST":
        return _text(405, "Method not allowed.")
    caller = await sync_to_async(authorize)(request, owner, _split_repo(repo), write=True)
    if isinstance(caller, HttpResponse):
        return caller
    limit = settings.TAKOS_GIT_MAX_PACK_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _text(400, "Invalid Content-Length.")
    if declared > limit and not request.META.get("HTTP_CONTENT_ENCODING"):
        return _text(413, f"Push rejected: the pack is larger than {limit} bytes.")
    target = caller.repo
    protected = await sync_to_async(services.protected_refs)(target)
    hooks = await asyncio.to_thread(git.hooks_dir)
    env = git.git_env({"TAKOS_PROTECTED_REFS": " ".join(protected)})
    try:
        async with _async_push_lock(target):
            before = await asyncio.to_thread(git.raw_refs, target)
            proc = await asyncio.create_subprocess_exec(
                "git", "-c", f"core.hooksPath={hooks}", "-c", f"receive.maxInputSize={limit}",
                "receive-pack", "--stateless-rpc", str(target.git_dir),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=env,
            )
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            feeder = asyncio.ensure_future(_feed(request, proc.stdin, limit=limit))
            reader = asyncio.ensure_future(proc.stdout.read())
            err_reader = asyncio.ensure_future(proc.stderr.read())
            try:
                await feeder
            except _BodyTooLarge:
                reader.cancel()
                err_reader.cancel()
                await _kill(proc)
                return _text(413, f"Push rejected: the pack is larger than {limit} bytes.")
            out = await reader
            err = await err_reader
            await proc.wait()
            if proc.returncode != 0:
                logger.info("receive-pack exited %s for %s: %s", proc.returncode, target.pk,
                            err.decode(errors="replace")[-2000:])
            after = await asyncio.to_thread(git.raw_refs, target)
            updates = [
                (ref, before.get(ref, git.ZERO_SHA), after.get(ref, git.ZERO_SHA))
                for ref in sorted(set(before) | set(after))
                if before.get(ref) != after.get(ref)
            ]
            if updates:
                user = caller.user
                await sync_to_async(services.record_push)(repo=target, pusher=user, ref_updates=updates,
                                                          via=Push.Via.HTTP)
    except TimeoutError:
        return _text(503, "The repository is busy with another push; try again.")
    return _no_cache(HttpResponse(out, content_type="application/x-git-receive-pack-result"))

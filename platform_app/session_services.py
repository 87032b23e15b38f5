"""Runtime sessions: a runtime container with a repository branch checked out.

Lifecycle: create (initializing -> running) -> heartbeat ... -> stop {commit_message?}
(stopped, or merged when a commit was written back) -> resume (running) -> discard.
The cron (`hosts.reap_sessions`) marks sessions dead (no heartbeat), stops idle ones and
fails those whose container died. The workspace lives on the host under
DATA_DIR/sessions/<id>/workspace and is bind-mounted at /workspace, so stop reads it
directly and a resumed session finds its files again.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import resolve_space
from hosts import services as host_services
from hosts.drivers import ContainerHandle, ContainerSpec, DriverError, ExecResult, Mount, get_driver
from hosts.loopback import http
from platform_app.models import RuntimeSession
from takos.api.errors import BadRequest, Conflict, NotFound, ServiceUnavailable

logger = logging.getLogger("takos.sessions")

Status = RuntimeSession.Status
RUNTIME_PORT = 8080
SESSION_CAPABILITIES = [host_services.CAP_HEARTBEAT, host_services.CAP_EVENTS, host_services.CAP_REPO_READ,
                        host_services.CAP_REPO_WRITE, host_services.CAP_ARTIFACTS, host_services.CAP_EGRESS]
MAX_COMMIT_BYTES = 100 * 1024 * 1024


# --- reads ---------------------------------------------------------------------------------
def session_for_user(user: Any, session_id: str) -> RuntimeSession:
    """The session if the user is a member of its space; anything else is 404."""
    session = (RuntimeSession.objects.select_related("space", "repo", "user")
               .filter(pk=session_id, space__memberships__user=user).first()) if user.is_authenticated else None
    if session is None:
        raise NotFound("Session not found.")
    return session


def sessions_for_space(user: Any, space_ref: str, *, status: str | None = None):  # type: ignore[no-untyped-def]
    access = resolve_space(user, space_ref)
    qs = RuntimeSession.objects.filter(space=access.space).select_related("repo", "user").order_by("-created_at")
    return qs.filter(status=status) if status else qs


def workspace_dir(session: RuntimeSession) -> Path:
    if session.workspace_path:
        return Path(session.workspace_path)
    return Path(settings.DATA_DIR) / "sessions" / session.id / "workspace"


def handle_of(session: RuntimeSession) -> ContainerHandle | None:
    if not session.container_id:
        return None
    ports = {RUNTIME_PORT: session.runtime_port} if session.runtime_port else {}
    return ContainerHandle(id=session.container_id, driver=session.driver or settings.TAKOS_CONTAINER_DRIVER,
                           owner=session.owner, role="runtime", ports=ports)


# --- helpers -------------------------------------------------------------------------------
def _cas(session: RuntimeSession, from_statuses: tuple[str, ...] | list[str], **fields: Any) -> bool:
    """Move the row only if it is still in one of `from_statuses` (safe against races)."""
    updated = RuntimeSession.objects.filter(pk=session.pk, status__in=list(from_statuses)).update(
        updated_at=timezone.now(), **fields)
    if updated:
        for key, value in fields.items():
            setattr(session, key, value)
    return bool(updated)


def _wait_healthy(session: RuntimeSession, handle: ContainerHandle, *, timeout: float) -> None:
    driver = get_driver(handle.driver)
    url = f"http://127.0.0.1:{handle.ports[RUNTIME_PORT]}/health"
    deadline = time.monotonic() + timeout
    client = http()
    while time.monotonic() < deadline:
        try:
            if client.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        status = driver.status(handle)
        if status.state in ("exited", "missing"):
            logs = driver.logs(handle)[-2000:].decode(errors="replace")
            raise DriverError(f"runtime exited during start ({status.reason or status.exit_code}): {logs}")
        time.sleep(0.02)
    raise DriverError(f"runtime did not become healthy within {timeout}s")


def _issue_token(session: RuntimeSession) -> str:
    return host_services.issue_proxy_token(
        owner=session.owner, capabilities=SESSION_CAPABILITIES, ttl_seconds=settings.TAKOS_PROXY_TOKEN_TTL,
        space=session.space, user=session.user, repo_id=session.repo_id or "")


def _launch(session: RuntimeSession, *, token: str | None = None) -> RuntimeSession:
    """Start the container on the session's workspace and wait until it answers /health."""
    driver = get_driver()
    token = token or _issue_token(session)
    env = {
        **host_services.proxy_env(token=token, owner=session.owner),
        "TAKOS_SESSION_ID": session.id, "TAKOS_SPACE_ID": session.space_id, "TAKOS_WORKSPACE": "/workspace",
        "TAKOS_REPO_ID": session.repo_id or "", "TAKOS_BRANCH": session.branch,
        "TAKOS_HEARTBEAT_SECONDS": str(settings.TAKOS_SESSION_HEARTBEAT_SECONDS),
    }
    spec = ContainerSpec(
        role="runtime", image="default", command=["python3", "/opt/takos/runtime_agent.py"], owner=session.owner,
        env=env, workdir="/workspace", mounts=[Mount(source=workspace_dir(session), target="/workspace")],
        ports=[RUNTIME_PORT], memory_mb=settings.TAKOS_SESSION_MEMORY_MB, labels={"takos.session": session.id},
    )
    try:
        handle = host_services.container_start(spec=spec, driver=driver)
    except DriverError as exc:
        _fail(session, f"could not start the runtime: {exc}")
        raise ServiceUnavailable(f"Could not start the runtime container: {exc}") from None
    RuntimeSession.objects.filter(pk=session.pk).update(container_id=handle.id, driver=driver.name,
                                                        runtime_port=handle.ports[RUNTIME_PORT])
    session.container_id, session.driver, session.runtime_port = handle.id, driver.name, handle.ports[RUNTIME_PORT]
    try:
        _wait_healthy(session, handle, timeout=settings.TAKOS_CONTAINER_START_TIMEOUT)
    except DriverError as exc:
        host_services.container_stop(handle=handle, driver=driver, reason="failed to start")
        _fail(session, str(exc))
        raise ServiceUnavailable(f"The runtime container did not start: {exc}") from None
    now = timezone.now()
    if not _cas(session, [Status.INITIALIZING], status=Status.RUNNING, started_at=now, last_heartbeat=now,
                last_activity_at=now, error=""):
        # Discarded or stopped while starting: do not leave the container behind.
        host_services.container_stop(handle=handle, driver=driver, reason="session left initializing")
        session.refresh_from_db()
    return session


def _fail(session: RuntimeSession, reason: str) -> None:
    host_services.revoke_proxy_tokens(owner=session.owner)
    _cas(session, [Status.INITIALIZING, Status.RUNNING], status=Status.FAILED, error=reason[:4000],
         stopped_at=timezone.now())


def _stop_container(session: RuntimeSession, reason: str) -> None:
    handle = handle_of(session)
    if handle is not None:
        try:
            host_services.container_stop(handle=handle, reason=reason)
        except DriverError as exc:
            logger.warning("could not stop container of %s: %s", session.id, exc)
    host_services.revoke_proxy_tokens(owner=session.owner)


# --- writes --------------------------------------------------------------------------------
def session_create(*, user: Any, space_ref: str, repo_id: str, branch: str | None = None) -> RuntimeSession:
    from repos import git
    from repos.selectors import repo_for_user

    access = resolve_space(user, space_ref, min_role=Role.EDITOR)
    repo = repo_for_user(user, repo_id, min_role=Role.EDITOR)
    if repo.space_id != access.space.id:
        raise NotFound("Repository not found.")
    branch = (branch or repo.default_branch).strip()
    if not git.valid_ref_name(branch):
        raise BadRequest("Invalid branch name.", details={"fields": {"branch": ["Invalid branch name."]}})
    base = git.resolve_ref(repo, f"refs/heads/{branch}") or git.resolve_ref(repo, f"refs/heads/{repo.default_branch}")
    session = RuntimeSession.objects.create(space=access.space, user=user, repo=repo, branch=branch,
                                            base_sha=base or "", status=Status.INITIALIZING)
    token = _issue_token(session)
    if settings.TAKOS_RUNTIME_WARM_POOL > 0 and _start_from_pool(session, token=token):
        return session
    workspace = workspace_dir(session)
    workspace.mkdir(parents=True, exist_ok=True)
    RuntimeSession.objects.filter(pk=session.pk).update(workspace_path=str(workspace))
    session.workspace_path = str(workspace)
    if base:
        git.archive(repo, base, workspace)
    return _launch(session, token=token)


def _start_from_pool(session: RuntimeSession, *, token: str) -> bool:
    """Claim a warm runtime container; False (nothing changed) when the pool is empty."""
    from platform_app import session_pool
    from repos import git

    claimed = session_pool.claim(session_id=session.id, token=token)
    session_pool.refill_soon()  # after commit, in a thread: never part of this request's time
    if claimed is None:
        return False
    handle, workspace = claimed
    if session.base_sha:
        git.archive(session.repo, session.base_sha, workspace)
    now = timezone.now()
    _cas(session, [Status.INITIALIZING], status=Status.RUNNING, workspace_path=str(workspace),
         container_id=handle.id, driver=handle.driver, runtime_port=handle.ports[RUNTIME_PORT], started_at=now,
         last_heartbeat=now, last_activity_at=now)
    return True


def session_exec(*, session: RuntimeSession, command: list[str], timeout: float | None = 60) -> ExecResult:
    if session.status != Status.RUNNING:
        raise Conflict(f"The session is {session.status}, not running.")
    handle = handle_of(session)
    assert handle is not None
    try:
        result = get_driver(handle.driver).exec(handle, command, workdir="/workspace", timeout=timeout)
    except DriverError as exc:
        raise Conflict(f"The runtime is not running: {exc}") from None
    RuntimeSession.objects.filter(pk=session.pk).update(last_activity_at=timezone.now())
    return result


def session_heartbeat(*, session: RuntimeSession, from_user: bool) -> RuntimeSession:
    now = timezone.now()
    fields: dict[str, Any] = {"last_heartbeat": now}
    if from_user:
        fields["last_activity_at"] = now
    if not _cas(session, [Status.RUNNING], **fields):
        raise Conflict(f"The session is {session.status}, not running.")
    return session


def _changed_files(session: RuntimeSession) -> dict[str, bytes | None]:
    """Files the workspace changed against the base commit (honours .gitignore).

    Uses a throw-away git dir whose object store borrows the bare repository's objects, so
    nothing is written to the repository until the commit itself.
    """
    from repos import git

    workspace = workspace_dir(session)
    bare = git.git_dir_of(session.repo)
    with tempfile.TemporaryDirectory(prefix="takos-session-") as tmp:
        gdir = Path(tmp) / "git"
        env = {**git.git_env(), "GIT_DIR": str(gdir), "GIT_WORK_TREE": str(workspace)}

        def g(*args: str) -> bytes:
            proc = subprocess.run(["git", *args], env=env, capture_output=True, check=False)
            if proc.returncode != 0:
                raise BadRequest(f"git {args[0]} failed: {proc.stderr.decode(errors='replace')[:500]}")
            return proc.stdout

        subprocess.run(["git", "init", "-q", "--bare", str(gdir)], env=git.git_env(), check=True,
                       capture_output=True)
        (gdir / "objects" / "info").mkdir(parents=True, exist_ok=True)
        (gdir / "objects" / "info" / "alternates").write_text(str(Path(bare) / "objects") + "\n")
        g("config", "core.bare", "false")
        base = session.base_sha or "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # the empty tree
        if session.base_sha:
            g("read-tree", session.base_sha)
        g("add", "-A", ".")
        out = g("diff", "--cached", "--name-status", "--no-renames", "-z", base)
    parts = out.split(b"\0")
    files: dict[str, bytes | None] = {}
    total = 0
    for i in range(0, len(parts) - 1, 2):
        status, path = parts[i].decode(), parts[i + 1].decode()
        if status.startswith("D"):
            files[path] = None
            continue
        data = (workspace / path).read_bytes()
        total += len(data)
        if total > MAX_COMMIT_BYTES:
            raise BadRequest(f"The session changed more than {MAX_COMMIT_BYTES} bytes; not committed.")
        files[path] = data
    return files


def session_stop(*, session: RuntimeSession, actor: Any, commit_message: str | None = None) -> RuntimeSession:
    """Stop the container; with a commit message, commit the work tree back to the branch."""
    from repos.services import commit_create

    stoppable = [Status.INITIALIZING, Status.RUNNING, Status.DEAD, Status.FAILED, Status.STOPPED]
    if session.status not in stoppable:
        raise Conflict(f"The session is {session.status}.")
    _stop_container(session, "session stopped")
    now = timezone.now()
    if not commit_message:
        _cas(session, stoppable, status=Status.STOPPED, stopped_at=now, container_id="")
        return session
    if session.repo is None:
        raise Conflict("The session's repository is gone; nothing to commit to.")
    files = _changed_files(session)
    head = ""
    if files:
        head = commit_create(repo=session.repo, actor=actor, branch=session.branch, files=files,
                             message=commit_message, author_name=getattr(actor, "name", None),
                             author_email=getattr(actor, "email", None))
    fields: dict[str, Any] = {"status": Status.MERGED if head else Status.STOPPED, "stopped_at": now,
                              "container_id": ""}
    if head:
        # A resumed session continues from the commit it wrote.
        fields.update(head_sha=head, base_sha=head)
    _cas(session, stoppable, **fields)
    return session


def session_resume(*, session: RuntimeSession) -> RuntimeSession:
    resumable = [Status.STOPPED, Status.MERGED, Status.DEAD, Status.FAILED]
    if session.status not in resumable:
        raise Conflict(f"The session is {session.status}; only stopped sessions resume.")
    if not workspace_dir(session).is_dir():
        raise Conflict("The session's workspace is gone.")
    _stop_container(session, "resume replaces the old container")
    if not _cas(session, resumable, status=Status.INITIALIZING, error="", container_id="", stopped_at=None):
        raise Conflict("The session changed state; try again.")
    return _launch(session)


def session_discard(*, session: RuntimeSession) -> RuntimeSession:
    if session.status == Status.DISCARDED:
        return session
    _stop_container(session, "session discarded")
    RuntimeSession.objects.filter(pk=session.pk).update(status=Status.DISCARDED, stopped_at=timezone.now(),
                                                        container_id="", updated_at=timezone.now())
    session.status = Status.DISCARDED
    shutil.rmtree(workspace_dir(session).parent, ignore_errors=True)
    return session


def session_health(*, session: RuntimeSession) -> dict[str, Any]:
    """Container state plus the runtime's own /health; a dead container fails the session."""
    handle = handle_of(session)
    result: dict[str, Any] = {"session_id": session.id, "status": session.status, "healthy": False,
                              "container": None, "runtime": None}
    if handle is None or session.status not in RuntimeSession.LIVE:
        return result
    status = get_driver(handle.driver).status(handle)
    result["container"] = {"state": status.state, "exit_code": status.exit_code, "oom_killed": status.oom_killed,
                           "reason": status.reason}
    if status.state in ("exited", "missing"):
        _fail(session, f"container {status.state}: {status.reason or status.exit_code}")
        result["status"] = session.status
        return result
    if handle.ports.get(RUNTIME_PORT):
        try:
            response = http().get(f"http://127.0.0.1:{handle.ports[RUNTIME_PORT]}/health", timeout=3)
            result["runtime"] = response.json()
            result["healthy"] = response.status_code == 200 and session.status == Status.RUNNING
        except (httpx.HTTPError, ValueError) as exc:
            result["runtime"] = {"error": str(exc)}
    return result


def reap_sessions() -> dict[str, int]:
    """Cron: fail sessions whose container died, mark silent ones dead, stop idle ones."""
    now = timezone.now()
    counts = {"failed": 0, "dead": 0, "idle": 0, "stuck": 0}
    grace = timedelta(seconds=30)
    for session in RuntimeSession.objects.filter(status=Status.RUNNING).select_related("space"):
        handle = handle_of(session)
        if handle is None:
            continue
        try:
            status = get_driver(handle.driver).status(handle)
        except DriverError as exc:
            logger.warning("cannot check session %s: %s", session.id, exc)
            continue
        if status.state in ("exited", "missing"):
            reason = "out of memory" if status.oom_killed else (status.reason or f"exit code {status.exit_code}")
            _fail(session, f"the runtime container {status.state}: {reason}")
            _stop_container(session, "container died")
            counts["failed"] += 1
            continue
        started = session.started_at or session.created_at
        beat = session.last_heartbeat or started
        if now - started > grace and (now - beat).total_seconds() > settings.TAKOS_SESSION_DEAD_SECONDS:
            _stop_container(session, "no heartbeat")
            if _cas(session, [Status.RUNNING], status=Status.DEAD, stopped_at=now, container_id="",
                    error="no heartbeat"):
                counts["dead"] += 1
            continue
        active = session.last_activity_at or started
        if (now - active).total_seconds() > settings.TAKOS_SESSION_IDLE_SECONDS:
            _stop_container(session, "idle")
            if _cas(session, [Status.RUNNING], status=Status.STOPPED, stopped_at=now, container_id="",
                    error="stopped after being idle"):
                counts["idle"] += 1
    stuck_before = now - timedelta(seconds=settings.TAKOS_CONTAINER_START_TIMEOUT * 3)
    for session in RuntimeSession.objects.filter(Q(status=Status.INITIALIZING), updated_at__lt=stuck_before):
        _stop_container(session, "stuck initializing")
        _fail(session, "the session did not finish starting")
        counts["stuck"] += 1
    return counts

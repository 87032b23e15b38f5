"""Tools the agent loop can call. They run in the control plane (the executor asks over
`/internal/runs/:id/tools/execute`) with the requester's permissions in the run's space.

Idempotency: every call carries an operation key; (run, key) is unique in `tool_operations`.
Tools whose side effects are database rows run inside the same transaction that marks the
operation completed, so they happen exactly once. Tools with side effects outside the
database (a git commit) mark the operation `pending` first; finding it still pending later
means an earlier attempt died mid-call, and the call is NOT repeated (it reports that).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.models import Artifact, Memory, Run, ToolOperation
from takos.api.errors import ApiError, BadRequest, NotFound

MAX_OUTPUT = 20_000


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Callable[[Run, dict[str, Any]], str]
    external: bool = False  # side effects outside the DB transaction


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


def _repo(run: Run, repo_id: str, *, write: bool = False) -> Any:
    from repos.selectors import repo_for_user

    repo = repo_for_user(run.requester, str(repo_id or ""), min_role="editor" if write else "viewer")
    if repo.space_id != run.space_id:  # an agent works on its own space's repositories only
        raise NotFound("Repository not found.")
    return repo


def _ref(repo: Any, args: dict[str, Any]) -> str:
    return str(args.get("ref") or repo.default_branch)


def repo_list_files(run: Run, args: dict[str, Any]) -> str:
    from repos import git

    repo = _repo(run, args.get("repo_id"))
    entries = git.list_tree(repo, _ref(repo, args), str(args.get("path") or ""))
    return "\n".join(f"{e['type']}\t{e['path']}" for e in entries) or "(empty)"


def repo_read_file(run: Run, args: dict[str, Any]) -> str:
    from repos import git

    repo = _repo(run, args.get("repo_id"))
    data = git.read_blob(repo, _ref(repo, args), str(args.get("path") or ""))
    if data is None:
        raise NotFound(f"No file {args.get('path')!r} at {_ref(repo, args)}.")
    return data.decode("utf-8", errors="replace")


def repo_search(run: Run, args: dict[str, Any]) -> str:
    from repos import git

    repo = _repo(run, args.get("repo_id"))
    query = str(args.get("query") or "")
    if not query:
        raise BadRequest("query is required.")
    hits = git.grep(repo, _ref(repo, args), query, limit=int(args.get("limit") or 50))
    return "\n".join(f"{h['path']}:{h['line']}: {h['content']}" for h in hits) or "(no matches)"


def repo_commit_and_pr(run: Run, args: dict[str, Any]) -> str:
    """Commit `files` to `branch` (never the default branch) and open a pull request."""
    from repos import git
    from repos import services as repo_services

    repo = _repo(run, args.get("repo_id"), write=True)
    branch = str(args.get("branch") or f"agent/{run.id}")
    if branch == repo.default_branch:
        raise BadRequest("Agents commit to a new branch, not the default branch.")
    files = args.get("files") or {}
    if not isinstance(files, dict) or not files:
        raise BadRequest("files must map paths to new contents (null deletes).")
    encoded = {str(p): (None if c is None else str(c).encode()) for p, c in files.items()}
    message = str(args.get("message") or args.get("title") or "Agent change")
    user = run.requester
    author = {"author_name": user.name if user else "Takos agent",
              "author_email": user.email if user else "agent@takos.local"}
    commit_create = getattr(repo_services, "commit_create", None)
    if commit_create is not None:
        result = commit_create(repo=repo, branch=branch, files=encoded, message=message, actor=user, **author)
        sha = getattr(result, "sha", result)
    else:
        sha = git.commit_files(repo, branch=branch, files=encoded, message=message, **author)
    pr = repo_services.pull_request_create(
        repo=repo, actor=user, title=str(args.get("title") or message), head_branch=branch,
        base_branch=args.get("base_branch") or None, description=str(args.get("description") or ""),
        author_type="agent", run_id=run.id,
    )
    return json.dumps({"commit": sha, "branch": branch, "pull_request": getattr(pr, "number", None)})


def memory_write(run: Run, args: dict[str, Any]) -> str:
    content = str(args.get("content") or "").strip()
    if not content:
        raise BadRequest("content is required.")
    memory_type = str(args.get("type") or "semantic")
    if memory_type not in Memory.Type.values:
        raise BadRequest("type must be episode, semantic or procedural.")
    memory = Memory.objects.create(
        space_id=run.space_id, author=run.requester, thread=run.thread, type=memory_type, content=content,
        summary=str(args.get("summary") or "")[:500], importance=float(args.get("importance") or 0.5),
        tags=list(args.get("tags") or []), category=str(args.get("category") or ""),
    )
    return json.dumps({"memory_id": memory.id})


def artifact_create(run: Run, args: dict[str, Any]) -> str:
    from agents.services import artifact_create as create

    artifact_type = str(args.get("type") or "report")
    if artifact_type not in Artifact.Type.values:
        raise BadRequest("Unknown artifact type.")
    artifact = create(run=run, type=artifact_type, title=str(args.get("title") or ""),
                      content=str(args.get("content") or ""))
    return json.dumps({"artifact_id": artifact.id})


def run_spawn(run: Run, args: dict[str, Any]) -> str:
    from agents.services import run_spawn as spawn

    message = str(args.get("message") or "").strip()
    if not message:
        raise BadRequest("message is required.")
    if run.parent_run_id and Run.objects.filter(pk=run.parent_run_id, parent_run__isnull=False).exists():
        raise BadRequest("Sub-runs nest at most two levels deep.")
    child = spawn(parent=run, message=message, agent_type=str(args.get("agent_type") or "default"))
    return json.dumps({"run_id": child.id, "thread_id": child.thread_id, "status": child.status})


_REPO = {"repo_id": {"type": "string"}, "ref": {"type": "string"}}
TOOLS: dict[str, Tool] = {
    t.name: t
    for t in [
        Tool("repo_list_files", "List a folder of a repository of this space.",
             _obj({**_REPO, "path": {"type": "string"}}, ["repo_id"]), repo_list_files),
        Tool("repo_read_file", "Read one file of a repository.",
             _obj({**_REPO, "path": {"type": "string"}}, ["repo_id", "path"]), repo_read_file),
        Tool("repo_search", "Search a repository's files for a fixed string.",
             _obj({**_REPO, "query": {"type": "string"}, "limit": {"type": "integer"}}, ["repo_id", "query"]),
             repo_search),
        Tool("repo_commit_and_pr", "Commit file changes to a new branch and open a pull request.",
             _obj({"repo_id": {"type": "string"}, "branch": {"type": "string"}, "files": {"type": "object"},
                   "message": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
                   "base_branch": {"type": "string"}}, ["repo_id", "files"]),
             repo_commit_and_pr, external=True),
        Tool("memory_write", "Remember a fact, episode or procedure for this space.",
             _obj({"content": {"type": "string"}, "type": {"type": "string"}, "summary": {"type": "string"},
                   "importance": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}}},
                  ["content"]), memory_write),
        Tool("artifact_create", "Store an artifact (code, config, doc, patch, report, other) of this run.",
             _obj({"type": {"type": "string"}, "title": {"type": "string"}, "content": {"type": "string"}},
                  ["content"]), artifact_create),
        Tool("run_spawn", "Start a sub-run on a child thread with a message.",
             _obj({"message": {"type": "string"}, "agent_type": {"type": "string"}}, ["message"]), run_spawn),
    ]
}


def catalog() -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in TOOLS.values()]


def catalog_for(run: Run) -> list[dict[str, Any]]:
    """The built-in tools plus the tools of the space's enabled MCP servers (`mcp__<server>__<tool>`)."""
    from oauth.mcp import agent_tools

    mcp_tools, _failed = agent_tools.catalog(run.space)
    return catalog() + mcp_tools


def _mcp_tool(name: str) -> Tool | None:
    from oauth.mcp import agent_tools

    if not agent_tools.is_mcp_tool(name):
        return None
    # The call leaves the control plane: external, so a retry after a crash is not repeated.
    return Tool(name, "MCP tool", {"type": "object"},
                lambda run, args: agent_tools.execute(run, name, args), external=True)


def _result(op: ToolOperation) -> dict[str, Any]:
    return {"operation_key": op.operation_key, "status": op.status, "output": op.result_output,
            "error": op.result_error or None, "replayed": True}


def tool_execute(*, run: Run, operation_key: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Run tool `name` once per (run, operation_key); a repeated key returns the first result."""
    tool = TOOLS.get(name) or _mcp_tool(name)
    if tool is None:
        return {"operation_key": operation_key, "status": "failed", "output": "", "error": f"Unknown tool {name}."}
    if not isinstance(arguments, dict):
        arguments = {}
    existing = ToolOperation.objects.filter(run=run, operation_key=operation_key).first()
    if existing is not None and existing.status != ToolOperation.Status.PENDING:
        return _result(existing)
    if existing is not None:  # pending: an earlier attempt died inside an external side effect
        existing.status = ToolOperation.Status.FAILED
        existing.result_error = "An earlier attempt was interrupted during this call; it is not repeated."
        existing.completed_at = timezone.now()
        existing.save(update_fields=["status", "result_error", "completed_at"])
        return _result(existing)
    if tool.external:
        op = ToolOperation.objects.create(run=run, operation_key=operation_key, tool_name=name, arguments=arguments)
        return _finish(op, tool, run, arguments)
    with transaction.atomic():
        op = ToolOperation.objects.create(run=run, operation_key=operation_key, tool_name=name, arguments=arguments)
        return _finish(op, tool, run, arguments)


def _finish(op: ToolOperation, tool: Tool, run: Run, arguments: dict[str, Any]) -> dict[str, Any]:
    try:
        with transaction.atomic():
            output = tool.handler(run, arguments)
        op.status, op.result_output = ToolOperation.Status.COMPLETED, output[:MAX_OUTPUT]
    except ApiError as exc:
        op.status, op.result_error = ToolOperation.Status.FAILED, str(exc.detail)
    except Exception as exc:  # a tool bug is reported to the model, not a 500 to the executor
        op.status, op.result_error = ToolOperation.Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
    op.completed_at = timezone.now()
    op.save(update_fields=["status", "result_output", "result_error", "completed_at"])
    return {"operation_key": op.operation_key, "status": op.status, "output": op.result_output,
            "error": op.result_error or None, "replayed": False}

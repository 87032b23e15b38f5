"""`takos repos list|create|clone-url|clone` (alias `repo`) and `takos pr list|create|view|merge` (alias `prs`).

A repository is named by its id or by `owner/name` (owner = space slug).
"""

from __future__ import annotations

import argparse
import base64
import subprocess
from typing import Any

from takos.cli.client import ApiClient, CliError
from takos.cli.output import emit

REPO_COLUMNS = ["id", "full_name", "visibility", "default_branch", "stars", "pushed_at"]
PR_COLUMNS = ["number", "title", "status", "head_branch", "base_branch", "created_at"]


def resolve_repo(api: ApiClient, ref: str) -> dict[str, Any]:
    """The repository object for an id or `owner/name`."""
    if "/" not in ref:
        return api.get(f"/api/repos/{ref}")["repository"]
    owner, name = ref.split("/", 1)
    name = name.removesuffix(".git")
    offset = 0
    while True:
        page = api.get(f"/api/spaces/{owner}/repos", limit=100, offset=offset)
        for repo in page["repositories"]:
            if repo["name"].lower() == name.lower():
                return repo
        if not page.get("has_more"):
            raise CliError(f"No repository {owner}/{name}.", status=404, code="NOT_FOUND")
        offset += 100


def _list(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.get(f"/api/spaces/{args.space}/repos", limit=args.limit, offset=args.offset)
    emit(data, args.json, rows=data["repositories"], columns=REPO_COLUMNS)
    return 0


def _create(args: argparse.Namespace, api: ApiClient) -> int:
    body = {"name": args.name, "description": args.description or "", "visibility": args.visibility}
    data = api.post(f"/api/spaces/{args.space}/repos", body)
    repo = data["repository"]
    emit(data, args.json, message=f"Created {repo['full_name']} ({repo['id']})\nClone: {repo['clone_url']}")
    return 0


def _clone_url(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    emit({"clone_url": repo["clone_url"]}, args.json, message=repo["clone_url"])
    return 0


def _clone(args: argparse.Namespace, api: ApiClient) -> int:
    """Run `git clone`, passing the saved token as an HTTP header (never written into .git/config)."""
    repo = resolve_repo(api, args.repo)
    cmd = ["git"]
    if api.config.token:
        basic = base64.b64encode(f"takos:{api.config.token}".encode()).decode()
        cmd += ["-c", f"http.extraHeader=Authorization: Basic {basic}"]
    cmd += ["clone", repo["clone_url"]]
    if args.directory:
        cmd.append(args.directory)
    return subprocess.call(cmd)


def _pr_list(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    data = api.get(f"/api/repos/{repo['id']}/pulls", status=args.status, limit=args.limit)
    emit(data, args.json, rows=data["pull_requests"], columns=PR_COLUMNS)
    return 0


def _pr_create(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    body = {"title": args.title, "head_branch": args.head, "description": args.description or ""}
    if args.base:
        body["base_branch"] = args.base
    data = api.post(f"/api/repos/{repo['id']}/pulls", body)
    pr = data["pull_request"]
    emit(data, args.json, message=f"Opened #{pr['number']}: {pr['title']} ({pr['head_branch']} -> {pr['base_branch']})")
    return 0


def _pr_view(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    pr = api.get(f"/api/repos/{repo['id']}/pulls/{args.number}")["pull_request"]
    conflicts = api.get(f"/api/repos/{repo['id']}/pulls/{args.number}/conflicts") if pr["status"] == "open" else None
    if args.json:
        emit({"pull_request": pr, "conflicts": conflicts}, True)
        return 0
    print(f"#{pr['number']} {pr['title']} [{pr['status']}]  {pr['head_branch']} -> {pr['base_branch']}")
    if pr["description"]:
        print(f"\n{pr['description']}\n")
    if conflicts is not None:
        print("mergeable" if conflicts["mergeable"] else f"conflicts: {', '.join(conflicts['conflicts']) or '?'}")
    if pr["merge_commit_sha"]:
        print(f"merged as {pr['merge_commit_sha']} ({pr['merge_method']})")
    return 0


def _pr_merge(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    body: dict[str, Any] = {"merge_method": args.method}
    if args.message:
        body["commit_message"] = args.message
    data = api.post(f"/api/repos/{repo['id']}/pulls/{args.number}/merge", body)
    emit(data, args.json, message=f"Merged #{args.number} ({args.method}) as {data['sha']}")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    repos = sub.add_parser("repos", aliases=["repo"], parents=[common], help="git repositories").add_subparsers(
        dest="sub", required=True)
    p = repos.add_parser("list", parents=[common], help="repositories of a space")
    p.add_argument("--space", default="me", help="space id or slug (default: your personal space)")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--offset", type=int, default=0)
    p.set_defaults(handler=_list)
    p = repos.add_parser("create", parents=[common], help="create a repository")
    p.add_argument("name")
    p.add_argument("--space", default="me")
    p.add_argument("--description")
    p.add_argument("--visibility", choices=["private", "internal", "public"], default="private")
    p.set_defaults(handler=_create)
    p = repos.add_parser("clone-url", parents=[common], help="print the git clone URL")
    p.add_argument("repo", help="id or owner/name")
    p.set_defaults(handler=_clone_url)
    p = repos.add_parser("clone", parents=[common], help="git clone with your saved token")
    p.add_argument("repo", help="id or owner/name")
    p.add_argument("directory", nargs="?")
    p.set_defaults(handler=_clone)

    prs = sub.add_parser("pr", aliases=["prs"], parents=[common], help="pull requests").add_subparsers(
        dest="sub", required=True)
    p = prs.add_parser("list", parents=[common])
    p.add_argument("repo", help="id or owner/name")
    p.add_argument("--status", choices=["open", "merged", "closed", "all"], default="open")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=_pr_list)
    p = prs.add_parser("create", parents=[common])
    p.add_argument("repo", help="id or owner/name")
    p.add_argument("--title", required=True)
    p.add_argument("--head", required=True, help="branch with the changes")
    p.add_argument("--base", help="target branch (default: the repository's default branch)")
    p.add_argument("--description")
    p.set_defaults(handler=_pr_create)
    p = prs.add_parser("view", parents=[common])
    p.add_argument("repo", help="id or owner/name")
    p.add_argument("number", type=int)
    p.set_defaults(handler=_pr_view)
    p = prs.add_parser("merge", parents=[common])
    p.add_argument("repo", help="id or owner/name")
    p.add_argument("number", type=int)
    p.add_argument("--method", choices=["merge", "squash", "rebase"], default="merge")
    p.add_argument("--message", help="commit message for the merge/squash commit")
    p.set_defaults(handler=_pr_merge)

"""`takos deploy`, `takos rollback`, `takos deployments list|show|rollback|promote|pause|resume|abort`,
`takos domains add|verify|list|remove` and `takos logs SERVICE [--follow]`.

Deploys go through `/api/spaces/:space/app-deployments` (the repository's `.takos/app.yml`).
Without --repo the repository is taken from the `origin` remote of the current checkout
(`.../git/<owner>/<name>.git`).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from typing import Any

from takos.cli.client import ApiClient, CliError
from takos.cli.output import emit

DEPLOY_COLUMNS = ["id", "version", "status", "strategy", "routing_status", "routing_weight", "commit_sha",
                  "created_at"]
TERMINAL = {"active", "failed", "rolled_back", "superseded"}


def _origin_repo_name() -> str | None:
    try:
        url = subprocess.run(["git", "remote", "get-url", "origin"], capture_output=True, text=True, timeout=10,
                             check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"/git/[^/]+/([^/]+?)(?:\.git)?/?$", url)
    return match.group(1) if match else None


def _repo_id(api: ApiClient, space: str, repo: str | None) -> str:
    repo = repo or _origin_repo_name()
    if not repo:
        raise CliError("Give --repo (id or name), or run inside a checkout whose origin is a Takos repository.")
    if re.fullmatch(r"[a-z0-9]{12}", repo):
        return repo
    data = api.get(f"/api/spaces/{space}/repos", limit=100)
    for item in data.get("repositories", []):
        if item["name"].lower() == repo.lower():
            return item["id"]
    raise CliError(f"No repository named {repo!r} in space {space}.")


def _wait(api: ApiClient, space: str, deployment_id: str, *, as_json: bool, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = None
    while True:
        data = api.get(f"/api/spaces/{space}/app-deployments/{deployment_id}")["data"]
        line = f"v{data['version']} {data['status']}"
        rollout = data.get("rollout")
        if rollout:
            line += f" (rollout {rollout['state']}, canary {rollout['weight']}%)"
        if line != last and not as_json:
            print(line, file=sys.stderr)
            last = line
        if data["status"] in TERMINAL:
            return data
        if time.monotonic() > deadline:
            raise CliError(f"Still {data['status']} after {timeout:.0f}s; check `takos deployments show`.")
        time.sleep(1)


def _deploy(args: argparse.Namespace, api: ApiClient) -> int:
    body: dict[str, Any] = {"repo_id": _repo_id(api, args.space, args.repo), "ref": args.ref or ""}
    if args.canary:
        body["strategy"] = "canary"
    elif args.strategy:
        body["strategy"] = args.strategy
    if args.steps:
        body["steps"] = [int(s) for s in args.steps.split(",") if s.strip()]
    if args.interval:
        body["interval"] = args.interval
    if args.message:
        body["deploy_message"] = args.message
    data = api.post(f"/api/spaces/{args.space}/app-deployments", body)["data"]
    if not args.json:
        print(f"Deploying {data['app'] or ''} v{data['version']} ({data['id']}) to {data.get('url')}", file=sys.stderr)
    if args.no_wait:
        emit(data, args.json, message=f"queued {data['id']}")
        return 0
    final = _wait(api, args.space, data["id"], as_json=args.json, timeout=args.timeout)
    emit(final, args.json, message=f"v{final['version']} {final['status']}: {data.get('url')}")
    return 0 if final["status"] in ("active", "superseded") else 1


def _list(args: argparse.Namespace, api: ApiClient) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.service:
        params["service_id"] = args.service
    data = api.get(f"/api/spaces/{args.space}/app-deployments", **params)
    emit(data, args.json, rows=data["data"], columns=["app", *DEPLOY_COLUMNS])
    return 0


def _show(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.get(f"/api/spaces/{args.space}/app-deployments/{args.id}")["data"]
    if args.json:
        emit(data, True)
        return 0
    emit({k: data[k] for k in ("id", "app", "version", "status", "strategy", "routing_status", "routing_weight",
                               "commit_sha", "url", "step_error")}, False)
    for event in data.get("events", []):
        print(f"  {event['created_at']}  {event['type']:<16} {event['message']}")
    return 0


def _rollback(args: argparse.Namespace, api: ApiClient) -> int:
    body: dict[str, Any] = {}
    if getattr(args, "to", None):
        body["target_id"] = args.to
    deployment_id = args.id
    if not deployment_id:
        # `takos rollback` alone: roll back the newest active deployment of the app in this checkout's repo.
        repo_id = _repo_id(api, args.space, getattr(args, "repo", None))
        rows = api.get(f"/api/spaces/{args.space}/app-deployments", limit=100)["data"]
        active = [r for r in rows if r["repo_id"] == repo_id and r["status"] == "active"]
        if not active:
            raise CliError("No active deployment to roll back.")
        deployment_id = active[0]["id"]
    data = api.post(f"/api/spaces/{args.space}/app-deployments/{deployment_id}/rollback", body)["data"]
    emit(data, args.json, message=f"v{data['version']} is serving again")
    return 0


def _rollout(action: str):  # type: ignore[no-untyped-def]
    def handler(args: argparse.Namespace, api: ApiClient) -> int:
        data = api.post(f"/api/spaces/{args.space}/app-deployments/{args.id}/rollout/{action}", {})["data"]
        split = ", ".join(f"v{t['version']} {t['weight']}%" for t in data.get("traffic", []))
        emit(data, args.json, message=f"rollout {data['state']} (traffic: {split})")
        return 0

    return handler


def _service_id(api: ApiClient, ref: str) -> str:
    return api.get(f"/api/services/{ref}")["service"]["id"]


def _domains_list(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.get(f"/api/services/{_service_id(api, args.service)}/custom-domains")
    emit(data, args.json, rows=data["custom_domains"],
         columns=["id", "domain", "status", "verification_method", "verified_at", "last_error"])
    return 0


def _domains_add(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.post(f"/api/services/{_service_id(api, args.service)}/custom-domains",
                    {"domain": args.domain, "verification_method": args.method})["custom_domain"]
    how = data["instructions"][args.method]
    hint = {"txt": f"TXT {how.get('name')} = {how.get('value')}", "cname": f"CNAME {how.get('name')} -> "
            f"{how.get('value')}", "http": how.get("how", "")}[args.method]
    emit(data, args.json, message=f"Added {data['domain']} ({data['id']}). Publish: {hint}; then `takos domains "
                                  f"verify {args.service} {data['id']}`")
    return 0


def _domains_verify(args: argparse.Namespace, api: ApiClient) -> int:
    data = api.post(f"/api/services/{_service_id(api, args.service)}/custom-domains/{args.id}/verify",
                    {})["custom_domain"]
    emit(data, args.json, message=f"{data['domain']}: {data['status']}"
                                  + (f" ({data['last_error']})" if data.get("last_error") else ""))
    return 0 if data["status"] == "verified" else 1


def _domains_remove(args: argparse.Namespace, api: ApiClient) -> int:
    api.delete(f"/api/services/{_service_id(api, args.service)}/custom-domains/{args.id}")
    emit({"success": True}, args.json, message="removed")
    return 0


def _logs(args: argparse.Namespace, api: ApiClient) -> int:
    service_id = _service_id(api, args.service)
    since = 0
    while True:
        data = api.get(f"/api/services/{service_id}/logs", since_byte=since)
        if data["logs"]:
            sys.stdout.write(data["logs"])
            sys.stdout.flush()
        since = data["next_byte"]
        if not args.follow:
            return 0
        time.sleep(1)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    def space(p: argparse.ArgumentParser) -> None:
        p.add_argument("--space", default="me", help="space id or slug (default: your personal space)")

    p = sub.add_parser("deploy", parents=[common], help="deploy the app in .takos/app.yml of a repository")
    space(p)
    p.add_argument("--repo", help="repository id or name (default: from the git origin remote)")
    p.add_argument("--ref", help="branch, tag or commit (default: the default branch)")
    p.add_argument("--canary", action="store_true", help="roll out as a canary (steps from the manifest)")
    p.add_argument("--strategy", choices=["immediate", "canary"])
    p.add_argument("--steps", help="canary percentages, e.g. 5,25,50,100")
    p.add_argument("--interval", type=float, help="seconds per canary step")
    p.add_argument("--message", "-m", help="deploy message")
    p.add_argument("--no-wait", action="store_true", help="return once queued")
    p.add_argument("--timeout", type=float, default=900)
    p.set_defaults(handler=_deploy)

    p = sub.add_parser("rollback", parents=[common], help="serve the previous version again (one step)")
    space(p)
    p.add_argument("id", nargs="?", help="deployment to roll back from (default: the active one of this repo)")
    p.add_argument("--to", help="deployment id to serve instead of the previous one")
    p.add_argument("--repo")
    p.set_defaults(handler=_rollback)

    deps = sub.add_parser("deployments", aliases=["deployment"], parents=[common],
                          help="deployment history and rollout control").add_subparsers(dest="sub", required=True)
    p = deps.add_parser("list", parents=[common], help="deployment history")
    space(p)
    p.add_argument("--service")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(handler=_list)
    p = deps.add_parser("show", parents=[common], help="one deployment with its events")
    space(p)
    p.add_argument("id")
    p.set_defaults(handler=_show)
    p = deps.add_parser("rollback", parents=[common], help="serve the deployment before ID again")
    space(p)
    p.add_argument("id")
    p.add_argument("--to")
    p.set_defaults(handler=_rollback)
    for action in ("promote", "pause", "resume", "abort"):
        p = deps.add_parser(action, parents=[common], help=f"{action} the canary rollout of a deployment")
        space(p)
        p.add_argument("id")
        p.set_defaults(handler=_rollout(action))

    doms = sub.add_parser("domains", aliases=["domain"], parents=[common],
                          help="custom domains of a service").add_subparsers(dest="sub", required=True)
    p = doms.add_parser("list", parents=[common])
    p.add_argument("service", help="service id or slug")
    p.set_defaults(handler=_domains_list)
    p = doms.add_parser("add", parents=[common])
    p.add_argument("service")
    p.add_argument("domain")
    p.add_argument("--method", choices=["http", "txt", "cname"], default="http")
    p.set_defaults(handler=_domains_add)
    p = doms.add_parser("verify", parents=[common])
    p.add_argument("service")
    p.add_argument("id")
    p.set_defaults(handler=_domains_verify)
    p = doms.add_parser("remove", parents=[common])
    p.add_argument("service")
    p.add_argument("id")
    p.set_defaults(handler=_domains_remove)

    p = sub.add_parser("logs", parents=[common], help="a service's runtime output")
    p.add_argument("service", help="service id or slug")
    p.add_argument("--follow", "-f", action="store_true")
    p.set_defaults(handler=_logs)

"""`takos actions list|view|logs|rerun|cancel|dispatch|secrets` and `takos workflow list|run`.

Repositories are named `--repo OWNER/NAME` or by id (env TAKOS_REPO as the default).
`takos actions logs RUN --follow` streams every job's log live over SSE, resuming by byte
offset after a dropped connection, and exits non-zero when the run did not succeed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import httpx

from takos.cli.client import ApiClient, CliError
from takos.cli.output import emit
from takos.cli.sse import parse_sse

RUN_COLUMNS = ["id", "workflow", "number", "event", "branch", "status", "conclusion", "created_at"]


def resolve_repo(api: ApiClient, ref: str | None) -> str:
    ref = ref or os.environ.get("TAKOS_REPO", "")
    if not ref:
        raise CliError("name the repository with --repo OWNER/NAME (or set TAKOS_REPO)")
    if "/" not in ref:
        return ref
    owner, name = ref.split("/", 1)
    offset = 0
    while True:
        page = api.get(f"/api/spaces/{owner}/repos", limit=100, offset=offset)
        for repo in page.get("repositories", []):
            if repo["name"].lower() == name.lower():
                return repo["id"]
        if not page.get("has_more"):
            raise CliError(f"repository {ref} not found")
        offset += 100


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    ref = run.get("ref") or ""
    return {"id": run["id"], "workflow": run.get("name"), "number": run.get("run_number"), "event": run.get("event"),
            "branch": ref.split("/", 2)[-1] if ref.startswith("refs/") else ref, "status": run.get("status"),
            "conclusion": run.get("conclusion") or "", "created_at": run.get("created_at")}


def _list(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    data = api.get(f"/api/repos/{repo}/actions/runs", workflow=args.workflow, status=args.status,
                   branch=args.branch, event=args.event, limit=args.limit)
    emit(data, args.json, rows=[_run_row(r) for r in data["runs"]], columns=RUN_COLUMNS)
    return 0


def _view(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    run = api.get(f"/api/repos/{repo}/actions/runs/{args.run}")["run"]
    if args.attempt:  # an earlier attempt: its own status and jobs
        shown = api.get(f"/api/repos/{repo}/actions/runs/{args.run}/attempts/{args.attempt}")["attempt"]
        run = {**run, **{k: shown[k] for k in ("run_attempt", "status", "conclusion")}}
    jobs = api.get(f"/api/repos/{repo}/actions/runs/{args.run}/jobs", attempt=args.attempt)["jobs"]
    if args.json:
        emit({"run": run, "jobs": jobs}, True)
        return 0
    print(f"{run['name']} #{run['run_number']} (attempt {run['run_attempt']}): {run['status']}"
          f"{' / ' + run['conclusion'] if run.get('conclusion') else ''}  {run['event']} {run['ref']} {run['sha'][:10]}")
    for job in jobs:
        reused = "  [reused]" if job.get("reused_from") else ""
        print(f"  {job['conclusion'] or job['status']:<11} {job['name']}  ({job['id']}){reused}")
        for step in job.get("steps", []):
            print(f"      {step['conclusion'] or step['status']:<11} {step['number']}. {step['name']}")
    return 0


def _dispatch(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    inputs = {}
    for item in args.input or []:
        if "=" not in item:
            raise CliError(f"--input takes key=value, got {item!r}")
        key, value = item.split("=", 1)
        inputs[key] = value
    run = api.post(f"/api/repos/{repo}/actions/runs", {"workflow": args.name, "ref": args.ref or "", "inputs": inputs})[
        "run"]
    emit({"run": run}, args.json, message=f"started {run['name']} #{run['run_number']} ({run['id']})")
    if args.follow:
        return follow_logs(api, repo, run["id"], as_json=args.json)
    return 0


def _cancel(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    run = api.post(f"/api/repos/{repo}/actions/runs/{args.run}/cancel")["run"]
    emit({"run": run}, args.json, message=f"cancellation requested for {run['id']}")
    return 0


def _rerun(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    run = api.post(f"/api/repos/{repo}/actions/runs/{args.run}/rerun", {"failed_only": args.failed})["run"]
    emit({"run": run}, args.json, message=f"re-running {run['id']} (attempt {run['run_attempt']})")
    return 0


def _logs(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    if args.follow:
        return follow_logs(api, repo, args.run, as_json=args.json, job=args.job)
    jobs = api.get(f"/api/repos/{repo}/actions/runs/{args.run}/jobs", attempt=args.attempt)["jobs"]
    for job in jobs:
        if args.job and args.job not in (job["id"], job["name"], job["job_key"]):
            continue
        response = api.http.get(f"/api/repos/{repo}/actions/jobs/{job['id']}/logs", params={"limit": 4194304})
        print(f"=== {job['name']} ({job['conclusion'] or job['status']}) ===")
        sys.stdout.write(response.text)
    return 0


def _sse(api: ApiClient, path: str, offset: int) -> Any:
    headers = {"Accept": "text/event-stream", "Last-Event-ID": str(offset)}
    with api.http.stream("GET", path, headers=headers, timeout=httpx.Timeout(60, connect=10)) as response:
        if response.is_error:
            response.read()
            raise CliError(f"{response.status_code} {response.reason_phrase}", status=response.status_code)
        for _, event, data in parse_sse(response.iter_lines()):
            yield event, data


def follow_logs(api: ApiClient, repo: str, run_id: str, *, as_json: bool = False, job: str | None = None) -> int:
    """Stream each job's log as it runs (jobs in start order), then report the run's conclusion."""
    done: set[str] = set()
    offsets: dict[str, int] = {}
    while True:
        run = api.get(f"/api/repos/{repo}/actions/runs/{run_id}")["run"]
        jobs = api.get(f"/api/repos/{repo}/actions/runs/{run_id}/jobs")["jobs"]
        pending = [j for j in jobs if j["id"] not in done and (not job or job in (j["id"], j["name"], j["job_key"]))]
        started = [j for j in pending if j["status"] != "queued" or j["conclusion"]]
        if not started:
            if run["status"] in ("completed", "cancelled") and not [j for j in pending if not j["conclusion"]]:
                break
            time.sleep(0.5)
            continue
        current = sorted(started, key=lambda j: j.get("started_at") or "")[0]
        if not as_json:
            print(f"=== {current['name']} ===", flush=True)
        failures = 0
        while True:
            try:
                for event, data in _sse(api, f"/api/repos/{repo}/actions/jobs/{current['id']}/logs/sse",
                                        offsets.get(current["id"], 0)):
                    if event == "log":
                        offsets[current["id"]] = data["next_offset"]
                        if as_json:
                            print(json.dumps({"job_id": current["id"], **data}), flush=True)
                        else:
                            sys.stdout.write(data["text"])
                            sys.stdout.flush()
                    elif event == "end":
                        break
                break
            except (httpx.HTTPError, CliError):
                failures += 1
                if failures > 20:
                    raise
                time.sleep(min(5, 0.5 * failures))
        done.add(current["id"])
    run = api.get(f"/api/repos/{repo}/actions/runs/{run_id}")["run"]
    if not as_json:
        print(f"run {run['id']}: {run['status']} / {run.get('conclusion') or '-'}")
    return 0 if run.get("conclusion") == "success" else 1


def _workflows(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    data = api.get(f"/api/repos/{repo}/workflows")
    rows = [{"path": w["path"], "name": w["name"], "valid": "yes" if w["is_valid"] else "NO",
             "triggers": ",".join(w["triggers"]), "error": (w["errors"] or [""])[0]} for w in data["workflows"]]
    emit(data, args.json, rows=rows, columns=["path", "name", "valid", "triggers", "error"])
    return 0


def _secrets(args: argparse.Namespace, api: ApiClient) -> int:
    repo = resolve_repo(api, args.repo)
    base = f"/api/repos/{repo}/actions/secrets"
    if args.action == "list":
        data = api.get(base)
        emit(data, args.json, rows=data["secrets"], columns=["name", "updated_at"])
    elif args.action == "set":
        value = args.value if args.value is not None else sys.stdin.read().rstrip("\n")
        emit(api.put(f"{base}/{args.name}", {"value": value}), args.json, message=f"saved {args.name}")
    else:
        emit(api.delete(f"{base}/{args.name}"), args.json, message=f"deleted {args.name}")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    repo = argparse.ArgumentParser(add_help=False)
    repo.add_argument("--repo", "-R", help="OWNER/NAME or repository id (default: $TAKOS_REPO)")
    parents = [common, repo]
    actions = sub.add_parser("actions", parents=[common], help="workflow runs (CI)").add_subparsers(
        dest="sub", required=True)
    p = actions.add_parser("list", parents=parents, help="list workflow runs")
    p.add_argument("--workflow")
    p.add_argument("--status")
    p.add_argument("--branch")
    p.add_argument("--event")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(handler=_list)
    p = actions.add_parser("view", parents=parents, help="a run with its jobs and steps")
    p.add_argument("run")
    p.add_argument("--attempt", type=int, help="an earlier attempt (default: the latest)")
    p.set_defaults(handler=_view)
    p = actions.add_parser("logs", parents=parents, help="print job logs; --follow streams them live")
    p.add_argument("run")
    p.add_argument("--job", help="only this job (id, name or key)")
    p.add_argument("--follow", "-f", action="store_true")
    p.add_argument("--attempt", type=int, help="logs of an earlier attempt (default: the latest)")
    p.set_defaults(handler=_logs)
    p = actions.add_parser("rerun", parents=parents, help="re-run a completed run")
    p.add_argument("run")
    p.add_argument("--failed", action="store_true", help="only failed jobs (and their dependants)")
    p.set_defaults(handler=_rerun)
    p = actions.add_parser("cancel", parents=parents, help="cancel a run")
    p.add_argument("run")
    p.set_defaults(handler=_cancel)
    for name, target in (("dispatch", actions),):
        p = target.add_parser(name, parents=parents, help="start a workflow_dispatch run")
        _dispatch_args(p)
    p = actions.add_parser("workflows", parents=parents, help="the workflow registry (validity, errors)")
    p.set_defaults(handler=_workflows)
    p = actions.add_parser("secrets", parents=parents, help="repository secrets (admin)")
    p.add_argument("action", choices=["list", "set", "delete"])
    p.add_argument("name", nargs="?")
    p.add_argument("value", nargs="?", help="the value (default: read from stdin)")
    p.set_defaults(handler=_secrets)

    workflow = sub.add_parser("workflow", parents=[common], help="workflow files").add_subparsers(
        dest="sub", required=True)
    p = workflow.add_parser("run", parents=parents, help="start a workflow_dispatch run")
    _dispatch_args(p)
    p = workflow.add_parser("list", parents=parents, help="the workflow registry")
    p.set_defaults(handler=_workflows)


def _dispatch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="workflow file (ci.yml), path or name")
    p.add_argument("--ref", help="branch, tag or sha (default: the default branch)")
    p.add_argument("--input", "-i", action="append", metavar="KEY=VALUE")
    p.add_argument("--follow", "-f", action="store_true", help="stream the logs until the run ends")
    p.set_defaults(handler=_dispatch)

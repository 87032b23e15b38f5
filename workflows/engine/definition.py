"""Parse and validate `.takos/workflows/*.yml` into a normalised dict.

`parse_workflow(text)` never raises: it returns a `ParseResult` with either the normalised
definition or a list of readable error messages (invalid YAML, unknown keys, bad
expressions, unknown `needs`, cycles, bad cron, ...). The normalised form is what runs
snapshot and execute:

    {"name", "run_name", "on": {event: config}, "env", "defaults", "concurrency",
     "jobs": {key: {"key", "name", "runs_on", "needs": [..], "if", "env", "timeout_minutes",
                    "strategy": {"matrix", "fail_fast", "max_parallel"} | None, "outputs",
                    "concurrency", "continue_on_error", "defaults",
                    "steps": [{"index", "id", "name", "run", "uses", "with", "env", "if", "shell",
                               "working_directory", "continue_on_error", "timeout_minutes"}]}}}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from workflows.engine import expressions as ex
from workflows.engine.filters import CronError, parse_cron

EVENTS = {"push", "pull_request", "workflow_dispatch", "schedule"}
TOP_KEYS = {"name", "run-name", "on", "env", "defaults", "jobs", "concurrency", "permissions"}
JOB_KEYS = {"name", "runs-on", "needs", "if", "env", "timeout-minutes", "strategy", "outputs", "concurrency",
            "steps", "continue-on-error", "defaults", "permissions", "environment"}
STEP_KEYS = {"id", "name", "run", "uses", "with", "env", "if", "shell", "working-directory", "continue-on-error",
             "timeout-minutes"}
PUSH_KEYS = {"branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore"}
PR_KEYS = {"branches", "branches-ignore", "paths", "paths-ignore", "types"}
PR_TYPES = {"opened", "synchronize", "reopened", "closed", "edited"}
INPUT_KEYS = {"description", "required", "default", "type", "options"}
INPUT_TYPES = {"string", "boolean", "choice", "number", "environment"}
SHELLS = {"bash", "sh", "python", "python3", "pwsh"}
ACTIONS = {"checkout", "upload-artifact", "download-artifact"}
ACTION_INPUTS = {
    "checkout": {"ref", "path", "fetch-depth", "repository", "token", "clean"},
    "upload-artifact": {"name", "path", "retention-days", "if-no-files-found", "overwrite"},
    "download-artifact": {"name", "path"},
}
JOB_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
STEP_ID_RE = JOB_ID_RE
MAX_MATRIX = 256

# Contexts available per place (GitHub's context availability table, `takos` = `github`).
_BASE = {"github", "takos", "inputs", "vars"}
CTX_WORKFLOW_ENV = _BASE | {"secrets"}
CTX_WORKFLOW_CONCURRENCY = _BASE
CTX_JOB_IF = _BASE | {"needs"}
CTX_JOB = _BASE | {"needs", "strategy", "matrix"}
CTX_JOB_ENV = CTX_JOB | {"secrets"}
CTX_STEP = CTX_JOB_ENV | {"job", "runner", "env", "steps"}


@dataclass
class ParseResult:
    definition: dict[str, Any] | None
    errors: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors and self.definition is not None


class _Loader(yaml.SafeLoader):
    """YAML 1.2-style booleans: only true/false, so the key `on` stays a string."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)


class _Errors(list):
    def add(self, where: str, message: str) -> None:
        self.append(f"{where}: {message}" if where else message)


def _str_list(value: Any, where: str, errors: _Errors) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return [str(v) for v in value]
    errors.add(where, "must be a string or a list of strings")
    return None


def _check_expr(value: Any, where: str, allowed: set[str], errors: _Errors) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_expr(v, f"{where}.{k}", allowed, errors)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_expr(v, f"{where}[{i}]", allowed, errors)
    elif isinstance(value, str) and "${{" in value:
        try:
            ex.check_template(value, allowed)
        except ex.ExpressionError as exc:
            errors.add(where, str(exc))


def _env(value: Any, where: str, allowed: set[str], errors: _Errors) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(where, "must be a mapping of NAME: value")
        return {}
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k:
            errors.add(where, f"invalid variable name {k!r}")
            continue
        if isinstance(v, (dict, list)):
            errors.add(f"{where}.{k}", "must be a string, number or boolean")
            continue
        out[k] = v if isinstance(v, str) else ex.to_string(v)
    _check_expr(out, where, allowed, errors)
    return out


def _unknown(keys: Any, allowed: set[str], where: str, errors: _Errors) -> None:
    for key in keys:
        if key not in allowed:
            errors.add(where, f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")


def _triggers(raw: Any, errors: _Errors) -> dict[str, Any]:
    if raw is None:
        errors.add("on", "is required (push, pull_request, workflow_dispatch or schedule)")
        return {}
    if isinstance(raw, str):
        raw = {raw: None}
    elif isinstance(raw, list):
        raw = {str(item): None for item in raw}
    if not isinstance(raw, dict):
        errors.add("on", "must be an event name, a list of events or a mapping")
        return {}
    out: dict[str, Any] = {}
    for event, config in raw.items():
        where = f"on.{event}"
        if event not in EVENTS:
            errors.add("on", f"unsupported event '{event}' (supported: {', '.join(sorted(EVENTS))})")
            continue
        if event == "schedule":
            if not isinstance(config, list) or not config:
                errors.add(where, "must be a list of {cron: '...'} entries")
                continue
            crons = []
            for i, item in enumerate(config):
                if not isinstance(item, dict) or set(item) != {"cron"} or not isinstance(item["cron"], str):
                    errors.add(f"{where}[{i}]", "must be a mapping with only a 'cron' string")
                    continue
                try:
                    parse_cron(item["cron"])
                except CronError as exc:
                    errors.add(f"{where}[{i}].cron", str(exc))
                    continue
                crons.append({"cron": item["cron"]})
            out[event] = crons
            continue
        config = config or {}
        if not isinstance(config, dict):
            errors.add(where, "must be a mapping")
            continue
        if event == "push":
            _unknown(config, PUSH_KEYS, where, errors)
            for a, b in (("branches", "branches-ignore"), ("tags", "tags-ignore"), ("paths", "paths-ignore")):
                if a in config and b in config:
                    errors.add(where, f"'{a}' and '{b}' cannot be used together")
            out[event] = {k.replace("-", "_"): _str_list(v, f"{where}.{k}", errors) for k, v in config.items()}
        elif event == "pull_request":
            _unknown(config, PR_KEYS, where, errors)
            norm = {k.replace("-", "_"): _str_list(v, f"{where}.{k}", errors) for k, v in config.items()}
            for t in norm.get("types") or []:
                if t not in PR_TYPES:
                    errors.add(f"{where}.types", f"unknown type '{t}' (allowed: {', '.join(sorted(PR_TYPES))})")
            out[event] = norm
        elif event == "workflow_dispatch":
            _unknown(config, {"inputs"}, where, errors)
            inputs = config.get("inputs") or {}
            if not isinstance(inputs, dict):
                errors.add(f"{where}.inputs", "must be a mapping")
                inputs = {}
            norm_inputs = {}
            for name, spec in inputs.items():
                spec = spec or {}
                iw = f"{where}.inputs.{name}"
                if not isinstance(spec, dict):
                    errors.add(iw, "must be a mapping")
                    continue
                _unknown(spec, INPUT_KEYS, iw, errors)
                itype = spec.get("type", "string")
                if itype not in INPUT_TYPES:
                    errors.add(f"{iw}.type", f"unknown input type '{itype}'")
                options = spec.get("options")
                if itype == "choice" and (not isinstance(options, list) or not options):
                    errors.add(f"{iw}.options", "a choice input needs a non-empty options list")
                norm_inputs[str(name)] = {
                    "description": str(spec.get("description", "")), "required": bool(spec.get("required", False)),
                    "default": spec.get("default"), "type": itype,
                    "options": [str(o) for o in options] if isinstance(options, list) else None,
                }
            out[event] = {"inputs": norm_inputs}
    return out


def _concurrency(raw: Any, where: str, allowed: set[str], errors: _Errors) -> dict[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"group": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("group"), str) or not raw["group"]:
        errors.add(where, "must be a group name or {group, cancel-in-progress}")
        return None
    _unknown(raw, {"group", "cancel-in-progress"}, where, errors)
    _check_expr(raw["group"], f"{where}.group", allowed, errors)
    cip = raw.get("cancel-in-progress", False)
    if isinstance(cip, str):
        _check_expr(cip, f"{where}.cancel-in-progress", allowed, errors)
    elif not isinstance(cip, bool):
        errors.add(f"{where}.cancel-in-progress", "must be a boolean or an expression")
    return {"group": raw["group"], "cancel_in_progress": cip}


def _defaults(raw: Any, where: str, errors: _Errors) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - {"run"} or not isinstance(raw.get("run", {}), dict):
        errors.add(where, "only 'run: {shell, working-directory}' is supported")
        return {}
    run = raw.get("run") or {}
    _unknown(run, {"shell", "working-directory"}, f"{where}.run", errors)
    return {"shell": run.get("shell"), "working_directory": run.get("working-directory")}


def _timeout(raw: Any, where: str, errors: _Errors) -> Any:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        errors.add(where, "must be a number of minutes")
        return None
    if isinstance(raw, str) and "${{" not in raw:
        try:
            raw = float(raw)
        except ValueError:
            errors.add(where, "must be a number of minutes")
            return None
    if isinstance(raw, (int, float)) and raw <= 0:
        errors.add(where, "must be positive")
        return None
    return raw


def action_name(uses: str) -> str | None:
    """'takos/checkout@v4' / 'actions/checkout' -> 'checkout'; None for anything else."""
    base = uses.split("@", 1)[0].strip().lower()
    owner, _, name = base.partition("/")
    if owner in ("takos", "actions") and name in ACTIONS:
        return name
    return None


def _steps(raw: Any, where: str, job_defaults: dict[str, Any], errors: _Errors) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        errors.add(where, "must be a non-empty list of steps")
        return []
    steps = []
    ids: set[str] = set()
    for i, step in enumerate(raw):
        sw = f"{where}[{i}]"
        if not isinstance(step, dict):
            errors.add(sw, "must be a mapping")
            continue
        _unknown(step, STEP_KEYS, sw, errors)
        run, uses = step.get("run"), step.get("uses")
        if (run is None) == (uses is None):
            errors.add(sw, "needs exactly one of 'run' or 'uses'")
        if run is not None and not isinstance(run, (str, int, float)):
            errors.add(f"{sw}.run", "must be a string")
            run = None
        if uses is not None:
            if not isinstance(uses, str) or action_name(uses) is None:
                errors.add(f"{sw}.uses", f"unknown action '{uses}' (built in: takos/checkout, "
                           "takos/upload-artifact, takos/download-artifact; actions/* are aliases)")
            else:
                with_ = step.get("with") or {}
                if not isinstance(with_, dict):
                    errors.add(f"{sw}.with", "must be a mapping")
                else:
                    _unknown(with_, ACTION_INPUTS[action_name(uses) or "checkout"], f"{sw}.with", errors)
                    if action_name(uses) == "upload-artifact" and not with_.get("path"):
                        errors.add(f"{sw}.with", "upload-artifact needs 'path'")
        step_id = step.get("id")
        if step_id is not None:
            step_id = str(step_id)
            if not STEP_ID_RE.match(step_id):
                errors.add(f"{sw}.id", f"invalid step id '{step_id}'")
            elif step_id in ids:
                errors.add(f"{sw}.id", f"duplicate step id '{step_id}'")
            ids.add(step_id)
        shell = step.get("shell") or job_defaults.get("shell")
        if shell is not None and str(shell).split()[0] not in SHELLS and "{0}" not in str(shell):
            errors.add(f"{sw}.shell", f"unsupported shell '{shell}' (bash, sh, python or a template with {{0}})")
        cont = step.get("continue-on-error", False)
        if not isinstance(cont, (bool, str)):
            errors.add(f"{sw}.continue-on-error", "must be a boolean or an expression")
        if "if" in step:
            try:
                ex.check_condition(step["if"], CTX_STEP)
            except ex.ExpressionError as exc:
                errors.add(f"{sw}.if", str(exc))
        env = _env(step.get("env"), f"{sw}.env", CTX_STEP, errors)
        for key in ("run", "with", "name", "working-directory", "shell"):
            _check_expr(step.get(key), f"{sw}.{key}", CTX_STEP, errors)
        if isinstance(cont, str):
            _check_expr(cont, f"{sw}.continue-on-error", CTX_STEP, errors)
        name = step.get("name")
        if name is None:
            if uses:
                name = f"Run {uses}"
            elif run is not None and str(run).strip():
                name = f"Run {str(run).strip().splitlines()[0][:80]}"
            else:
                name = f"Step {i + 1}"
        steps.append({
            "index": i, "id": step_id, "name": str(name), "run": None if run is None else str(run),
            "uses": uses, "action": action_name(uses) if isinstance(uses, str) else None,
            "with": step.get("with") or {}, "env": env, "if": step.get("if"),
            "shell": shell, "working_directory": step.get("working-directory") or job_defaults.get("working_directory"),
            "continue_on_error": cont, "timeout_minutes": _timeout(step.get("timeout-minutes"), f"{sw}.timeout-minutes",
                                                                   errors),
        })
    return steps


def _strategy(raw: Any, where: str, errors: _Errors) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors.add(where, "must be a mapping")
        return None
    _unknown(raw, {"matrix", "fail-fast", "max-parallel"}, where, errors)
    matrix = raw.get("matrix")
    if isinstance(matrix, str):
        _check_expr(matrix, f"{where}.matrix", CTX_JOB_IF, errors)
    elif isinstance(matrix, dict):
        for key, values in matrix.items():
            mw = f"{where}.matrix.{key}"
            if key in ("include", "exclude"):
                if isinstance(values, str):
                    _check_expr(values, mw, CTX_JOB_IF, errors)
                elif not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
                    errors.add(mw, "must be a list of mappings")
            elif isinstance(values, str) and "${{" in values:
                _check_expr(values, mw, CTX_JOB_IF, errors)
            elif not isinstance(values, list) or not values:
                errors.add(mw, "must be a non-empty list of values")
        if not (set(matrix) - {"include", "exclude"}) and not matrix.get("include"):
            errors.add(f"{where}.matrix", "needs at least one variable or an include list")
    else:
        errors.add(f"{where}.matrix", "is required in a strategy and must be a mapping")
        matrix = None
    fail_fast = raw.get("fail-fast", True)
    max_parallel = raw.get("max-parallel")
    if max_parallel is not None and (not isinstance(max_parallel, int) or max_parallel < 1):
        errors.add(f"{where}.max-parallel", "must be a positive integer")
    return {"matrix": matrix, "fail_fast": fail_fast, "max_parallel": max_parallel}


def _job(key: str, raw: Any, errors: _Errors) -> dict[str, Any] | None:
    where = f"jobs.{key}"
    if not JOB_ID_RE.match(key):
        errors.add(where, "job ids must start with a letter or _ and contain only letters, digits, - and _")
    if not isinstance(raw, dict):
        errors.add(where, "must be a mapping")
        return None
    _unknown(raw, JOB_KEYS, where, errors)
    runs_on = raw.get("runs-on")
    if runs_on is None:
        errors.add(where, "'runs-on' is required")
    elif isinstance(runs_on, list):
        if len(runs_on) != 1 or not isinstance(runs_on[0], str):
            errors.add(f"{where}.runs-on", "must be a single runner label")
        runs_on = runs_on[0] if runs_on else None
    elif not isinstance(runs_on, str):
        errors.add(f"{where}.runs-on", "must be a runner label")
        runs_on = None
    _check_expr(runs_on, f"{where}.runs-on", CTX_JOB, errors)
    needs = _str_list(raw.get("needs"), f"{where}.needs", errors) or []
    if "if" in raw:
        try:
            ex.check_condition(raw["if"], CTX_JOB_IF)
        except ex.ExpressionError as exc:
            errors.add(f"{where}.if", str(exc))
    outputs = raw.get("outputs") or {}
    if not isinstance(outputs, dict):
        errors.add(f"{where}.outputs", "must be a mapping of name: expression")
        outputs = {}
    outputs = {str(k): ex.to_string(v) if not isinstance(v, str) else v for k, v in outputs.items()}
    _check_expr(outputs, f"{where}.outputs", CTX_STEP, errors)
    _check_expr(raw.get("name"), f"{where}.name", CTX_JOB, errors)
    defaults = _defaults(raw.get("defaults"), f"{where}.defaults", errors)
    cont = raw.get("continue-on-error", False)
    if not isinstance(cont, (bool, str)):
        errors.add(f"{where}.continue-on-error", "must be a boolean or an expression")
    return {
        "key": key, "name": None if raw.get("name") is None else str(raw["name"]), "runs_on": runs_on,
        "needs": needs, "if": raw.get("if"), "env": _env(raw.get("env"), f"{where}.env", CTX_JOB_ENV, errors),
        "timeout_minutes": _timeout(raw.get("timeout-minutes"), f"{where}.timeout-minutes", errors),
        "strategy": _strategy(raw.get("strategy"), f"{where}.strategy", errors), "outputs": outputs,
        "concurrency": _concurrency(raw.get("concurrency"), f"{where}.concurrency", CTX_JOB, errors),
        "continue_on_error": cont, "defaults": defaults,
        "steps": _steps(raw.get("steps"), f"{where}.steps", defaults, errors),
    }


def _check_graph(jobs: dict[str, dict[str, Any]], errors: _Errors) -> None:
    for key, job in jobs.items():
        for need in job["needs"]:
            if need not in jobs:
                errors.add(f"jobs.{key}.needs", f"unknown job '{need}'")
            elif need == key:
                errors.add(f"jobs.{key}.needs", "a job cannot need itself")
    state: dict[str, int] = {}

    def visit(key: str, path: list[str]) -> None:
        state[key] = 1
        for need in jobs[key]["needs"]:
            if need not in jobs or need == key:
                continue
            if state.get(need) == 1:
                cycle = [*path[path.index(need):], need] if need in path else [key, need]
                errors.add("jobs", f"the needs of {' -> '.join(cycle)} form a cycle")
            elif state.get(need) is None:
                visit(need, [*path, need])
        state[key] = 2

    for key in jobs:
        if state.get(key) is None:
            visit(key, [key])


def parse_workflow(text: str | bytes) -> ParseResult:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return ParseResult(None, ["The file is not valid UTF-8."])
    errors = _Errors()
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return ParseResult(None, [f"Invalid YAML{where}: {problem}"])
    if not isinstance(raw, dict):
        return ParseResult(None, ["The workflow must be a YAML mapping with 'on' and 'jobs'."])
    _unknown(raw, TOP_KEYS, "", errors)
    triggers = _triggers(raw.get("on"), errors)
    env = _env(raw.get("env"), "env", CTX_WORKFLOW_ENV, errors)
    _check_expr(raw.get("run-name"), "run-name", _BASE, errors)
    jobs_raw = raw.get("jobs")
    jobs: dict[str, dict[str, Any]] = {}
    if not isinstance(jobs_raw, dict) or not jobs_raw:
        errors.add("jobs", "is required and must map job ids to jobs")
    else:
        for key, job_raw in jobs_raw.items():
            job = _job(str(key), job_raw, errors)
            if job is not None:
                jobs[str(key)] = job
        _check_graph(jobs, errors)
    definition = {
        "name": None if raw.get("name") is None else str(raw["name"]),
        "run_name": raw.get("run-name"), "on": triggers, "env": env,
        "defaults": _defaults(raw.get("defaults"), "defaults", errors),
        "concurrency": _concurrency(raw.get("concurrency"), "concurrency", CTX_WORKFLOW_CONCURRENCY, errors),
        "jobs": jobs,
    }
    # Workflow-level defaults apply to jobs without their own.
    for job in jobs.values():
        for step in job["steps"]:
            if step["shell"] is None:
                step["shell"] = definition["defaults"].get("shell")
            if step["working_directory"] is None:
                step["working_directory"] = definition["defaults"].get("working_directory")
    return ParseResult(definition if not errors else None, list(errors))


def topological_order(jobs: dict[str, dict[str, Any]]) -> list[str]:
    """Job keys so every job comes after its needs (file order among independent jobs)."""
    order: list[str] = []
    done: set[str] = set()

    def visit(key: str) -> None:
        if key in done:
            return
        done.add(key)
        for need in jobs[key]["needs"]:
            visit(need)
        order.append(key)

    for key in jobs:
        visit(key)
    return order


def ancestors(jobs: dict[str, dict[str, Any]], key: str) -> set[str]:
    seen: set[str] = set()
    stack = list(jobs[key]["needs"])
    while stack:
        k = stack.pop()
        if k not in seen:
            seen.add(k)
            stack.extend(jobs[k]["needs"])
    return seen

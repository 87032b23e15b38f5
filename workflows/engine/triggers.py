"""Does an event start a workflow? (push branch/tag/path filters, pull_request, dispatch inputs.)"""

from __future__ import annotations

from typing import Any

from workflows.engine.filters import filter_passes, paths_pass


def push_matches(triggers: dict[str, Any], ref: str, changed: list[str] | None) -> bool:
    """`ref` is a full ref name; `changed` the changed paths (None = unknown, e.g. a new branch)."""
    if "push" not in triggers:
        return False
    cfg = triggers["push"] or {}
    branches, branches_ignore = cfg.get("branches"), cfg.get("branches_ignore")
    tags, tags_ignore = cfg.get("tags"), cfg.get("tags_ignore")
    if ref.startswith("refs/heads/"):
        name = ref[len("refs/heads/"):]
        has_branch_filter = branches is not None or branches_ignore is not None
        has_tag_filter = tags is not None or tags_ignore is not None
        if not has_branch_filter and has_tag_filter:
            return False  # only tags were asked for
        if not filter_passes(name, branches, branches_ignore):
            return False
    elif ref.startswith("refs/tags/"):
        name = ref[len("refs/tags/"):]
        has_branch_filter = branches is not None or branches_ignore is not None
        has_tag_filter = tags is not None or tags_ignore is not None
        if has_branch_filter and not has_tag_filter:
            return False  # only branches were asked for
        return filter_passes(name, tags, tags_ignore)  # GitHub ignores path filters for tag pushes
    else:
        return False
    return paths_pass(changed, cfg.get("paths"), cfg.get("paths_ignore"))


def pull_request_matches(triggers: dict[str, Any], *, action: str, base_branch: str,
                         changed: list[str] | None) -> bool:
    if "pull_request" not in triggers:
        return False
    cfg = triggers["pull_request"] or {}
    types = cfg.get("types") or ["opened", "synchronize", "reopened"]
    if action not in types:
        return False
    if not filter_passes(base_branch, cfg.get("branches"), cfg.get("branches_ignore")):
        return False
    return paths_pass(changed, cfg.get("paths"), cfg.get("paths_ignore"))


class InputError(ValueError):
    pass


def dispatch_inputs(triggers: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Validate workflow_dispatch inputs and fill defaults; raises InputError with a clear message."""
    if "workflow_dispatch" not in triggers:
        raise InputError("This workflow has no workflow_dispatch trigger.")
    spec = (triggers["workflow_dispatch"] or {}).get("inputs") or {}
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise InputError(f"Unknown input '{unknown[0]}'.")
    out: dict[str, Any] = {}
    for name, item in spec.items():
        value = given.get(name, item.get("default"))
        if value is None or value == "":
            if item.get("required"):
                raise InputError(f"Input '{name}' is required.")
            value = False if item["type"] == "boolean" else ""
        if item["type"] == "boolean":
            if isinstance(value, str):
                if value.lower() not in ("true", "false"):
                    raise InputError(f"Input '{name}' must be true or false.")
                value = value.lower() == "true"
            value = bool(value)
        elif item["type"] == "number" and value != "":
            try:
                value = float(value)
                value = int(value) if value.is_integer() else value
            except (TypeError, ValueError):
                raise InputError(f"Input '{name}' must be a number.") from None
        elif item["type"] == "choice":
            value = str(value)
            if value not in (item.get("options") or []):
                raise InputError(f"Input '{name}' must be one of: {', '.join(item.get('options') or [])}.")
        else:
            value = str(value)
        out[name] = value
    return out

"""`strategy.matrix` expansion with GitHub's include/exclude rules.

1. The cartesian product of the matrix variables (in declaration order).
2. `exclude` entries remove every combination they partially match.
3. Each `include` entry is merged into every combination where it does not overwrite an
   original matrix value (values added by earlier includes may be overwritten); an entry
   that fits no combination becomes a combination of its own.
"""

from __future__ import annotations

import itertools
from typing import Any

from workflows.engine import expressions as ex


class MatrixError(ValueError):
    pass


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, dict) or isinstance(b, dict) or isinstance(a, list) or isinstance(b, list):
        return a == b
    return ex.loose_equal(a, b)


def expand(matrix: dict[str, Any] | None, *, limit: int = 256) -> list[dict[str, Any]]:
    """The list of combinations; [{}] when there is no matrix."""
    if not matrix:
        return [{}]
    include = matrix.get("include") or []
    exclude = matrix.get("exclude") or []
    if not isinstance(include, list) or not isinstance(exclude, list):
        raise MatrixError("matrix include/exclude must be lists")
    keys = [k for k in matrix if k not in ("include", "exclude")]
    for key in keys:
        if not isinstance(matrix[key], list) or not matrix[key]:
            raise MatrixError(f"matrix variable '{key}' must be a non-empty list")
    combos: list[dict[str, Any]] = (
        [dict(zip(keys, values, strict=True)) for values in itertools.product(*(matrix[k] for k in keys))]
        if keys else []
    )
    for entry in exclude:
        if not isinstance(entry, dict):
            raise MatrixError("matrix exclude entries must be mappings")
        unknown = set(entry) - set(keys)
        if unknown:
            raise MatrixError(f"matrix exclude uses unknown variable '{sorted(unknown)[0]}'")
        combos = [c for c in combos if not all(_eq(c.get(k), v) for k, v in entry.items())]
    originals = [dict(c) for c in combos]
    extra: list[dict[str, Any]] = []
    for entry in include:
        if not isinstance(entry, dict):
            raise MatrixError("matrix include entries must be mappings")
        matched = False
        for combo, original in zip(combos, originals, strict=True):
            if all(_eq(original[k], v) for k, v in entry.items() if k in original):
                combo.update(entry)
                matched = True
        if not matched:
            extra.append(dict(entry))
    combos.extend(extra)
    if not combos:
        raise MatrixError("the matrix has no combinations left after exclude")
    if len(combos) > limit:
        raise MatrixError(f"the matrix has {len(combos)} combinations; the limit is {limit}")
    return combos


def display_suffix(combo: dict[str, Any]) -> str:
    """' (3.11, linux)' for a job name; flattens nested values like GitHub."""
    if not combo:
        return ""
    parts = []
    for value in combo.values():
        if isinstance(value, dict):
            parts.extend(ex.to_string(v) for v in value.values())
        else:
            parts.append(ex.to_string(value))
    return " (" + ", ".join(parts) + ")"

"""Output: JSON with --json, otherwise a plain aligned table or key: value lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any


def emit(data: Any, as_json: bool, *, columns: Sequence[str] | None = None, rows: list[dict] | None = None,
         message: str | None = None) -> None:
    if as_json:
        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    if message:
        print(message)
    if rows is not None and columns:
        table(rows, columns)
    elif rows is None and isinstance(data, dict) and not message:
        for key, value in data.items():
            print(f"{key}: {value}")


def table(rows: list[dict], columns: Sequence[str]) -> None:
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())

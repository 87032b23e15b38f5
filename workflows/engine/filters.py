"""Branch/tag/path filter patterns (GitHub Actions glob syntax) and a small cron matcher."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """`*` any run of characters except `/`, `**` any run including `/`, `?` one character (or the
    preceding character optional, as in GitHub: `a?` after a literal), `+` one or more of the preceding
    character, `[...]` a character class. Everything else is literal."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("?" if out and out[-1] not in (".*", "[^/]*") else "[^/]")
        elif ch == "+":
            out.append("+" if out else re.escape(ch))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                out.append("[" + pattern[i + 1:end].replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def matches_any(value: str, patterns: list[str]) -> bool:
    """GitHub filter semantics: patterns are checked in order; `!pattern` excludes a previous match."""
    matched = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if matched and glob_regex(pattern[1:]).match(value):
                matched = False
        elif glob_regex(pattern).match(value):
            matched = True
    return matched


def filter_passes(value: str, include: list[str] | None, exclude: list[str] | None) -> bool:
    if include is not None:
        return matches_any(value, include)
    if exclude is not None:
        return not matches_any(value, exclude)
    return True


def paths_pass(changed: list[str] | None, include: list[str] | None, exclude: list[str] | None) -> bool:
    """At least one changed file must pass. Unknown changes (None: new branch) always pass."""
    if (include is None and exclude is None) or changed is None:
        return True
    if include is not None:
        return any(matches_any(path, include) for path in changed)
    assert exclude is not None
    return any(not matches_any(path, exclude) for path in changed)


# --- cron ------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_FIELDS = [("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
           ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS)]


class CronError(ValueError):
    pass


def _parse_field(text: str, name: str, lo: int, hi: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()

    def num(token: str) -> int:
        token = token.lower()
        if token in names:
            return names[token]
        if not token.isdigit():
            raise CronError(f"invalid {name} value '{token}'")
        value = int(token)
        if not lo <= value <= hi:
            raise CronError(f"{name} value {value} is outside {lo}-{hi}")
        return value

    for part in text.split(","):
        if not part:
            raise CronError(f"empty {name} field item")
        rng, _, step_s = part.partition("/")
        step = 1
        if step_s:
            if not step_s.isdigit() or int(step_s) == 0:
                raise CronError(f"invalid step '{step_s}' in {name}")
            step = int(step_s)
        if rng == "*":
            start, end = lo, hi
        elif "-" in rng:
            a, _, b = rng.partition("-")
            start, end = num(a), num(b)
            if start > end:
                raise CronError(f"range {rng} in {name} goes backwards")
        else:
            start = num(rng)
            end = hi if step_s else start
        values.update(range(start, end + 1, step))
    if name == "day of week" and 7 in values:
        values.discard(7)
        values.add(0)
    return values


@lru_cache(maxsize=256)
def parse_cron(expr: str) -> tuple[set[int], ...]:
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(f"cron '{expr}' must have 5 fields (minute hour day month weekday)")
    return tuple(_parse_field(text, *spec) for text, spec in zip(fields, _FIELDS, strict=True))


def cron_matches(expr: str, when: datetime) -> bool:
    minute, hour, dom, month, dow = parse_cron(expr)
    if when.minute not in minute or when.hour not in hour or when.month not in month:
        return False
    weekday = (when.weekday() + 1) % 7  # Python: Monday=0; cron: Sunday=0
    dom_any = expr.split()[2] == "*"
    dow_any = expr.split()[4] == "*"
    if dom_any or dow_any:
        return when.day in dom and weekday in dow
    return when.day in dom or weekday in dow  # classic cron: either restricted day field matches

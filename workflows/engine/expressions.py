"""`${{ }}` expressions: a GitHub Actions compatible tokenizer, parser and evaluator.

Semantics follow the GitHub Actions expression reference:
- literals null/true/false, numbers (int, float, hex, exponent), 'single quoted' strings ('' escapes);
- operators ( ) [ ] . ! < <= > >= == != && || with GitHub's precedence;
- loose comparison: different types are coerced to numbers; strings compare case-insensitively;
- `&&` / `||` return one of their operands (like JavaScript), not a boolean;
- property access on objects is case-insensitive; a missing property is null; `.*` filters arrays;
- functions contains, startsWith, endsWith, format, join, toJSON, fromJSON, hashFiles and the status
  functions success(), failure(), always(), cancelled() (answered by the caller's `status` object).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ExpressionError(ValueError):
    """A syntax or evaluation error, with a message meant for the workflow author."""


# --- tokenizer -------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>0x[0-9a-fA-F]+|-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^']|'')*')
  | (?P<op>&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|\[|\]|\.|,|\*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    """,
    re.VERBOSE,
)


@dataclass
class Token:
    kind: str  # num | str | op | ident | end
    value: Any
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise ExpressionError(f"Unexpected character {text[pos]!r} at position {pos} in expression '{text}'.")
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "num":
            # "-" only starts a number where a value is expected (there is no binary minus).
            if (raw.startswith("-") and tokens and tokens[-1].kind in ("num", "str", "ident")) or (
                raw.startswith("-") and tokens and tokens[-1].value in (")", "]")
            ):
                raise ExpressionError(f"Unexpected '-' at position {pos} in expression '{text}'.")
            value: Any = int(raw, 16) if raw.lower().startswith("0x") else float(raw)
            tokens.append(Token("num", value, pos))
        elif kind == "str":
            tokens.append(Token("str", raw[1:-1].replace("''", "'"), pos))
        elif kind == "op":
            tokens.append(Token("op", raw, pos))
        elif kind == "ident":
            tokens.append(Token("ident", raw, pos))
        pos = m.end()
    tokens.append(Token("end", None, len(text)))
    return tokens


# --- AST -------------------------------------------------------------------------------

Node = tuple  # ("lit", v) | ("ctx", name) | ("prop", obj, name) | ("index", obj, expr) | ("filter", obj)
# | ("not", x) | ("bin", op, a, b) | ("call", name, [args])

FUNCTIONS = {
    "contains": (2, 2), "startswith": (2, 2), "endswith": (2, 2), "format": (1, 256), "join": (1, 2),
    "tojson": (1, 1), "fromjson": (1, 1), "hashfiles": (1, 256),
    "success": (0, 0), "failure": (0, 0), "always": (0, 0), "cancelled": (0, 0),
}
STATUS_FUNCTIONS = {"success", "failure", "always", "cancelled"}


class Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok.kind != "op" or tok.value != value:
            found = "end of expression" if tok.kind == "end" else repr(tok.value)
            raise ExpressionError(f"Expected '{value}' but found {found} in expression '{self.text}'.")

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ExpressionError("The expression is empty.")
        node = self.parse_or()
        if self.peek().kind != "end":
            raise ExpressionError(f"Unexpected {self.peek().value!r} in expression '{self.text}'.")
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.peek().kind == "op" and self.peek().value == "||":
            self.take()
            node = ("bin", "||", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_eq()
        while self.peek().kind == "op" and self.peek().value == "&&":
            self.take()
            node = ("bin", "&&", node, self.parse_eq())
        return node

    def parse_eq(self) -> Node:
        node = self.parse_cmp()
        while self.peek().kind == "op" and self.peek().value in ("==", "!="):
            op = self.take().value
            node = ("bin", op, node, self.parse_cmp())
        return node

    def parse_cmp(self) -> Node:
        node = self.parse_unary()
        while self.peek().kind == "op" and self.peek().value in ("<", "<=", ">", ">="):
            op = self.take().value
            node = ("bin", op, node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self.peek().kind == "op" and self.peek().value == "!":
            self.take()
            return ("not", self.parse_unary())
        return self.parse_postfix()

    def parse_postfix(self) -> Node:
        node = self.parse_primary()
        while self.peek().kind == "op" and self.peek().value in (".", "["):
            op = self.take().value
            if op == ".":
                tok = self.take()
                if tok.kind == "op" and tok.value == "*":
                    node = ("filter", node)
                elif tok.kind == "ident":
                    node = ("prop", node, tok.value)
                else:
                    raise ExpressionError(f"Expected a property name after '.' in expression '{self.text}'.")
            else:
                if self.peek().kind == "op" and self.peek().value == "*":
                    self.take()
                    self.expect("]")
                    node = ("filter", node)
                else:
                    index = self.parse_or()
                    self.expect("]")
                    node = ("index", node, index)
        return node

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return ("lit", tok.value)
        if tok.kind == "str":
            return ("lit", tok.value)
        if tok.kind == "op" and tok.value == "(":
            node = self.parse_or()
            self.expect(")")
            return node
        if tok.kind == "ident":
            name = tok.value
            low = name.lower()
            if low in ("true", "false"):
                return ("lit", low == "true")
            if low == "null":
                return ("lit", None)
            if self.peek().kind == "op" and self.peek().value == "(":
                self.take()
                args: list[Node] = []
                if not (self.peek().kind == "op" and self.peek().value == ")"):
                    args.append(self.parse_or())
                    while self.peek().kind == "op" and self.peek().value == ",":
                        self.take()
                        args.append(self.parse_or())
                self.expect(")")
                if low not in FUNCTIONS:
                    raise ExpressionError(f"Unknown function '{name}' in expression '{self.text}'.")
                lo, hi = FUNCTIONS[low]
                if not lo <= len(args) <= hi:
                    raise ExpressionError(f"Function '{name}' takes {lo}..{hi} arguments, got {len(args)}.")
                return ("call", low, args)
            return ("ctx", low)
        found = "end of expression" if tok.kind == "end" else repr(tok.value)
        raise ExpressionError(f"Unexpected {found} in expression '{self.text}'.")


def parse(text: str) -> Node:
    return Parser(text).parse()


# --- values ----------------------------------------------------------------------------

class Filtered(list):
    """The result of an object filter (`a.*.b`): property access maps over the items."""


def truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.nan
    return math.nan


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (dict, list)):
        return to_json(value)
    return str(value)


def to_json(value: Any) -> str:
    def default(o: Any) -> Any:
        return list(o) if isinstance(o, (set, tuple)) else str(o)

    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(value), indent=2, default=default)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    if isinstance(value, str):
        return "str"
    return "obj"


def loose_equal(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        if ka == "str":
            return a.lower() == b.lower()
        if ka == "num":
            return float(a) == float(b)
        if ka == "obj":
            return a is b
        return a == b
    if ka == "obj" or kb == "obj":
        return False
    return to_number(a) == to_number(b)


def _compare(op: str, a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka == kb == "str":
        x: Any = a.lower()
        y: Any = b.lower()
    elif "obj" in (ka, kb):
        return False
    else:
        x, y = to_number(a), to_number(b)
        if math.isnan(x) or math.isnan(y):
            return False
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _get_prop(obj: Any, name: str) -> Any:
    if isinstance(obj, Filtered):
        out = Filtered()
        for item in obj:
            value = _get_prop(item, name)
            if value is not None:
                out.append(value)
        return out
    if isinstance(obj, dict):
        if name in obj:
            return obj[name]
        low = name.lower()
        for key, value in obj.items():
            if isinstance(key, str) and key.lower() == low:
                return value
    return None


_FORMAT_RE = re.compile(r"\{\{|\}\}|\{(\d+)\}|\{|\}")


def format_string(fmt: str, args: list[Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        if m.group(1) is None:
            raise ExpressionError(f"format(): invalid format string '{fmt}'.")
        index = int(m.group(1))
        if index >= len(args):
            raise ExpressionError(f"format(): the format string '{fmt}' references argument {index} that is missing.")
        return to_string(args[index])

    return _FORMAT_RE.sub(sub, fmt)


# --- evaluation ------------------------------------------------------------------------

@dataclass
class Status:
    """What the status functions answer: job-level (needs results) or step-level (earlier steps)."""

    success: bool = True
    failure: bool = False
    cancelled: bool = False


class Evaluator:
    def __init__(self, contexts: dict[str, Any], *, status: Status | None = None,
                 hash_files: Callable[[list[str]], str] | None = None):
        self.contexts = {k.lower(): v for k, v in contexts.items()}
        self.status = status or Status()
        self.hash_files = hash_files

    def eval(self, node: Node) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "ctx":
            if node[1] not in self.contexts:
                raise ExpressionError(f"Unrecognized named-value: '{node[1]}'.")
            return self.contexts[node[1]]
        if kind == "prop":
            return _get_prop(self.eval(node[1]), node[2])
        if kind == "index":
            obj = self.eval(node[1])
            index = self.eval(node[2])
            if isinstance(obj, list):
                num = to_number(index)
                if math.isnan(num) or not float(num).is_integer():
                    return None
                i = int(num)
                return obj[i] if 0 <= i < len(obj) else None
            if isinstance(obj, dict):
                return _get_prop(obj, to_string(index))
            return None
        if kind == "filter":
            obj = self.eval(node[1])
            if isinstance(obj, list):
                return Filtered(obj)
            if isinstance(obj, dict):
                return Filtered(obj.values())
            return Filtered()
        if kind == "not":
            return not truthy(self.eval(node[1]))
        if kind == "bin":
            op = node[1]
            if op == "&&":
                left = self.eval(node[2])
                return self.eval(node[3]) if truthy(left) else left
            if op == "||":
                left = self.eval(node[2])
                return left if truthy(left) else self.eval(node[3])
            a, b = self.eval(node[2]), self.eval(node[3])
            if op == "==":
                return loose_equal(a, b)
            if op == "!=":
                return not loose_equal(a, b)
            return _compare(op, a, b)
        if kind == "call":
            return self.call(node[1], node[2])
        raise ExpressionError(f"bad node {kind}")  # pragma: no cover

    def call(self, name: str, arg_nodes: list[Node]) -> Any:
        if name == "success":
            return self.status.success and not self.status.cancelled
        if name == "failure":
            return self.status.failure
        if name == "always":
            return True
        if name == "cancelled":
            return self.status.cancelled
        args = [self.eval(a) for a in arg_nodes]
        if name == "contains":
            haystack, needle = args
            if isinstance(haystack, list):
                return any(loose_equal(item, needle) for item in haystack)
            return to_string(needle).lower() in to_string(haystack).lower()
        if name == "startswith":
            return to_string(args[0]).lower().startswith(to_string(args[1]).lower())
        if name == "endswith":
            return to_string(args[0]).lower().endswith(to_string(args[1]).lower())
        if name == "format":
            return format_string(to_string(args[0]), args[1:])
        if name == "join":
            sep = to_string(args[1]) if len(args) > 1 else ","
            if isinstance(args[0], list):
                return sep.join(to_string(item) for item in args[0])
            return to_string(args[0])
        if name == "tojson":
            return to_json(args[0])
        if name == "fromjson":
            try:
                return json.loads(to_string(args[0]))
            except ValueError as exc:
                raise ExpressionError(f"fromJSON(): the value is not valid JSON: {exc}") from None
        if name == "hashfiles":
            return self.hash_files([to_string(a) for a in args]) if self.hash_files else ""
        raise ExpressionError(f"Unknown function '{name}'.")  # pragma: no cover


def uses_status_function(node: Node) -> bool:
    if node[0] == "call" and node[1] in STATUS_FUNCTIONS:
        return True
    return any(isinstance(child, tuple) and uses_status_function(child) for child in node[1:]) or any(
        isinstance(child, list) and any(uses_status_function(c) for c in child) for child in node[1:])


def contexts_used(node: Node) -> set[str]:
    if node[0] == "ctx":
        return {node[1]}
    found: set[str] = set()
    for child in node[1:]:
        if isinstance(child, tuple):
            found |= contexts_used(child)
        elif isinstance(child, list):
            for c in child:
                found |= contexts_used(c)
    return found


# --- templates -------------------------------------------------------------------------

def split_template(text: str) -> list[tuple[str, str]]:
    """Split "a ${{ x }} b" into [("text", "a "), ("expr", "x"), ("text", " b")].

    The closing `}}` is searched outside string literals so `'}}'` inside an expression works.
    """
    parts: list[tuple[str, str]] = []
    pos = 0
    while True:
        start = text.find("${{", pos)
        if start < 0:
            if pos < len(text):
                parts.append(("text", text[pos:]))
            return parts
        if start > pos:
            parts.append(("text", text[pos:start]))
        i = start + 3
        in_str = False
        while i < len(text):
            ch = text[i]
            if ch == "'":
                in_str = not in_str
            elif not in_str and text.startswith("}}", i):
                break
            i += 1
        else:
            raise ExpressionError(f"The expression '{text[start:]}' is missing its closing '}}}}'.")
        parts.append(("expr", text[start + 3:i].strip()))
        pos = i + 2


def has_expression(text: Any) -> bool:
    return isinstance(text, str) and "${{" in text


def check_template(text: str, allowed: set[str] | None = None) -> None:
    """Raise ExpressionError when `text` has a malformed expression or an unknown context."""
    for kind, value in split_template(text):
        if kind == "expr":
            node = parse(value)
            if allowed is not None:
                unknown = contexts_used(node) - allowed
                if unknown:
                    raise ExpressionError(
                        f"Unrecognized named-value: '{sorted(unknown)[0]}' in '{value}' "
                        f"(available here: {', '.join(sorted(allowed))}).")


def evaluate(text: str, evaluator: Evaluator) -> Any:
    """Evaluate a bare expression (no `${{ }}`)."""
    return evaluator.eval(parse(text))


def render(value: Any, evaluator: Evaluator) -> Any:
    """Interpolate `${{ }}` in a string; a string that is exactly one expression keeps its type.

    Dicts and lists are rendered recursively.
    """
    if isinstance(value, dict):
        return {k: render(v, evaluator) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, evaluator) for v in value]
    if not isinstance(value, str) or "${{" not in value:
        return value
    parts = split_template(value)
    if len(parts) == 1 and parts[0][0] == "expr":
        return evaluator.eval(parse(parts[0][1]))
    return "".join(text if kind == "text" else to_string(evaluator.eval(parse(text))) for kind, text in parts)


def render_str(value: Any, evaluator: Evaluator) -> str:
    return to_string(render(value, evaluator))


def condition(text: Any, evaluator: Evaluator) -> bool:
    """Evaluate an `if:`. Without a status function it means `success() && (<expr>)`."""
    if text is None or text == "":
        return evaluator.call("success", [])
    if isinstance(text, bool):
        return text and evaluator.call("success", [])
    if isinstance(text, (int, float)):
        return truthy(text) and evaluator.call("success", [])
    raw = str(text).strip()
    parts = split_template(raw)
    if len(parts) == 1 and parts[0][0] == "expr":
        raw = parts[0][1]
    elif any(kind == "expr" for kind, _ in parts):
        # Mixed text and ${{ }}: GitHub renders it to a string, which is truthy when non-empty.
        return truthy(render(raw, evaluator)) and evaluator.call("success", [])
    node = parse(raw)
    if not uses_status_function(node):
        node = ("bin", "&&", ("call", "success", []), node)
    return truthy(evaluator.eval(node))


def check_condition(text: Any, allowed: set[str] | None = None) -> None:
    if text is None or isinstance(text, (bool, int, float)):
        return
    raw = str(text).strip()
    parts = split_template(raw)
    if len(parts) == 1 and parts[0][0] == "expr":
        raw = parts[0][1]
    elif any(kind == "expr" for kind, _ in parts):
        check_template(raw, allowed)
        return
    node = parse(raw)
    if allowed is not None:
        unknown = contexts_used(node) - allowed
        if unknown:
            raise ExpressionError(f"Unrecognized named-value: '{sorted(unknown)[0]}' in '{raw}'.")

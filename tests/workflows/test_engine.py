"""Unit tests of the workflow engine: expressions, definitions, matrix, triggers, filters, cron."""

from __future__ import annotations

from datetime import datetime

import pytest

from workflows.engine import expressions as ex
from workflows.engine.definition import parse_workflow, topological_order
from workflows.engine.filters import CronError, cron_matches, matches_any, parse_cron
from workflows.engine.matrix import MatrixError, expand
from workflows.engine.triggers import InputError, dispatch_inputs, pull_request_matches, push_matches


def ev(expr: str, status: ex.Status | None = None, **ctx):
    base = {"github": {"ref": "refs/heads/main", "event_name": "push", "event": {"labels": [{"name": "a"}, {"name": "B"}]}},
            "env": {"X": "1"}, "matrix": {"py": "3.11"}, "needs": {"build": {"result": "success",
                                                                            "outputs": {"v": "42"}}}}
    base.update(ctx)
    return ex.evaluate(expr, ex.Evaluator(base, status=status))


@pytest.mark.parametrize("expr,expected", [
    ("1 == 1", True), ("'abc' == 'ABC'", True), ("'1' == 1", True), ("null == 0", True), ("true == 1", True),
    ("'a' != 'b'", True), ("3 > 2 && 2 >= 2", True), ("!''", True), ("!0", True), ("!'x'", False),
    ("'x' || 'y'", "x"), ("'' || 'y'", "y"), ("0 && 'y'", 0), ("1 && 'y'", "y"),
    ("github.ref == 'refs/heads/main'", True), ("github.REF", "refs/heads/main"), ("github.nope", None),
    ("github['event_name']", "push"), ("needs.build.outputs.v", "42"), ("needs.build.result == 'success'", True),
    ("contains('Hello', 'ell')", True), ("contains(github.event.labels.*.name, 'b')", True),
    ("startsWith(github.ref, 'refs/HEADS')", True), ("endsWith('abc', 'BC')", True),
    ("format('{0}-{1} {{x}}', 'a', 2)", "a-2 {x}"), ("join(fromJSON('[1,2,3]'), '+')", "1+2+3"),
    ("fromJSON('{\"a\": [1]}').a[0]", 1), ("toJSON(matrix)", '{\n  "py": "3.11"\n}'),
    ("0x10 == 16", True), ("-1 < 0", True), ("1.5e1 == 15", True), ("'it''s'", "it's"),
    ("(1 == 2) || (2 == 2)", True), ("fromJSON('[1,2]')[5]", None), ("'NaN' == 'nan'", True),
])
def test_it_evaluates_expressions_like_github(expr, expected):
    assert ev(expr) == expected


def test_status_functions_and_implicit_success():
    ok, failed = ex.Status(), ex.Status(success=False, failure=True)
    assert ex.condition("", ex.Evaluator({}, status=ok)) is True
    assert ex.condition("", ex.Evaluator({}, status=failed)) is False
    assert ex.condition("always()", ex.Evaluator({}, status=failed)) is True
    assert ex.condition("failure()", ex.Evaluator({}, status=failed)) is True
    assert ex.condition("${{ failure() }}", ex.Evaluator({}, status=ok)) is False
    # Without a status function an `if` means success() && (...).
    assert ex.condition("1 == 1", ex.Evaluator({}, status=failed)) is False
    assert ex.condition("!cancelled()", ex.Evaluator({}, status=failed)) is True
    cancelled = ex.Status(success=False, cancelled=True)
    assert ex.condition("success()", ex.Evaluator({}, status=cancelled)) is False
    assert ex.condition("cancelled()", ex.Evaluator({}, status=cancelled)) is True


def test_templates_render_and_keep_types():
    e = ex.Evaluator({"matrix": {"n": 3, "os": "linux"}, "env": {}})
    assert ex.render("${{ matrix.n }}", e) == 3
    assert ex.render("v${{ matrix.n }}-${{ matrix.os }}", e) == "v3-linux"
    assert ex.render({"a": ["${{ matrix.os }}"]}, e) == {"a": ["linux"]}
    assert ex.render("${{ '}}' }}", e) == "}}"


@pytest.mark.parametrize("bad", ["1 ==", "foo(", "contains('a')", "nope()", "a ? b", "'unterminated", "(1"])
def test_syntax_errors_are_reported(bad):
    with pytest.raises(ex.ExpressionError):
        ex.parse(bad)


def test_unknown_context_is_an_error():
    with pytest.raises(ex.ExpressionError, match="secret"):
        ex.check_template("${{ secret.TOKEN }}", {"secrets", "github"})
    with pytest.raises(ex.ExpressionError):
        ev("nope.x")


CI = """
name: CI
on:
  push:
    branches: [main, 'release/**']
  pull_request:
  workflow_dispatch:
    inputs:
      level: {type: choice, options: [low, high], default: low}
      dry: {type: boolean}
  schedule:
    - cron: '*/5 * * * *'
env:
  GLOBAL: g
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.v.outputs.version }}
    steps:
      - uses: takos/checkout@v1
      - id: v
        run: echo "version=1.2" >> "$GITHUB_OUTPUT"
  test:
    needs: build
    runs-on: default
    strategy:
      matrix:
        py: ['3.10', '3.11']
        os: [linux]
        include:
          - py: '3.12'
            os: linux
    steps:
      - run: echo ${{ matrix.py }} ${{ needs.build.outputs.version }}
        continue-on-error: true
  report:
    needs: [build, test]
    if: always()
    runs-on: default
    steps:
      - run: echo done
"""


def test_a_full_workflow_parses_and_normalises():
    result = parse_workflow(CI)
    assert result.valid, result.errors
    d = result.definition
    assert set(d["on"]) == {"push", "pull_request", "workflow_dispatch", "schedule"}
    assert d["on"]["push"]["branches"] == ["main", "release/**"]
    assert d["jobs"]["test"]["needs"] == ["build"]
    assert d["jobs"]["build"]["steps"][0]["action"] == "checkout"
    assert d["jobs"]["build"]["steps"][1]["id"] == "v"
    assert topological_order(d["jobs"]) == ["build", "test", "report"]


@pytest.mark.parametrize("text,message", [
    ("on: [push]\njobs: {a: {runs-on: default, steps: [{run: x}], bogus: 1}}", "unknown key 'bogus'"),
    ("on: [push]\njobs: {a: {runs-on: default, steps: [{run: x}]}}\nfoo: 1", "unknown key 'foo'"),
    ("on: [push\njobs: {}", "Invalid YAML"),
    ("on: [deploy]\njobs: {a: {runs-on: default, steps: [{run: x}]}}", "unsupported event 'deploy'"),
    ("on: push\njobs: {a: {runs-on: default, needs: b, steps: [{run: x}]}}", "unknown job 'b'"),
    ("on: push\njobs: {a: {runs-on: default, needs: b, steps: [{run: x}]}, b: {runs-on: default, needs: a, steps: [{run: y}]}}",
     "cycle"),
    ("on: push\njobs: {a: {runs-on: default, steps: [{uses: evil/action@v1}]}}", "unknown action"),
    ("on: push\njobs: {a: {runs-on: default, steps: [{run: 'echo ${{ secret.X }}'}]}}", "secret"),
    ("on: push\njobs: {a: {runs-on: default, steps: [{run: x, uses: takos/checkout}]}}", "exactly one"),
    ("on: {schedule: [{cron: '61 * * * *'}]}\njobs: {a: {runs-on: default, steps: [{run: x}]}}", "minute"),
    ("on: push\njobs: {a: {steps: [{run: x}]}}", "'runs-on' is required"),
    ("on: push\njobs: {a: {runs-on: default, if: 'foo(', steps: [{run: x}]}}", "jobs.a.if"),
    ("- just a list", "mapping"),
])
def test_invalid_workflows_get_clear_messages(text, message):
    result = parse_workflow(text)
    assert not result.valid
    assert any(message in e for e in result.errors), result.errors


def test_on_is_not_parsed_as_a_boolean():
    assert parse_workflow("on: push\njobs: {a: {runs-on: default, steps: [{run: 'true'}]}}").valid


def test_matrix_include_exclude_like_github():
    # The example from the GitHub docs ("Expanding or adding matrix configurations").
    combos = expand({
        "fruit": ["apple", "pear"], "animal": ["cat", "dog"],
        "include": [{"color": "green"}, {"color": "pink", "animal": "cat"}, {"fruit": "apple", "shape": "circle"},
                    {"fruit": "banana"}, {"fruit": "banana", "animal": "cat"}],
    })
    assert combos == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]
    assert expand({"os": ["a", "b"], "v": [1, 2], "exclude": [{"os": "a", "v": 2}]}) == [
        {"os": "a", "v": 1}, {"os": "b", "v": 1}, {"os": "b", "v": 2}]
    assert expand(None) == [{}]
    with pytest.raises(MatrixError):
        expand({"a": list(range(20)), "b": list(range(20))})
    with pytest.raises(MatrixError):
        expand({"a": [1], "exclude": [{"a": 1}]})


def test_push_filters():
    t = parse_workflow(CI).definition["on"]
    assert push_matches(t, "refs/heads/main", ["x"])
    assert push_matches(t, "refs/heads/release/1.0/x", None)
    assert not push_matches(t, "refs/heads/feature", None)
    assert not push_matches(t, "refs/tags/v1", None)  # only branches were asked for
    paths = {"push": {"paths": ["src/**", "!src/docs/**"]}}
    assert push_matches(paths, "refs/heads/x", ["src/a/b.py"])
    assert not push_matches(paths, "refs/heads/x", ["src/docs/a.md", "README"])
    assert push_matches({"push": {"tags": ["v*"]}}, "refs/tags/v1.2", None)
    assert not push_matches({"push": {"tags": ["v*"]}}, "refs/heads/main", None)
    assert push_matches({"push": {"branches_ignore": ["wip/*"]}}, "refs/heads/main", None)
    assert not push_matches({"push": {"branches_ignore": ["wip/*"]}}, "refs/heads/wip/x", None)


def test_pull_request_types_and_branches():
    t = {"pull_request": {"branches": ["main"]}}
    assert pull_request_matches(t, action="opened", base_branch="main", changed=None)
    assert not pull_request_matches(t, action="closed", base_branch="main", changed=None)
    assert not pull_request_matches(t, action="opened", base_branch="dev", changed=None)


def test_dispatch_inputs():
    t = parse_workflow(CI).definition["on"]
    assert dispatch_inputs(t, {}) == {"level": "low", "dry": False}
    assert dispatch_inputs(t, {"level": "high", "dry": "true"}) == {"level": "high", "dry": True}
    with pytest.raises(InputError, match="one of"):
        dispatch_inputs(t, {"level": "max"})
    with pytest.raises(InputError, match="Unknown input"):
        dispatch_inputs(t, {"other": 1})


def test_glob_and_cron():
    assert matches_any("feature/a", ["feature/*"])
    assert not matches_any("feature/a/b", ["feature/*"])
    assert matches_any("feature/a/b", ["feature/**"])
    assert not matches_any("main", ["*", "!main"])
    assert cron_matches("*/15 9-17 * * mon-fri", datetime(2026, 11, 26, 9, 30))  # a Thursday
    assert not cron_matches("*/15 9-17 * * mon-fri", datetime(2026, 11, 28, 9, 30))  # Saturday
    assert cron_matches("0 0 1 * *", datetime(2026, 12, 1, 0, 0))
    assert cron_matches("0 0 * * 0", datetime(2026, 11, 29, 0, 0))  # Sunday
    assert cron_matches("0 0 * * 7", datetime(2026, 11, 29, 0, 0))
    for bad in ["* * * *", "a * * * *", "5-1 * * * *", "*/0 * * * *"]:
        with pytest.raises(CronError):
            parse_cron(bad)

"""`.takos/app.yml` parsing: the reference shape, our runtime keys, and errors naming key and line."""

from __future__ import annotations

import pytest

from tests.workers.apps import app_files
from workers.manifest import ManifestError, parse_manifest


def _issues(text: str) -> dict[str, int | None]:
    with pytest.raises(ManifestError) as exc:
        parse_manifest(text)
    return {i.key: i.line for i in exc.value.issues}


def test_it_parses_the_test_app_manifest():
    m = parse_manifest(app_files(name="hello", strategy="canary", steps="5, 25, 100")[".takos/app.yml"])
    assert m.name == "hello" and m.version == "1"
    web = m.primary
    assert web.name == "web" and web.run == "python3 app.py" and web.port == 8080
    assert web.health.path == "/health" and web.health.start_timeout == 30
    assert web.env == {"GREETING": "hello"}
    assert m.rollout.strategy == "canary" and m.rollout.steps == [5, 25, 100] and m.rollout.min_requests == 5


def test_it_accepts_from_workflow_image_scale_and_durations():
    m = parse_manifest("""apiVersion: takos.dev/v1alpha1
kind: App
metadata: {name: shop}
spec:
  version: 2.0.0
  workers:
    api:
      build:
        fromWorkflow: {path: .takos/workflows/build.yml, job: build, artifact: dist}
      run: node server.js
      healthCheck: {path: /ready, interval: 500ms, timeout: 3s}
      scale: {min: 0, max: 3, concurrency: 50}
  services:
    db:
      image: postgres:16
      port: 5432
  resources:
    cache: {type: kv}
  routes:
    - {name: api, target: api, path: /}
""")
    assert m.primary.name == "api"
    assert m.primary.from_workflow == {"path": ".takos/workflows/build.yml", "job": "build", "artifact": "dist",
                                       "artifactPath": ""}
    assert m.primary.artifact_kind == "workflow-artifact"
    assert m.primary.health.interval == 0.5 and m.primary.health.timeout == 3
    assert (m.primary.scale_max, m.primary.concurrency) == (3, 50)
    assert m.workloads["db"].artifact_kind == "container-image" and m.workloads["db"].kind == "service"
    assert m.raw["spec"]["resources"] == {"cache": {"type": "kv"}}


def test_it_names_key_and_line_of_each_error():
    issues = _issues("""apiVersion: takos.dev/v2
kind: app
metadata:
  name: Not_A_Label
spec:
  version: 1
  workers:
    web:
      build:
        fromWorkflow: {path: build.yml, job: b}
      healthCheck:
        path: health
        timeout: -1
      replicas: 3
  routes:
    - name: r
      target: nowhere
  rollout:
    steps: [50, 25]
""")
    assert issues["apiVersion"] == 1
    assert issues["kind"] == 2
    assert issues["metadata.name"] == 4
    assert issues["spec.workers.web.build.fromWorkflow.path"] == 10
    assert issues["spec.workers.web.build.fromWorkflow.artifact"] == 10  # missing: the mapping's line
    assert issues["spec.workers.web.healthCheck.path"] == 12
    assert issues["spec.workers.web.healthCheck.timeout"] == 13
    assert issues["spec.workers.web.replicas"] == 14
    assert issues["spec.routes[0].target"] == 17
    assert issues["spec.rollout.steps"] == 19


def test_it_requires_a_workload_and_a_run_command():
    issues = _issues("apiVersion: takos.dev/v1alpha1\nkind: App\nmetadata: {name: a}\nspec:\n  version: '1'\n"
                     "  workers:\n    web:\n      port: 80\n")
    assert issues == {"spec.workers.web.run": 7}
    issues = _issues("apiVersion: takos.dev/v1alpha1\nkind: App\nmetadata: {name: a}\nspec: {version: '1'}\n")
    assert "spec.workers" in issues


def test_invalid_yaml_reports_its_line():
    with pytest.raises(ManifestError) as exc:
        parse_manifest("apiVersion: x\nkind: [unclosed\nmetadata: {}\n")
    assert exc.value.issues[0].line in (2, 3, 4)
    assert "invalid YAML" in exc.value.issues[0].message

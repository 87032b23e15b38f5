"""End to end on the real platform (`manage.py up`: daphne + Celery worker + beat, local process
driver): a `git push` of `.takos/workflows/ci.yml` starts a run; its logs are followed live over
SSE; conclusions, outputs, masking and artifacts are checked through the API."""

from __future__ import annotations

import io
import itertools
import threading
import zipfile

import pytest

from tests.workflows.e2e_helpers import push, signup, sse, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def takos_server(tmp_path_factory):  # type: ignore[no-untyped-def]
    """The real platform (tests.fixtures.processes.start_takos: `manage.py up` = daphne + worker + beat).

    On SQLite the data dir is migrated first: on a loaded machine migrating inside `up` can take
    longer than start_takos waits for readiness; `up` then finds nothing left to migrate.
    """

    from tests.fixtures.processes import start_takos, stop_takos

    tmp = tmp_path_factory.mktemp("workflows-e2e")
    # start_takos copies a migrated template database, so no migrate is needed here.
    running, db_name = start_takos(tmp)
    yield running
    stop_takos(running, db_name)

SECRET = "pa55-e2e-Very-Secret"

CI = r"""
name: CI
on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      version: ${{ steps.ver.outputs.version }}
    steps:
      - uses: takos/checkout@v1
      - id: ver
        name: Compute version
        run: |
          echo "version=2.0.${GITHUB_RUN_NUMBER}" >> "$GITHUB_OUTPUT"
          echo "tick one"
          sleep 1.5
          echo "tick two"
      - name: Uses the secret
        run: |
          echo "secret: ${{ secrets.DEPLOY_KEY }}"
          echo "from env: $KEY"
        env:
          KEY: ${{ secrets.DEPLOY_KEY }}
      - name: Allowed to fail
        run: |
          echo "about to fail"
          exit 7
        continue-on-error: true
      - run: mkdir -p out && cp app.txt out/ && echo "${{ steps.ver.outputs.version }}" > out/version.txt
      - uses: takos/upload-artifact@v1
        with: {name: bundle, path: out}
  test:
    needs: build
    runs-on: default
    strategy:
      matrix:
        shard: [a, b, c]
    steps:
      - uses: takos/download-artifact@v1
        with: {name: bundle, path: got}
      - run: |
          echo "shard ${{ matrix.shard }} tests ${{ needs.build.outputs.version }}"
          test "$(cat got/version.txt)" = "${{ needs.build.outputs.version }}"
  notify:
    needs: test
    if: always()
    runs-on: default
    steps:
      - run: echo "tests were ${{ needs.test.result }}"
"""


def test_push_starts_a_run_followed_live_over_sse(takos_server, tmp_path):
    base = takos_server.url
    user = signup(base, "wfpusher")
    api = user.api
    created = api.post("/api/spaces/me/repos", json={"name": "svc"})
    assert created.status_code == 201, created.text
    repo_id = created.json()["repository"]["id"]
    put = api.put(f"/api/repos/{repo_id}/actions/secrets/DEPLOY_KEY", json={"value": SECRET})
    assert put.status_code == 200, put.text
    assert "value" not in put.json()["secret"]

    sha = push(base, user, "svc", tmp_path / "src", {".takos/workflows/ci.yml": CI, "app.txt": "app\n"})

    runs = wait_for(lambda: api.get(f"/api/repos/{repo_id}/actions/runs").json()["runs"], timeout=30)
    run = runs[0]
    assert run["event"] == "push" and run["sha"] == sha and run["ref"] == "refs/heads/main"
    jobs = api.get(f"/api/repos/{repo_id}/actions/runs/{run['id']}/jobs").json()["jobs"]
    assert sorted(j["name"] for j in jobs) == ["build", "notify", "test (a)", "test (b)", "test (c)"]
    build = next(j for j in jobs if j["job_key"] == "build")

    # Follow the run's events and the build log at the same time, both over SSE.
    run_events: list = []
    reader = threading.Thread(target=lambda: run_events.extend(
        e for e in _until(sse(api, f"/api/repos/{repo_id}/actions/runs/{run['id']}/sse", timeout=120),
                          "workflow.run.completed")))
    reader.start()
    log_events = list(_until(sse(api, f"/api/repos/{repo_id}/actions/jobs/{build['id']}/logs/sse", timeout=120),
                             "end"))
    reader.join(120)
    assert not reader.is_alive()

    text = "".join(e.data["text"] for e in log_events if e.event == "log")
    assert SECRET not in text
    assert "secret: ***" in text and "from env: ***" in text
    assert "about to fail" in text and "continue-on-error" in text
    # Live: "tick one" reached the client well before "tick two" was printed 1.5 s later.
    t1 = next(e.received for e in log_events if e.event == "log" and "\ntick one\n" in "\n" + e.data["text"])
    t2 = next(e.received for e in log_events if e.event == "log" and "\ntick two\n" in "\n" + e.data["text"])
    assert t2 - t1 > 1.0, (t1, t2)
    # Offsets chain with no gaps; the ids resume the stream.
    offsets = [(e.data["offset"], e.data["next_offset"]) for e in log_events if e.event == "log"]
    assert offsets[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(offsets))
    resumed = list(_until(sse(api, f"/api/repos/{repo_id}/actions/jobs/{build['id']}/logs/sse",
                              last_event_id=offsets[0][1]), "end"))
    assert "".join(e.data["text"] for e in resumed if e.event == "log").encode() == text.encode()[offsets[0][1]:]

    types = [e.event for e in run_events]
    assert types[-1] == "workflow.run.completed" and run_events[-1].data["data"]["conclusion"] == "success"
    assert [e.id for e in run_events] == sorted(e.id for e in run_events)

    detail = api.get(f"/api/repos/{repo_id}/actions/runs/{run['id']}").json()["run"]
    assert detail["status"] == "completed" and detail["conclusion"] == "success"
    jobs = {j["name"]: j for j in api.get(f"/api/repos/{repo_id}/actions/runs/{run['id']}/jobs").json()["jobs"]}
    assert all(j["conclusion"] == "success" for j in jobs.values())
    assert jobs["build"]["outputs"] == {"version": "2.0.1"}
    failing = next(s for s in jobs["build"]["steps"] if s["name"] == "Allowed to fail")
    assert failing["outcome"] == "failure" and failing["conclusion"] == "success" and failing["exit_code"] == 7
    for shard in "abc":
        log = api.get(f"/api/repos/{repo_id}/actions/jobs/{jobs[f'test ({shard})']['id']}/logs").text
        assert f"shard {shard} tests 2.0.1" in log
    assert "tests were success" in api.get(f"/api/repos/{repo_id}/actions/jobs/{jobs['notify']['id']}/logs").text

    # Ranged read of the stored log.
    ranged = api.get(f"/api/repos/{repo_id}/actions/jobs/{build['id']}/logs", params={"offset": 5, "limit": 20})
    assert ranged.status_code == 200 and ranged.content == text.encode()[5:25]
    assert ranged.headers["X-Log-Complete"] == "true"

    artifacts = api.get(f"/api/repos/{repo_id}/actions/runs/{run['id']}/artifacts").json()["artifacts"]
    assert [a["name"] for a in artifacts] == ["bundle"]
    blob = api.get(f"/api/repos/{repo_id}/actions/artifacts/{artifacts[0]['id']}")
    assert blob.status_code == 200
    names = sorted(zipfile.ZipFile(io.BytesIO(blob.content)).namelist())
    assert names == ["app.txt", "version.txt"]

    statuses = api.get(f"/api/repos/{repo_id}/commits/{sha}/statuses").json()
    assert statuses["state"] == "success" and any(s["context"] == "CI / build" for s in statuses["statuses"])


def _until(events, last_type):  # type: ignore[no-untyped-def]
    for event in events:
        yield event
        if event.event == last_type:
            return


DISPATCH = r"""
name: Manual
on:
  workflow_dispatch:
    inputs:
      who: {required: true}
jobs:
  hello:
    runs-on: default
    steps:
      - run: echo "hello ${{ inputs.who }}"
      - run: exit 4
"""


def test_cli_dispatch_follow_list_and_the_websocket(takos_server, tmp_path):
    import json
    import os
    import subprocess
    import sys

    import websocket  # websocket-client (installed with the docker SDK)

    base = takos_server.url
    user = signup(base, "wfcli")
    repo_id = user.api.post("/api/spaces/me/repos", json={"name": "tool"}).json()["repository"]["id"]
    push(base, user, "tool", tmp_path / "src", {".takos/workflows/manual.yml": DISPATCH})
    env = {**os.environ, "TAKOS_URL": base, "TAKOS_TOKEN": user.token, "TAKOS_CONFIG": str(tmp_path / "cfg.json"),
           "TAKOS_REPO": "wfcli/tool"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "takos.cli.main", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    wait_for(lambda: user.api.get(f"/api/repos/{repo_id}/workflows").json()["workflows"], timeout=30)
    done = cli("workflow", "run", "manual.yml", "--ref", "main", "--input", "who=cli", "--follow")
    assert done.returncode == 1, done.stderr  # the run fails on `exit 4`
    assert "hello cli" in done.stdout and "exit code 4" in done.stdout and "failure" in done.stdout
    listed = json.loads(cli("actions", "list", "--json").stdout)
    run_id = listed["runs"][0]["id"]
    assert listed["runs"][0]["event"] == "workflow_dispatch" and listed["runs"][0]["conclusion"] == "failure"
    assert "hello" in cli("actions", "view", run_id).stdout
    assert cli("workflow", "run", "manual.yml").returncode == 1  # missing required input -> clear error
    rerun = cli("actions", "rerun", run_id, "--failed")
    assert rerun.returncode == 0 and "attempt 2" in rerun.stdout

    # The spec's WebSocket: replay of the run's events, then a job log on request.
    ws_url = base.replace("http://", "ws://") + f"/api/repos/{repo_id}/actions/runs/{run_id}/ws?last_event_id=0"
    conn = websocket.create_connection(ws_url, header=[f"Authorization: Bearer {user.token}"], timeout=30)
    try:
        first = json.loads(conn.recv())
        assert first["type"] == "connected"
        replay = json.loads(conn.recv())
        assert replay["type"] == "replay" and replay["data"]["count"] >= 3
        job_id = user.api.get(f"/api/repos/{repo_id}/actions/runs/{run_id}/jobs").json()["jobs"][0]["id"]
        conn.send(json.dumps({"type": "logs", "jobId": job_id, "offset": 0}))
        text, seen = "", set()
        while True:
            frame = json.loads(conn.recv())
            seen.add(frame["type"])
            if frame["type"] == "log":
                text += frame["data"]["text"]
            if frame["type"] == "log.end":
                break
        assert "hello cli" in text
    finally:
        conn.close()
    bad = websocket.create_connection
    try:
        bad(ws_url, header=["Authorization: Bearer tak_pat_nope"], timeout=10).recv()
        raise AssertionError("an invalid token must be refused")
    except (websocket.WebSocketBadStatusException, websocket.WebSocketConnectionClosedException):
        pass


ATTEMPTS = r"""
name: Attempts
on: push
jobs:
  setup:
    runs-on: default
    outputs:
      shards: ${{ steps.s.outputs.shards }}
    steps:
      - id: s
        run: |
          echo 'shards=["one", "two"]' >> "$GITHUB_OUTPUT"
          mkdir -p out && echo "from setup attempt $GITHUB_RUN_ATTEMPT" > out/note.txt
      - uses: takos/upload-artifact@v1
        with: {name: note, path: out}
  shard:
    needs: setup
    runs-on: default
    strategy:
      fail-fast: false
      matrix:
        name: ${{ fromJSON(needs.setup.outputs.shards) }}
    steps:
      - uses: takos/download-artifact@v1
        with: {name: note, path: got}
      - run: |
          echo "shard ${{ matrix.name }} attempt $GITHUB_RUN_ATTEMPT: $(cat got/note.txt)"
          test "$GITHUB_RUN_ATTEMPT" -ge 2
"""


def test_matrix_from_needs_and_rerun_failed_as_a_new_attempt_on_the_real_worker(takos_server, tmp_path):
    """Real server and Celery worker: a matrix built from a job's output, a re-run of failed jobs
    that keeps attempt 1 readable, reuses setup's outputs and artifact, and whose run stream does
    not stop at attempt 1's end."""
    base = takos_server.url
    user = signup(base, "wfattempts")
    api = user.api
    repo_id = api.post("/api/spaces/me/repos", json={"name": "att"}).json()["repository"]["id"]
    push(base, user, "att", tmp_path / "src", {".takos/workflows/a.yml": ATTEMPTS})
    runs = f"/api/repos/{repo_id}/actions/runs"
    run = wait_for(lambda: [r for r in api.get(runs).json()["runs"] if r["status"] == "completed"], timeout=120)[0]
    assert run["conclusion"] == "failure"
    jobs1 = api.get(f"{runs}/{run['id']}/jobs").json()["jobs"]
    assert sorted(j["name"] for j in jobs1) == ["setup", "shard (one)", "shard (two)"]
    assert {j["name"]: j["conclusion"] for j in jobs1}["setup"] == "success"
    shard1 = next(j for j in jobs1 if j["name"] == "shard (two)")
    log1 = api.get(f"/api/repos/{repo_id}/actions/jobs/{shard1['id']}/logs").text
    assert "shard two attempt 1: from setup attempt 1" in log1

    rerun = api.post(f"{runs}/{run['id']}/rerun", json={"failed_only": True})
    assert rerun.status_code == 201 and rerun.json()["run"]["run_attempt"] == 2
    # Replayed from the start, the stream passes attempt 1's end and the server closes it after
    # attempt 2's.
    events = list(sse(api, f"{runs}/{run['id']}/sse", timeout=120))
    ends = [e for e in events if e.event == "workflow.run.completed"]
    assert [e.data["data"]["run_attempt"] for e in ends] == [1, 2] and events[-1] is ends[-1]
    assert ends[-1].data["data"]["conclusion"] == "success"
    jobs2 = api.get(f"{runs}/{run['id']}/jobs").json()["jobs"]
    setup2 = next(j for j in jobs2 if j["job_key"] == "setup")
    assert setup2["reused_from"] == next(j["id"] for j in jobs1 if j["job_key"] == "setup")
    shard2 = next(j for j in jobs2 if j["name"] == "shard (two)")
    assert shard2["id"] != shard1["id"] and shard2["run_attempt"] == 2
    log2 = api.get(f"/api/repos/{repo_id}/actions/jobs/{shard2['id']}/logs").text
    assert "shard two attempt 2: from setup attempt 1" in log2
    # Attempt 1 is still there, through the attempts API and the job's own URLs.
    attempts = api.get(f"{runs}/{run['id']}/attempts").json()["attempts"]
    assert [(a["run_attempt"], a["conclusion"]) for a in attempts] == [(1, "failure"), (2, "success")]
    old = api.get(f"{runs}/{run['id']}/attempts/1/jobs").json()["jobs"]
    assert sorted(j["id"] for j in old) == sorted(j["id"] for j in jobs1)
    assert api.get(f"/api/repos/{repo_id}/actions/jobs/{shard1['id']}/logs").text == log1
    arts = api.get(f"{runs}/{run['id']}/artifacts", params={"attempt": 1}).json()["artifacts"]
    assert [a["name"] for a in arts] == ["note"]

"""Execute one workflow job: claim its lease, start one runtime container, run the steps, stream
masked logs, collect outputs, stop the container and advance the run.

The container's main process is `workflows/runner/step_runner.py`. The control plane talks to
it through two folders mounted into the container: the workspace (the repository checked out
at the run's commit) and a control folder where each step is dropped as a command file and
its output is written live (see the runner's docstring). Built-in actions (checkout, upload-
and download-artifact) run here, on the workspace folder, not in the container.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from hosts.drivers import ContainerHandle, ContainerSpec, DriverError, DriverUnavailable, Mount, get_driver
from repos import git
from workflows import artifacts, services
from workflows.contexts import github_context, jobs_by_key, needs_context
from workflows.engine import expressions as ex
from workflows.logs import LogSink, Masker, finalize_log
from workflows.models import Conclusion, WorkflowJob, WorkflowRun, WorkflowStep

logger = logging.getLogger("takos.workflows.executor")

RUNNER_DIR = Path(__file__).resolve().parent / "runner"
POLL_SECONDS = 0.02
READ_BYTES = 1024 * 1024  # per read of a step's output: one log chunk row each
CHECK_SECONDS = 0.3


class LeaseLost(Exception):
    """Another worker (recovery) took the job over: stop without writing anything."""


class StepFailed(Exception):
    pass


def parse_kv_file(path: Path) -> dict[str, str]:
    """$GITHUB_OUTPUT / $GITHUB_ENV format: `name=value` lines and `name<<DELIM` heredocs."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return {}
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            value_lines = []
            while i < len(lines) and lines[i] != delim:
                value_lines.append(lines[i])
                i += 1
            i += 1  # the delimiter
            out[name.strip()] = "\n".join(value_lines)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name.strip()] = value
    return out


def shell_argv(shell: str | None, script: str) -> tuple[list[str], str]:
    """(argv, file suffix) like GitHub's shells."""
    if shell is None:
        return ["bash", "-e", script], ".sh"
    name = shell.split()[0]
    if "{0}" in shell:
        return [part.replace("{0}", script) for part in shlex.split(shell)], ".sh"
    if name == "bash":
        return ["bash", "--noprofile", "--norc", "-eo", "pipefail", script], ".sh"
    if name == "sh":
        return ["sh", "-e", script], ".sh"
    if name in ("python", "python3"):
        return ["python3", script], ".py"
    return [name, script], ".sh"


class JobExecution:
    def __init__(self, job_id: str):
        self.job_id = job_id
        self.lease = uuid.uuid4().hex
        self.handle: ContainerHandle | None = None
        self.driver: Any = None
        self.last_beat = 0.0
        self.last_check = 0.0
        self.cancelled = False
        self.seq = 0

    # --- lease --------------------------------------------------------------------------
    def claim(self) -> WorkflowJob | None:
        now = timezone.now()
        claimed = WorkflowJob.objects.filter(pk=self.job_id, status=WorkflowJob.Status.QUEUED, lease_id="").update(
            status=WorkflowJob.Status.IN_PROGRESS, lease_id=self.lease, lease_version=F("lease_version") + 1,
            heartbeat_at=now, started_at=now, attempts=F("attempts") + 1, updated_at=now)
        if not claimed:
            return None
        return WorkflowJob.objects.select_related("run", "run__repo", "run__repo__space", "run__actor").get(
            pk=self.job_id)

    def beat(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self.last_beat < settings.TAKOS_WORKFLOW_HEARTBEAT_SECONDS:
            return
        self.last_beat = time.monotonic()
        if not WorkflowJob.objects.filter(pk=self.job_id, lease_id=self.lease).update(heartbeat_at=timezone.now()):
            raise LeaseLost(self.job_id)

    def check_cancel(self) -> bool:
        if self.cancelled:
            return True
        if time.monotonic() - self.last_check < CHECK_SECONDS:
            return False
        self.last_check = time.monotonic()
        row = WorkflowJob.objects.filter(pk=self.job_id).values("error", "lease_id", "run__cancel_requested_at").first()
        if row is None or row["lease_id"] != self.lease:
            raise LeaseLost(self.job_id)
        # Cancelled runs, and jobs stopped by fail-fast or a newer job of their concurrency group.
        if row["run__cancel_requested_at"] is not None or row["error"].startswith("Cancelled by"):
            self.cancelled = True
        return self.cancelled

    # --- main ---------------------------------------------------------------------------
    def execute(self) -> str | None:
        job = self.claim()
        if job is None:
            return None
        self.job = job
        self.run: WorkflowRun = job.run
        WorkflowRun.objects.filter(pk=self.run.pk, status=WorkflowRun.Status.QUEUED).update(
            status=WorkflowRun.Status.IN_PROGRESS, started_at=timezone.now())
        if self.run.started_at is None:
            WorkflowRun.objects.filter(pk=self.run.pk, started_at__isnull=True).update(started_at=timezone.now())
        self.secrets: dict[str, str] = {}
        self.sink = LogSink(job.id, Masker())  # secrets are added before any step can print them
        self.root = Path(settings.DATA_DIR) / "workflow-jobs" / job.id
        conclusion, error = Conclusion.FAILURE, ""
        try:
            conclusion, error = self._execute()
        except ex.ExpressionError as exc:
            error = f"Error in a workflow expression: {exc}"
            self.sink.line(f"##[error]{error}")
        except LeaseLost:
            logger.warning("job %s: lease lost, leaving it to its new owner", self.job_id)
            self._cleanup()
            self.sink.close()
            return None
        except Exception as exc:
            logger.exception("job %s crashed", self.job_id)
            error = f"Internal error while running the job: {exc}"
            self.sink.line(f"##[error]{error}")
        self._cleanup()
        try:
            self.sink.line(f"Job finished: {conclusion}")
            self.sink.flush(force=True)
            finalize_log(job.id, spool=self.sink.spool)
        except Exception:
            logger.exception("job %s: storing the log failed", self.job_id)
        finally:
            self.sink.close()
        if not WorkflowJob.objects.filter(pk=job.id, lease_id=self.lease).exists():
            return None  # recovery took it over while we were finishing
        job.refresh_from_db()
        services.job_finished(job=job, conclusion=conclusion, error=error)
        return conclusion

    def _cleanup(self) -> None:
        if self.handle is not None:
            from hosts.services import container_stop

            try:
                container_stop(handle=self.handle, driver=self.driver, reason="job finished")
            except (DriverError, DriverUnavailable):
                logger.warning("job %s: could not stop container %s", self.job_id, self.handle.id, exc_info=True)
            self.handle = None
        shutil.rmtree(self.root, ignore_errors=True)

    def _job_def(self) -> dict[str, Any]:
        return self.run.definition["jobs"][self.job.job_key]

    def _base_contexts(self) -> dict[str, Any]:
        run, job = self.run, self.job
        grouped = jobs_by_key(list(run.attempt_jobs(job.run_attempt)))
        jdef = self._job_def()
        github = github_context(run, job_key=job.job_key, workspace=self.cws)
        siblings = grouped.get(job.job_key, [])
        strategy = jdef.get("strategy") or {}
        return {
            "github": github, "takos": github, "inputs": run.inputs, "vars": {}, "secrets": dict(self.secrets),
            "matrix": job.matrix or {}, "needs": needs_context(grouped, jdef["needs"]),
            "strategy": {"fail-fast": strategy.get("fail_fast", True), "job-index": job.matrix_index,
                         "job-total": len(siblings), "max-parallel": strategy.get("max_parallel") or len(siblings)},
            "runner": {"os": "Linux", "arch": "X64", "name": job.runner_id or "takos", "temp": self.ctmp,
                       "tool_cache": self.ctmp},
            "job": {"status": "success", "container": {}, "services": {}},
        }

    def _announce(self) -> None:
        """Events, commit status and secrets: done while the container boots."""
        run, job = self.run, self.job
        services.emit(run.id, "workflow.job.started", services.job_out(job))
        services.set_status(run=run, context=services.job_context_name(run, job), conclusion=None,
                            description="In progress")
        self.secrets = services.secrets_for_run(run)
        for value in self.secrets.values():
            self.sink.masker.add(value)

    def _execute(self) -> tuple[str, str]:
        run, job = self.run, self.job
        jdef = self._job_def()
        label = job.runner_name or "default"
        image = settings.TAKOS_WORKFLOW_RUNNERS.get(label)
        self.sink.line(f"Job '{job.name}' of {run.repo.full_name} {run.workflow_path} #{run.run_number} "
                       f"(attempt {run.run_attempt}) at {run.sha[:12]}")
        if image is None:
            known = ", ".join(sorted(settings.TAKOS_WORKFLOW_RUNNERS))
            message = f"Unknown runs-on label '{label}'. This server runs jobs on: {known}."
            self.sink.line(f"##[error]{message}")
            self._announce()
            return Conclusion.FAILURE, message
        try:
            self.driver = get_driver()
        except DriverUnavailable as exc:
            self.sink.line(f"##[error]No container driver: {exc}")
            return Conclusion.FAILURE, f"No container driver: {exc}"
        docker = self.driver.name == "docker"
        ws, ctl, tmp = self.root / "workspace", self.root / "control", self.root / "tmp"
        shutil.rmtree(self.root, ignore_errors=True)
        for folder in (ws, ctl / "cmd", tmp):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o777)  # the container user may differ from this worker's
        self.ws, self.ctl = ws, ctl
        self.cws = "/workspace" if docker else str(ws)
        self.cctl = "/takos" if docker else str(ctl)
        self.ctmp = "/takos-tmp" if docker else str(tmp)
        crunner = "/opt/takos-wf" if docker else str(RUNNER_DIR)
        raw_timeout = jdef.get("timeout_minutes")
        # The container's own deadline backs up the job timeout (an expression is known only later).
        box_minutes = raw_timeout if isinstance(raw_timeout, (int, float)) else \
            settings.TAKOS_WORKFLOW_DEFAULT_TIMEOUT_MINUTES
        # The container starts first; everything else below happens while it boots.
        # The runner needs only the standard library (-S: no site-packages, a faster start).
        spec = ContainerSpec(
            role="runtime", image=image, command=["python3", "-S", f"{crunner}/step_runner.py", self.cctl],
            owner=f"job:{job.id}", env={"CI": "true", "TAKOS_RUNNER_IDLE_SECONDS": "900"},
            mounts=[Mount(source=ws, target=self.cws), Mount(source=ctl, target=self.cctl),
                    Mount(source=tmp, target=self.ctmp), Mount(source=RUNNER_DIR, target=crunner, read_only=True)],
            workdir=self.cws, timeout_seconds=int(box_minutes * 60) + 120,
            memory_mb=settings.TAKOS_WORKFLOW_CONTAINER_MEMORY_MB, labels={"takos.run": run.id},
        )
        from hosts.services import container_start

        started = time.monotonic()
        try:
            self.handle = container_start(spec=spec, driver=self.driver)
        except DriverError as exc:
            self.sink.line(f"##[error]Could not start the job container ({label}): {exc}")
            return Conclusion.FAILURE, f"Could not start the job container: {exc}"
        WorkflowJob.objects.filter(pk=job.id).update(runner_id=self.handle.id[:100])
        self._announce()
        self.contexts = self._base_contexts()
        wf_env = self._render_env(run.definition.get("env") or {}, {**self.contexts, "env": {}})
        self.env_ctx = {**wf_env, **self._render_env(jdef.get("env") or {}, {**self.contexts, "env": wf_env})}
        timeout_min = float(ex.render(raw_timeout or settings.TAKOS_WORKFLOW_DEFAULT_TIMEOUT_MINUTES,
                                      ex.Evaluator({**self.contexts, "env": self.env_ctx})))
        self.deadline = time.monotonic() + timeout_min * 60
        self.timeout_min = timeout_min
        # Check out while the container boots: the runner waits for its first command anyway.
        git.archive(run.repo, run.sha, ws)
        self.sink.line(f"Checked out {run.repo.full_name} at {run.sha}")
        self._wait_ready()
        self.sink.line(f"Runner '{label}' ready in {time.monotonic() - started:.2f}s "
                       f"({self.driver.name} container {self.handle.id[:12]})")

        failed = False
        steps_ctx: dict[str, Any] = {}
        self.path_prepend: list[str] = []
        step_rows = {s.number: s for s in WorkflowStep.objects.filter(job=job)}
        for sdef in jdef["steps"]:
            row = step_rows.get(sdef["index"] + 1)
            if row is None:
                continue
            self.beat()
            if self.check_cancel():
                break
            status = ex.Status(success=not failed, failure=failed, cancelled=self.cancelled)
            contexts = {**self.contexts, "env": dict(self.env_ctx), "steps": steps_ctx,
                        "job": {"status": "failure" if failed else "success", "container": {}, "services": {}}}
            evaluator = ex.Evaluator(contexts, status=status)
            try:
                should_run = ex.condition(sdef.get("if"), evaluator)
            except ex.ExpressionError as exc:
                self.sink.line(f"##[error]Step '{row.name}': error in 'if': {exc}")
                self._finish_step(row, "failure", "failure", error=str(exc))
                failed = True
                continue
            if not should_run:
                WorkflowStep.objects.filter(pk=row.pk).update(status=WorkflowStep.Status.SKIPPED,
                                                              conclusion=Conclusion.SKIPPED, outcome="skipped")
                if sdef.get("id"):
                    steps_ctx[sdef["id"]] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
                continue
            outcome, outputs, error = self._run_step(row, sdef, evaluator)
            cont = sdef.get("continue_on_error", False)
            try:
                cont_value = ex.truthy(ex.render(cont, evaluator)) if isinstance(cont, str) else bool(cont)
            except ex.ExpressionError:
                cont_value = False
            conclusion = "success" if outcome == "success" or (outcome == "failure" and cont_value) else outcome
            if outcome == "failure" and cont_value:
                self.sink.line("Continuing: the step has continue-on-error.")
            self._finish_step(row, outcome, conclusion, error=error, outputs=outputs)
            if sdef.get("id"):
                steps_ctx[sdef["id"]] = {"outputs": outputs, "outcome": outcome, "conclusion": conclusion}
            if conclusion == "failure":
                failed = True
            if outcome == "cancelled":
                break
        if self.cancelled:
            self.sink.line("##[error]The run was cancelled.")
            return Conclusion.CANCELLED, ""
        if time.monotonic() > self.deadline:
            message = f"The job exceeded its timeout of {self.timeout_min:g} minutes."
            self.sink.line(f"##[error]{message}")
            return Conclusion.FAILURE, message
        self._job_outputs(jdef, {**self.contexts, "env": dict(self.env_ctx), "steps": steps_ctx})
        return (Conclusion.FAILURE if failed else Conclusion.SUCCESS), ""

    def _render_env(self, env: dict[str, Any], contexts: dict[str, Any]) -> dict[str, str]:
        evaluator = ex.Evaluator(contexts)
        return {k: ex.render_str(v, evaluator) for k, v in env.items()}

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + settings.TAKOS_CONTAINER_START_TIMEOUT
        ready = self.ctl / "ready.json"
        last_status = 0.0
        while not ready.exists():
            if time.monotonic() > deadline:
                raise DriverError("the job container did not start its step runner in time")
            if time.monotonic() - last_status > 0.5:
                last_status = time.monotonic()
                status = self.driver.status(self.handle)
                if status.state in ("exited", "missing"):
                    output = self.driver.logs(self.handle).decode(errors="replace")[-2000:]
                    raise DriverError(f"the job container exited ({status.reason}): {output}")
            time.sleep(POLL_SECONDS)

    def _finish_step(self, row: WorkflowStep, outcome: str, conclusion: str, *, error: str = "",
                     outputs: dict[str, str] | None = None, exit_code: int | None = None) -> None:
        WorkflowStep.objects.filter(pk=row.pk).update(
            status=WorkflowStep.Status.COMPLETED, outcome=outcome, conclusion=conclusion,
            error_message=error[:2000], outputs=outputs or {}, completed_at=timezone.now(),
            **({"exit_code": exit_code} if exit_code is not None else {}))
        services.emit(self.run.id, "workflow.step.completed", {
            "job_id": self.job.id, "number": row.number, "name": row.name, "outcome": outcome,
            "conclusion": conclusion})

    def _run_step(self, row: WorkflowStep, sdef: dict[str, Any], evaluator: ex.Evaluator) -> tuple[str, dict, str]:
        self.sink.flush()
        WorkflowStep.objects.filter(pk=row.pk).update(status=WorkflowStep.Status.IN_PROGRESS,
                                                      started_at=timezone.now(), log_offset=self.sink.size)
        services.emit(self.run.id, "workflow.step.started", {"job_id": self.job.id, "number": row.number,
                                                              "name": row.name, "log_offset": self.sink.size})
        self.sink.line(f"##[group]{row.name}")
        try:
            step_env = self._render_env(sdef.get("env") or {}, {**evaluator.contexts, "env": self.env_ctx})
            evaluator.contexts["env"] = {**self.env_ctx, **step_env}
            if sdef.get("action"):
                return self._run_action(sdef, evaluator)
            script = ex.render_str(sdef["run"], evaluator)
            workdir = ex.render_str(sdef.get("working_directory") or "", evaluator)
            shell = ex.render_str(sdef["shell"], evaluator) if sdef.get("shell") else None
        except ex.ExpressionError as exc:
            self.sink.line(f"##[error]{exc}")
            return "failure", {}, str(exc)
        for line in script.splitlines():
            self.sink.line(f"  {line}")
        self.sink.line("##[endgroup]")
        timeout = None
        if sdef.get("timeout_minutes"):
            try:
                timeout = float(ex.render(sdef["timeout_minutes"], evaluator)) * 60
            except (ex.ExpressionError, TypeError, ValueError):
                timeout = None
        remaining = max(1.0, self.deadline - time.monotonic())
        timeout = min(timeout, remaining) if timeout else remaining
        code, result = self._exec(script, shell, {**step_env}, workdir, timeout)
        outputs = parse_kv_file(self.ctl / "cmd" / f"{self.seq}.output")
        for key, value in parse_kv_file(self.ctl / "cmd" / f"{self.seq}.env").items():
            self.env_ctx[key] = value
        path_file = self.ctl / "cmd" / f"{self.seq}.path"
        if path_file.exists():
            self.path_prepend[:0] = [ln.strip() for ln in path_file.read_text().splitlines() if ln.strip()][::-1]
        WorkflowStep.objects.filter(pk=row.pk).update(exit_code=code)
        if result.get("cancelled"):
            return "cancelled", outputs, ""
        if result.get("timed_out"):
            message = "The step timed out." if time.monotonic() < self.deadline else "The job timed out."
            self.sink.line(f"##[error]{message}")
            return "failure", outputs, message
        if code != 0:
            self.sink.line(f"##[error]Process completed with exit code {code}.")
            return "failure", outputs, f"exit code {code}"
        return "success", outputs, ""

    def _exec(self, script: str, shell: str | None, step_env: dict[str, str], workdir: str,
              timeout: float) -> tuple[int, dict[str, Any]]:
        self.seq += 1
        seq, cmd_dir = self.seq, self.ctl / "cmd"
        cpath = f"{self.cctl}/cmd/{seq}"
        argv, suffix = shell_argv(shell, f"{cpath}{suffix_for(shell)}")
        (cmd_dir / f"{seq}{suffix}").write_text(script + "\n")
        for name in ("output", "env", "path", "summary"):
            (cmd_dir / f"{seq}.{name}").touch(mode=0o666)
        cwd = self.cws if not workdir else (workdir if workdir.startswith("/") else f"{self.cws}/{workdir}")
        env = {**self._process_env(), **self.env_ctx, **step_env,
               "GITHUB_OUTPUT": f"{cpath}.output", "GITHUB_ENV": f"{cpath}.env", "GITHUB_PATH": f"{cpath}.path",
               "GITHUB_STEP_SUMMARY": f"{cpath}.summary"}
        log_path, exit_path = cmd_dir / f"{seq}.log", cmd_dir / f"{seq}.exit"
        log_path.touch(mode=0o666)
        command = {"argv": argv, "env": env, "cwd": cwd, "timeout": timeout, "log": f"{cpath}.log",
                   "exit": f"{cpath}.exit", "path_prepend": self.path_prepend}
        tmp = cmd_dir / f"{seq}.json.tmp"
        tmp.write_text(json.dumps(command))
        tmp.replace(cmd_dir / f"{seq}.json")
        last_status = time.monotonic()
        cancel_sent = False
        with open(log_path, "rb") as log:
            while True:
                data = log.read(READ_BYTES)
                if data:
                    self.sink.write(data)
                    # A step that prints without pause still heartbeats and sees a cancel (both rate-limited).
                    self.beat()
                    if not cancel_sent and self.check_cancel():
                        (cmd_dir / f"{seq}.cancel").touch()
                        cancel_sent = True
                        self._stop_container()
                    continue
                if exit_path.exists():
                    self._drain(log)
                    break
                self.sink.maybe_flush()
                self.beat()
                if not cancel_sent and (self.check_cancel() or time.monotonic() > self.deadline + 5):
                    (cmd_dir / f"{seq}.cancel").touch()
                    cancel_sent = True
                    if self.cancelled:
                        # Cancel stops the container right away (the runner kills the step's processes).
                        self._stop_container()
                if time.monotonic() - last_status > 1.0:
                    last_status = time.monotonic()
                    status = self.driver.status(self.handle) if self.handle else None
                    if status is None or status.state in ("exited", "missing"):
                        self._drain(log)
                        self.sink.end_partial()
                        if self.cancelled:
                            return 137, {"cancelled": True}
                        reason = status.reason if status else "stopped"
                        self.sink.line(f"##[error]The job container stopped ({reason}).")
                        return 137, {"timed_out": reason == "timeout"}
                time.sleep(POLL_SECONDS)
        self.sink.end_partial()
        try:
            result = json.loads(exit_path.read_text())
        except ValueError:
            result = {"code": 1}
        if self.cancelled:
            result["cancelled"] = True
        return int(result.get("code", 1)), result

    def _drain(self, log: Any) -> None:
        """The rest of a step's output, in READ_BYTES pieces (never one huge chunk row)."""
        while data := log.read(READ_BYTES):
            self.sink.write(data)

    def _stop_container(self) -> None:
        if self.handle is None:
            return
        from hosts.services import container_stop

        try:
            container_stop(handle=self.handle, driver=self.driver, reason="run cancelled")
        except (DriverError, DriverUnavailable):
            logger.warning("job %s: stopping the container failed", self.job_id, exc_info=True)
        self.handle = None

    def _process_env(self) -> dict[str, str]:
        g = self.contexts["github"]
        env = {
            "CI": "true", "GITHUB_ACTIONS": "true", "TAKOS_ACTIONS": "true", "GITHUB_WORKSPACE": self.cws,
            "GITHUB_SHA": g["sha"], "GITHUB_REF": g["ref"], "GITHUB_REF_NAME": g["ref_name"],
            "GITHUB_REF_TYPE": g["ref_type"], "GITHUB_REPOSITORY": g["repository"],
            "GITHUB_REPOSITORY_OWNER": g["repository_owner"], "GITHUB_RUN_ID": g["run_id"],
            "GITHUB_RUN_NUMBER": str(g["run_number"]), "GITHUB_RUN_ATTEMPT": str(g["run_attempt"]),
            "GITHUB_JOB": g["job"], "GITHUB_EVENT_NAME": g["event_name"], "GITHUB_ACTOR": g["actor"],
            "GITHUB_WORKFLOW": g["workflow"], "GITHUB_SERVER_URL": g["server_url"], "GITHUB_API_URL": g["api_url"],
            "GITHUB_HEAD_REF": g["head_ref"], "GITHUB_BASE_REF": g["base_ref"],
            "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64", "RUNNER_TEMP": self.ctmp, "TMPDIR": self.ctmp,
        }
        env.update({k.replace("GITHUB_", "TAKOS_", 1): v for k, v in list(env.items()) if k.startswith("GITHUB_")})
        return env

    def _run_action(self, sdef: dict[str, Any], evaluator: ex.Evaluator) -> tuple[str, dict, str]:
        with_ = {k: ex.render(v, evaluator) for k, v in (sdef.get("with") or {}).items()}
        self.sink.line(f"  uses: {sdef['uses']}")
        for key, value in with_.items():
            self.sink.line(f"    {key}: {ex.to_string(value)}")
        self.sink.line("##[endgroup]")
        log = self.sink.line
        try:
            if sdef["action"] == "checkout":
                self._checkout(with_)
            elif sdef["action"] == "upload-artifact":
                artifact = artifacts.upload(job=self.job, workspace=self.ws, with_=with_, log=log)
                return "success", ({"artifact-id": artifact.id} if artifact else {}), ""
            elif sdef["action"] == "download-artifact":
                artifacts.download(job=self.job, workspace=self.ws, with_=with_, log=log)
        except (artifacts.ArtifactError, git.GitError) as exc:
            log(f"##[error]{exc}")
            return "failure", {}, str(exc)
        return "success", {}, ""

    def _checkout(self, with_: dict[str, Any]) -> None:
        ref = with_.get("ref")
        path = with_.get("path")
        if not ref and not path:
            self.sink.line(f"The workspace has {self.run.repo.full_name} at {self.run.sha}.")
            return
        sha = git.resolve_ref(self.run.repo, str(ref)) if ref else self.run.sha
        if sha is None:
            raise git.GitError(f"ref '{ref}' not found in {self.run.repo.full_name}")
        target = artifacts.inside(self.ws, str(path or "."))
        if target != self.ws.resolve():
            shutil.rmtree(target, ignore_errors=True)
        git.archive(self.run.repo, sha, target)
        self.sink.line(f"Checked out {self.run.repo.full_name} at {sha} into {path or '.'}")

    def _job_outputs(self, jdef: dict[str, Any], contexts: dict[str, Any]) -> None:
        outputs = {}
        evaluator = ex.Evaluator(contexts)
        for name, expr in (jdef.get("outputs") or {}).items():
            try:
                value = ex.render_str(expr, evaluator)
            except ex.ExpressionError as exc:
                self.sink.line(f"##[warning]output '{name}': {exc}")
                continue
            if any(secret and secret in value for secret in self.secrets.values() if len(secret) >= 2):
                self.sink.line(f"##[warning]Skip output '{name}' since it may contain secret.")
                continue
            outputs[name] = value
        WorkflowJob.objects.filter(pk=self.job.id).update(outputs=outputs)


def suffix_for(shell: str | None) -> str:
    return ".py" if shell and shell.split()[0] in ("python", "python3") else ".sh"


def execute_job(job_id: str) -> str | None:
    """Run a queued job to completion; None when it was not ours to run (already claimed or done)."""
    job = WorkflowJob.objects.filter(pk=job_id).select_related("run").first()
    if job is None or job.status != WorkflowJob.Status.QUEUED:
        return None
    if job.run.cancel_requested_at is not None:
        services.advance_run(job.run_id)
        return None
    return JobExecution(job_id).execute()

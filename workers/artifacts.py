"""`build.fromWorkflow`: take the artifact a workflow job uploaded for the deployed commit.

The workflows slice stores artifacts as zips in default storage (`WorkflowArtifact.r2_key`).
We wait (bounded) for the run of `fromWorkflow.path` at the deployment's commit to finish,
then unpack the named artifact into the deployment's source folder (under `artifactPath`).
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from workers.models import Deployment

WAIT_SECONDS = 600


class ArtifactError(Exception):
    pass


def _find_artifact(deployment: Deployment, spec: dict[str, str]):  # type: ignore[no-untyped-def]
    from workflows.models import WorkflowArtifact, WorkflowRun

    runs = WorkflowRun.objects.filter(repo_id=deployment.repo_id, sha=deployment.commit_sha,
                                      workflow_path=spec["path"]).order_by("-created_at")
    run = runs.first()
    if run is None:
        return None, "no workflow run for this commit yet"
    if run.status not in WorkflowRun.TERMINAL:
        return None, f"workflow run #{run.run_number} is {run.status}"
    if run.conclusion != "success":
        raise ArtifactError(f"workflow run #{run.run_number} concluded {run.conclusion or run.status}")
    # The run's latest attempt (a re-run keeps earlier attempts' artifacts as their own rows).
    artifact = WorkflowArtifact.objects.filter(run=run, run_attempt=run.run_attempt, name=spec["artifact"]) \
        .select_related("job").first()
    if artifact is None:
        raise ArtifactError(f"workflow run #{run.run_number} has no artifact named {spec['artifact']!r}")
    if spec.get("job") and artifact.job is not None and artifact.job.job_key != spec["job"]:
        raise ArtifactError(f"artifact {spec['artifact']!r} was uploaded by job {artifact.job.job_key!r}, "
                            f"not {spec['job']!r}")
    return artifact, ""


def fetch_workflow_artifact(deployment: Deployment, dest: Path, *, wait_seconds: float | None = None) -> None:
    spec = (deployment.manifest or {}).get("fromWorkflow") or {}
    if not spec.get("path") or not spec.get("artifact"):
        raise ArtifactError("build.fromWorkflow needs path and artifact")
    deadline = time.monotonic() + (wait_seconds if wait_seconds is not None else
                                   getattr(settings, "TAKOS_DEPLOY_ARTIFACT_WAIT", WAIT_SECONDS))
    while True:
        artifact, why = _find_artifact(deployment, spec)
        if artifact is not None:
            break
        if time.monotonic() > deadline:
            raise ArtifactError(f"no artifact {spec['artifact']!r} in time: {why}")
        time.sleep(2)
    target = (dest / (spec.get("artifactPath") or "").strip("/")).resolve()
    if not str(target).startswith(str(dest.resolve())):
        raise ArtifactError("artifactPath leaves the source folder")
    target.mkdir(parents=True, exist_ok=True)
    with default_storage.open(artifact.r2_key, "rb") as fh:
        data = fh.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.infolist():
            path = (target / member.filename).resolve()
            if not str(path).startswith(str(target)):
                raise ArtifactError(f"artifact entry {member.filename!r} escapes the folder")
        archive.extractall(target)

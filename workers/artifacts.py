"""`build.fromWorkflow`: take the artifact a workflow job uploaded for the deployed commit.

The workflows slice runs `.takos/workflows/*.yml` on push and stores artifacts as zips in default
storage. We read it only through its public selectors (`workflows.selectors.runs_for_repo`) and
the run's artifacts. While the run of `fromWorkflow.path` at the deployment's commit has not
finished, `ArtifactPending` tells the pipeline to come back later (the deployment task re-queues
itself rather than holding a worker that the workflow's own jobs may need); once it succeeded the
named artifact is unpacked into the deployment's source folder (under `artifactPath`).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from django.core.files.storage import default_storage

from workers.models import Deployment

WAIT_SECONDS = 600


class ArtifactError(Exception):
    pass


class ArtifactPending(Exception):
    """The workflow run that builds the artifact has not finished (or not started) yet."""


def _find_artifact(deployment: Deployment, spec: dict[str, str]):  # type: ignore[no-untyped-def]
    from workflows.selectors import runs_for_repo

    run = runs_for_repo(deployment.repo, workflow=spec["path"]).filter(sha=deployment.commit_sha).first()
    if run is None:
        raise ArtifactPending(f"no run of {spec['path']} for commit {deployment.commit_sha[:12]} yet")
    if not run.is_terminal:
        raise ArtifactPending(f"workflow run #{run.run_number} is {run.status}")
    if run.conclusion != "success":
        raise ArtifactError(f"workflow run #{run.run_number} concluded {run.conclusion or run.status}")
    # The run's latest attempt (a re-run keeps earlier attempts' artifacts as their own rows).
    artifact = run.artifacts.filter(run_attempt=run.run_attempt, name=spec["artifact"]).select_related("job").first()
    if artifact is None:
        raise ArtifactError(f"workflow run #{run.run_number} has no artifact named {spec['artifact']!r}")
    if spec.get("job") and artifact.job is not None and artifact.job.job_key != spec["job"]:
        raise ArtifactError(f"artifact {spec['artifact']!r} was uploaded by job {artifact.job.job_key!r}, "
                            f"not {spec['job']!r}")
    return run, artifact


def fetch_workflow_artifact(deployment: Deployment, dest: Path) -> str:
    """Unpack the artifact into `dest`; returns a note for the deployment's events.

    Raises ArtifactPending while the run is not finished, ArtifactError when it cannot succeed."""
    spec = (deployment.manifest or {}).get("fromWorkflow") or {}
    if not spec.get("path") or not spec.get("artifact"):
        raise ArtifactError("build.fromWorkflow needs path and artifact")
    if deployment.repo is None:
        raise ArtifactError("build.fromWorkflow needs the deployment's repository")
    run, artifact = _find_artifact(deployment, spec)
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
    return f"artifact {artifact.name!r} of workflow run #{run.run_number} unpacked"

"""Built-in artifact actions: zip files from a job's workspace into object storage and back.

Keys: `workflow-artifacts/<runId>/<artifactId>/<name>.zip` in default_storage. Paths in `with.path`
are relative to the workspace (one per line; globs allowed; `!pattern` excludes). As in
GitHub, the least common ancestor of the search paths becomes the root of the archive.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from takos.api.ids import new_id
from workflows.models import WorkflowArtifact, WorkflowJob

NAME_FORBIDDEN = set('"<>:|*?\\/\r\n')


class ArtifactError(Exception):
    pass


def inside(root: Path, rel: str) -> Path:
    """`rel` resolved under `root`; refuses anything that escapes it."""
    target = (root / rel).resolve()
    root = root.resolve()
    if target != root and root not in target.parents:
        raise ArtifactError(f"path '{rel}' is outside the workspace")
    return target


def _glob_base(pattern: str) -> str:
    parts = Path(pattern).parts
    base = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        base.append(part)
    return str(Path(*base)) if base else "."


def collect(workspace: Path, path_spec: str) -> tuple[list[tuple[Path, str]], Path]:
    """[(file, name in archive)], and the archive root."""
    lines = [ln.strip() for ln in str(path_spec).splitlines() if ln.strip()]
    includes = [ln for ln in lines if not ln.startswith("!")]
    excludes = [ln[1:] for ln in lines if ln.startswith("!")]
    files: dict[Path, None] = {}
    roots: list[Path] = []
    for pattern in includes:
        if any(ch in pattern for ch in "*?["):
            base = inside(workspace, _glob_base(pattern))
            roots.append(base)
            for match in sorted(workspace.glob(pattern)):
                inside(workspace, str(match.relative_to(workspace)))
                if match.is_file():
                    files[match] = None
                elif match.is_dir():
                    files.update((f, None) for f in sorted(match.rglob("*")) if f.is_file())
            continue
        target = inside(workspace, pattern)
        if target.is_file():
            roots.append(target.parent)
            files[target] = None
        elif target.is_dir():
            roots.append(target)
            files.update((f, None) for f in sorted(target.rglob("*")) if f.is_file())
    for pattern in excludes:
        excluded = set(workspace.glob(pattern))
        files = {f: None for f in files if f not in excluded and not any(e in f.parents for e in excluded)}
    root = Path(os.path.commonpath([str(r) for r in roots])) if roots else workspace
    return [(f, str(f.relative_to(root))) for f in files], root


def upload(*, job: WorkflowJob, workspace: Path, with_: dict[str, Any], log: Any) -> WorkflowArtifact | None:
    name = str(with_.get("name") or "artifact")
    if not name or set(name) & NAME_FORBIDDEN:
        raise ArtifactError(f"invalid artifact name '{name}'")
    files, root = collect(workspace, with_.get("path") or "")
    if not files:
        mode = str(with_.get("if-no-files-found") or "warn")
        message = f"No files were found with the provided path: {with_.get('path')}."
        if mode == "error":
            raise ArtifactError(message)
        if mode == "warn":
            log(f"##[warning]{message} No artifact will be uploaded.")
        return None
    days = int(with_.get("retention-days") or settings.TAKOS_WORKFLOW_ARTIFACT_RETENTION_DAYS)
    days = max(1, min(days, settings.TAKOS_WORKFLOW_ARTIFACT_RETENTION_DAYS))
    overwrite = str(with_.get("overwrite", "false")).lower() == "true"
    existing = WorkflowArtifact.objects.filter(run_id=job.run_id, run_attempt=job.run_attempt, name=name).first()
    if existing is not None:
        if not overwrite:
            raise ArtifactError(f"an artifact named '{name}' already exists in this run attempt "
                                "(set overwrite: true)")
        from workflows.services import artifact_delete

        artifact_delete(artifact=existing)
    artifact_id = new_id()
    total = 0
    with tempfile.TemporaryFile() as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path, arcname in files:
                total += path.stat().st_size
                if total > settings.TAKOS_WORKFLOW_MAX_ARTIFACT_BYTES:
                    raise ArtifactError("the artifact is larger than TAKOS_WORKFLOW_MAX_ARTIFACT_BYTES")
                zf.write(path, arcname)
        size = tmp.tell()
        tmp.seek(0)
        key = default_storage.save(f"workflow-artifacts/{job.run_id}/{artifact_id}/{name}.zip", File(tmp))
    try:
        with transaction.atomic():
            artifact = WorkflowArtifact.objects.create(
                id=artifact_id, run_id=job.run_id, run_attempt=job.run_attempt, job=job, name=name, r2_key=key, size_bytes=size,
                file_count=len(files), expires_at=timezone.now() + timedelta(days=days))
    except IntegrityError:
        default_storage.delete(key)
        raise ArtifactError(f"an artifact named '{name}' was uploaded concurrently") from None
    log(f"Uploaded artifact '{name}': {len(files)} file(s) from {root.relative_to(workspace) if root != workspace else '.'}"
        f", {size} bytes (kept {days} days)")
    return artifact


def _extract(artifact: WorkflowArtifact, dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    with default_storage.open(artifact.r2_key, "rb") as fh, zipfile.ZipFile(fh) as zf:
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if dest.resolve() not in target.parents:
                continue  # never write outside the destination
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1024 * 1024):
                    out.write(chunk)
            count += 1
    return count


def download(*, job: WorkflowJob, workspace: Path, with_: dict[str, Any], log: Any) -> None:
    dest = inside(workspace, str(with_.get("path") or "."))
    name = with_.get("name")
    # This attempt's artifacts: its own uploads and those of jobs carried over from the last one.
    qs = WorkflowArtifact.objects.filter(run_id=job.run_id, run_attempt=job.run_attempt)
    if name:
        artifact = qs.filter(name=str(name)).first()
        if artifact is None:
            raise ArtifactError(f"artifact '{name}' not found in this run")
        count = _extract(artifact, dest)
        log(f"Downloaded artifact '{name}': {count} file(s) into {dest.relative_to(workspace.resolve()) or '.'}")
        return
    for artifact in qs.order_by("created_at"):
        count = _extract(artifact, dest / artifact.name)
        log(f"Downloaded artifact '{artifact.name}': {count} file(s)")

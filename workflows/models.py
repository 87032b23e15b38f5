"""Workflows group: definitions, runs, jobs, steps, secrets, artifacts, plus run events, log
chunks and commit statuses (the rows live streams and pull requests read).

Statuses follow the spec: run queued|in_progress|waiting|completed, job queued|in_progress|waiting|completed,
step pending|in_progress|completed|skipped; conclusions success|failure|cancelled|skipped.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from takos.models import IdModel, TimestampedModel


class Conclusion(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class Workflow(TimestampedModel):
    """Registry entry for `.takos/workflows/<file>` on the default branch (synced on push and on demand)."""

    repo = models.ForeignKey("repos.Repository", on_delete=models.CASCADE, related_name="workflows")
    path = models.CharField(max_length=500)
    name = models.CharField(max_length=255, blank=True)
    content = models.TextField(blank=True)
    triggers = models.JSONField(default=dict, blank=True)
    definition = models.JSONField(null=True, blank=True)
    is_valid = models.BooleanField(default=True)
    errors = models.JSONField(default=list, blank=True)
    ref = models.CharField(max_length=255, blank=True)
    sha = models.CharField(max_length=40, blank=True)
    parsed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "path"], name="workflows_workflow_repo_path")]

    def __str__(self) -> str:
        return self.path

    @property
    def display_name(self) -> str:
        return self.name or self.path.rsplit("/", 1)[-1]


class WorkflowRun(TimestampedModel):
    class Status(models.TextChoices):
        QUEUED = "queued"
        IN_PROGRESS = "in_progress"
        WAITING = "waiting"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    repo = models.ForeignKey("repos.Repository", on_delete=models.CASCADE, related_name="workflow_runs")
    workflow = models.ForeignKey(Workflow, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    workflow_path = models.CharField(max_length=500)
    name = models.CharField(max_length=255, blank=True)
    event = models.CharField(max_length=40)
    ref = models.CharField(max_length=255, blank=True)
    sha = models.CharField(max_length=40, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    conclusion = models.CharField(max_length=20, choices=Conclusion.choices, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    inputs = models.JSONField(default=dict, blank=True)
    run_number = models.PositiveIntegerField(default=1)
    run_attempt = models.PositiveIntegerField(default=1)
    # The parsed workflow as it was at `sha` (jobs run from this snapshot, not the registry).
    definition = models.JSONField(default=dict, blank=True)
    event_payload = models.JSONField(default=dict, blank=True)
    concurrency_group = models.CharField(max_length=255, blank=True, db_index=True)
    # Runs from forks (pull requests whose head lives in another repository) get no secrets.
    from_fork = models.BooleanField(default=False)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    last_event_seq = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    TERMINAL = (Status.COMPLETED, Status.CANCELLED)

    class Meta:
        indexes = [models.Index(fields=["repo", "workflow_path", "run_number"]),
                   models.Index(fields=["repo", "created_at"]), models.Index(fields=["event"])]

    def __str__(self) -> str:
        return f"{self.workflow_path} #{self.run_number}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    def attempt_jobs(self, attempt: int | None = None) -> models.QuerySet[WorkflowJob]:
        """The jobs of one attempt (the current one by default); earlier attempts keep theirs."""
        return self.jobs.filter(run_attempt=attempt or self.run_attempt)


class WorkflowRunAttempt(models.Model):
    """A finished, earlier attempt of a run, as it was when it was re-run (GitHub's
    `runs/:id/attempts/:n`). The current attempt is the run row itself."""

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="attempts")
    run_attempt = models.PositiveIntegerField()
    status = models.CharField(max_length=20)
    conclusion = models.CharField(max_length=20, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "run_attempt"], name="workflows_attempt_run_n")]
        ordering = ["run_attempt"]

    def __str__(self) -> str:
        return f"{self.run_id} attempt {self.run_attempt}"


class WorkflowJob(TimestampedModel):
    class Status(models.TextChoices):
        QUEUED = "queued"
        IN_PROGRESS = "in_progress"
        WAITING = "waiting"
        COMPLETED = "completed"

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="jobs")
    # Each attempt of a run has its own job rows; a re-run never rewrites an earlier attempt.
    run_attempt = models.PositiveIntegerField(default=1)
    # Re-run of failed jobs: a successful job of the previous attempt is carried over as a copy
    # (same result, outputs, log and artifacts) that points at the job that really ran.
    reused_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    job_key = models.CharField(max_length=100)
    name = models.CharField(max_length=255)
    matrix = models.JSONField(null=True, blank=True)
    matrix_index = models.PositiveIntegerField(default=0)
    # The matrix is an expression over `needs`: this one row waits for them and is expanded into
    # one row per combination when they complete.
    matrix_pending = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    conclusion = models.CharField(max_length=20, choices=Conclusion.choices, blank=True)
    runner_id = models.CharField(max_length=100, blank=True)  # container id
    runner_name = models.CharField(max_length=100, blank=True)  # runs-on label
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    logs_url = models.CharField(max_length=500, blank=True)
    logs_r2_key = models.CharField(max_length=500, blank=True)  # object storage key once the job ended
    log_size = models.BigIntegerField(default=0)
    outputs = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    concurrency_group = models.CharField(max_length=255, blank=True)
    # Lease held by the worker executing the job: compare-and-set on lease_id; heartbeat keeps it.
    lease_id = models.CharField(max_length=40, blank=True)
    lease_version = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["run", "run_attempt", "job_key"]),
                   models.Index(fields=["status", "heartbeat_at"])]
        ordering = ["created_at", "matrix_index"]

    def __str__(self) -> str:
        return self.name


class WorkflowStep(IdModel):
    class Status(models.TextChoices):
        PENDING = "pending"
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        SKIPPED = "skipped"

    job = models.ForeignKey(WorkflowJob, on_delete=models.CASCADE, related_name="steps")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    conclusion = models.CharField(max_length=20, choices=Conclusion.choices, blank=True)
    outcome = models.CharField(max_length=20, blank=True)  # before continue-on-error
    run_command = models.TextField(blank=True)
    uses_action = models.CharField(max_length=255, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    log_offset = models.BigIntegerField(default=0)  # where this step's lines start in the job log
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["job", "number"])]
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number}. {self.name}"


class WorkflowSecret(TimestampedModel):
    """A repository secret; `encrypted_value` is Fernet ciphertext (workflows.crypto), never returned."""

    repo = models.ForeignKey("repos.Repository", on_delete=models.CASCADE, related_name="workflow_secrets")
    name = models.CharField(max_length=100)
    encrypted_value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "name"], name="workflows_secret_repo_name")]

    def __str__(self) -> str:
        return self.name


class WorkflowArtifact(IdModel):
    """A zip in object storage. Artifacts belong to an attempt; when a re-run carries a job over,
    its artifacts are carried over as rows of the new attempt sharing the same object."""

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="artifacts")
    run_attempt = models.PositiveIntegerField(default=1)
    job = models.ForeignKey(WorkflowJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="artifacts")
    name = models.CharField(max_length=255)
    r2_key = models.CharField(max_length=500)  # default_storage key of the zip
    size_bytes = models.BigIntegerField(default=0)
    file_count = models.PositiveIntegerField(default=0)
    mime_type = models.CharField(max_length=100, default="application/zip")
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "run_attempt", "name"],
                                               name="workflows_artifact_run_attempt_name")]

    def __str__(self) -> str:
        return self.name


class WorkflowRunEvent(models.Model):
    """Per-run event rows (`workflow.job.started` ...): the source of SSE/WebSocket replay."""

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=60)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="workflows_event_run_seq")]
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.type}"


class WorkflowLogChunk(models.Model):
    """A piece of a running job's (already masked) log; folded into object storage when the job ends."""

    job = models.ForeignKey(WorkflowJob, on_delete=models.CASCADE, related_name="log_chunks")
    offset = models.BigIntegerField()
    end = models.BigIntegerField()  # offset + len(data): range reads touch only overlapping chunks
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "offset"], name="workflows_logchunk_job_offset")]
        indexes = [models.Index(fields=["job", "end"])]
        ordering = ["offset"]

    def __str__(self) -> str:
        return f"{self.job_id}@{self.offset}"


class CommitStatus(TimestampedModel):
    """A check result on a commit: one per (repo, sha, context); context = '<workflow> / <job>'."""

    class State(models.TextChoices):
        PENDING = "pending"
        SUCCESS = "success"
        FAILURE = "failure"
        ERROR = "error"

    repo = models.ForeignKey("repos.Repository", on_delete=models.CASCADE, related_name="commit_statuses")
    sha = models.CharField(max_length=40)
    context = models.CharField(max_length=255)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    description = models.CharField(max_length=255, blank=True)
    target_url = models.CharField(max_length=500, blank=True)
    run = models.ForeignKey(WorkflowRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["repo", "sha", "context"], name="workflows_status_unique")]
        verbose_name_plural = "commit statuses"

    def __str__(self) -> str:
        return f"{self.context}: {self.state}"

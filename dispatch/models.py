"""The routing table (hostname -> service) and per-deployment request metrics."""

from __future__ import annotations

from django.db import models


class Route(models.Model):
    """One hostname served by dispatch: the service's tenant hostname or a verified custom domain."""

    class Kind(models.TextChoices):
        TENANT = "tenant"
        CUSTOM_DOMAIN = "custom_domain"

    hostname = models.CharField(max_length=253, primary_key=True)
    service = models.ForeignKey("services.Service", on_delete=models.CASCADE, related_name="routes")
    kind = models.CharField(max_length=15, choices=Kind.choices, default=Kind.TENANT)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.hostname


class DeploymentMetric(models.Model):
    """Requests, errors and latency of one deployment in one time bucket (flushed by dispatch).

    Feeds the canary health gate and, later, billing.
    """

    deployment = models.ForeignKey("workers.Deployment", on_delete=models.CASCADE, related_name="metrics")
    bucket = models.DateTimeField()  # start of the bucket (BUCKET_SECONDS wide)
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)  # 5xx from the runtime or proxy failures
    latency_ms_sum = models.FloatField(default=0)
    latency_ms_max = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deployment", "bucket"], name="dispatch_metric_bucket_unique")]

    def __str__(self) -> str:
        return f"{self.deployment_id}@{self.bucket:%H:%M:%S}"

"""API routes of the workflows app (mounted under /api/ by workflows/urls.py)."""

from django.urls import path

from workflows import streams
from workflows.api import views as v

R = "repos/<str:repo_id>"
A = f"{R}/actions"

urlpatterns = [
    path(f"{R}/workflows", v.WorkflowListView.as_view(), name="api-workflows"),
    path(f"{R}/workflows/sync-all", v.WorkflowSyncAllView.as_view(), name="api-workflows-sync-all"),
    path(f"{R}/workflows/sync", v.WorkflowSyncAllView.as_view(), name="api-workflows-sync"),
    path(f"{R}/workflows/<path:path>/sync", v.WorkflowSyncView.as_view(), name="api-workflow-sync"),
    path(f"{R}/workflows/<path:path>", v.WorkflowDetailView.as_view(), name="api-workflow"),
    path(f"{A}/runs", v.RunListView.as_view(), name="api-actions-runs"),
    path(f"{A}/runs/<str:run_id>", v.RunDetailView.as_view(), name="api-actions-run"),
    path(f"{A}/runs/<str:run_id>/jobs", v.RunJobsView.as_view(), name="api-actions-run-jobs"),
    path(f"{A}/runs/<str:run_id>/attempts", v.RunAttemptListView.as_view(), name="api-actions-run-attempts"),
    path(f"{A}/runs/<str:run_id>/attempts/<str:attempt>", v.RunAttemptView.as_view(), name="api-actions-run-attempt"),
    path(f"{A}/runs/<str:run_id>/attempts/<str:attempt>/jobs", v.RunJobsView.as_view(),
         name="api-actions-run-attempt-jobs"),
    path(f"{A}/runs/<str:run_id>/artifacts", v.RunArtifactsView.as_view(), name="api-actions-run-artifacts"),
    path(f"{A}/runs/<str:run_id>/events", v.RunEventsView.as_view(), name="api-actions-run-events"),
    path(f"{A}/runs/<str:run_id>/sse", streams.run_sse, name="api-actions-run-sse"),
    path(f"{A}/runs/<str:run_id>/cancel", v.RunCancelView.as_view(), name="api-actions-run-cancel"),
    path(f"{A}/runs/<str:run_id>/rerun", v.RunRerunView.as_view(), name="api-actions-run-rerun"),
    path(f"{A}/jobs/<str:job_id>", v.JobDetailView.as_view(), name="api-actions-job"),
    path(f"{A}/jobs/<str:job_id>/logs", v.JobLogsView.as_view(), name="api-actions-job-logs"),
    path(f"{A}/jobs/<str:job_id>/logs/sse", streams.job_log_sse, name="api-actions-job-logs-sse"),
    path(f"{A}/artifacts/<str:artifact_id>", v.ArtifactView.as_view(), name="api-actions-artifact"),
    path(f"{A}/secrets", v.SecretListView.as_view(), name="api-actions-secrets"),
    path(f"{A}/secrets/<str:name>", v.SecretDetailView.as_view(), name="api-actions-secret"),
    path(f"{R}/commits/<str:sha>/statuses", v.CommitStatusesView.as_view(), name="api-commit-statuses"),
]

"""/internal/ URL patterns: hosts' own endpoints plus those other apps registered."""

from django.urls import path

from hosts.api import internal_views as v
from hosts.internal import extra_internal_urls

urlpatterns = [
    path("sessions/<str:session_id>/heartbeat", v.SessionHeartbeatView.as_view(), name="internal-session-heartbeat"),
    path("events", v.EventsView.as_view(), name="internal-events"),
    path("logs", v.LogsView.as_view(), name="internal-logs"),
    path("repos/<str:repo_id>/files/<path:path>", v.RepoFileView.as_view(), name="internal-repo-file"),
    path("artifacts", v.ArtifactsView.as_view(), name="internal-artifacts"),
    path("egress", v.EgressView.as_view(), name="internal-egress"),
    *extra_internal_urls(),
]

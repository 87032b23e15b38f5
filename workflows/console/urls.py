"""Console pages: /repos/<id>/actions, /repos/<id>/actions/runs/<runId>, /repos/<id>/actions/secrets."""

from django.urls import path

from workflows.console import views

R = "repos/<str:repo_id>/actions"

urlpatterns = [
    path(R, views.runs, name="console-actions"),
    path(f"{R}/dispatch", views.dispatch, name="console-actions-dispatch"),
    path(f"{R}/sync", views.sync, name="console-actions-sync"),
    path(f"{R}/secrets", views.secrets_page, name="console-actions-secrets"),
    path(f"{R}/runs/<str:run_id>", views.run_detail, name="console-actions-run"),
    path(f"{R}/runs/<str:run_id>/cancel", views.run_cancel, name="console-actions-run-cancel"),
    path(f"{R}/runs/<str:run_id>/rerun", views.run_rerun, name="console-actions-run-rerun"),
]

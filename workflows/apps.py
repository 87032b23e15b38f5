from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "workflows"
    label = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from django.urls import path

        from hosts.recovery import register_owner_check
        from repos.services import register_status_checker
        from takos import hooks
        from takos.routing import websocket_urlpatterns
        from workflows import receivers, services
        from workflows.consumers import RunConsumer

        hooks.repo_pushed.connect(receivers.on_repo_pushed, dispatch_uid="workflows.on_repo_pushed")
        hooks.pull_request_changed.connect(receivers.on_pull_request_changed,
                                           dispatch_uid="workflows.on_pull_request_changed")
        # Protected branches: required checks are answered from workflow commit statuses.
        register_status_checker(services.pr_checks)
        # hosts recovery removes "job:<id>" containers whose job is no longer running.
        register_owner_check("job", services.job_container_wanted)
        route = "api/repos/<str:repo_id>/actions/runs/<str:run_id>/ws"
        if not any(getattr(p, "name", None) == "workflow-run-ws" for p in websocket_urlpatterns):
            websocket_urlpatterns.append(path(route, RunConsumer.as_asgi(), name="workflow-run-ws"))

from django.urls import path

from workers.console import views

urlpatterns = [
    path("services", views.service_list, name="workers-services"),
    path("services/<str:service_id>", views.service_detail, name="workers-service"),
    path("services/<str:service_id>/rollback", views.service_rollback, name="workers-rollback"),
    path("services/<str:service_id>/rollout/<str:action>", views.rollout_action, name="workers-rollout"),
    path("services/<str:service_id>/env", views.env_save, name="workers-env"),
    path("services/<str:service_id>/domains", views.domain_create, name="workers-domain-add"),
    path("services/<str:service_id>/domains/<str:domain_id>/<str:action>", views.domain_action,
         name="workers-domain"),
]

"""API routes for services (`/api/services...`), app deployments and custom domains."""

from django.urls import path

from workers.api import views as v

S = "services/<str:service_id>"
A = "spaces/<str:space_id>/app-deployments"

urlpatterns = [
    path("services", v.ServiceListView.as_view()),
    path("services/space/<str:space_id>", v.SpaceServiceListView.as_view()),
    path(S, v.ServiceDetailView.as_view()),
    path(f"{S}/slug", v.ServiceSlugView.as_view()),
    path(f"{S}/group", v.ServiceGroupView.as_view()),
    path(f"{S}/logs", v.ServiceLogsView.as_view()),
    path(f"{S}/settings", v.ServiceSettingsView.as_view()),
    path(f"{S}/env", v.ServiceEnvView.as_view()),
    path(f"{S}/common-env-links", v.CommonEnvLinksView.as_view()),
    path(f"{S}/bindings", v.ServiceBindingsView.as_view()),
    path(f"{S}/deployments", v.ServiceDeploymentsView.as_view()),
    path(f"{S}/deployments/rollback", v.ServiceRollbackView.as_view()),
    path(f"{S}/deployments/<str:deployment_id>", v.ServiceDeploymentDetailView.as_view()),
    path(f"{S}/custom-domains", v.DomainsView.as_view()),
    path(f"{S}/custom-domains/<str:domain_id>", v.DomainDetailView.as_view()),
    path(f"{S}/custom-domains/<str:domain_id>/verify", v.DomainVerifyView.as_view()),
    path(f"{S}/custom-domains/<str:domain_id>/refresh-ssl", v.DomainSslView.as_view()),
    path("domains/ask", v.DomainAskView.as_view()),
    path("spaces/<str:space_id>/common-env", v.CommonEnvView.as_view()),
    path("spaces/<str:space_id>/common-env/<str:name>", v.CommonEnvItemView.as_view()),
    path("spaces/<str:space_id>/apps", v.AppsView.as_view()),
    path(A, v.AppDeploymentsView.as_view()),
    path(f"{A}/<str:deployment_id>", v.AppDeploymentDetailView.as_view()),
    path(f"{A}/<str:deployment_id>/rollback", v.AppDeploymentRollbackView.as_view()),
    path(f"{A}/<str:deployment_id>/rollout", v.RolloutView.as_view()),
    path(f"{A}/<str:deployment_id>/rollout/<str:action>", v.RolloutActionView.as_view()),
]

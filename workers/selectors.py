"""Reads for apps, deployments, rollouts and domains (callers scope the service first)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import Role, Space
from services.models import Service
from services.selectors import service_for_user
from takos.api.errors import NotFound
from takos.api.ids import is_id
from workers.models import App, CustomDomain, Deployment, Rollout


def deployments_of(service: Service) -> QuerySet[Deployment]:
    return Deployment.objects.filter(service=service).select_related("service").order_by("-version")


def deployment_of(service: Service, deployment_id: str) -> Deployment:
    deployment = Deployment.objects.select_related("service").filter(service=service, pk=deployment_id).first() \
        if is_id(deployment_id) else None
    if deployment is None:
        raise NotFound("Deployment not found.")
    return deployment


def space_deployments(space: Space) -> QuerySet[Deployment]:
    return Deployment.objects.filter(space=space).select_related("service", "service__app").order_by("-created_at")


def space_deployment(space: Space, deployment_id: str) -> Deployment:
    deployment = space_deployments(space).filter(pk=deployment_id).first() if is_id(deployment_id) else None
    if deployment is None:
        raise NotFound("Deployment not found.")
    return deployment


def rollout_of(deployment: Deployment) -> Rollout:
    rollout = Rollout.objects.select_related("deployment", "baseline").filter(deployment=deployment).first()
    if rollout is None:
        raise NotFound("This deployment has no rollout (it was deployed immediately).")
    return rollout


def domain_of(service: Service, domain_id: str) -> CustomDomain:
    domain = CustomDomain.objects.select_related("service").filter(service=service, pk=domain_id).first() \
        if is_id(domain_id) else None
    if domain is None:
        raise NotFound("Custom domain not found.")
    return domain


def apps_for_space(space: Space) -> QuerySet[App]:
    return App.objects.filter(space=space).select_related("service").order_by("name")


def traffic(service: Service) -> list[dict[str, Any]]:
    """The current split: [{deployment_id, version, weight}]."""
    out = []
    weight = service.canary_weight if service.canary_deployment_id else 0
    if service.active_deployment_id:
        active = service.active_deployment
        out.append({"deployment_id": active.pk, "version": active.version, "weight": 100 - weight})
    if service.canary_deployment_id:
        canary = service.canary_deployment
        out.append({"deployment_id": canary.pk, "version": canary.version, "weight": weight})
    return out


def service_for_deploy(user: Any, service_ref: str, *, min_role: str = Role.EDITOR) -> Service:
    return service_for_user(user, service_ref, min_role=min_role)

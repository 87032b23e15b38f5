"""Reads for services: scoped to the caller's spaces, so another tenant's service is a 404."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from accounts.models import Membership, Role, role_at_least
from services.crypto import decrypt
from services.models import CommonEnvLink, CommonEnvVar, Service, ServiceEnvVar
from takos.api.errors import Forbidden, NotFound
from takos.api.ids import is_id

MASK = "********"


@dataclass(frozen=True)
class ServiceAccess:
    service: Service
    role: str


def services_for_user(user: Any) -> QuerySet[Service]:
    space_ids = Membership.objects.filter(user=user).values("space_id")
    return Service.objects.filter(space_id__in=space_ids).select_related("space", "active_deployment",
                                                                        "canary_deployment")


def service_access(user: Any, service_ref: str, *, min_role: str = Role.VIEWER) -> ServiceAccess:
    """The service by id or slug if the caller is a member of its space; 404 otherwise, 403 below min_role."""
    qs = Service.objects.select_related("space", "active_deployment", "canary_deployment", "fallback_deployment")
    service = qs.filter(pk=service_ref).first() if is_id(service_ref) else None
    if service is None:
        service = qs.filter(slug=(service_ref or "").lower()).first()
    role = None
    if service is not None and user is not None and getattr(user, "is_authenticated", False):
        role = Membership.objects.filter(space_id=service.space_id, user=user).values_list("role", flat=True).first()
    if service is None or role is None:
        raise NotFound("Service not found.")
    if not role_at_least(role, min_role):
        raise Forbidden(f"This needs the {min_role} role or higher in the service's space.")
    return ServiceAccess(service=service, role=role)


def service_for_user(user: Any, service_ref: str, *, min_role: str = Role.VIEWER) -> Service:
    return service_access(user, service_ref, min_role=min_role).service


def env_list(service: Service, *, reveal: bool = False) -> list[dict[str, Any]]:
    rows = ServiceEnvVar.objects.filter(service=service).order_by("name")
    return [{"name": r.name, "value": decrypt(r.value_encrypted) if (reveal or not r.is_secret) else MASK,
             "secret": r.is_secret} for r in rows]


def common_env_list(space_id: str) -> list[dict[str, Any]]:
    rows = CommonEnvVar.objects.filter(space_id=space_id).order_by("name")
    return [{"name": r.name, "value": MASK if r.is_secret else decrypt(r.value_encrypted), "secret": r.is_secret,
             "updated_at": r.updated_at.isoformat()} for r in rows]


def common_env_links(service: Service) -> list[dict[str, Any]]:
    return [{"env_name": link.env_name, "source": link.source, "sync_state": link.sync_state,
             "sync_reason": link.sync_reason}
            for link in CommonEnvLink.objects.filter(service=service).order_by("env_name")]


def runtime_env(service: Service) -> dict[str, str]:
    """Clear-text env a new deployment receives from the service: linked common env, then its own vars."""
    env: dict[str, str] = {}
    linked = set(CommonEnvLink.objects.filter(service=service).values_list("env_name", flat=True))
    if linked:
        for row in CommonEnvVar.objects.filter(space_id=service.space_id, name__in=linked):
            env[row.name] = decrypt(row.value_encrypted)
    for row in ServiceEnvVar.objects.filter(service=service):
        env[row.name] = decrypt(row.value_encrypted)
    return env

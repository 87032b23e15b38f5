"""Writes for services: create/delete, slug, env vars, common env and links, bindings."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Space, User
from services.crypto import encrypt
from services.models import CommonEnvLink, CommonEnvVar, Service, ServiceBinding, ServiceEnvVar
from takos.api.errors import BadRequest, Conflict
from takos.hooks import routes_changed

SLUG_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
RESERVED_SLUGS = {"www", "api", "admin", "static", "takos", "dispatch", "internal"}
BUILTIN_ENV = {"PORT", "TAKOS_DEPLOYMENT_ID", "TAKOS_DEPLOYMENT_VERSION", "TAKOS_SERVICE_ID"}
MAX_ENV_VARS = 200
MAX_ENV_VALUE = 32 * 1024


def hostname_for(slug: str) -> str:
    return f"{slug}.{settings.TAKOS_TENANT_DOMAIN}".lower()


def _check_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise BadRequest("slug must be lowercase letters, digits and '-' (a hostname label).",
                         details={"fields": {"slug": ["Invalid hostname label."]}})
    if slug in RESERVED_SLUGS:
        raise BadRequest(f"The slug {slug!r} is reserved.", details={"fields": {"slug": ["Reserved."]}})
    return slug


def routes_changed_on_commit(hostnames: list[str]) -> None:
    names = sorted({h for h in hostnames if h})
    transaction.on_commit(lambda: routes_changed.send(sender=Service, hostnames=names))


def service_create(*, space: Space, actor: User | None, slug: str = "", service_type: str = Service.Type.APP,
                   config: dict[str, Any] | None = None, group_id: str = "", workload: str = "",
                   repo: Any = None) -> Service:
    """A service with hostname `<slug>.<TAKOS_TENANT_DOMAIN>` and its tenant route."""
    from dispatch.services import sync_service_routes

    slug = _check_slug(slug) if slug else f"svc-{secrets.token_hex(4)}"
    if Service.objects.filter(slug=slug).exists():
        raise Conflict(f"The slug {slug!r} is taken.", details={"fields": {"slug": ["Taken."]}})
    try:
        with transaction.atomic():
            service = Service.objects.create(
                space=space, slug=slug, hostname=hostname_for(slug), service_type=service_type,
                config=config or {}, group_id=group_id or "", created_by=actor, workload=workload, repo=repo)
            sync_service_routes(service)
    except IntegrityError:
        raise Conflict(f"The slug {slug!r} is taken.", details={"fields": {"slug": ["Taken."]}}) from None
    return service


def free_slug(base: str, space: Space) -> str:
    """`base` if free, else `base-<space slug>`, else with a random suffix."""
    base = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")[:40] or "app"
    for candidate in (base, f"{base}-{space.slug}"[:63].strip("-")):
        if candidate not in RESERVED_SLUGS and not Service.objects.filter(slug=candidate).exists():
            return candidate
    return f"{base}-{secrets.token_hex(3)}"


@transaction.atomic
def service_set_slug(*, service: Service, slug: str) -> Service:
    from dispatch.services import sync_service_routes

    slug = _check_slug(slug)
    if slug == service.slug:
        return service
    if Service.objects.filter(slug=slug).exclude(pk=service.pk).exists():
        raise Conflict(f"The slug {slug!r} is taken.", details={"fields": {"slug": ["Taken."]}})
    old = service.hostname
    service.slug, service.hostname = slug, hostname_for(slug)
    service.save(update_fields=["slug", "hostname", "updated_at"])
    sync_service_routes(service, also_changed=[old])
    return service


def service_delete(*, service: Service) -> None:
    """Stop every runtime of the service, then delete it (routes, deployments and domains cascade)."""
    from workers.models import Deployment
    from workers.runtime import stop_runtime

    hostnames = [service.hostname, *service.custom_domains.values_list("domain", flat=True)]
    for deployment in Deployment.objects.filter(service=service).exclude(container_id=""):
        stop_runtime(deployment, reason="service deleted")
    with transaction.atomic():
        Service.objects.filter(pk=service.pk).update(active_deployment=None, canary_deployment=None,
                                                     fallback_deployment=None)
        service.delete()
        routes_changed_on_commit(hostnames)


def set_group(*, service: Service, group_id: str | None) -> Service:
    service.group_id = group_id or ""
    service.save(update_fields=["group_id", "updated_at"])
    return service


def _check_env(variables: Any) -> list[dict[str, Any]]:
    if not isinstance(variables, list) or len(variables) > MAX_ENV_VARS:
        raise BadRequest(f"variables must be a list of at most {MAX_ENV_VARS} items.")
    seen: set[str] = set()
    out = []
    for i, item in enumerate(variables):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadRequest(f"variables[{i}] must be an object with a name.")
        name = item["name"]
        if not ENV_NAME_RE.match(name):
            raise BadRequest(f"variables[{i}].name {name!r} is not a valid variable name.")
        if name in BUILTIN_ENV:
            raise BadRequest(f"variables[{i}].name {name!r} is set by the runtime.")
        if name in seen:
            raise BadRequest(f"variables[{i}].name {name!r} appears twice.")
        seen.add(name)
        value = item.get("value")
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"variables[{i}].value must be a string.")
        if value is not None and len(value) > MAX_ENV_VALUE:
            raise BadRequest(f"variables[{i}].value is longer than {MAX_ENV_VALUE} characters.")
        out.append({"name": name, "value": value, "secret": bool(item.get("secret", False))})
    return out


@transaction.atomic
def env_replace(*, service: Service, variables: Any) -> None:
    """Replace the service's variables. A secret sent back masked (or without a value) keeps its value.

    New values apply to the next deployment (deployments are immutable snapshots).
    """
    from services.selectors import MASK

    items = _check_env(variables)
    existing = {row.name: row for row in ServiceEnvVar.objects.select_for_update().filter(service=service)}
    keep = set()
    for item in items:
        row = existing.get(item["name"])
        keep.add(item["name"])
        if row is not None and (item["value"] is None or item["value"] == MASK):
            if row.is_secret != item["secret"] and item["secret"]:
                row.is_secret = True
                row.save(update_fields=["is_secret", "updated_at"])
            continue
        if item["value"] is None:
            raise BadRequest(f"{item['name']}: a value is required for a new variable.")
        ServiceEnvVar.objects.update_or_create(
            service=service, name=item["name"],
            defaults={"value_encrypted": encrypt(item["value"]), "is_secret": item["secret"]})
    ServiceEnvVar.objects.filter(service=service).exclude(name__in=keep).delete()


def common_env_upsert(*, space: Space, name: str, value: str, secret: bool = False) -> CommonEnvVar:
    _check_env([{"name": name, "value": value}])
    row, _ = CommonEnvVar.objects.update_or_create(
        space=space, name=name, defaults={"value_encrypted": encrypt(value), "is_secret": bool(secret)})
    CommonEnvLink.objects.filter(service__space=space, env_name=name).update(
        sync_state=CommonEnvLink.SyncState.MANAGED, sync_reason="", last_reconciled_at=timezone.now())
    return row


def common_env_delete(*, space: Space, name: str) -> None:
    deleted, _ = CommonEnvVar.objects.filter(space=space, name=name).delete()
    if not deleted:
        from takos.api.errors import NotFound

        raise NotFound("Variable not found.")
    CommonEnvLink.objects.filter(service__space=space, env_name=name).update(
        sync_state=CommonEnvLink.SyncState.MISSING_COMMON, sync_reason="the common variable was removed")


def _link_state(service: Service, name: str) -> tuple[str, str]:
    if ServiceEnvVar.objects.filter(service=service, name=name).exists():
        return CommonEnvLink.SyncState.OVERRIDDEN, "the service sets its own value"
    if CommonEnvVar.objects.filter(space_id=service.space_id, name=name).exists():
        return CommonEnvLink.SyncState.MANAGED, ""
    return CommonEnvLink.SyncState.MISSING_COMMON, "no common variable with this name"


@transaction.atomic
def common_env_links_update(*, service: Service, add: list[str], remove: list[str],
                            replace: list[str] | None = None, builtins: dict[str, Any] | None = None,
                            actor: User | None = None) -> None:
    """PUT replaces the manual links; PATCH adds/removes. `builtins.TAKOS_ACCESS_TOKEN.scopes` mints a token."""
    names = [*(replace or []), *add, *remove]
    for name in names:
        if not isinstance(name, str) or not ENV_NAME_RE.match(name):
            raise BadRequest(f"{name!r} is not a valid variable name.")
    if replace is not None:
        CommonEnvLink.objects.filter(service=service, source=CommonEnvLink.Source.MANUAL).exclude(
            env_name__in=replace).delete()
        add = [*replace, *add]
    for name in add:
        state, reason = _link_state(service, name)
        CommonEnvLink.objects.update_or_create(
            service=service, env_name=name, source=CommonEnvLink.Source.MANUAL,
            defaults={"sync_state": state, "sync_reason": reason, "last_reconciled_at": timezone.now()})
    if remove:
        CommonEnvLink.objects.filter(service=service, env_name__in=remove).delete()
    for env_name, options in (builtins or {}).items():
        if env_name != "TAKOS_ACCESS_TOKEN":
            raise BadRequest(f"Unknown builtin {env_name!r} (only TAKOS_ACCESS_TOKEN).")
        from workers.services import managed_token_ensure, managed_token_remove

        if options is None or options is False:
            managed_token_remove(service=service, env_name=env_name)
        else:
            scopes = (options or {}).get("scopes", []) if isinstance(options, dict) else []
            if actor is None:
                raise BadRequest("A user is needed to mint the managed token.")
            managed_token_ensure(service=service, env_name=env_name, subject=actor, scopes=scopes)


VALID_BINDING_TYPES = {t.value for t in ServiceBinding.Type} | {"d1", "r2", "kv", "queue", "vectorize",
                                                                 "analyticsEngine", "workflow", "durableObject"}
LEGACY_BINDING_TYPES = {"d1": "sql", "r2": "object_store", "vectorize": "vector_index",
                        "analyticsEngine": "analytics_store", "workflow": "workflow_runtime",
                        "durableObject": "durable_namespace"}


@transaction.atomic
def bindings_replace(*, service: Service, bindings: Any) -> None:
    if not isinstance(bindings, list) or len(bindings) > 100:
        raise BadRequest("bindings must be a list of at most 100 items.")
    seen = set()
    rows = []
    for i, item in enumerate(bindings):
        if not isinstance(item, dict):
            raise BadRequest(f"bindings[{i}] must be an object.")
        name, btype = item.get("name"), item.get("type")
        if not isinstance(name, str) or not ENV_NAME_RE.match(name):
            raise BadRequest(f"bindings[{i}].name must be a valid identifier.")
        if btype not in VALID_BINDING_TYPES:
            raise BadRequest(f"bindings[{i}].type {btype!r} is not a binding type.")
        if name in seen:
            raise BadRequest(f"bindings[{i}].name {name!r} appears twice.")
        if not (item.get("resource_id") or item.get("resource_name")):
            raise BadRequest(f"bindings[{i}] needs resource_id or resource_name.")
        seen.add(name)
        rows.append(ServiceBinding(service=service, binding_name=name,
                                   binding_type=LEGACY_BINDING_TYPES.get(btype, btype),
                                   resource_id=str(item.get("resource_id") or "")[:12],
                                   resource_name=str(item.get("resource_name") or "")[:100]))
    ServiceBinding.objects.filter(service=service).delete()
    ServiceBinding.objects.bulk_create(rows)

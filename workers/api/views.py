"""Thin API views: services, env, bindings, deployments, rollouts, app deployments, custom domains."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Role
from accounts.selectors import resolve_space
from services import selectors as svc_sel
from services import services as svc
from takos.api.errors import BadRequest
from takos.api.pagination import paginate
from takos.api.views import ApiView, PublicApiView
from workers import selectors as sel
from workers import services as dep
from workers.api import serializers as io
from workers.domains import domain_add, domain_remove, domain_verify, tls_allowed
from workers.models import RuntimeSettings


class _Base(ApiView):
    # Deployments are space operations; a token needs spaces:read / spaces:write.
    scope = "spaces"

    def service(self, request: Request, service_id: str, min_role: str = Role.VIEWER):  # type: ignore[no-untyped-def]
        return svc_sel.service_for_user(request.user, service_id, min_role=min_role)


# --- services ----------------------------------------------------------------------------------


class ServiceListView(_Base):
    def get(self, request: Request) -> Response:
        qs = svc_sel.services_for_user(request.user).order_by("-created_at")
        return Response(paginate(request, qs, key="services", serialize=lambda items: [io.service_out(s) for s in items]))

    def post(self, request: Request) -> Response:
        data = self.parse(io.ServiceCreateIn, request)
        space = resolve_space(request.user, data.get("space_id") or request.query_params.get("space_id") or "me",
                              min_role=Role.EDITOR).space
        service = svc.service_create(space=space, actor=request.user, slug=data.get("slug", ""),
                                     service_type=data["service_type"], config=data.get("config"),
                                     group_id=data.get("group_id") or "")
        return Response({"service": io.service_out(service)}, status=status.HTTP_201_CREATED)


class SpaceServiceListView(_Base):
    def get(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        qs = svc_sel.services_for_user(request.user).filter(space=space).order_by("-created_at")
        return Response(paginate(request, qs, key="services", serialize=lambda items: [io.service_out(s) for s in items]))


class ServiceDetailView(_Base):
    def get(self, request: Request, service_id: str) -> Response:
        service = self.service(request, service_id)
        out = io.service_out(service)
        out["traffic"] = sel.traffic(service)
        out["custom_domains"] = [io.domain_out(d) for d in service.custom_domains.all()]
        return Response({"service": out})

    def delete(self, request: Request, service_id: str) -> Response:
        svc.service_delete(service=self.service(request, service_id, Role.ADMIN))
        return Response({"success": True})


class ServiceSlugView(_Base):
    def patch(self, request: Request, service_id: str) -> Response:
        data = self.parse(io.SlugIn, request)
        service = svc.service_set_slug(service=self.service(request, service_id, Role.EDITOR), slug=data["slug"])
        return Response({"service": io.service_out(service)})


class ServiceGroupView(_Base):
    def patch(self, request: Request, service_id: str) -> Response:
        data = self.parse(io.GroupIn, request)
        service = svc.set_group(service=self.service(request, service_id, Role.EDITOR), group_id=data["group_id"])
        return Response({"service": io.service_out(service)})


class ServiceLogsView(_Base):
    def get(self, request: Request, service_id: str) -> Response:
        from dispatch.models import DeploymentMetric
        from workers.runtime import runtime_logs

        service = self.service(request, service_id)
        deployment = service.active_deployment
        since = int(request.query_params.get("since_byte") or 0)
        logs = runtime_logs(deployment, since_byte=since) if deployment else b""
        invocations = list(DeploymentMetric.objects.filter(deployment__service=service).order_by("-bucket")
                           .values("deployment_id", "bucket", "requests", "errors", "latency_ms_sum")[:60])
        for row in invocations:
            row["bucket"] = row["bucket"].isoformat()
        return Response({"deployment_id": deployment.pk if deployment else None,
                         "logs": logs.decode(errors="replace")[-200_000:], "next_byte": since + len(logs),
                         "invocations": invocations})


class ServiceSettingsView(_Base):
    @staticmethod
    def _out(row: RuntimeSettings) -> dict[str, Any]:
        return {"compatibility_date": row.compatibility_date or None, "compatibility_flags": row.compatibility_flags,
                "limits": {"cpu_ms": row.cpu_ms, "memory_mb": row.memory_mb, "subrequests": row.subrequests},
                "mcp_server": row.mcp_server or {"enabled": False}}

    def get(self, request: Request, service_id: str) -> Response:
        service = self.service(request, service_id)
        row = RuntimeSettings.objects.filter(service=service).first() or RuntimeSettings(service=service)
        return Response({"settings": self._out(row)})

    def patch(self, request: Request, service_id: str) -> Response:
        data = self.parse(io.SettingsIn, request)
        row = dep.settings_update(service=self.service(request, service_id, Role.EDITOR), data=data)
        return Response({"settings": self._out(row)})


class ServiceEnvView(_Base):
    def get(self, request: Request, service_id: str) -> Response:
        return Response({"variables": svc_sel.env_list(self.service(request, service_id))})

    def patch(self, request: Request, service_id: str) -> Response:
        data = self.parse(io.EnvIn, request)
        service = self.service(request, service_id, Role.EDITOR)
        svc.env_replace(service=service, variables=data["variables"])
        return Response({"variables": svc_sel.env_list(service)})

    put = patch


class CommonEnvLinksView(_Base):
    def get(self, request: Request, service_id: str) -> Response:
        from workers.models import ManagedToken

        service = self.service(request, service_id)
        builtins = {t.env_name: {"scopes": t.scopes, "token_prefix": t.token_prefix}
                    for t in ManagedToken.objects.filter(service=service)}
        return Response({"links": svc_sel.common_env_links(service), "builtins": builtins})

    def put(self, request: Request, service_id: str) -> Response:
        data = self.parse(io.LinksIn, request)
        service = self.service(request, service_id, Role.EDITOR)
        svc.common_env_links_update(service=service, add=[], remove=[], replace=data.get("links") or data["add"],
                                    builtins=data.get("builtins"), actor=request.user)
        return self.get(request, service_id)

    def patch(self, request: Request, service_id: str) -> Response:
        data = self.parse(io.LinksIn, request)
        service = self.service(request, service_id, Role.EDITOR)
        svc.common_env_links_update(service=service, add=data["add"], remove=data["remove"],
                                    builtins=data.get("builtins"), actor=request.user)
        return self.get(request, service_id)


class ServiceBindingsView(_Base):
    @staticmethod
    def _out(service: Any) -> list[dict[str, Any]]:
        return [{"name": b.binding_name, "type": b.binding_type, "resource_id": b.resource_id or None,
                 "resource_name": b.resource_name or None} for b in service.bindings.order_by("binding_name")]

    def get(self, request: Request, service_id: str) -> Response:
        return Response({"bindings": self._out(self.service(request, service_id))})

    def patch(self, request: Request, service_id: str) -> Response:
        data = self.parse(io.BindingsIn, request)
        service = self.service(request, service_id, Role.EDITOR)
        svc.bindings_replace(service=service, bindings=data["bindings"])
        return Response({"bindings": self._out(service)})


class CommonEnvView(_Base):
    def get(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        return Response({"variables": svc_sel.common_env_list(space.pk)})

    def put(self, request: Request, space_id: str) -> Response:
        data = self.parse(io.CommonEnvIn, request)
        space = resolve_space(request.user, space_id, min_role=Role.ADMIN).space
        svc.common_env_upsert(space=space, name=data["name"], value=data["value"], secret=data["secret"])
        return Response({"variables": svc_sel.common_env_list(space.pk)})


class CommonEnvItemView(_Base):
    def delete(self, request: Request, space_id: str, name: str) -> Response:
        space = resolve_space(request.user, space_id, min_role=Role.ADMIN).space
        svc.common_env_delete(space=space, name=name)
        return Response({"success": True})


# --- service deployments ---------------------------------------------------------------------------


class ServiceDeploymentsView(_Base):
    def get(self, request: Request, service_id: str) -> Response:
        service = self.service(request, service_id)
        return Response(paginate(request, sel.deployments_of(service), key="deployments",
                                 serialize=lambda items: [io.deployment_out(d) for d in items]))

    def post(self, request: Request, service_id: str) -> Response:
        data = self.parse(io.ServiceDeployIn, request)
        service = self.service(request, service_id, Role.EDITOR)
        key = (request.headers.get("Idempotency-Key") or "").strip()[:200]
        deployment, created = dep.service_deployment_create(service=service, actor=request.user, data=data,
                                                            idempotency_key=key)
        headers = {} if created else {"Idempotent-Replayed": "true"}
        return Response({"deployment": io.deployment_out(deployment)},
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK, headers=headers)


class ServiceDeploymentDetailView(_Base):
    def get(self, request: Request, service_id: str, deployment_id: str) -> Response:
        deployment = sel.deployment_of(self.service(request, service_id), deployment_id)
        return Response({"deployment": io.deployment_detail(deployment)})


class ServiceRollbackView(_Base):
    def post(self, request: Request, service_id: str) -> Response:
        data = self.parse(io.RollbackIn, request)
        service = self.service(request, service_id, Role.EDITOR)
        target = dep.rollback_target(service, version=data.get("target_version"), target_id=data.get("target_id"))
        deployment = dep.rollback(service=service, actor=request.user, target=target)
        return Response({"deployment": io.deployment_out(deployment)})


# --- app deployments (spec: /api/spaces/:spaceId/app-deployments) ------------------------------------


class AppDeploymentsView(_Base):
    def get(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        qs = sel.space_deployments(space)
        if request.query_params.get("service_id"):
            qs = qs.filter(service_id=request.query_params["service_id"])
        return Response(paginate(request, qs, key="data", serialize=lambda items: [io.deployment_out(d) for d in items]))

    def post(self, request: Request, space_id: str) -> Response:
        from repos.selectors import repo_for_user

        data = self.parse(io.AppDeployIn, request)
        space = resolve_space(request.user, space_id, min_role=Role.ADMIN).space
        repo = repo_for_user(request.user, data["repo_id"], min_role=Role.EDITOR)
        strategy = data.get("strategy") or ("canary" if data.get("canary") else None)
        key = (request.headers.get("Idempotency-Key") or "").strip()[:200]
        deployment, created = dep.app_deployment_create(
            space=space, actor=request.user, repo=repo, ref=data.get("ref") or repo.default_branch,
            ref_type=data.get("ref_type", ""), strategy=strategy, steps=data.get("steps"),
            interval=data.get("interval"), idempotency_key=key, message=data.get("deploy_message", ""))
        out = io.deployment_out(deployment)
        out["url"] = f"http://{deployment.service.hostname}"
        # Every workload of the manifest, each deployed on its own service (the primary one first).
        out["workloads"] = [{"workload": (d.manifest or {}).get("name"), "deployment_id": d.pk,
                             "service_id": d.service_id, "url": f"http://{d.service.hostname}"}
                            for d in getattr(deployment, "workload_deployments", [deployment])]
        return Response({"data": out}, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class AppDeploymentDetailView(_Base):
    def get(self, request: Request, space_id: str, deployment_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        deployment = sel.space_deployment(space, deployment_id)
        out = io.deployment_detail(deployment)
        out["url"] = f"http://{deployment.service.hostname}"
        return Response({"data": out})

    def delete(self, request: Request, space_id: str, deployment_id: str) -> Response:
        space = resolve_space(request.user, space_id, min_role=Role.ADMIN).space
        dep.deployment_delete(deployment=sel.space_deployment(space, deployment_id))
        return Response({"success": True})


class AppDeploymentRollbackView(_Base):
    def post(self, request: Request, space_id: str, deployment_id: str) -> Response:
        data = self.parse(io.RollbackIn, request)
        space = resolve_space(request.user, space_id, min_role=Role.ADMIN).space
        deployment = sel.space_deployment(space, deployment_id)
        service = svc_sel.service_for_user(request.user, deployment.service_id, min_role=Role.ADMIN)
        if data.get("target_id") or data.get("target_version"):
            target = dep.rollback_target(service, target_id=data.get("target_id"),
                                         version=data.get("target_version"))
        else:
            target = dep.rollback_target(service, before=deployment)
        result = dep.rollback(service=service, actor=request.user, target=target)
        return Response({"data": io.deployment_out(result)})


class RolloutView(_Base):
    def get(self, request: Request, space_id: str, deployment_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        deployment = sel.space_deployment(space, deployment_id)
        rollout = sel.rollout_of(deployment)
        service = svc_sel.service_for_user(request.user, deployment.service_id)
        return Response({"data": {**io.rollout_out(rollout), "traffic": sel.traffic(service)}})


class RolloutActionView(_Base):
    def post(self, request: Request, space_id: str, deployment_id: str, action: str) -> Response:
        if action not in ("pause", "resume", "abort", "promote"):
            raise BadRequest("The action must be pause, resume, abort or promote.")
        space = resolve_space(request.user, space_id, min_role=Role.ADMIN).space
        deployment = sel.space_deployment(space, deployment_id)
        rollout = dep.rollout_action(rollout=sel.rollout_of(deployment), action=action, actor=request.user)
        service = svc_sel.service_for_user(request.user, deployment.service_id)
        return Response({"data": {**io.rollout_out(rollout), "traffic": sel.traffic(service)}})


# --- custom domains ---------------------------------------------------------------------------------


class DomainsView(_Base):
    def get(self, request: Request, service_id: str) -> Response:
        service = self.service(request, service_id)
        return Response({"custom_domains": [io.domain_out(d) for d in service.custom_domains.order_by("domain")]})

    def post(self, request: Request, service_id: str) -> Response:
        data = self.parse(io.DomainIn, request)
        domain = domain_add(service=self.service(request, service_id, Role.EDITOR), domain=data["domain"],
                            method=data["verification_method"])
        return Response({"custom_domain": io.domain_out(domain)}, status=status.HTTP_201_CREATED)


class DomainDetailView(_Base):
    def get(self, request: Request, service_id: str, domain_id: str) -> Response:
        return Response({"custom_domain": io.domain_out(sel.domain_of(self.service(request, service_id), domain_id))})

    def delete(self, request: Request, service_id: str, domain_id: str) -> Response:
        domain_remove(domain=sel.domain_of(self.service(request, service_id, Role.EDITOR), domain_id))
        return Response({"success": True})


class DomainVerifyView(_Base):
    def post(self, request: Request, service_id: str, domain_id: str) -> Response:
        domain = sel.domain_of(self.service(request, service_id, Role.EDITOR), domain_id)
        return Response({"custom_domain": io.domain_out(domain_verify(domain=domain))})


class DomainSslView(_Base):
    def post(self, request: Request, service_id: str, domain_id: str) -> Response:
        domain = sel.domain_of(self.service(request, service_id, Role.EDITOR), domain_id)
        # Certificates are issued on demand by the TLS terminator (see /api/domains/ask).
        return Response({"custom_domain": io.domain_out(domain), "ssl_status": domain.ssl_status})


class DomainAskView(PublicApiView):
    """For Caddy on-demand TLS (`ask`): 200 when a certificate may be issued for ?domain=, else 404."""

    def get(self, request: Request) -> Response:
        if tls_allowed(request.query_params.get("domain", "")):
            return Response({"allowed": True})
        return Response({"error": {"code": "NOT_FOUND", "message": "Unknown domain."}}, status=404)


class AppsView(_Base):
    def get(self, request: Request, space_id: str) -> Response:
        space = resolve_space(request.user, space_id).space
        apps = [{"id": a.pk, "name": a.name, "app_type": a.app_type, "description": a.description,
                 "repo_id": a.repo_id, "service": io.service_out(a.service) if a.service else None}
                for a in sel.apps_for_space(space)]
        return Response({"apps": apps})

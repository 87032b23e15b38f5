"""Input serializers and output shapes for services, deployments, rollouts and domains."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from services.models import Service
from workers.models import CustomDomain, Deployment, DeploymentEvent, Rollout


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def service_out(service: Service) -> dict[str, Any]:
    return {
        "id": service.pk, "space_id": service.space_id, "slug": service.slug, "hostname": service.hostname,
        "url": f"http://{service.hostname}", "service_type": service.service_type, "status": service.status,
        "group_id": service.group_id or None, "workload": service.workload, "repo_id": service.repo_id,
        "config": service.config, "current_version": service.current_version,
        "active_deployment_id": service.active_deployment_id, "canary_deployment_id": service.canary_deployment_id,
        "canary_weight": service.canary_weight if service.canary_deployment_id else 0,
        "fallback_deployment_id": service.fallback_deployment_id,
        "created_at": _iso(service.created_at), "updated_at": _iso(service.updated_at),
    }


def deployment_out(deployment: Deployment) -> dict[str, Any]:
    manifest = deployment.manifest or {}
    return {
        "id": deployment.pk, "service_id": deployment.service_id, "space_id": deployment.space_id,
        "app": manifest.get("app"), "app_version": manifest.get("appVersion"), "workload": manifest.get("name"),
        "version": deployment.version, "status": deployment.status, "deploy_state": deployment.deploy_state,
        "strategy": deployment.strategy, "routing_status": deployment.routing_status,
        "routing_weight": deployment.routing_weight, "artifact_kind": deployment.artifact_kind,
        "artifact_ref": deployment.artifact_ref, "image": deployment.image or None,
        "provider": deployment.provider_name, "repo_id": deployment.repo_id, "ref": deployment.ref or None,
        "ref_type": deployment.ref_type or None, "commit_sha": deployment.commit_sha or None,
        "deploy_message": deployment.deploy_message, "step_error": deployment.step_error or None,
        "is_rollback": deployment.is_rollback, "rollback_from_version": deployment.rollback_from_version,
        "runtime": "running" if deployment.endpoint else "stopped",
        "created_at": _iso(deployment.created_at), "started_at": _iso(deployment.started_at),
        "completed_at": _iso(deployment.completed_at), "rolled_back_at": _iso(deployment.rolled_back_at),
    }


def event_out(event: DeploymentEvent) -> dict[str, Any]:
    return {"id": event.pk, "type": event.event_type, "step": event.step_name or None, "message": event.message,
            "details": event.details, "actor_id": event.actor_id, "created_at": _iso(event.created_at)}


def deployment_detail(deployment: Deployment) -> dict[str, Any]:
    out = deployment_out(deployment)
    out["events"] = [event_out(e) for e in deployment.events.all()]
    out["resolved_endpoint"] = deployment.endpoint or None
    out["config"] = {k: v for k, v in (deployment.manifest or {}).items() if k != "env"}
    rollout = Rollout.objects.filter(deployment=deployment).first()
    out["rollout"] = rollout_out(rollout) if rollout else None
    return out


def rollout_out(rollout: Rollout) -> dict[str, Any]:
    return {
        "deployment_id": rollout.deployment_id, "baseline_deployment_id": rollout.baseline_id,
        "state": rollout.state, "steps": rollout.steps, "step_index": rollout.step_index,
        "weight": rollout.weight, "interval_seconds": rollout.interval_seconds,
        "max_error_rate": rollout.max_error_rate, "min_requests": rollout.min_requests,
        "step_started_at": _iso(rollout.step_started_at), "next_step_at": _iso(rollout.next_step_at),
        "last_gate": rollout.last_gate, "reason": rollout.reason or None,
        "created_at": _iso(rollout.created_at), "updated_at": _iso(rollout.updated_at),
    }


def domain_out(domain: CustomDomain) -> dict[str, Any]:
    from workers.domains import instructions

    return {
        "id": domain.pk, "service_id": domain.service_id, "domain": domain.domain, "status": domain.status,
        "verification_method": domain.verification_method, "verification_token": domain.verification_token,
        "ssl_status": domain.ssl_status, "verified_at": _iso(domain.verified_at),
        "last_checked_at": _iso(domain.last_checked_at), "last_error": domain.last_error or None,
        "instructions": instructions(domain), "created_at": _iso(domain.created_at),
    }


class ServiceCreateIn(serializers.Serializer):
    space_id = serializers.CharField(required=False, allow_blank=True)
    group_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    service_type = serializers.ChoiceField(choices=["app", "service"], default="app")
    slug = serializers.CharField(required=False, allow_blank=True, max_length=63)
    config = serializers.DictField(required=False)


class SlugIn(serializers.Serializer):
    slug = serializers.CharField(max_length=63)


class GroupIn(serializers.Serializer):
    group_id = serializers.CharField(allow_null=True, allow_blank=True, max_length=12)


class ArtifactIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["container-image", "source"], default="container-image")
    image_ref = serializers.CharField(required=False, allow_blank=True, max_length=300)
    exposed_port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    health_path = serializers.CharField(required=False, max_length=200)


class SourceIn(serializers.Serializer):
    repo_id = serializers.CharField(max_length=12)
    ref = serializers.CharField(max_length=255, required=False, allow_blank=True)


class ServiceDeployIn(serializers.Serializer):
    source = SourceIn(required=False)
    artifact = ArtifactIn(required=False)
    run = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    port = serializers.IntegerField(required=False, min_value=1, max_value=65535)
    health_path = serializers.CharField(required=False, max_length=200)
    strategy = serializers.ChoiceField(choices=["direct", "immediate", "canary"], required=False)
    canary_weight = serializers.IntegerField(required=False, min_value=1, max_value=99)
    steps = serializers.ListField(child=serializers.IntegerField(), required=False)
    interval = serializers.FloatField(required=False, min_value=0.1, max_value=86400)
    deploy_message = serializers.CharField(required=False, allow_blank=True, max_length=500)
    env = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    target = serializers.DictField(required=False)
    provider = serializers.DictField(required=False)


class AppDeployIn(serializers.Serializer):
    repo_id = serializers.CharField(max_length=12)
    ref = serializers.CharField(max_length=255, required=False, allow_blank=True)
    ref_type = serializers.ChoiceField(choices=["branch", "tag", "commit"], required=False)
    strategy = serializers.ChoiceField(choices=["direct", "immediate", "canary"], required=False)
    canary = serializers.BooleanField(required=False)
    steps = serializers.ListField(child=serializers.IntegerField(), required=False)
    interval = serializers.FloatField(required=False, min_value=0.1, max_value=86400)
    deploy_message = serializers.CharField(required=False, allow_blank=True, max_length=500)
    approve_oauth_auto_env = serializers.BooleanField(required=False)
    approve_source_change = serializers.BooleanField(required=False)


class RollbackIn(serializers.Serializer):
    target_version = serializers.IntegerField(required=False, min_value=1)
    target_id = serializers.CharField(required=False, max_length=12)


class DomainIn(serializers.Serializer):
    domain = serializers.CharField(max_length=253)
    verification_method = serializers.ChoiceField(choices=["http", "txt", "cname"], default="http")


class EnvIn(serializers.Serializer):
    variables = serializers.ListField(child=serializers.DictField())


class CommonEnvIn(serializers.Serializer):
    name = serializers.CharField(max_length=128)
    value = serializers.CharField(allow_blank=True, max_length=32 * 1024)
    secret = serializers.BooleanField(default=False)


class LinksIn(serializers.Serializer):
    add = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    remove = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    links = serializers.ListField(child=serializers.CharField(), required=False)
    builtins = serializers.DictField(required=False)


class BindingsIn(serializers.Serializer):
    bindings = serializers.ListField(child=serializers.DictField())


class SettingsIn(serializers.Serializer):
    compatibility_date = serializers.CharField(required=False, allow_blank=True, max_length=10)
    compatibility_flags = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    limits = serializers.DictField(child=serializers.IntegerField(min_value=0, allow_null=True), required=False)
    mcp_server = serializers.DictField(required=False)

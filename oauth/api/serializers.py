"""Output shapes for /api/me/oauth/* and the consent JSON API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from oauth.models import OAuthAuditLog, OAuthClient, OAuthConsent
from oauth.scopes import describe


def client_public_out(client: OAuthClient) -> dict[str, Any]:
    """What a person may see about someone else's client on a consent screen."""
    return {
        "client_id": client.client_id,
        "client_name": client.name or client.client_id,
        "client_uri": client.client_uri or None,
        "logo_uri": client.logo_uri or None,
        "policy_uri": client.policy_uri or None,
        "tos_uri": client.tos_uri or None,
        "description": client.description,
        "dynamically_registered": client.is_dynamic,
        "owner": client.user.username if client.user_id else None,
    }


def client_out(client: OAuthClient) -> dict[str, Any]:
    return {
        **client_public_out(client),
        "id": client.pk,
        "client_type": client.client_type,
        "token_endpoint_auth_method": "none" if client.client_type == "public" else "client_secret_basic",
        "redirect_uris": client.redirect_uris.split(),
        "grant_types": client.rfc_grant_types,
        "scopes": client.scope_list,
        "status": client.status,
        "created_at": client.created.isoformat(),
        "updated_at": client.updated.isoformat(),
    }


def consent_out(consent: OAuthConsent) -> dict[str, Any]:
    return {
        "id": consent.id,
        "client": client_public_out(consent.client),
        "client_id": consent.client.client_id,
        "scopes": describe(consent.scopes),
        "status": consent.status,
        "granted_at": consent.granted_at.isoformat(),
        "updated_at": consent.updated_at.isoformat(),
    }


def audit_out(entry: OAuthAuditLog) -> dict[str, Any]:
    return {
        "id": entry.id,
        "event_type": entry.event_type,
        "client_id": entry.client_id or None,
        "ip_address": entry.ip_address or None,
        "user_agent": entry.user_agent or None,
        "details": entry.details,
        "created_at": entry.created_at.isoformat(),
    }


class ClientIn(serializers.Serializer):
    client_name = serializers.CharField(max_length=255, required=False)
    redirect_uris = serializers.ListField(child=serializers.CharField(max_length=500), required=False, max_length=20)
    client_uri = serializers.URLField(required=False, allow_blank=True, max_length=500)
    logo_uri = serializers.URLField(required=False, allow_blank=True, max_length=500)
    policy_uri = serializers.URLField(required=False, allow_blank=True, max_length=500)
    tos_uri = serializers.URLField(required=False, allow_blank=True, max_length=500)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    client_type = serializers.ChoiceField(choices=["confidential", "public"], required=False)
    grant_types = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=5)
    scopes = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=30)


class AuthorizeDecisionIn(serializers.Serializer):
    request_id = serializers.CharField(max_length=100)
    approve = serializers.BooleanField(required=False)
    decision = serializers.ChoiceField(choices=["allow", "deny"], required=False)
    scopes = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=30)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "approve" not in attrs and "decision" not in attrs:
            raise serializers.ValidationError("Send approve (true/false) or decision (allow/deny).")
        attrs["approve"] = attrs.get("approve", attrs.get("decision") == "allow")
        return attrs


class DeviceDecisionIn(serializers.Serializer):
    user_code = serializers.CharField(max_length=20)
    approve = serializers.BooleanField(required=False)
    decision = serializers.ChoiceField(choices=["allow", "deny"], required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "approve" not in attrs and "decision" not in attrs:
            raise serializers.ValidationError("Send approve (true/false) or decision (allow/deny).")
        attrs["approve"] = attrs.get("approve", attrs.get("decision") == "allow")
        return attrs

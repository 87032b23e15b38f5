"""Reads for the OAuth group, always scoped to the viewer."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from oauth.models import OAuthAuditLog, OAuthClient, OAuthConsent


def consents_for(user: Any) -> QuerySet[OAuthConsent]:
    return (OAuthConsent.objects.select_related("client", "client__user")
            .filter(user=user, status=OAuthConsent.Status.ACTIVE).order_by("-updated_at"))


def consent_for(user: Any, client_id: str) -> OAuthConsent | None:
    return consents_for(user).filter(client__client_id=client_id).first()


def audit_logs_for(user: Any) -> QuerySet[OAuthAuditLog]:
    return OAuthAuditLog.objects.filter(user=user).order_by("-created_at")


def clients_owned_by(user: Any) -> QuerySet[OAuthClient]:
    return OAuthClient.objects.select_related("user").filter(user=user).order_by("-created")

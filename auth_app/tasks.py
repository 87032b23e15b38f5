"""Periodic clean-up for auth data."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone

from auth_app.models import PersonalAccessToken, ServiceToken

# Revoked/expired tokens are kept this long for the admin's audit view, then deleted.
RETENTION = timedelta(days=90)


@shared_task(name="auth_app.purge_expired", acks_late=True, time_limit=300)
def purge_expired() -> dict[str, int]:
    now = timezone.now()
    cutoff = now - RETENTION
    sessions, _ = Session.objects.filter(expire_date__lt=now).delete()
    pats, _ = PersonalAccessToken.objects.filter(revoked_at__lt=cutoff).delete()
    pats_exp, _ = PersonalAccessToken.objects.filter(expires_at__lt=cutoff).delete()
    svc, _ = ServiceToken.objects.filter(revoked_at__lt=cutoff).delete()
    return {"sessions": sessions, "tokens": pats + pats_exp + svc}

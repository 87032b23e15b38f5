"""Chainable filters for agents: everything a viewer sees goes through `for_user` first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from accounts.models import User


class ThreadQuerySet(models.QuerySet):
    def for_user(self, user: User) -> ThreadQuerySet:
        """Threads in spaces the user is a member of; other tenants' threads are invisible (404)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(space__memberships__user=user).exclude(status="deleted")

    def visible(self) -> ThreadQuerySet:
        return self.exclude(status="deleted")


class RunQuerySet(models.QuerySet):
    def for_user(self, user: User) -> RunQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(space__memberships__user=user)

    def active(self) -> RunQuerySet:
        return self.filter(status__in=("pending", "queued", "running"))

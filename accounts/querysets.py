from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from accounts.models import User


class SpaceQuerySet(models.QuerySet):
    def for_user(self, user: User) -> SpaceQuerySet:
        """Spaces the user is a member of; everything else is invisible (404)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)

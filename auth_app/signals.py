"""Keep the token cache honest: any write to a token or its user forgets the user's cached tokens."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save

from auth_app import token_cache
from auth_app.models import PersonalAccessToken, ServiceToken


def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    token_cache.invalidate_user(instance.pk)


def _token_changed(sender: Any, instance: PersonalAccessToken | ServiceToken, **kwargs: Any) -> None:
    token_cache.invalidate(token_cache.owner_key(instance.user_id, instance.token_hash))


def connect() -> None:
    user_model = get_user_model()
    for signal in (post_save, post_delete):
        signal.connect(_user_changed, sender=user_model, dispatch_uid=f"token-cache-user-{signal}")
        for model in (PersonalAccessToken, ServiceToken):
            signal.connect(_token_changed, sender=model, dispatch_uid=f"token-cache-{model.__name__}-{signal}")

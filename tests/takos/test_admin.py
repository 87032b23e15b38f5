"""Every registered model's admin pages render for an operator, with search and filters."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from accounts.models import User
from auth_app.models import PersonalAccessToken
from auth_app.services import pat_create
from tests.factories import make_team_space


@pytest.fixture
def operator_client(alice):
    User.objects.filter(pk=alice.pk).update(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(User.objects.get(pk=alice.pk))
    return client


@pytest.mark.django_db
def test_every_admin_changelist_and_add_page_renders(operator_client, alice, bob):
    make_team_space(alice, "Admin team", bob="editor")
    pat_create(user=bob, name="bob laptop")
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        response = operator_client.get(url, {"q": "a"} if model_admin.search_fields else {})
        assert response.status_code == 200, (url, response.status_code)
        if model_admin.has_add_permission(type("R", (), {"user": User.objects.get(pk=alice.pk)})()):
            add = operator_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
            assert add.status_code == 200, (meta.label, add.status_code)
        obj = model._default_manager.first()
        if obj is not None:
            change = operator_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
            assert change.status_code == 200, (meta.label, change.status_code)


@pytest.mark.django_db
def test_deactivate_action_revokes_tokens_and_blocks_the_api(operator_client, bob):
    issued = pat_create(user=bob, name="to revoke")
    response = operator_client.post(reverse("admin:accounts_user_changelist"),
                                    {"action": "deactivate_accounts", "_selected_action": [bob.pk]})
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.is_active is False
    assert PersonalAccessToken.objects.get(pk=issued.record.pk).revoked_at is not None
    api = Client(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    assert api.get("/api/me").status_code == 401


@pytest.mark.django_db
def test_revoke_tokens_action(operator_client, bob):
    issued = pat_create(user=bob, name="x")
    operator_client.post(reverse("admin:auth_app_personalaccesstoken_changelist"),
                         {"action": "revoke_tokens", "_selected_action": [issued.record.pk]})
    assert PersonalAccessToken.objects.get(pk=issued.record.pk).revoked_at is not None


@pytest.mark.django_db
def test_non_operators_cannot_open_the_admin(alice, bob):  # alice, first, is the operator
    client = Client()
    client.force_login(bob)
    assert client.get("/admin/").status_code == 302

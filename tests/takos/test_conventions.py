"""The API conventions: error envelope for every failure, body limit, ids, health, schema."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import path
from rest_framework.test import APIClient

from accounts.models import Space
from takos.api.views import ApiView


class Boom(ApiView):
    def get(self, request):  # type: ignore[no-untyped-def]
        raise RuntimeError("kaboom")


urlpatterns = [path("api/test-boom", Boom.as_view())]


@pytest.mark.django_db
def test_unknown_api_path_and_wrong_method(alice_api):
    response = alice_api.get("/api/nope/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    response = alice_api.put("/api/spaces", {})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.django_db
def test_bad_json_is_400(alice_api):
    response = alice_api.client.post("/api/spaces", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_REQUEST"
    response = alice_api.client.post("/api/spaces", data="[1,2]", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.django_db
def test_body_over_1mb_is_413_and_writes_nothing(alice_api):
    big = {"name": "x", "description": "y" * (1024 * 1024 + 10)}
    response = alice_api.post("/api/spaces", big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert not Space.objects.filter(kind="team").exists()


@pytest.mark.django_db
def test_unexpected_exception_is_500_envelope(alice, settings):
    settings.ROOT_URLCONF = __name__
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(alice)
    response = client.get("/api/test-boom")
    assert response.status_code == 500
    body = response.json()["error"]
    assert body["code"] == "INTERNAL_ERROR" and body["details"]["error_id"]
    assert "kaboom" not in response.content.decode()


@pytest.mark.django_db
def test_health_and_readiness():
    client = Client()
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.content
    assert ready.json()["database"] == "ok"


@pytest.mark.django_db
def test_readiness_is_503_when_the_broker_is_down(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = Client().get("/health/ready")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


@pytest.mark.django_db
def test_openapi_schema_and_docs():
    client = Client()
    schema = client.get("/api/schema", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/spaces" in paths and "/api/me/personal-access-tokens" in paths
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_upload_endpoints_can_raise_the_body_limit(settings):
    from takos.api.middleware import body_limit_for

    settings.TAKOS_RELEASE_ASSET_MAX_BYTES = 5 * 1024 * 1024
    assert body_limit_for("/api/repos/abcdefghijkl/releases/v1.0/assets") == 5 * 1024 * 1024
    assert body_limit_for("/api/repos/abcdefghijkl/releases/v1.0") == settings.TAKOS_API_MAX_BODY
    assert body_limit_for("/api/spaces") == settings.TAKOS_API_MAX_BODY


def test_validate_keeps_no_state_between_bodies() -> None:
    """takos.api.views.validate reuses one serializer per class and thread: each body is judged
    on its own, and an earlier result is never changed by a later one."""
    from rest_framework.exceptions import ValidationError

    from agents.api.serializers import RunCreateIn
    from takos.api.views import validate

    first = validate(RunCreateIn, {"input": {"message": "a"}, "model": "m1"})
    with pytest.raises(ValidationError) as bad:
        validate(RunCreateIn, {"multitask_strategy": "sideways"})
    assert "multitask_strategy" in bad.value.detail
    second = validate(RunCreateIn, {})
    assert second == {"agent_type": "default", "input": {}, "model": "", "multitask_strategy": "enqueue"}
    assert first == {"agent_type": "default", "input": {"message": "a"}, "model": "m1",
                     "multitask_strategy": "enqueue"}
    assert first is not second

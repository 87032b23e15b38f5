"""`/internal/...`: what containers may call back, each gated by a proxy-token capability.

Every endpoint scopes by the token first (owner and repository), so a token for one
session or run gets 404 for anything else.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from hosts import egress, services
from hosts.internal import InternalApiView
from hosts.models import ProxyToken
from takos.api.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge


def _b64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{field} must be base64.") from None


class SessionHeartbeatView(InternalApiView):
    """The runtime agent's heartbeat. Returns a fresh token when the current one is near expiry."""

    required_capability = services.CAP_HEARTBEAT

    def post(self, request: Request, session_id: str) -> Response:
        from platform_app.models import RuntimeSession
        from platform_app.session_services import session_heartbeat

        self.grant.require_owner("session", session_id)
        session = RuntimeSession.objects.filter(pk=session_id).first()
        if session is None:
            raise NotFound("Session not found.")
        session_heartbeat(session=session, from_user=False)
        body: dict = {"success": True, "status": session.status}
        row = ProxyToken.objects.get(pk=self.grant.token_id)
        if row.expires_at - timezone.now() < timedelta(minutes=10):
            ttl = int((row.expires_at - row.created_at).total_seconds())
            body["token"] = services.issue_proxy_token(owner=row.owner, capabilities=row.capabilities,
                                                       ttl_seconds=ttl, space=row.space, user=row.user,
                                                       repo_id=row.repo_id)
        return Response(body)


class EventIn(serializers.Serializer):
    type = serializers.CharField(max_length=80)
    data = serializers.JSONField(required=False)


class EventsView(InternalApiView):
    required_capability = services.CAP_EVENTS

    def post(self, request: Request) -> Response:
        data = self.parse(EventIn, request)
        event = services.host_event_record(owner=self.grant.owner, kind="event", type=data["type"],
                                           data=data.get("data") or {})
        return Response({"success": True, "id": event.id}, status=201)


class LogsIn(serializers.Serializer):
    text = serializers.CharField(max_length=256 * 1024, allow_blank=True, trim_whitespace=False)
    stream = serializers.CharField(max_length=16, required=False, default="stdout")


class LogsView(InternalApiView):
    required_capability = services.CAP_EVENTS

    def post(self, request: Request) -> Response:
        data = self.parse(LogsIn, request)
        event = services.host_event_record(owner=self.grant.owner, kind="log", type=data["stream"],
                                           data={"text": data["text"]})
        return Response({"success": True, "id": event.id}, status=201)


class FileWriteIn(serializers.Serializer):
    content_base64 = serializers.CharField(allow_blank=True)
    branch = serializers.CharField(max_length=255)
    message = serializers.CharField(max_length=10000)


class RepoFileView(InternalApiView):
    """Read (GET ?ref=) or commit (PUT) one file of the token's repository."""

    required_capabilities = {"GET": services.CAP_REPO_READ, "PUT": services.CAP_REPO_WRITE}

    def repo(self, repo_id: str):  # type: ignore[no-untyped-def]
        from repos.models import Repository

        if not self.grant.repo_id or self.grant.repo_id != repo_id:
            raise NotFound("Repository not found.")
        repo = Repository.objects.filter(pk=repo_id).first()
        if repo is None:
            raise NotFound("Repository not found.")
        return repo

    def get(self, request: Request, repo_id: str, path: str) -> HttpResponse:
        from repos import git

        repo = self.repo(repo_id)
        ref = request.query_params.get("ref") or repo.default_branch
        data = git.read_blob(repo, ref, path)
        if data is None:
            raise NotFound("File not found.")
        return HttpResponse(data, content_type="application/octet-stream")

    def put(self, request: Request, repo_id: str, path: str) -> Response:
        from repos.services import commit_create

        repo = self.repo(repo_id)
        data = self.parse(FileWriteIn, request)
        if request.user is None or not request.user.is_authenticated:
            raise Forbidden("This token acts for no user and cannot commit.")
        sha = commit_create(repo=repo, actor=request.user, branch=data["branch"],
                            files={path: _b64(data["content_base64"], "content_base64")}, message=data["message"])
        return Response({"success": True, "commit": sha})


class ArtifactIn(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9._-]{1,120}$")
    content_base64 = serializers.CharField(allow_blank=True)


class ArtifactsView(InternalApiView):
    required_capability = services.CAP_ARTIFACTS
    MAX_BYTES = 25 * 1024 * 1024

    def post(self, request: Request) -> Response:
        data = self.parse(ArtifactIn, request)
        content = _b64(data["content_base64"], "content_base64")
        if len(content) > self.MAX_BYTES:
            raise PayloadTooLarge(f"Artifacts are limited to {self.MAX_BYTES} bytes.")
        kind, _, object_id = self.grant.owner.partition(":")
        key = default_storage.save(f"host-artifacts/{kind}/{object_id}/{data['name']}", ContentFile(content))
        services.host_event_record(owner=self.grant.owner, kind="event", type="artifact",
                                   data={"key": key, "size": len(content), "name": data["name"]})
        return Response({"success": True, "key": key, "size": len(content)}, status=201)


class EgressIn(serializers.Serializer):
    method = serializers.ChoiceField(choices=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                                     default="GET")
    url = serializers.CharField(max_length=8000)
    headers = serializers.DictField(child=serializers.CharField(max_length=8000), required=False)
    body_base64 = serializers.CharField(required=False, allow_blank=True)
    timeout = serializers.IntegerField(required=False, min_value=1, max_value=300)


class EgressView(InternalApiView):
    """Outbound HTTP for a container; refused targets are 403 before any connection."""

    required_capability = services.CAP_EGRESS

    def post(self, request: Request) -> Response:
        data = self.parse(EgressIn, request)
        try:
            result = egress.fetch(method=data["method"], url=data["url"], headers=data.get("headers"),
                                  body=_b64(data.get("body_base64", ""), "body_base64"), timeout=data.get("timeout"))
        except egress.EgressRefused as exc:
            raise Forbidden(f"Egress refused: {exc}") from None
        return Response(result.as_json())

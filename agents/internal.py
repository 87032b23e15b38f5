"""Executor RPC: `/internal/runs/<id>/<op>`, called by the agent loop with its run's proxy token.

Every op names the run's `lease_version`; a run that is no longer `running` under that
lease (cancelled, finished, recovered into a new attempt) answers 409 "Lease lost", which
the loop takes as "stop now" — that is how a cancel reaches a running executor.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from agents import events, runner, services, tools
from agents.models import Message, Run
from hosts.internal import InternalApiView
from takos.api.errors import BadRequest, Conflict, NotFound

CAPABILITY = "run-control"
EXECUTOR_EVENT_TYPES = {"thinking", "tool_call", "tool_result", "message", "artifact", "progress"}


class _LeaseIn(serializers.Serializer):
    lease_version = serializers.IntegerField()


class _RunRpc(InternalApiView):
    required_capability = CAPABILITY

    def run_for(self, request: Request, run_id: str, *, check_lease: bool = True) -> Run:
        request.auth.require_owner("run", run_id)
        run = Run.objects.select_related("thread", "space", "requester").filter(pk=run_id).first()
        if run is None:
            raise NotFound("Run not found.")
        if check_lease:
            body = request.data if isinstance(request.data, dict) else {}
            if run.status != Run.Status.RUNNING or str(body.get("lease_version")) != str(run.lease_version):
                raise Conflict(f"Lease lost: the run is {run.status} (lease {run.lease_version}).")
        return run

    @staticmethod
    def lease_of(run: Run) -> tuple[str, int]:
        return run.service_id or "", run.lease_version


class BootstrapView(_RunRpc):
    def post(self, request: Request, run_id: str) -> Response:
        return Response(runner.bootstrap(self.run_for(request, run_id)))


class HeartbeatView(_RunRpc):
    def post(self, request: Request, run_id: str) -> Response:
        self.run_for(request, run_id)
        return Response({"ok": True})


class IsCancelledView(_RunRpc):
    def post(self, request: Request, run_id: str) -> Response:
        run = self.run_for(request, run_id, check_lease=False)
        return Response({"cancelled": run.status == Run.Status.CANCELLED, "status": run.status})


class EventIn(serializers.Serializer):
    type = serializers.CharField(max_length=40)
    data = serializers.JSONField(required=False, default=dict)


class EventsIn(serializers.Serializer):
    events = EventIn(many=True, required=False)
    type = serializers.CharField(max_length=40, required=False)
    data = serializers.JSONField(required=False, default=dict)


class EventsView(_RunRpc):
    """One event `{type, data}` or a batch `{events: [...]}` (≤ 500), stored in order."""

    def post(self, request: Request, run_id: str) -> Response:
        run = self.run_for(request, run_id)
        body = self.parse(EventsIn, request)
        batch = body.get("events") or ([{"type": body["type"], "data": body["data"]}] if body.get("type") else [])
        if not batch or len(batch) > 500:
            raise BadRequest("Send one event {type, data} or 1..500 in {events: [...]}.")
        items = []
        for item in batch:
            if item["type"] not in EXECUTOR_EVENT_TYPES:
                raise BadRequest(f"Executors emit only: {', '.join(sorted(EXECUTOR_EVENT_TYPES))}.")
            items.append((item["type"], item["data"] if isinstance(item["data"], dict) else {"value": item["data"]}))
        rows = events.emit_many(run_id=run.id, events=items, lease_version=run.lease_version)
        if not rows:  # cancelled or recovered since the check above
            raise Conflict(f"Lease lost: the run is no longer running under lease {run.lease_version}.")
        return Response({"seq": rows[-1].seq, "count": len(rows)})


class MessageIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=[Message.Role.ASSISTANT, Message.Role.TOOL])
    content = serializers.CharField(allow_blank=True, required=False, default="")
    tool_calls = serializers.JSONField(required=False, allow_null=True, default=None)
    tool_call_id = serializers.CharField(required=False, allow_blank=True, default="")
    metadata = serializers.JSONField(required=False, default=dict)
    operation_key = serializers.CharField(max_length=120)


class MessagesView(_RunRpc):
    def post(self, request: Request, run_id: str) -> Response:
        run = self.run_for(request, run_id)
        data = self.parse(MessageIn, request)
        message = services.message_create(
            thread=run.thread, role=data["role"], content=data["content"], tool_calls=data["tool_calls"],
            tool_call_id=data["tool_call_id"], metadata={**(data["metadata"] or {}), "run_id": run.id}, run=run,
            operation_key=data["operation_key"],
        )
        return Response({"message_id": message.id, "sequence": message.sequence})


class ToolExecuteIn(serializers.Serializer):
    operation_key = serializers.CharField(max_length=120)
    name = serializers.CharField(max_length=100)
    arguments = serializers.JSONField(required=False, default=dict)


class ToolExecuteView(_RunRpc):
    def post(self, request: Request, run_id: str) -> Response:
        run = self.run_for(request, run_id)
        data = self.parse(ToolExecuteIn, request)
        return Response(tools.tool_execute(run=run, operation_key=data["operation_key"], name=data["name"],
                                           arguments=data["arguments"]))


class CompleteIn(serializers.Serializer):
    output = serializers.CharField(allow_blank=True, required=False, default="")
    usage = serializers.JSONField(required=False, default=dict)


class CompleteView(_RunRpc):
    def post(self, request: Request, run_id: str) -> Response:
        run = self.run_for(request, run_id)
        data = self.parse(CompleteIn, request)
        usage = data["usage"] if isinstance(data["usage"], dict) else {}
        if not services.run_complete(run=run, lease=self.lease_of(run), output=data["output"], usage=usage):
            raise Conflict("Lease lost: the run already ended.")
        return Response({"status": "completed"})


class FailIn(serializers.Serializer):
    error = serializers.CharField(max_length=10000)


class FailView(_RunRpc):
    def post(self, request: Request, run_id: str) -> Response:
        run = self.run_for(request, run_id)
        data = self.parse(FailIn, request)
        if not services.run_fail(run=run, error=data["error"], lease=self.lease_of(run)):
            raise Conflict("Lease lost: the run already ended.")
        return Response({"status": "failed"})


def urlpatterns() -> list[Any]:
    ops = {
        "bootstrap": BootstrapView, "heartbeat": HeartbeatView, "is-cancelled": IsCancelledView,
        "events": EventsView, "messages": MessagesView, "tools/execute": ToolExecuteView,
        "complete": CompleteView, "fail": FailView,
    }
    return [path(f"runs/<str:run_id>/{op}", view.as_view(), name=f"internal-run-{op.replace('/', '-')}")
            for op, view in ops.items()]

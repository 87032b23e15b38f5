"""/api/notifications (spec api.md section 8): list, unread count, read, preferences, settings, streams."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import HttpRequest, HttpResponse
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from agents.streams import StreamItem, authenticate, follow, follow_batches, parse_last_event_id, sse_response
from platform_app.models import Notification, NotificationPreference, NotificationSettings
from platform_app.notifications import services
from takos.api.errors import BadRequest, error_response
from takos.api.views import ApiView
from takos.db.threads import off_loop


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def notification_out(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "seq": n.seq, "type": n.type, "title": n.title, "body": n.body or None, "data": n.data,
            "space_id": n.space_id, "read_at": _iso(n.read_at), "created_at": _iso(n.created_at)}


class NotificationsView(ApiView):
    def get(self, request: Request) -> Response:
        qs = Notification.objects.filter(recipient=request.user).order_by("-created_at", "-seq")
        before = request.query_params.get("before")
        if before:
            from django.utils.dateparse import parse_datetime

            moment = parse_datetime(before)
            if moment is None:
                raise BadRequest("before must be an ISO-8601 timestamp.")
            qs = qs.filter(created_at__lt=moment)
        if request.query_params.get("unread") in ("1", "true"):
            qs = qs.filter(read_at__isnull=True)
        try:
            limit = max(1, min(100, int(request.query_params.get("limit") or 20)))
        except ValueError:
            raise BadRequest("limit must be an integer.") from None
        items = list(qs[: limit + 1])
        return Response({"notifications": [notification_out(n) for n in items[:limit]],
                         "has_more": len(items) > limit})


class UnreadCountView(ApiView):
    def get(self, request: Request) -> Response:
        count = Notification.objects.filter(recipient=request.user, read_at__isnull=True).count()
        return Response({"unread_count": count})


class ReadView(ApiView):
    def patch(self, request: Request, notification_id: str) -> Response:
        n = services.notification_mark_read(user=request.user, notification_id=notification_id)
        return Response({"notification": notification_out(n)})

    post = patch


class ReadAllView(ApiView):
    def post(self, request: Request) -> Response:
        return Response({"success": True, "updated": services.notifications_mark_all_read(user=request.user)})

    patch = post


class PreferenceItem(serializers.Serializer):
    type = serializers.ChoiceField(choices=Notification.TYPES)
    channel = serializers.ChoiceField(choices=NotificationPreference.Channel.choices)
    enabled = serializers.BooleanField()


class PreferencesIn(serializers.Serializer):
    updates = PreferenceItem(many=True)


def _preferences(user: Any) -> dict[str, Any]:
    stored = {(p.type, p.channel): p.enabled for p in NotificationPreference.objects.filter(user=user)}
    return {"preferences": [
        {"type": t, "channel": c, "enabled": stored.get((t, c), True)}
        for t in Notification.TYPES for c in NotificationPreference.Channel.values
    ]}


class PreferencesView(ApiView):
    def get(self, request: Request) -> Response:
        return Response(_preferences(request.user))

    def patch(self, request: Request) -> Response:
        services.preferences_update(user=request.user, updates=self.parse(PreferencesIn, request)["updates"])
        return Response(_preferences(request.user))


class SettingsIn(serializers.Serializer):
    muted_until = serializers.DateTimeField(allow_null=True)


class SettingsView(ApiView):
    def get(self, request: Request) -> Response:
        row = NotificationSettings.objects.filter(user=request.user).first()
        return Response({"muted_until": _iso(row.muted_until) if row else None})

    def patch(self, request: Request) -> Response:
        row = services.settings_update(user=request.user, muted_until=self.parse(SettingsIn, request)["muted_until"])
        return Response({"muted_until": _iso(row.muted_until)})


def notification_stream(user_id: str, after: int, *, batches: bool = False) -> Any:
    @off_loop
    def fetch(after_seq: int) -> list[StreamItem]:
        rows = Notification.objects.filter(recipient_id=user_id, seq__gt=after_seq).order_by("seq")[:200]
        return [StreamItem(seq=n.seq, type="notification.new", data={"notification_id": n.id, **notification_out(n)})
                for n in rows]

    return (follow_batches if batches else follow)(group=services.group(user_id), after=after, fetch=fetch,
                                                   finished=None)


async def notifications_sse(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return error_response(405, f"Method {request.method} is not allowed here.")
    user, problem = await authenticate(request, scope=None)  # a user's own notifications: any valid token
    if problem is not None:
        return problem
    after = parse_last_event_id(request)
    if "Last-Event-ID" not in request.headers and "last_event_id" not in request.GET:
        # A fresh subscriber wants new notifications, not the whole history.
        after = await off_loop(
            lambda: NotificationSettings.objects.filter(user_id=user.pk).values_list("last_seq", flat=True).first()
        )() or 0
    return sse_response(notification_stream(user.pk, after, batches=True))


class NotificationsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        import asyncio

        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()
        after = await off_loop(
            lambda: NotificationSettings.objects.filter(user_id=user.pk).values_list("last_seq", flat=True).first()
        )() or 0
        await self.send_json({"type": "connected", "data": {"lastEventId": after}})
        self.pump = asyncio.create_task(self._pump(user.pk, after))

    async def _pump(self, user_id: str, after: int) -> None:
        async for item in notification_stream(user_id, after):
            if item is not None:
                await self.send_json({"type": item.type, "data": {"notification_id": item.data["notification_id"]},
                                      "eventId": item.seq})

    async def disconnect(self, code: int) -> None:
        pump = getattr(self, "pump", None)
        if pump is not None:
            pump.cancel()

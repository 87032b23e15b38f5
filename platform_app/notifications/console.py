"""The notifications console page (live through /api/notifications/sse)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from platform_app.models import Notification
from platform_app.notifications import services


@login_required
def notifications_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        services.notifications_mark_all_read(user=request.user)
        return redirect("console-notifications")
    items = Notification.objects.filter(recipient=request.user).order_by("-created_at")[:100]
    unread = Notification.objects.filter(recipient=request.user, read_at__isnull=True).count()
    return render(request, "platform_app/notifications.html",
                  {"nav": "notifications", "notifications": items, "unread": unread})

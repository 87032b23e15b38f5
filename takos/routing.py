"""WebSocket routes; apps append theirs (runs, workflow jobs, notifications)."""

websocket_urlpatterns: list = []

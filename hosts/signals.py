"""Hooks other apps subscribe to (connect in AppConfig.ready())."""

from django.dispatch import Signal

# event=hosts.models.HostEvent, sent after commit when a container reports an event or logs.
container_event = Signal()

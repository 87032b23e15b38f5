"""The Celery app: queues run, index, workflow, deployment, egress and the beat schedule."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "takos.settings")

app = Celery("takos")
app.config_from_object("django.conf:settings", namespace="CELERY")

QUEUES = ("run", "index", "workflow", "deployment", "egress")

app.conf.update(
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="run",
    task_routes={
        "agents.*": {"queue": "run"},
        "repos.*": {"queue": "index"},
        "platform_app.*": {"queue": "index"},
        "auth_app.*": {"queue": "index"},
        "billing.*": {"queue": "index"},
        "workflows.*": {"queue": "workflow"},
        "workers.*": {"queue": "deployment"},
        "services.*": {"queue": "deployment"},
        "hosts.egress.*": {"queue": "egress"},
        "hosts.*": {"queue": "run"},
    },
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_track_started=False,
    task_ignore_result=True,
    # The filesystem transport has no broadcast/fanout: remote control would only poll files.
    worker_enable_remote_control=False,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    timezone="UTC",
    beat_schedule={
        "auth-purge-expired-sessions": {
            "task": "auth_app.purge_expired",
            "schedule": crontab(minute=17),
        },
    },
)
app.autodiscover_tasks()

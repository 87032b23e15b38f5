"""The Celery app: queues run, index, workflow, deployment, egress and the beat schedule."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import task_postrun, task_prerun
from kombu import Queue
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "takos.settings")
# The embedded default's broker: kombu's filesystem transport with atomic writes (takos/broker.py).
TRANSPORT_ALIASES["takosfs"] = "takos.broker:Transport"

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
        "agents-recover-runs": {  # agents: requeue/fail runs whose lease expired
            "task": "agents.recover_runs",
            "schedule": float(os.environ.get("TAKOS_RUN_RECOVERY_INTERVAL", "60")),
        },
        "auth-purge-expired-sessions": {
            "task": "auth_app.purge_expired",
            "schedule": crontab(minute=17),
        },
        # hosts: orphan containers, dead/idle sessions, expired proxy tokens
        "hosts-recover-containers": {"task": "hosts.recover_containers", "schedule": 120.0},
        "hosts-reap-sessions": {"task": "hosts.reap_sessions", "schedule": 60.0},
        "hosts-purge-proxy-tokens": {"task": "hosts.purge_proxy_tokens", "schedule": crontab(minute=41)},
        # workflows: requeue/fail jobs whose lease expired, cron (`on.schedule`) triggers, artifact retention
        "workflows-recover": {"task": "workflows.recover", "schedule": 30.0},
        "workflows-schedule": {"task": "workflows.schedule_tick", "schedule": crontab()},
        "workflows-purge-artifacts": {"task": "workflows.purge_artifacts", "schedule": crontab(minute=23)},
        # workers: advance canary rollouts, recover stuck deployments, stop idle runtimes, re-verify domains
        "workers-advance-rollouts": {"task": "workers.advance_rollouts",
                                     "schedule": float(os.environ.get("TAKOS_ROLLOUT_TICK_SECONDS", "5"))},
        "workers-recover-deployments": {"task": "workers.recover_deployments", "schedule": 60.0},
        "workers-reap-idle-runtimes": {"task": "workers.reap_idle_runtimes", "schedule": 60.0},
        "workers-recheck-domains": {"task": "workers.recheck_domains", "schedule": crontab(minute="*/15")},
        "oauth-purge-mcp-pending": {"task": "oauth.purge_mcp_pending", "schedule": crontab(minute=29)},  # oauth
    },
)
# Celery's Django fixup closes the database connection pool after every task in prefork workers, so
# on PostgreSQL every task opened a new connection (6-15 ms, then a cold server backend for its
# first queries): a run's claim waited ~8 ms for it. Its per-task close is turned off here (a child
# process still starts with a pool of its own: the fixup's close at process init stays), and a task
# gives its connection back to the pool when it starts and ends instead, as a request does.
app.conf["CELERY_DB_REUSE_MAX"] = 2**31


@task_prerun.connect
@task_postrun.connect
def _give_connections_back(sender: Any = None, **kwargs: Any) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return  # an eager task runs inside its caller's request (and maybe its transaction)
    from django.db import close_old_connections

    close_old_connections()


app.autodiscover_tasks()

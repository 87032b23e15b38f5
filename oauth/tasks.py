"""Celery tasks for the OAuth group."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="oauth.purge_mcp_pending", acks_late=True, max_retries=0, soft_time_limit=60)
def purge_mcp_pending_task(**kwargs: Any) -> int:
    """Drop MCP authorizations nobody finished (their PKCE verifiers); safe to run twice."""
    from oauth.mcp.services import mcp_pending_cleanup

    return mcp_pending_cleanup()

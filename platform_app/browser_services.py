"""Browser sessions: one browser container (Chromium) per session, driven over CDP.

Navigation targets go through the egress guard first (no private, loopback, link-local or
metadata addresses unless the operator allows them in TAKOS_EGRESS_ALLOWED_HOSTS).
Chromium can still follow a redirect or load sub-resources on its own; the browser
container's network is the operator's second line (see docs/hosts.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import resolve_space
from hosts import cdp, egress
from hosts import services as host_services
from hosts.drivers import ContainerHandle, ContainerSpec, DriverError, get_driver
from platform_app.models import BrowserSession
from takos.api.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable

logger = logging.getLogger("takos.browser")
Status = BrowserSession.Status
CDP_PORT = 9222
T = TypeVar("T")


def browser_session_for_user(user: Any, session_id: str) -> BrowserSession:
    session = (BrowserSession.objects.select_related("space")
               .filter(pk=session_id, space__memberships__user=user).first()) if user.is_authenticated else None
    if session is None:
        raise NotFound("Browser session not found.")
    return session


def browser_sessions_for_space(user: Any, space_ref: str):  # type: ignore[no-untyped-def]
    access = resolve_space(user, space_ref)
    return BrowserSession.objects.filter(space=access.space).order_by("-created_at")


def _handle(session: BrowserSession) -> ContainerHandle:
    return ContainerHandle(id=session.container_id, driver=session.driver, owner=session.owner, role="browser",
                           ports={CDP_PORT: session.cdp_port} if session.cdp_port else {})


def check_navigation(url: str) -> None:
    if url.startswith(("about:", "data:")):
        return
    try:
        egress.check_url(url)
    except egress.EgressRefused as exc:
        raise Forbidden(f"Navigation refused: {exc}", code="FORBIDDEN") from None


def _viewport(raw: Any) -> dict[str, int]:
    if not raw:
        return {"width": 1280, "height": 800}
    if not isinstance(raw, dict):
        raise BadRequest("viewport must be an object {width, height}.")
    try:
        width, height = int(raw.get("width", 1280)), int(raw.get("height", 800))
    except (TypeError, ValueError):
        raise BadRequest("viewport width and height must be integers.") from None
    if not (200 <= width <= 3840 and 200 <= height <= 2160):
        raise BadRequest("viewport must be between 200x200 and 3840x2160.")
    return {"width": width, "height": height}


def browser_session_create(*, user: Any, space_ref: str, url: str | None = None,
                           viewport: Any = None) -> BrowserSession:
    access = resolve_space(user, space_ref, min_role=Role.EDITOR)
    size = _viewport(viewport)
    if url:
        check_navigation(url)
    session = BrowserSession.objects.create(space=access.space, user=user, viewport=size, status=Status.STARTING)
    driver = get_driver()
    spec = ContainerSpec(
        role="browser", image="browser", command=["python3", "/opt/takos/browser_entry.py"], owner=session.owner,
        env={"TAKOS_VIEWPORT": f"{size['width']}x{size['height']}", "TAKOS_BROWSER_SESSION_ID": session.id},
        ports=[CDP_PORT], memory_mb=settings.TAKOS_BROWSER_MEMORY_MB, pids=1024,
        labels={"takos.browser_session": session.id},
    )
    try:
        handle = host_services.container_start(spec=spec, driver=driver)
    except DriverError as exc:
        _mark_failed(session, str(exc))
        raise ServiceUnavailable(f"Could not start the browser container: {exc}") from None
    session.container_id, session.driver, session.cdp_port = handle.id, driver.name, handle.ports[CDP_PORT]
    session.save(update_fields=["container_id", "driver", "cdp_port", "updated_at"])
    try:
        cdp.wait_ready(session.cdp_port, timeout=settings.TAKOS_CONTAINER_START_TIMEOUT,
                       alive=lambda: driver.status(handle).state in ("created", "running"))
        with cdp.Page(session.cdp_port) as page:
            page.set_viewport(size["width"], size["height"])
            info = page.goto(url) if url else page.info()
    except (cdp.CdpError, OSError) as exc:
        logs = driver.logs(handle)[-1500:].decode(errors="replace")
        logger.warning("browser %s failed to start: %s\n%s", session.id, exc, logs)
        host_services.container_stop(handle=handle, driver=driver, reason="browser failed to start")
        _mark_failed(session, str(exc))
        raise ServiceUnavailable(f"The browser did not start: {exc}") from None
    session.status = Status.ACTIVE
    session.url, session.title = info.get("url", ""), (info.get("title") or "")[:500]
    session.last_used_at = timezone.now()
    session.save(update_fields=["status", "url", "title", "last_used_at", "updated_at"])
    return session


def _mark_failed(session: BrowserSession, error: str) -> None:
    BrowserSession.objects.filter(pk=session.pk).update(status=Status.FAILED, error=error[:4000],
                                                        closed_at=timezone.now())
    session.status, session.error = Status.FAILED, error


def _with_page(session: BrowserSession, fn: Callable[[cdp.Page], T]) -> T:
    if session.status != Status.ACTIVE or not session.cdp_port:
        raise Conflict(f"The browser session is {session.status}.")
    try:
        with cdp.Page(session.cdp_port) as page:
            result = fn(page)
            info = page.info()
    except cdp.CdpError as exc:
        raise BadRequest(str(exc)) from None
    except OSError as exc:  # the browser is gone: record it
        status = get_driver(session.driver).status(_handle(session))
        if status.state in ("exited", "missing"):
            _mark_failed(session, f"the browser container {status.state}: {status.reason or status.exit_code}")
            raise Conflict("The browser container is gone.") from None
        raise ServiceUnavailable(f"The browser did not answer: {exc}") from None
    BrowserSession.objects.filter(pk=session.pk).update(
        url=info.get("url", "")[:4000], title=(info.get("title") or "")[:500], last_used_at=timezone.now())
    session.url, session.title = info.get("url", ""), info.get("title") or ""
    return result


def browser_goto(*, session: BrowserSession, url: str) -> dict[str, Any]:
    check_navigation(url)
    return _with_page(session, lambda page: page.goto(url))


def browser_action(*, session: BrowserSession, action: dict[str, Any]) -> dict[str, Any]:
    kind = action.get("type")

    def run(page: cdp.Page) -> dict[str, Any]:
        if kind == "click":
            if not action.get("selector"):
                raise BadRequest("click needs a selector.")
            page.click(action["selector"])
        elif kind == "type":
            page.type(action.get("selector"), str(action.get("text", "")))
        elif kind == "scroll":
            page.scroll(int(action.get("x", 0) or 0), int(action.get("y", 0) or 0))
        else:
            raise BadRequest("action type must be click, type or scroll.")
        return {"success": True}

    result = _with_page(session, run)
    return {**result, "url": session.url, "title": session.title}


def browser_extract(*, session: BrowserSession, selector: str | None) -> dict[str, Any]:
    return _with_page(session, lambda page: page.extract(selector))


def browser_html(*, session: BrowserSession) -> dict[str, Any]:
    html = _with_page(session, lambda page: page.html())
    return {"html": html, "url": session.url, "title": session.title}


def browser_screenshot(*, session: BrowserSession) -> bytes:
    png = _with_page(session, lambda page: page.screenshot())
    key = f"browser-sessions/{session.id}/latest.png"
    if default_storage.exists(key):
        default_storage.delete(key)
    saved = default_storage.save(key, ContentFile(png))
    BrowserSession.objects.filter(pk=session.pk).update(last_screenshot=saved)
    return png


def browser_pdf(*, session: BrowserSession) -> bytes:
    return _with_page(session, lambda page: page.pdf())


def browser_session_close(*, session: BrowserSession, reason: str = "closed") -> BrowserSession:
    if session.container_id:
        try:
            host_services.container_stop(handle=_handle(session), reason=reason)
        except DriverError as exc:
            logger.warning("could not stop browser %s: %s", session.id, exc)
    if session.status in (Status.STARTING, Status.ACTIVE):
        BrowserSession.objects.filter(pk=session.pk).update(status=Status.CLOSED, closed_at=timezone.now())
        session.status = Status.CLOSED
    return session


def reap_browser_sessions() -> int:
    """Cron: close browser sessions idle longer than TAKOS_BROWSER_IDLE_SECONDS."""
    cutoff = timezone.now() - timedelta(seconds=settings.TAKOS_BROWSER_IDLE_SECONDS)
    closed = 0
    for session in BrowserSession.objects.filter(status=Status.ACTIVE, last_used_at__lt=cutoff):
        browser_session_close(session=session, reason="idle")
        closed += 1
    return closed

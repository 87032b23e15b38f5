"""Console pages: apps and services, a deployment timeline, rollout progress, env and domains.

They call the same selectors and services as the API; errors become flash messages.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Role
from services import selectors as svc_sel
from services import services as svc
from takos.api.errors import ApiError
from takos.console.helpers import attempt
from workers import selectors as sel
from workers import services as dep
from workers.domains import domain_add, domain_remove, domain_verify, instructions
from workers.models import Rollout


@login_required
def service_list(request: HttpRequest) -> HttpResponse:
    services = svc_sel.services_for_user(request.user).order_by("-updated_at")
    return render(request, "workers/services.html", {"nav": "services", "services": services})


def _service_or_404(request: HttpRequest, service_id: str, min_role: str = Role.VIEWER):  # type: ignore[no-untyped-def]
    from django.http import Http404

    try:
        return svc_sel.service_access(request.user, service_id, min_role=min_role)
    except ApiError as exc:
        if exc.status_code == 403:
            messages.error(request, str(exc.detail))
            return None
        raise Http404(str(exc.detail)) from None


@login_required
def service_detail(request: HttpRequest, service_id: str) -> HttpResponse:
    access = _service_or_404(request, service_id)
    if access is None:
        return redirect("workers-services")
    service = access.service
    deployments = list(sel.deployments_of(service).prefetch_related("events")[:30])
    live = Rollout.objects.filter(service=service, state__in=Rollout.LIVE).select_related("deployment").first()
    ctx = {
        "nav": "services", "service": service, "role": access.role, "deployments": deployments,
        "traffic": sel.traffic(service), "rollout": live, "env": svc_sel.env_list(service),
        "domains": [(d, instructions(d)) for d in service.custom_domains.order_by("domain")],
        "can_edit": access.role in (Role.OWNER, Role.ADMIN, Role.EDITOR),
    }
    if request.headers.get("HX-Request") and request.GET.get("part") == "rollout":
        return render(request, "workers/_rollout.html", ctx)
    return render(request, "workers/service.html", ctx)


@login_required
@require_POST
def service_rollback(request: HttpRequest, service_id: str) -> HttpResponse:
    access = _service_or_404(request, service_id, Role.EDITOR)
    if access is not None:
        target_id = request.POST.get("target_id") or None
        result = attempt(request, lambda: dep.rollback(
            service=access.service, actor=request.user,
            target=dep.rollback_target(access.service, target_id=target_id)))
        if result is not None:
            messages.success(request, f"v{result.version} is serving again.")
    return redirect("workers-service", service_id=service_id)


@login_required
@require_POST
def rollout_action(request: HttpRequest, service_id: str, action: str) -> HttpResponse:
    access = _service_or_404(request, service_id, Role.ADMIN)
    if access is not None:
        live = Rollout.objects.filter(service=access.service, state__in=Rollout.LIVE).first()
        if live is None:
            messages.error(request, "No rollout is in progress.")
        elif attempt(request, lambda: dep.rollout_action(rollout=live, action=action, actor=request.user)):
            messages.success(request, f"Rollout: {action} done.")
    return redirect("workers-service", service_id=service_id)


@login_required
@require_POST
def env_save(request: HttpRequest, service_id: str) -> HttpResponse:
    access = _service_or_404(request, service_id, Role.EDITOR)
    if access is not None:
        names = request.POST.getlist("name")
        values = request.POST.getlist("value")
        secrets = set(request.POST.getlist("secret"))
        variables = [{"name": n.strip(), "value": v, "secret": n.strip() in secrets}
                     for n, v in zip(names, values, strict=False) if n.strip()]
        if attempt(request, lambda: svc.env_replace(service=access.service, variables=variables) or True):
            messages.success(request, "Variables saved; they apply to the next deployment.")
    return redirect("workers-service", service_id=service_id)


@login_required
@require_POST
def domain_create(request: HttpRequest, service_id: str) -> HttpResponse:
    access = _service_or_404(request, service_id, Role.EDITOR)
    if access is not None and attempt(request, lambda: domain_add(
            service=access.service, domain=request.POST.get("domain", ""),
            method=request.POST.get("method", "http"))):
        messages.success(request, "Domain added: publish the record below, then verify.")
    return redirect("workers-service", service_id=service_id)


@login_required
@require_POST
def domain_action(request: HttpRequest, service_id: str, domain_id: str, action: str) -> HttpResponse:
    access = _service_or_404(request, service_id, Role.EDITOR)
    if access is not None:
        domain = attempt(request, lambda: sel.domain_of(access.service, domain_id))
        if domain is not None and action == "verify":
            checked = domain_verify(domain=domain)
            (messages.success if checked.status == "verified" else messages.error)(
                request, f"{checked.domain}: {checked.status}" + (f" ({checked.last_error})" if checked.last_error
                                                                  else ""))
        elif domain is not None and action == "remove":
            domain_remove(domain=domain)
            messages.success(request, f"{domain.domain} removed.")
    return redirect("workers-service", service_id=service_id)

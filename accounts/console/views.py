"""Console pages for spaces, members and account settings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.models import Membership, Role, Space, User, role_at_least
from takos.api.errors import ApiError, NotFound
from takos.console.helpers import attempt


def _access(request: HttpRequest, slug: str) -> selectors.SpaceAccess:
    try:
        return selectors.resolve_space(request.user, slug)
    except NotFound:
        raise Http404("Space not found") from None


@login_required
def spaces(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        space = attempt(request, lambda: services.space_create(
            owner=request.user, name=request.POST.get("name", ""), description=request.POST.get("description", "")))
        if space is not None:
            messages.success(request, f"Space {space.name} created.")
            return redirect("console-space", space.slug)
    services.ensure_personal_space(request.user)
    memberships = Membership.objects.filter(user=request.user).select_related("space").order_by("space__kind", "space__slug")
    return render(request, "accounts/spaces.html", {"nav": "spaces", "memberships": memberships})


@login_required
def space_detail(request: HttpRequest, slug: str) -> HttpResponse:
    access = _access(request, slug)
    can_admin = role_at_least(access.role, Role.ADMIN)
    if request.method == "POST":
        if not can_admin:
            messages.error(request, "Only admins can change the space.")
        else:
            data = {k: request.POST[k] for k in ("name", "description", "ai_model", "ai_provider", "security_posture")
                    if k in request.POST}
            if data.get("security_posture") not in (None, *Space.SecurityPosture.values):
                messages.error(request, "Unknown security posture.")
            elif not data.get("name", "x").strip():
                messages.error(request, "The name cannot be empty.")
            else:
                services.space_update(space=access.space, data=data)
                messages.success(request, "Space updated.")
        return redirect("console-space", access.space.slug)
    return render(request, "accounts/space.html", {
        "nav": "spaces", "space": access.space, "role": access.role, "can_admin": can_admin,
        "member_count": access.space.memberships.count(), "postures": Space.SecurityPosture.values,
    })


@login_required
@require_POST
def space_delete(request: HttpRequest, slug: str) -> HttpResponse:
    access = _access(request, slug)
    if access.role != Role.OWNER:
        messages.error(request, "Only an owner can delete the space.")
        return redirect("console-space", slug)
    if request.POST.get("confirm") != access.space.slug:
        messages.error(request, "Type the space's slug to confirm.")
        return redirect("console-space", slug)
    try:
        services.space_delete(space=access.space)
    except ApiError as exc:
        messages.error(request, str(exc.detail))
        return redirect("console-space", slug)
    messages.success(request, "Space deleted.")
    return redirect("console-spaces")


@login_required
def members(request: HttpRequest, slug: str) -> HttpResponse:
    access = _access(request, slug)
    can_admin = role_at_least(access.role, Role.ADMIN)
    if request.method == "POST":
        ident = request.POST.get("who", "").strip()
        role = request.POST.get("role", Role.VIEWER)
        user = User.objects.filter(is_active=True).filter(
            **({"email__iexact": ident} if "@" in ident else {"username__iexact": ident})).first()
        if not can_admin:
            messages.error(request, "Only admins can add members.")
        elif role not in Role.values:
            messages.error(request, "Unknown role.")
        elif user is None:
            messages.error(request, "No account with that email or username; they need to sign up first.")
        elif attempt(request, lambda: services.member_add(
                space=access.space, actor_role=access.role, actor=request.user, user=user, role=role)):
            messages.success(request, f"{user.username} added as {role}.")
        return redirect("console-members", access.space.slug)
    return render(request, "accounts/members.html", {
        "nav": "spaces", "space": access.space, "role": access.role, "can_admin": can_admin,
        "members": selectors.members_of(access.space), "roles": Role.values,
    })


@login_required
@require_POST
def member_update(request: HttpRequest, slug: str, username: str) -> HttpResponse:
    access = _access(request, slug)
    membership = selectors.members_of(access.space).filter(user__username__iexact=username).first()
    if membership is None:
        raise Http404("Not a member")
    if request.POST.get("action") == "remove":
        try:
            services.member_remove(space=access.space, actor=request.user, actor_role=access.role, membership=membership)
        except ApiError as exc:
            messages.error(request, str(exc.detail))
        else:
            messages.success(request, f"{username} removed.")
            if membership.user_id == request.user.pk:
                return redirect("console-spaces")
    elif not role_at_least(access.role, Role.ADMIN):
        messages.error(request, "Only admins can change roles.")
    elif request.POST.get("role") in Role.values and attempt(request, lambda: services.member_change_role(
            space=access.space, actor_role=access.role, membership=membership, role=request.POST["role"])):
        messages.success(request, f"{username} is now {request.POST['role']}.")
    return redirect("console-members", access.space.slug)


@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    user: User = request.user
    if request.method == "POST":
        try:
            if request.POST.get("username", user.username) != user.username:
                services.user_change_username(user=user, username=request.POST["username"])
            visibility = request.POST.get("activity_visibility", user.activity_visibility)
            if visibility not in User.ActivityVisibility.values:
                raise ApiError("Unknown activity visibility.")
            services.user_update_settings(user=user, data={
                "display_name": request.POST.get("display_name", user.display_name)[:120],
                "private_account": request.POST.get("private_account") == "on",
                "activity_visibility": visibility,
                "setup_completed": True,
            })
        except ApiError as exc:
            messages.error(request, str(exc.detail))
        else:
            messages.success(request, "Settings saved.")
        return redirect("console-settings")
    return render(request, "accounts/settings.html",
                  {"nav": "settings", "visibilities": User.ActivityVisibility.values})

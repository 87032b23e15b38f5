"""/api/me, /api/spaces and /api/users (spec sections 4 and 5)."""

from __future__ import annotations

import orjson
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.api.serializers import (
    MemberAddIn,
    MemberUpdateIn,
    ModelIn,
    SettingsIn,
    SpaceCreateIn,
    SpaceUpdateIn,
    member_out,
    profile_out,
    settings_out,
    space_out,
    space_row_out,
    user_out,
)
from accounts.models import FollowRequest, Membership, Role, User
from auth_app.api.serializers import UsernameIn
from takos.api.errors import NotFound
from takos.api.pagination import page_envelope, page_params, paginate
from takos.api.views import AccountApiView, ApiView


class MeView(ApiView):
    required_scopes = {"GET": None}

    def get(self, request: Request) -> Response:
        return Response(user_out(request.user))


class MeSettingsView(AccountApiView):
    def get(self, request: Request) -> Response:
        return Response(settings_out(request.user))

    def patch(self, request: Request) -> Response:
        data = self.parse(SettingsIn, request)
        user = services.user_update_settings(user=request.user, data=data)
        return Response(settings_out(user))


class MeUsernameView(AccountApiView):
    def patch(self, request: Request) -> Response:
        data = self.parse(UsernameIn, request)
        user = services.user_change_username(user=request.user, username=data["username"])
        return Response({"success": True, "user": user_out(user)})


class PersonalSpaceView(ApiView):
    scope = "spaces"

    def get(self, request: Request) -> Response:
        space = services.ensure_personal_space(request.user)
        return Response({"space": space_out(space, Role.OWNER)})


class SpacesView(ApiView):
    scope = "spaces"

    def get(self, request: Request) -> Response:
        limit, offset = page_params(request)
        page = selectors.space_page(request.user, limit=limit, offset=offset)
        items = page.items if isinstance(page.items, orjson.Fragment) else [space_row_out(r) for r in page.items]
        return Response(page_envelope("spaces", items, total=page.total, limit=limit, offset=offset,
                                      count=page.count))

    def post(self, request: Request) -> Response:
        data = self.parse(SpaceCreateIn, request)
        space = services.space_create(
            owner=request.user, name=data["name"], description=data.get("description", ""), slug=data.get("id")
        )
        # Spec: the answer carries the default repository `main` that the repos app creates with the space.
        from repos.api.serializers import repo_out
        from repos.selectors import default_repository

        repo = default_repository(space)
        return Response({"space": space_out(space, Role.OWNER), "repository": repo_out(repo, request) if repo else None},
                        status=status.HTTP_201_CREATED)


class SpaceDetailView(ApiView):
    scope = "spaces"

    def get(self, request: Request, space_id: str) -> Response:
        if space_id == "me":
            services.ensure_personal_space(request.user)
        access = selectors.resolve_space(request.user, space_id)
        return Response({"space": space_out(access.space, access.role)})

    def patch(self, request: Request, space_id: str) -> Response:
        access = selectors.resolve_space(request.user, space_id, min_role=Role.ADMIN)
        data = self.parse(SpaceUpdateIn, request)
        space = services.space_update(space=access.space, data=data)
        return Response({"space": space_out(space, access.role)})

    def delete(self, request: Request, space_id: str) -> Response:
        access = selectors.resolve_space(request.user, space_id, min_role=Role.OWNER)
        services.space_delete(space=access.space)
        return Response({"success": True})


class SpaceModelView(ApiView):
    scope = "spaces"

    def get(self, request: Request, space_id: str) -> Response:
        space = selectors.resolve_space(request.user, space_id).space
        return Response({"model": space.ai_model, "provider": space.ai_provider})

    def patch(self, request: Request, space_id: str) -> Response:
        access = selectors.resolve_space(request.user, space_id, min_role=Role.ADMIN)
        data = self.parse(ModelIn, request)
        update = {}
        if "model" in data:
            update["ai_model"] = data["model"]
        if "provider" in data:
            update["ai_provider"] = data["provider"]
        space = services.space_update(space=access.space, data=update)
        return Response({"model": space.ai_model, "provider": space.ai_provider})


class MembersView(ApiView):
    scope = "spaces"

    def get(self, request: Request, space_id: str) -> Response:
        space = selectors.resolve_space(request.user, space_id).space
        qs = selectors.members_of(space)
        return Response(paginate(request, qs, key="members", serialize=lambda items: [member_out(m) for m in items]))

    def post(self, request: Request, space_id: str) -> Response:
        access = selectors.resolve_space(request.user, space_id, min_role=Role.ADMIN)
        data = self.parse(MemberAddIn, request)
        lookup = User.objects.filter(is_active=True)
        if data.get("email"):
            user = lookup.filter(email__iexact=data["email"]).first()
        else:
            user = lookup.filter(username__iexact=data["username"]).first()
        if user is None:
            raise NotFound("No account with that email or username; they need to sign up first.")
        membership = services.member_add(
            space=access.space, actor_role=access.role, actor=request.user, user=user, role=data["role"]
        )
        return Response({"member": member_out(membership)}, status=status.HTTP_201_CREATED)


class MemberDetailView(ApiView):
    scope = "spaces"

    def _membership(self, space, username: str) -> Membership:
        membership = selectors.members_of(space).filter(user__username__iexact=username).first()
        if membership is None:
            raise NotFound("That user is not a member of this space.")
        return membership

    def patch(self, request: Request, space_id: str, username: str) -> Response:
        access = selectors.resolve_space(request.user, space_id, min_role=Role.ADMIN)
        data = self.parse(MemberUpdateIn, request)
        membership = services.member_change_role(
            space=access.space, actor_role=access.role, membership=self._membership(access.space, username),
            role=data["role"],
        )
        return Response({"member": member_out(membership)})

    def delete(self, request: Request, space_id: str, username: str) -> Response:
        access = selectors.resolve_space(request.user, space_id)
        services.member_remove(
            space=access.space, actor=request.user, actor_role=access.role,
            membership=self._membership(access.space, username),
        )
        return Response({"success": True})


class UserProfileView(ApiView):
    permission_classes = [AllowAny]

    def get(self, request: Request, username: str) -> Response:
        user = selectors.user_by_username(username)
        viewer = request.user
        if viewer.is_authenticated and selectors.is_blocked_between(viewer, user) and not (
            selectors.relation_flags(viewer, user)["is_blocking"]
        ):
            raise NotFound("User not found.")  # the target blocked the viewer
        return Response(
            {"user": {**profile_out(user), **selectors.follow_counts(user), **selectors.relation_flags(viewer, user)}}
        )


class FollowView(ApiView):
    def post(self, request: Request, username: str) -> Response:
        state = services.follow(actor=request.user, target=selectors.user_by_username(username))
        return Response({"success": True, "following": state == "following", "requested": state == "requested"})

    def delete(self, request: Request, username: str) -> Response:
        services.unfollow(actor=request.user, target=selectors.user_by_username(username))
        return Response({"success": True, "following": False, "requested": False})


class FollowRequestsView(ApiView):
    def get(self, request: Request, username: str) -> Response:
        if username.lower() != request.user.username:
            raise NotFound("Follow requests are only visible to their recipient.")
        qs = (FollowRequest.objects.filter(target=request.user, status=FollowRequest.Status.PENDING)
              .select_related("requester").order_by("-created_at"))
        return Response(paginate(request, qs, key="requests", serialize=lambda items: [
            {"id": r.id, "requester": profile_out(r.requester), "status": r.status, "created_at": r.created_at.isoformat()}
            for r in items]))


class FollowRequestDecisionView(ApiView):
    accept = True

    def post(self, request: Request, username: str, request_id: str) -> Response:
        if username.lower() != request.user.username:
            raise NotFound("Follow request not found.")
        decided = services.follow_request_respond(target=request.user, request_id=request_id, accept=self.accept)
        return Response({"success": True, "status": decided.status})


def _social_view(do, undo, flag: str) -> type[ApiView]:
    class SocialToggleView(ApiView):
        def post(self, request: Request, username: str) -> Response:
            target = selectors.user_by_username(username)
            do(actor=request.user, target=target)
            return Response({"success": True, flag: True})

        def delete(self, request: Request, username: str) -> Response:
            target = selectors.user_by_username(username)
            undo(actor=request.user, target=target)
            return Response({"success": True, flag: False})

    SocialToggleView.__name__ = f"{flag.title().replace('_', '')}View"
    return SocialToggleView


BlockView = _social_view(services.block, services.unblock, "blocking")
MuteView = _social_view(services.mute, services.unmute, "muting")

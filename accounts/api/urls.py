from django.urls import path

from accounts.api import views

accounts_urlpatterns = [
    path("me", views.MeView.as_view(), name="api-me"),
    path("auth/me", views.MeView.as_view(), name="api-auth-me"),
    path("me/settings", views.MeSettingsView.as_view(), name="api-me-settings"),
    path("me/username", views.MeUsernameView.as_view(), name="api-me-username"),
    path("me/personal-space", views.PersonalSpaceView.as_view(), name="api-me-personal-space"),
    path("spaces", views.SpacesView.as_view(), name="api-spaces"),
    path("spaces/<str:space_id>", views.SpaceDetailView.as_view(), name="api-space"),
    path("spaces/<str:space_id>/model", views.SpaceModelView.as_view(), name="api-space-model"),
    path("spaces/<str:space_id>/members", views.MembersView.as_view(), name="api-space-members"),
    path("spaces/<str:space_id>/members/<str:username>", views.MemberDetailView.as_view(), name="api-space-member"),
    path("users/<str:username>", views.UserProfileView.as_view(), name="api-user"),
    path("users/<str:username>/follow", views.FollowView.as_view(), name="api-user-follow"),
    path("users/<str:username>/follow-requests", views.FollowRequestsView.as_view(), name="api-user-follow-requests"),
    path("users/<str:username>/follow-requests/<str:request_id>/accept",
         views.FollowRequestDecisionView.as_view(accept=True), name="api-user-follow-request-accept"),
    path("users/<str:username>/follow-requests/<str:request_id>/reject",
         views.FollowRequestDecisionView.as_view(accept=False), name="api-user-follow-request-reject"),
    path("users/<str:username>/block", views.BlockView.as_view(), name="api-user-block"),
    path("users/<str:username>/mute", views.MuteView.as_view(), name="api-user-mute"),
]

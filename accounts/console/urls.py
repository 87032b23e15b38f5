from django.urls import path

from accounts.console import views

urlpatterns = [
    path("spaces", views.spaces, name="console-spaces"),
    path("spaces/<str:slug>", views.space_detail, name="console-space"),
    path("spaces/<str:slug>/delete", views.space_delete, name="console-space-delete"),
    path("spaces/<str:slug>/members", views.members, name="console-members"),
    path("spaces/<str:slug>/members/<str:username>", views.member_update, name="console-member-update"),
    path("settings", views.settings_page, name="console-settings"),
]

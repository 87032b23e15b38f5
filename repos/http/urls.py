"""Smart HTTP routes under /git/ (owner = space slug; `.git` suffix optional)."""

from django.urls import path

from repos.http import views

urlpatterns = [
    path("<str:owner>/<str:repo>/info/refs", views.info_refs, name="git-info-refs"),
    path("<str:owner>/<str:repo>/git-upload-pack", views.upload_pack, name="git-upload-pack"),
    path("<str:owner>/<str:repo>/git-receive-pack", views.receive_pack, name="git-receive-pack"),
]

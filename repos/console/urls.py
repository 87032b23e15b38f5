"""Console pages: /repos, /spaces/<slug>/repos, /repos/<id>/..."""

from django.urls import path

from repos.console import views

urlpatterns = [
    path("repos", views.all_repos, name="console-repos"),
    path("spaces/<str:slug>/repos", views.space_repos, name="console-space-repos"),
    path("repos/<str:repo_id>", views.repo_home, name="console-repo"),
    path("repos/<str:repo_id>/tree/<path:rest>", views.tree, name="console-repo-tree"),
    path("repos/<str:repo_id>/blob/<path:rest>", views.blob, name="console-repo-blob"),
    path("repos/<str:repo_id>/commits", views.commits, name="console-repo-commits"),
    path("repos/<str:repo_id>/commit/<str:sha>", views.commit_detail, name="console-repo-commit"),
    path("repos/<str:repo_id>/branches", views.branches, name="console-repo-branches"),
    path("repos/<str:repo_id>/pulls", views.pulls, name="console-repo-pulls"),
    path("repos/<str:repo_id>/pulls/<int:number>", views.pull_detail, name="console-repo-pull"),
    path("repos/<str:repo_id>/releases", views.releases, name="console-repo-releases"),
    path("repos/<str:repo_id>/star", views.star, name="console-repo-star"),
    path("repos/<str:repo_id>/settings", views.settings_page, name="console-repo-settings"),
]

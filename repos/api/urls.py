"""API routes of the repos app; mounted under /api/ by takos/urls.py."""

from django.urls import path

from repos.api import views as v

R = "repos/<str:repo_id>"
P = f"{R}/pulls/<int:number>"
REL = f"{R}/releases/<str:tag>"

repos_urlpatterns = [
    path("spaces/<str:space_id>/repos", v.SpaceReposView.as_view(), name="api-space-repos"),
    path("spaces/<str:space_id>/init-repo", v.SpaceInitRepoView.as_view(), name="api-space-init-repo"),
    path("repos/starred", v.StarredView.as_view(), name="api-repos-starred"),
    path("repos/import-external", v.ImportExternalView.as_view(), name="api-repos-import-external"),
    path(R, v.RepoDetailView.as_view(), name="api-repo"),
    path(f"{R}/star", v.StarView.as_view(), name="api-repo-star"),
    path(f"{R}/fork", v.ForkView.as_view(), name="api-repo-fork"),
    path(f"{R}/branches", v.BranchesView.as_view(), name="api-repo-branches"),
    path(f"{R}/branches/<path:name>/default", v.BranchDefaultView.as_view(), name="api-repo-branch-default"),
    path(f"{R}/branches/<path:name>/protection", v.BranchProtectionView.as_view(), name="api-repo-branch-protection"),
    path(f"{R}/branches/<path:name>", v.BranchDetailView.as_view(), name="api-repo-branch"),
    path(f"{R}/commits", v.CommitsView.as_view(), name="api-repo-commits"),
    path(f"{R}/commits/<str:sha>", v.CommitDetailView.as_view(), name="api-repo-commit-detail"),
    path(f"{R}/log", v.CommitsView.as_view(), name="api-repo-log"),
    path(f"{R}/log/<path:rest>", v.CommitsView.as_view(), name="api-repo-log-ref"),
    path(f"{R}/tree", v.TreeView.as_view(), name="api-repo-tree-root"),
    path(f"{R}/tree/<path:rest>", v.TreeView.as_view(), name="api-repo-tree"),
    path(f"{R}/blob/<path:rest>", v.BlobView.as_view(), name="api-repo-blob"),
    path(f"{R}/diff/<path:basehead>", v.DiffView.as_view(), name="api-repo-diff"),
    path(f"{R}/blame/<path:rest>", v.BlameView.as_view(), name="api-repo-blame"),
    path(f"{R}/search", v.SearchView.as_view(), name="api-repo-search"),
    path(f"{R}/export", v.ExportView.as_view(), name="api-repo-export"),
    path(f"{R}/commit", v.CommitCreateView.as_view(), name="api-repo-commit"),
    path(f"{R}/pulls", v.PullsView.as_view(), name="api-repo-pulls"),
    path(P, v.PullDetailView.as_view(), name="api-repo-pull"),
    path(f"{P}/diff", v.PullDiffView.as_view(), name="api-repo-pull-diff"),
    path(f"{P}/close", v.PullCloseView.as_view(), name="api-repo-pull-close"),
    path(f"{P}/comments", v.PullCommentsView.as_view(), name="api-repo-pull-comments"),
    path(f"{P}/reviews", v.PullReviewsView.as_view(), name="api-repo-pull-reviews"),
    path(f"{P}/conflicts", v.PullConflictsView.as_view(), name="api-repo-pull-conflicts"),
    path(f"{P}/merge", v.PullMergeView.as_view(), name="api-repo-pull-merge"),
    path(f"{R}/releases", v.ReleasesView.as_view(), name="api-repo-releases"),
    path(f"{R}/releases/latest", v.ReleaseLatestView.as_view(), name="api-repo-release-latest"),
    path(REL, v.ReleaseDetailView.as_view(), name="api-repo-release"),
    path(f"{REL}/assets", v.ReleaseAssetsView.as_view(), name="api-repo-release-assets"),
    path(f"{REL}/assets/<str:asset_id>", v.ReleaseAssetView.as_view(), name="api-repo-release-asset"),
    path(f"{REL}/assets/<str:asset_id>/download", v.ReleaseAssetDownloadView.as_view(),
         name="api-repo-release-asset-download"),
]


urlpatterns = repos_urlpatterns

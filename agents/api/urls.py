"""Agent API routes (spec api.md section 7), mounted under /api/."""

from django.urls import path

from agents.api import streams, views

S = "spaces/<str:space_id>"

urlpatterns = [
    path(f"{S}/threads", views.SpaceThreadsView.as_view(), name="api-space-threads"),
    path(f"{S}/threads/search", views.SpaceThreadSearchView.as_view(), name="api-space-threads-search"),
    path(f"{S}/memories", views.SpaceMemoriesView.as_view(), name="api-space-memories"),
    path(f"{S}/memories/search", views.SpaceMemorySearchView.as_view(), name="api-space-memories-search"),
    path(f"{S}/skills", views.SpaceSkillsView.as_view(), name="api-space-skills"),
    path(f"{S}/official-skills", views.OfficialSkillsView.as_view(), name="api-space-official-skills"),
    path(f"{S}/official-skills/<str:skill_id>", views.OfficialSkillsView.as_view(), name="api-space-official-skill"),
    path(f"{S}/skills-context", views.SkillsContextView.as_view(), name="api-space-skills-context"),
    path(f"{S}/skills/id/<str:ref>", views.SkillByIdView.as_view(), name="api-space-skill-by-id"),
    path(f"{S}/skills/<str:ref>", views.SkillDetailView.as_view(), name="api-space-skill"),
    path(f"{S}/agent-tasks", views.SpaceAgentTasksView.as_view(), name="api-space-agent-tasks"),
    path("threads/<str:thread_id>", views.ThreadView.as_view(), name="api-thread"),
    path("threads/<str:thread_id>/archive", views.ThreadArchiveView.as_view(), name="api-thread-archive"),
    path("threads/<str:thread_id>/unarchive", views.ThreadUnarchiveView.as_view(), name="api-thread-unarchive"),
    path("threads/<str:thread_id>/messages", views.ThreadMessagesView.as_view(), name="api-thread-messages"),
    path("threads/<str:thread_id>/messages/search", views.ThreadMessageSearchView.as_view(),
         name="api-thread-messages-search"),
    path("threads/<str:thread_id>/history", views.ThreadHistoryView.as_view(), name="api-thread-history"),
    path("threads/<str:thread_id>/export", views.ThreadExportView.as_view(), name="api-thread-export"),
    path("threads/<str:thread_id>/share", views.ThreadShareView.as_view(), name="api-thread-share"),
    path("threads/<str:thread_id>/shares", views.ThreadSharesView.as_view(), name="api-thread-shares"),
    path("threads/<str:thread_id>/shares/<str:share_id>/revoke", views.ThreadShareRevokeView.as_view(),
         name="api-thread-share-revoke"),
    path("threads/<str:thread_id>/runs", views.ThreadRunsView.as_view(), name="api-thread-runs"),
    path("threads/<str:thread_id>/runs/stream", streams.thread_runs_stream, name="api-thread-runs-stream"),
    path("runs/<str:run_id>", views.RunView.as_view(), name="api-run"),
    path("runs/<str:run_id>/cancel", views.RunCancelView.as_view(), name="api-run-cancel"),
    path("runs/<str:run_id>/events", views.RunEventsView.as_view(), name="api-run-events"),
    path("runs/<str:run_id>/replay", views.RunReplayView.as_view(), name="api-run-replay"),
    path("runs/<str:run_id>/sse", streams.run_sse, name="api-run-sse"),
    path("runs/<str:run_id>/artifacts", views.RunArtifactsView.as_view(), name="api-run-artifacts"),
    path("artifacts/<str:artifact_id>", views.ArtifactView.as_view(), name="api-artifact"),
    path("memories/<str:memory_id>", views.MemoryView.as_view(), name="api-memory"),
    path("agent-tasks/<str:task_id>", views.AgentTaskView.as_view(), name="api-agent-task"),
    path("agent-tasks/<str:task_id>/plan", views.AgentTaskPlanView.as_view(), name="api-agent-task-plan"),
    path("public/thread-shares/<str:token>", views.PublicShareView.as_view(), name="api-public-share"),
    path("public/thread-shares/<str:token>/access", views.PublicShareAccessView.as_view(),
         name="api-public-share-access"),
]

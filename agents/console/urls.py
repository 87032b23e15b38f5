from django.urls import path

from agents.console import views

urlpatterns = [
    path("threads", views.thread_list, name="console-threads"),
    path("threads/<str:thread_id>", views.thread_detail, name="console-thread"),
    path("threads/<str:thread_id>/runs/<str:run_id>/cancel", views.run_cancel, name="console-run-cancel"),
    path("runs/<str:run_id>/artifacts", views.run_artifacts, name="console-run-artifacts"),
    path("memories", views.memories, name="console-memories"),
    path("skills", views.skills, name="console-skills"),
    path("shared/<str:token>", views.shared_thread, name="console-shared-thread"),
]

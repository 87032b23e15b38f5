"""Settings for the repos end-to-end server: the real settings, with the repos-only URLconf."""

from takos.settings import *  # noqa: F403

ROOT_URLCONF = "tests.repos.urls"

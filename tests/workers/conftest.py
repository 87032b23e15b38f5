"""Deployment tests: a private DATA_DIR and git root, Celery tasks run inline, runtimes cleaned up."""

from __future__ import annotations

import pytest

from tests.workers.apps import app_files


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):  # type: ignore[no-untyped-def]
    from hosts.drivers import get_driver, reset_drivers
    from takos.celery import app

    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.TAKOS_GIT_ROOT = tmp_path / "git"
    settings.TAKOS_CONTAINER_DRIVER = "local"
    settings.TAKOS_DEPLOY_START_TIMEOUT = 30
    reset_drivers()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    from dispatch.table import cache

    cache.drop()
    yield
    app.conf.task_always_eager = eager
    driver = get_driver("local")
    for handle in driver.list():
        driver.stop(handle, timeout=2)
    reset_drivers()


@pytest.fixture
def space(alice):  # type: ignore[no-untyped-def]
    from accounts.selectors import personal_space

    return personal_space(alice)


@pytest.fixture
def make_repo(alice, space):  # type: ignore[no-untyped-def]
    """make_repo(name, **app_files kwargs) -> (repo, commit sha); commit(repo, **kwargs) adds a commit."""
    from repos import git
    from repos.services import repo_create

    def commit(repo, **kwargs):  # type: ignore[no-untyped-def]
        files = {path: content.encode() for path, content in app_files(**kwargs).items()}
        return git.commit_files(repo, branch="main", files=files, message=f"v{kwargs.get('version', '1')}",
                                author_name="Alice", author_email="alice@example.com")

    def make(name: str = "hello", **kwargs):  # type: ignore[no-untyped-def]
        repo = repo_create(space=space, actor=alice, name=name)
        return repo, commit(repo, name=name, **kwargs)

    make.commit = commit  # type: ignore[attr-defined]
    return make

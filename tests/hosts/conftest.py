"""Fixtures for the hosts tests (shared with tests/platform_app session tests via helpers)."""

from tests.hosts.helpers import _hosts_urls, data_dir, driver_name, loopback_page  # noqa: F401

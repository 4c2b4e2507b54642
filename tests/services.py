"""Which real services the tests use, and the rule for when they are missing:
skipped on a developer's machine, a failure under ``CI=true``."""

from __future__ import annotations

import os
import socket

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
CHROMIUM = os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def postgres_url() -> str | None:
    url = os.environ.get("HUB_TEST_DATABASE_URL")
    if url:
        return url
    return DEFAULT_POSTGRES_URL if port_open("127.0.0.1", 5432) else None


def redis_url() -> str | None:
    url = os.environ.get("HUB_TEST_REDIS_URL")
    if url:
        return url
    return DEFAULT_REDIS_URL if port_open("127.0.0.1", 6379) else None

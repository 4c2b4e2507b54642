"""Settings: typed helpers fail loudly, production refuses development secrets, and every
variable the code reads is documented in the README."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from hub.env import env_bool, env_float, env_int, env_list

ROOT = Path(__file__).resolve().parent.parent
# 50 characters, many different ones: what production accepts (tests/test_production_settings).
STRONG_KEY = "k3J9-pQ7xZ2vL8mN4bR6tY1wE5uI0oA_sD3fG7hJ9kL2zX4cV6"


def test_every_hub_variable_the_code_reads_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(HUB_[A-Z0-9_]+)`", readme))
    used: set[str] = set()
    for folder in ("hub", "moderation", "frontend", "streaming", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(re.findall(r"""["'](HUB_[A-Z0-9_]+)["']""", path.read_text("utf-8")))
    assert sorted(used - documented) == []


def test_typed_helpers_refuse_malformed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "12a")
    monkeypatch.setenv("X_LOW", "1")
    monkeypatch.setenv("X_FLOAT", "fast")
    monkeypatch.setenv("X_LIST", " a, b ,,c ")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL", False)
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 1)
    with pytest.raises(ImproperlyConfigured, match="minimum"):
        env_int("X_LOW", 5, minimum=2)
    with pytest.raises(ImproperlyConfigured, match="X_FLOAT"):
        env_float("X_FLOAT", 1.0)
    assert env_list("X_LIST", []) == ["a", "b", "c"]
    assert env_int("X_UNSET_INT", 7) == 7


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "hub.settings", **env},
    )


def test_production_refuses_to_start_with_development_secrets() -> None:
    result = _start({"HUB_PRODUCTION": "1", "HUB_ALLOWED_HOSTS": "live.example.gov.cn"})
    assert result.returncode != 0
    assert "HUB_SECRET_KEY must be set" in result.stderr
    result = _start(
        {
            "HUB_PRODUCTION": "1",
            "HUB_ALLOWED_HOSTS": "live.example.gov.cn",
            "HUB_SECRET_KEY": STRONG_KEY,
            "HUB_MICROBLOG_SECRET": "dev-microblog-secret",
            "HUB_HOTLINE_SECRET": "h" * 32,
        }
    )
    assert result.returncode != 0 and "HUB_MICROBLOG_SECRET" in result.stderr


def test_production_starts_with_real_secrets() -> None:
    result = _start(
        {
            "HUB_PRODUCTION": "1",
            "HUB_ALLOWED_HOSTS": "live.example.gov.cn",
            "HUB_SECRET_KEY": STRONG_KEY,
            "HUB_MICROBLOG_SECRET": "m" * 32,
            "HUB_HOTLINE_SECRET": "h" * 32,
            "HUB_PROXY_HEADERS": "1",
        }
    )
    assert result.returncode == 0, result.stderr


def test_a_malformed_setting_stops_the_process() -> None:
    result = _start({"HUB_REPLAY_WINDOW": "lots"})
    assert result.returncode != 0 and "HUB_REPLAY_WINDOW" in result.stderr

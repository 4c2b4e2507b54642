"""Chinese first, English second: the catalogue is complete and both languages are served."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The project catalogue and each app's own (apps added later keep their strings beside them).
CATALOGUES = sorted(
    p
    for pattern in (
        "locale/zh_Hans/LC_MESSAGES/django.po",
        "*/locale/zh_Hans/LC_MESSAGES/django.po",
        "*/*/locale/zh_Hans/LC_MESSAGES/django.po",
    )
    for p in ROOT.glob(pattern)
    if ".venv" not in p.parts
)


def test_the_project_catalogue_exists() -> None:
    assert ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po" in CATALOGUES


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_message_has_a_chinese_translation_and_none_is_fuzzy(po: Path) -> None:
    text = po.read_text(encoding="utf-8")
    entries = text.split("\n\n")[1:]  # the first block is the header
    untranslated = [e for e in entries if re.search(r'\nmsgstr ""\Z', e.strip())]
    fuzzy = [e for e in entries if "#, fuzzy" in e]
    assert untranslated == [] and fuzzy == []
    mo = po.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime - 1


@pytest.mark.django_db
def test_api_errors_are_chinese_by_default_and_english_on_request(client: Any) -> None:
    zh = client.post(
        "/api/auth/login", {"username": "x", "password": "y"}, content_type="application/json"
    )
    assert zh.json() == {"code": "bad_credentials", "message": "用户名或密码错误"}
    en = client.post(
        "/api/auth/login",
        {"username": "x", "password": "y"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert en.json()["message"] == "Wrong username or password"


@pytest.mark.django_db
def test_viewer_page_is_chinese_by_default_and_english_on_request(
    client: Any, live_session: Any
) -> None:
    zh = client.get("/s/live/")
    assert zh.status_code == 200 and 'lang="zh-hans"' in zh.content.decode()
    en = client.get("/s/live/", HTTP_ACCEPT_LANGUAGE="en")
    assert 'lang="en"' in en.content.decode()

"""``{% stage_config session "viewer" %}``: the live video partials' config and strings as
a ``#stage-config`` json_script block (so the viewer and console views need no change)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import json_script
from django.utils.safestring import SafeString

from streaming.pages import stage_config as build_config

register = template.Library()


@register.simple_tag
def stage_config(session: Any, page: str) -> SafeString:
    return json_script(build_config(session, page), "stage-config")

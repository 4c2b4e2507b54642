"""``{{ value|public_text }}`` and ``{{ name|public_name }}``: the one personal-data policy
(:mod:`hub.lib.personal_data`) for model fields a template shows to a non-staff eye
(session titles and descriptions, guests' labels). Load with ``{% load public_data %}``."""

from __future__ import annotations

from django import template

from hub.lib import personal_data

register = template.Library()


@register.filter
def public_text(value: object) -> str:
    """Free text with personal data masked."""
    return personal_data.mask_personal_data(str(value or ""))


@register.filter
def public_name(value: object) -> str:
    """A name with personal data masked; "" for a name that is only a number."""
    return personal_data.public_name(str(value or ""))

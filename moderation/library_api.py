"""The answer library over HTTP (mounted at ``/api/library`` by :mod:`hub.api`).

Anyone may search the published entries (the public FAQ); hosts, screeners and staff
search every active entry and see, for a question in a session, the entries suggested
for it. Writes go through :mod:`moderation.answers`; answering a question from the
library is a console command (``answer_from_library``) like every queue action.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema

from hub.errors import ActionForbidden
from hub.models import LiveSession, Question
from hub.roles import permissions_of
from hub.wire import Error, Int64, StoredText, errors
from moderation import answers
from moderation.models import LibraryEntry

router = Router(tags=["library"])

#: Permissions that let a user see unpublished entries and suggestions.
_LIBRARY_READERS = frozenset({"answer_from_library", "edit_library"})


class EntryOut(Schema):
    id: int
    question: str
    answer: str
    sector: str
    department: str | None
    source: str
    published: bool
    times_used: int
    updated_at: datetime
    score: float | None = None


class EntryIn(Schema):
    question: StoredText = Field(max_length=2000)
    answer: StoredText = Field(max_length=8000)
    sector: StoredText = "other"
    department: Int64 | None = None
    published: bool = False


class EntryPatch(Schema):
    question: StoredText | None = Field(None, max_length=2000)
    answer: StoredText | None = Field(None, max_length=8000)
    sector: StoredText | None = None
    department: Int64 | None = None
    published: bool | None = None
    retired: bool | None = None


#: Every error answer (hub.wire.Error).
ErrorOut = Error


def _out(
    entry: LibraryEntry, score: float | None = None, *, public: bool = False
) -> dict[str, Any]:
    """An entry as the API shows it; ``public`` (anyone without a library role): question
    and answer with personal data masked, as on the FAQ page. Library readers see what
    they edit."""
    shown = answers.public_library_entry(entry) if public else None
    return {
        "id": entry.pk,
        "question": shown.question if shown else entry.question_text,
        "answer": shown.answer if shown else entry.answer_text,
        "sector": entry.sector,
        "department": entry.department.name if entry.department else None,
        "source": entry.source,
        "published": entry.published,
        "times_used": entry.times_used,
        "updated_at": entry.updated_at,
        "score": score,
    }


def _is_library_reader(request: HttpRequest) -> bool:
    return bool(permissions_of(request.user) & _LIBRARY_READERS)


@router.get("", response={200: list[EntryOut], **errors(400, 422)})
def search(request: HttpRequest, q: str = "", sector: str = "", limit: int = 20) -> Any:
    """Search the library: entries asking the same thing in other words first, then
    entries containing the words typed. The public sees published entries only."""
    reader = _is_library_reader(request)
    entries = answers.search_library(
        q,
        published_only=not reader,
        sector=sector,
        limit=max(1, min(limit, 100)),
    )
    return [_out(e, public=not reader) for e in entries]


@router.get(
    "/suggestions/{slug}/{question_id}",
    response={200: list[EntryOut], **errors(400, 403, 404, 422)},
)
def suggestions(request: HttpRequest, slug: str, question_id: Int64) -> Any:
    """Entries suggested for a question of the session, best first, with their scores
    (hosts and screeners; the question's full text is matched, PII-masked or not)."""
    if not _is_library_reader(request):
        raise ActionForbidden(_("Log in as host, screener or staff to see library suggestions"))
    session = get_object_or_404(LiveSession, slug=slug)
    question = get_object_or_404(Question, pk=question_id, session=session)
    return [_out(m.entry, m.score) for m in answers.library_matches(question.text, limit=3)]


@router.post("", response={201: EntryOut, **errors(400, 403, 404, 415, 422)})
def add_entry(request: HttpRequest, body: EntryIn) -> Any:
    entry = answers.do_add_library_entry(
        request.user,
        question_text=body.question,
        answer_text=body.answer,
        sector=body.sector,
        department_id=body.department,
        published=body.published,
    )
    return 201, _out(entry)


@router.patch("/{entry_id}", response={200: EntryOut, **errors(400, 403, 404, 415, 422)})
def change_entry(request: HttpRequest, entry_id: Int64, body: EntryPatch) -> Any:
    names = {"question": "question_text", "answer": "answer_text", "department": "department_id"}
    changes = {
        names.get(field, field): value
        for field, value in body.dict(exclude_unset=True).items()
        if value is not None or field == "department"
    }
    entry = answers.do_update_library_entry(request.user, entry_id, **changes)
    entry.refresh_from_db()
    return _out(entry)

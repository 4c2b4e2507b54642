"""The HTTP JSON API (django-ninja): OpenAPI at /api/openapi.json, docs at /api/docs
(when ``HUB_API_DOCS`` is on: by default everywhere but in production).

Views are thin: parse, call an action, shape the answer. Errors always come back as
``{"code": str, "message": str}`` (plus ``detail`` for validation errors), with the
status code of the error class: 400 malformed, 401 signature or login, 403 role,
404 unknown, 409 illegal transition, 413 too large, 422 refused input, 429 rate limit.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema
from ninja.errors import HttpError, Throttled, ValidationError
from ninja.renderers import JSONRenderer
from ninja.throttling import BaseThrottle, SimpleRateThrottle

from hub import protocol
from hub.actions.supports import do_support_question
from hub.browser import check_browser_may_count
from hub.errors import DomainError, IntakeRejected
from hub.intake.channels import BatchOutcome, intake_hotline, intake_microblog
from hub.intake.coalescer import web_intake
from hub.intake.pipeline import IntakeItem
from hub.intake.signing import verify_signature
from hub.models import Channel, LiveSession
from hub.presenters import member_sources, public_question, session_info
from hub.queries import public_questions
from hub.roles import roles_of
from hub.text import UnreadableJSON, is_clean_id, loads_json
from hub.throttle import address_key, check_login_allowed, client_address
from hub.wire import BodyParser, Error, Int64, errors


class UnicodeJSONRenderer(JSONRenderer):
    """UTF-8 JSON: Chinese text stays readable in responses and logs."""

    json_dumps_params = {"ensure_ascii": False}
    charset = "utf-8"


api = NinjaAPI(
    renderer=UnicodeJSONRenderer(),
    title="Government live interaction hub",
    version="1.0",
    description="Questions in from every channel, one moderated queue, answers out live. "
    "The WebSocket protocol is documented in docs/protocol.md.",
    urls_namespace="api",
    parser=BodyParser(),  # strict UTF-8, bounded depth and numbers (hub.wire)
    # The interactive docs page is off in production (HUB_API_DOCS); the schema at
    # /api/openapi.json stays: it describes a public API to its integrators.
    docs_url="/docs" if settings.HUB_API_DOCS else None,
)


# --- errors ---------------------------------------------------------------------------

_log = logging.getLogger("hub.errors")


def error_response(
    request: HttpRequest, status: int, code: str, message: str, **extra: Any
) -> HttpResponse:
    return api.create_response(request, {"code": code, "message": message, **extra}, status=status)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    wait = getattr(exc, "retry_after", None)  # errors that end by waiting say how long
    if wait is None:
        return error_response(request, exc.http_status, exc.code, exc.message)
    response = error_response(
        request, exc.http_status, exc.code, exc.message, retry_after=int(wait)
    )
    response["Retry-After"] = str(int(wait))
    return response


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(
        request,
        422,
        "invalid",
        _("The request body does not match the schema"),
        detail=json.loads(json.dumps(exc.errors, default=str)),
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "not_found", _("Not found"))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """Ninja's own refusals; the one that reaches us in practice is an unparseable body."""
    if isinstance(exc.__cause__, UnreadableJSON):
        return error_response(request, 400, exc.__cause__.code, exc.__cause__.message)
    if exc.status_code == 400:
        return error_response(request, 400, "bad_json", _("The request body must be JSON"))
    return error_response(request, exc.status_code, "http_error", str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(
        request,
        413,
        "too_large",
        _("The body is larger than %(n)s bytes") % {"n": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
    )


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    # Round up: waiting the advertised number of seconds must be enough.
    wait = max(1, math.ceil(exc.wait or 1))
    response = error_response(
        request,
        429,
        "rate_limited",
        _("Too many requests; please wait %(s)s seconds and try again") % {"s": wait},
        retry_after=wait,
    )
    response["Retry-After"] = str(wait)
    return response


@api.exception_handler(MultiPartParserError)
def _bad_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    """A multipart body Django cannot read (no boundary, broken parts)."""
    return error_response(request, 400, "bad_request", _("The multipart body cannot be read"))


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    """Django's refusals of a malformed request (too many fields, a bad header...)."""
    return error_response(request, 400, "bad_request", _("The request is malformed"))


@api.exception_handler(PermissionDenied)
def _permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(request, 403, "forbidden", _("You may not do this"))


@api.exception_handler(Exception)
def _internal(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The last resort: a defect, never an answer to any input. Logged with its traceback;
    the client gets the coded 500 (no detail of the defect)."""
    _log.exception("Unexpected error in %s %s", request.method, request.path)
    return error_response(
        request, 500, "internal", _("Something went wrong on our side; it has been logged")
    )


# --- throttles ------------------------------------------------------------------------


class _SettingsRateThrottle(SimpleRateThrottle):
    """A throttle whose rate is read from a setting on every request, so that changing
    the setting (or a test overriding it) takes effect without re-importing the API."""

    def __init__(self, scope: str, rate_setting: str | None = None, rate: str = "") -> None:
        self.scope = scope
        self.rate_setting = rate_setting
        super().__init__(rate or self._setting_rate())

    def _setting_rate(self) -> str:
        return str(getattr(settings, self.rate_setting or "", "") or "60/m")

    def allow_request(self, request: HttpRequest) -> bool:
        if self.rate_setting:
            self.num_requests, self.duration = self.parse_rate(self._setting_rate())
        return super().allow_request(request)


class BrowserThrottle(_SettingsRateThrottle):
    """Per signed browser id (see :mod:`hub.browser`)."""

    def get_cache_key(self, request: HttpRequest) -> str:
        return f"throttle:{self.scope}:bid:{getattr(request, 'browser_id', '')}"


class IpThrottle(_SettingsRateThrottle):
    """Per client address (:func:`hub.throttle.client_address`: ``X-Forwarded-For`` only
    with ``HUB_PROXY_HEADERS``, its right-most untrusted hop; IPv6 by /64)."""

    def get_cache_key(self, request: HttpRequest) -> str:
        return f"throttle:{self.scope}:ip:{address_key(client_address(request))}"


ASK_THROTTLES: list[BaseThrottle] = [
    BrowserThrottle("ask", "HUB_WEB_RATE_PER_BROWSER"),
    IpThrottle("ask", "HUB_WEB_RATE_PER_IP"),
]
SUPPORT_THROTTLES: list[BaseThrottle] = [
    BrowserThrottle("support", rate="60/m"),
    IpThrottle("support", rate="600/m"),
]
LOGIN_THROTTLES: list[BaseThrottle] = [IpThrottle("login", rate="20/m")]


# --- schemas --------------------------------------------------------------------------


#: Every error answer (hub.wire.Error); the name the operations below use.
ErrorOut = Error


class LoginIn(Schema):
    username: str = Field(max_length=150)
    password: str = Field(max_length=256)


class MeOut(Schema):
    user: str | None
    roles: list[str]


class QuestionIn(Schema):
    text: str = Field(description="The question; normalised, 2–500 characters by default")
    nickname: str = Field("", max_length=200, description="Shown with the question")
    contact: str = Field("", max_length=40, description="Phone number, seen only by staff")
    private: bool = Field(False, description="Handled but never shown to the public")


class QuestionCreated(Schema):
    id: int
    state: str
    duplicate: bool
    message: str
    private_code: str | None = Field(
        None,
        description="Shown once: follows the question and rates its follow-up reply at "
        "/api/followup/by-code/{code} (only a hash is stored; a retry issues a new one)",
    )


class QuestionList(Schema):
    items: list[protocol.PublicQuestion]
    count: int


class SupportOut(Schema):
    id: int
    supports: int


class BatchItem(Schema):
    source_id: str | None = Field(
        description="The item's id as the channel sent it (characters an id may not hold "
        "written as \\uXXXX); null when the item has none"
    )
    item: str = Field(
        description='Where the item is in the delivery, as a JSON pointer ("/statuses/3", '
        '"/orders/0"; "" for an order sent at the top level)'
    )
    question: int | None = None
    code: str | None = None
    message: str | None = None


class BatchOut(Schema):
    accepted: list[BatchItem]
    duplicates: list[BatchItem]
    rejected: list[BatchItem]


# --- auth -----------------------------------------------------------------------------


@api.post(
    "/auth/login",
    response={200: MeOut, **errors(400, 401, 403, 415, 422, 429)},
    throttle=LOGIN_THROTTLES,
    tags=["auth"],
)
def auth_login(request: HttpRequest, body: LoginIn) -> Any:
    """Log in with username and password; sets the Django session cookie that the console
    WebSocket and the pages use. Needs the CSRF header ``X-CSRFToken`` (the ``csrftoken``
    cookie any page sets), else 403 ``csrf``. After ``HUB_LOGIN_FAILURES_PER_ADDRESS``
    failures from an address or ``HUB_LOGIN_FAILURES_PER_USERNAME`` for a username, 429
    ``login_throttled`` (even with the right password) until the window ends; the admin
    login shares the count (:mod:`hub.throttle`)."""
    check_login_allowed(request, body.username)
    user = authenticate(request, username=body.username, password=body.password)
    if user is None:
        check_login_allowed(request, body.username)  # this failure may have been the last
        return 401, {"code": "bad_credentials", "message": _("Wrong username or password")}
    login(request, user)
    return {"user": user.get_username(), "roles": sorted(roles_of(user))}


@api.post("/auth/logout", response={200: MeOut, **errors(400, 403, 415)}, tags=["auth"])
def auth_logout(request: HttpRequest) -> Any:
    """Log out; needs the CSRF header like login (403 ``csrf`` without it)."""
    logout(request)
    return {"user": None, "roles": []}


@api.get("/auth/me", response={200: MeOut, **errors(400)}, tags=["auth"])
def auth_me(request: HttpRequest) -> Any:
    user = request.user
    if not user.is_authenticated:
        return {"user": None, "roles": []}
    return {"user": user.get_username(), "roles": sorted(roles_of(user))}


# --- sessions and questions -----------------------------------------------------------


@api.get("/sessions", response={200: list[protocol.SessionInfo], **errors(400)}, tags=["sessions"])
def list_sessions(request: HttpRequest) -> Any:
    return [session_info(s) for s in LiveSession.objects.prefetch_related("departments")]


@api.get(
    "/sessions/{slug}", response={200: protocol.SessionInfo, **errors(400, 404)}, tags=["sessions"]
)
def get_session(request: HttpRequest, slug: str) -> Any:
    session = get_object_or_404(LiveSession.objects.prefetch_related("departments"), slug=slug)
    return session_info(session)


@api.get(
    "/sessions/{slug}/questions",
    response={200: QuestionList, **errors(400, 404)},
    tags=["questions"],
)
def list_public_questions(request: HttpRequest, slug: str) -> Any:
    """The questions viewers may see: published by a host, public, not withdrawn."""
    session = get_object_or_404(LiveSession, slug=slug)
    rows = list(public_questions(session))
    members = member_sources([q.pk for q in rows])
    items = [public_question(q, members.get(q.pk, {})) for q in rows]
    return {"items": items, "count": len(items)}


@api.get(
    "/sessions/{slug}/record",
    response={200: protocol.ModerationRecord, **errors(400, 404)},
    tags=["questions"],
)
def session_record(request: HttpRequest, slug: str) -> Any:
    """The open moderation record: per channel, how many questions were received,
    approved, rejected (by reason), answered live, deferred and left unanswered. No
    question disappears without a trace."""
    from moderation.record import moderation_record

    session = get_object_or_404(LiveSession, slug=slug)
    return moderation_record(session.pk)


@api.get(
    "/sessions/{slug}/insights",
    response={200: protocol.Insights, **errors(400, 404)},
    tags=["questions"],
)
def session_insights(request: HttpRequest, slug: str) -> Any:
    """Hot words (热词) ranked by heat, and published questions per sector. Only published
    questions (and repeats merged into them) count: nothing unreviewed shows here."""
    from django.db.models import Count

    from moderation.hotwords import hot_words, published_and_merged

    session = get_object_or_404(LiveSession, slug=slug)
    sectors = dict(
        published_and_merged(session.pk).values_list("sector").annotate(n=Count("id")).order_by()
    )
    return {
        "hot_words": [{"word": w, "heat": h} for w, h in hot_words(session.pk)],
        "sectors": sectors,
    }


@api.post(
    "/sessions/{slug}/questions",
    response={
        201: QuestionCreated,
        200: QuestionCreated,
        **errors(400, 403, 404, 415, 422, 429),
    },
    throttle=ASK_THROTTLES,
    tags=["questions"],
)
async def ask_question(request: HttpRequest, slug: str, body: QuestionIn) -> Any:
    """Ask from the web page. An ``Idempotency-Key`` header makes a retried submission
    return the first one (200 with ``duplicate: true``) instead of asking twice. Taken in
    together with the other web questions arriving meanwhile (``hub.intake.coalescer``).
    A lone surrogate or NUL in any field is refused (400 ``bad_characters``); other
    control and bidirectional characters are removed from the text and nickname."""
    if not is_clean_id(slug):  # NUL in a lookup is an error on PostgreSQL: no such slug
        raise Http404
    session = await sync_to_async(get_object_or_404)(LiveSession, slug=slug)
    browser_id = getattr(request, "browser_id", "")
    # Without a page-issued browser id (an API client), retries are recognised by the
    # client address instead: the id of a cookieless request is new every time.
    key_scope = (
        browser_id
        if getattr(request, "browser", None)
        else f"addr-{address_key(client_address(request))}"
    )
    key = request.headers.get("Idempotency-Key", "").strip()[:64]
    if not is_clean_id(key):
        raise DomainError(
            _("The Idempotency-Key header holds a control character"), code="bad_idempotency_key"
        )
    outcome = await web_intake.submit(
        IntakeItem(
            session_id=session.pk,
            channel=Channel.WEB,
            text=body.text,
            # The key is scoped to session and browser: reusing it elsewhere never returns
            # somebody else's (or another session's) question.
            source_id=f"{session.pk}:{key_scope}:{key}" if key else None,
            asker_name=body.nickname,
            asker_ref=f"bid:{browser_id}",
            contact=body.contact,
            private=body.private,
        )
    )
    if isinstance(outcome, IntakeRejected):
        raise outcome
    result = outcome
    question = result.question
    status = 201 if result.created else 200
    if question.state == "rejected":
        message = _(
            "Your question was received but cannot be published: %(reason)s. "
            "It is kept on record and the citizen observers can see why."
        ) % {"reason": question.get_rejection_reason_display()}
    elif body.private:
        message = _("Thank you. Your question will be handled without being published.")
    else:
        message = _("Thank you. Your question will appear once the host has reviewed it.")
    from hub.followup.codes import issue_code

    return status, {
        "id": question.pk,
        "state": question.state,
        "duplicate": not result.created,
        "message": message,
        "private_code": await sync_to_async(issue_code)(question),
    }


@api.post(
    "/sessions/{slug}/questions/{question_id}/support",
    response={200: SupportOut, **errors(400, 403, 404, 409, 415, 422, 429)},
    throttle=SUPPORT_THROTTLES,
    tags=["questions"],
)
def support_question(request: HttpRequest, slug: str, question_id: Int64) -> Any:
    """+1 a published question; once per browser (repeating it changes nothing).

    Counts only under a browser id that a page load issued (``hub_bid``; 403
    ``no_browser_id`` without one) at least ``HUB_BROWSER_MIN_AGE_SECONDS`` ago (429
    ``browser_id_too_new`` with ``Retry-After``), and at most
    ``HUB_SUPPORTS_PER_ADDRESS_PER_SESSION`` per client address in a session (403
    ``address_limit``)."""
    browser = check_browser_may_count(getattr(request, "browser", None))
    session = get_object_or_404(LiveSession, slug=slug)
    count = do_support_question(
        browser.id, session.pk, question_id, address=client_address(request)
    )
    return {"id": question_id, "supports": count}


# --- signed channel webhooks ----------------------------------------------------------


def _signed_json(request: HttpRequest, secret: str) -> Any:
    length = request.headers.get("Content-Length")
    limit = settings.HUB_INTAKE_MAX_BODY_BYTES
    if length and length.isdigit() and int(length) > limit:
        raise _TooLarge(limit)
    try:
        body = request.body
    except RequestDataTooBig:
        raise _TooLarge(limit) from None
    if len(body) > limit:
        raise _TooLarge(limit)
    verify_signature(
        secret,
        body,
        request.headers.get("X-Hub-Signature-256"),
        request.headers.get("X-Hub-Timestamp"),
        time.time(),
    )
    try:
        # Bounded: no deeper than MAX_JSON_DEPTH, no number Python cannot convert.
        return loads_json(body)
    except UnreadableJSON as exc:
        raise DomainError(exc.message, code=exc.code) from None


class _TooLarge(DomainError):
    code = "too_large"
    http_status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(_("The body is larger than %(n)s bytes") % {"n": limit})


BATCH_RESPONSES = {200: BatchOut, **errors(400, 401, 413, 415)}


@api.post(
    "/intake/microblog",
    response=BATCH_RESPONSES,
    tags=["intake"],
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": 'Weibo {"statuses": [...]} or {"comments": [...]}; '
                        'optional "session" slug. Signed: X-Hub-Signature-256, X-Hub-Timestamp.',
                    }
                }
            }
        }
    },
)
def microblog_webhook(request: HttpRequest) -> Any:
    """Mentions and comments from the official microblog account."""
    outcome: BatchOutcome = intake_microblog(_signed_json(request, settings.MICROBLOG_SECRET))
    return outcome.as_dict()


@api.post(
    "/intake/hotline",
    response=BATCH_RESPONSES,
    tags=["intake"],
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": '{"session": slug, "orders": [{"order_id", "content", '
                        '"caller_name", "caller_phone", "channel", "private"}]}. Signed like the '
                        "microblog webhook.",
                    }
                }
            }
        }
    },
)
def hotline_webhook(request: HttpRequest) -> Any:
    """Work orders from the 12345 hotline system (and radio call-ins it relays)."""
    outcome = intake_hotline(_signed_json(request, settings.HOTLINE_SECRET))
    return outcome.as_dict()


# --- answer library (咨询答问库) ------------------------------------------------------------

from moderation.library_api import router as library_router  # noqa: E402

api.add_router("/library", library_router)

# --- live video control plane (issue 5) -------------------------------------------------

from streaming.api import router as streaming_router  # noqa: E402

api.add_router("/streaming", streaming_router)

# --- follow-up tasks (issue 4) ----------------------------------------------------------

from hub.followup.api import router as followup_router  # noqa: E402

api.add_router("/followup", followup_router)

"""Live video pages and the host API over HTTP: replay page, guest join page, the stage
partials on the viewer page and the console, login, CSRF and role checks, zh-hans first
and English second."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from hub.actions.sessions import do_end_session
from moderation import actions as m
from streaming import actions as a
from streaming.models import AgendaItem, GuestInvite, GuestState

pytestmark = pytest.mark.django_db(transaction=True)


def _client(username: str | None, *, lang: str = "zh-hans", csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf, HTTP_ACCEPT_LANGUAGE=lang)
    if username:
        assert client.login(username=username, password=f"pw-{username}")
    return client


def _stage_config(html: str) -> dict[str, Any]:
    found = re.search(
        r'<script id="stage-config" type="application/json">(.*?)</script>', html, re.S
    )
    assert found, "no #stage-config block"
    return json.loads(found.group(1))


@pytest.fixture
def meeting(make_session: Callable[..., Any], host: Any) -> Any:
    session = make_session("live", slug="meeting", kind="meeting")
    a.do_edit_agenda(
        host,
        session.pk,
        [a.AgendaEntry("审议城市更新方案"), a.AgendaEntry("研究人事事项", confidential=True)],
    )
    return session


# --- pages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lang, stage_title, confidential",
    [("zh-hans", "直播画面", "涉密议题"), ("en", "Live broadcast", "Confidential item")],
)
def test_viewer_page_carries_the_player_and_translated_stage_strings(
    meeting: Any, users: Any, lang: str, stage_title: str, confidential: str
) -> None:
    html = _client(None, lang=lang).get("/s/meeting/").content.decode()
    assert 'data-testid="program-video"' in html and stage_title in html
    config = _stage_config(html)
    assert config["whep"] == "/whep/meeting" and config["hls"] == "/hls/meeting/index.m3u8"
    assert config["hls_script"].endswith("streaming/vendor/hls.js/hls.light.min.js")
    assert config["strings"]["confidential_item"] == confidential
    assert "研究人事事项" not in html  # the confidential title never reaches the public page


@pytest.mark.parametrize(
    "lang, heading", [("zh-hans", "直播与连线"), ("en", "Broadcast and call-ins")]
)
def test_console_carries_the_stage_panel(meeting: Any, users: Any, lang: str, heading: str) -> None:
    html = _client("host", lang=lang).get("/s/meeting/console/").content.decode()
    assert 'data-testid="stage-console"' in html and heading in html
    assert _stage_config(html)["page"] == "console"


@pytest.mark.parametrize(
    "lang, wait_text", [("zh-hans", "结束后可观看回放"), ("en", "after the session ends")]
)
def test_replay_page_waits_for_the_end_then_lists_the_recording(
    live_session: Any, host: Any, ask: Callable[..., Any], lang: str, wait_text: str
) -> None:
    client = _client(None, lang=lang)
    before = client.get("/s/live/replay/")
    notice = re.search(r'data-testid="replay-notice"\s*(hidden)?>([^<]*)<', before.content.decode())
    assert before.status_code == 200 and notice is not None
    assert notice.group(1) is None and wait_text in notice.group(2)
    t0 = timezone.now() - timedelta(minutes=5)
    q = ask("公园什么时候开放？")
    m.do_approve_question(host, live_session.pk, q.pk)
    a.do_recording_started(live_session.pk, "hls/live/r.m3u8", t0)
    m.do_put_on_air(host, live_session.pk, q.pk, now=t0 + timedelta(seconds=12))
    m.do_mark_answered(host, live_session.pk, q.pk, "下月开放", now=t0 + timedelta(seconds=60))
    a.do_recording_finished(live_session.pk, "hls/live/r.m3u8", t0 + timedelta(seconds=240))
    do_end_session(host, live_session.pk)
    after = client.get("/s/live/replay/").content.decode()
    assert 'data-testid="replay-video"' in after
    assert 'data-testid="replay-notice" hidden' in after
    assert client.get("/s/nope/replay/").status_code == 404


@pytest.mark.parametrize("lang, invited", [("zh-hans", "您受邀以"), ("en", "You are invited as")])
def test_guest_page_opens_from_a_fresh_link_without_using_it(
    live_session: Any, host: Any, lang: str, invited: str
) -> None:
    invitation = a.do_invite_guest(host, live_session.pk, "宿城区 张女士", "caller")
    response = _client(None, lang=lang).get(invitation.path)
    html = response.content.decode()
    assert response.status_code == 200 and invited in html and "宿城区 张女士" in html
    assert 'data-testid="guest-join"' in html
    assert GuestInvite.objects.get().state == GuestState.INVITED


def test_guest_page_explains_a_used_or_unknown_link(live_session: Any, host: Any) -> None:
    invitation = a.do_invite_guest(host, live_session.pk, "听众", "caller")
    a.do_guest_connect(invitation.token, timezone.now())
    used = _client(None).get(invitation.path)
    assert used.status_code == 409 and 'data-code="invite_used"' in used.content.decode()
    unknown = _client(None, lang="en").get("/guest/not-a-token/join")
    assert unknown.status_code == 404 and "This guest link is not valid" in unknown.content.decode()


# --- API -------------------------------------------------------------------------------


def test_public_stage_hides_confidential_titles(meeting: Any, host: Any) -> None:
    secret = AgendaItem.objects.get(confidential=True)
    a.do_set_agenda_item(host, meeting.pk, secret.pk)
    body = _client(None).get("/api/streaming/sessions/meeting/stage").json()
    assert body["current_item"] == {
        "id": secret.pk,
        "position": 2,
        "title": "",
        "confidential": True,
    }
    assert [i["title"] for i in body["agenda"]] == ["审议城市更新方案", ""]


def test_host_runs_the_stage_over_the_api(meeting: Any, users: Any) -> None:
    client = _client("host")
    first = AgendaItem.objects.get(position=1)
    stage = client.post(
        "/api/streaming/sessions/meeting/agenda/current",
        {"item": first.pk},
        content_type="application/json",
    ).json()
    assert stage["current_item"] == first.pk and stage["confidential"] is False
    created = client.post(
        "/api/streaming/sessions/meeting/guests",
        {"label": "远程嘉宾 王教授", "kind": "guest"},
        content_type="application/json",
    )
    assert created.status_code == 201
    body = created.json()
    assert body["url"] == f"http://testserver/guest/{body['token']}/join"
    grant = a.do_guest_connect(body["token"], timezone.now())
    on_air = client.post(f"/api/streaming/sessions/meeting/guests/{grant.invite_id}/on_air")
    assert on_air.json()["state"] == "on_air"
    assert client.get(f"/api/streaming/guests/{body['token']}").json()["state"] == "on_air"
    off_air = client.post(f"/api/streaming/sessions/meeting/guests/{grant.invite_id}/off_air")
    assert off_air.json()["state"] == "waiting"
    again = client.post(f"/api/streaming/sessions/meeting/guests/{grant.invite_id}/off_air")
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    token = client.post("/api/streaming/sessions/meeting/publisher/token").json()
    assert a.authenticate_publisher("meeting", token["token"]).slug == "meeting"
    handover = client.post("/api/streaming/sessions/meeting/publisher/handover")
    assert handover.status_code == 200 and "handover_until" in handover.json()
    stage = client.get("/api/streaming/sessions/meeting/console").json()
    assert stage["publisher"]["token_hint"] == token["hint"]
    edited = client.put(
        "/api/streaming/sessions/meeting/agenda",
        {"items": [{"id": first.pk, "title": "审议城市更新方案（修订稿）"}]},
        content_type="application/json",
    ).json()
    assert [i["title"] for i in edited["agenda"]] == ["审议城市更新方案（修订稿）"]


@pytest.mark.parametrize("who", ["leader", "screener", "observer", "dept", "nobody"])
def test_other_roles_are_refused_by_the_api(meeting: Any, users: Any, who: str) -> None:
    client = _client(who, lang="en")
    item = AgendaItem.objects.get(position=1)
    calls = [
        ("post", "/agenda/current", {"item": item.pk}),
        ("put", "/agenda", {"items": []}),
        ("post", "/guests", {"label": "x"}),
        ("post", "/publisher/handover", None),
        ("post", "/publisher/token", None),
    ]
    for method, path, body in calls:
        response = getattr(client, method)(
            f"/api/streaming/sessions/meeting{path}",
            json.dumps(body) if body is not None else None,
            content_type="application/json",
        )
        assert response.status_code == 403, (path, response.content)
        assert response.json()["code"] == "forbidden"
    assert AgendaItem.objects.count() == 2 and not GuestInvite.objects.exists()


def test_the_api_needs_a_login_and_the_csrf_token(meeting: Any, users: Any) -> None:
    anonymous = _client(None, lang="en").post("/api/streaming/sessions/meeting/publisher/handover")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "login_required"
    assert _client(None).get("/api/streaming/sessions/meeting/console").status_code == 401
    strict = _client("host", csrf=True)
    refused = strict.post("/api/streaming/sessions/meeting/publisher/handover")
    assert refused.status_code == 403 and refused.json()["code"] == "csrf"
    strict.get("/s/meeting/")  # sets the csrftoken cookie
    token = strict.cookies["csrftoken"].value
    allowed = strict.post(
        "/api/streaming/sessions/meeting/publisher/handover", HTTP_X_CSRFTOKEN=token
    )
    assert allowed.status_code == 200


def test_bad_bodies_get_coded_errors(meeting: Any, users: Any) -> None:
    client = _client("host")
    bad = client.post(
        "/api/streaming/sessions/meeting/guests",
        {"label": "x", "kind": "alien"},
        content_type="application/json",
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid"
    blank = client.post(
        "/api/streaming/sessions/meeting/guests",
        {"label": "   "},
        content_type="application/json",
    )
    assert blank.status_code == 400 and blank.json()["code"] == "bad_label"
    unknown = client.post("/api/streaming/sessions/nope/publisher/handover")
    assert unknown.status_code == 404


def test_admin_lists_live_video_rows_read_only_without_token_hashes(
    live_session: Any, host: Any
) -> None:
    from django.contrib.auth.models import User

    invitation = a.do_invite_guest(host, live_session.pk, "听众 赵先生", "caller")
    a.do_set_publisher_token(host, live_session.pk, "studio-token-for-admin-0001")
    User.objects.create_superuser("root", password="pw-root")
    client = Client()
    assert client.login(username="root", password="pw-root")
    listing = client.get("/admin/streaming/guestinvite/").content.decode()
    assert "听众 赵先生" in listing and invitation.invite.token_hash not in listing
    detail = client.get(f"/admin/streaming/guestinvite/{invitation.invite.pk}/change/")
    assert detail.status_code == 200 and invitation.invite.token_hash not in detail.content.decode()
    studio = client.get("/admin/streaming/studiostream/").content.decode()
    assert "0001" in studio and a.hash_token("studio-token-for-admin-0001") not in studio
    assert client.get("/admin/streaming/agendaitem/add/").status_code == 403

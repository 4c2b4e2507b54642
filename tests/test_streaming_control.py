"""Live video control plane (issue 5): publisher token and hand-over, agenda with
confidential items, one-time guest links, guests on air, recordings and replay chapters.

Every published frame is validated against hub.protocol by the conftest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from hub.actions.sessions import do_end_session
from hub.errors import ActionForbidden, BadToken, DomainError, IllegalTransition, NotFound
from hub.models import AuditEntry, SessionEvent
from hub.queries import viewer_snapshot
from moderation import actions as m
from streaming import actions as a
from streaming.models import AgendaItem, GuestInvite, GuestState, Recording, StudioStream
from streaming.replay import chapters

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "studio-token-for-tests-0123456789"
NOT_HOSTS = ["leader", "screener", "observer", "staff", "dept", "nobody"]


@pytest.fixture
def studio(live_session: Any, host: Any) -> Any:
    a.do_set_publisher_token(host, live_session.pk, TOKEN)
    return live_session


def _audit(session: Any, action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(session=session, action=action).order_by("id"))


def _events(session: Any, type_: str) -> list[dict[str, Any]]:
    return [
        e.data for e in SessionEvent.objects.filter(session=session, type=type_).order_by("seq")
    ]


# --- publisher -------------------------------------------------------------------------


def test_publisher_with_the_token_is_granted_the_session(studio: Any) -> None:
    grant = a.authenticate_publisher("live", TOKEN)
    assert (grant.session_id, grant.slug, grant.replaces) == (studio.pk, "live", None)


def test_token_is_stored_hashed_with_a_hint_only(studio: Any) -> None:
    row = StudioStream.objects.get(session=studio)
    assert TOKEN not in row.publisher_token_hash
    assert row.publisher_token_hash == a.hash_token(TOKEN)
    assert row.publisher_token_hint == TOKEN[-4:]


@pytest.mark.parametrize("token", [None, "", "wrong-token-0123456789"])
def test_missing_or_wrong_token_is_refused_with_bad_token(studio: Any, token: Any) -> None:
    with pytest.raises(BadToken) as err:
        a.authenticate_publisher("live", token)
    assert err.value.code == "bad_token" and err.value.http_status == 401


def test_session_without_a_token_refuses_every_publisher(live_session: Any) -> None:
    with pytest.raises(BadToken):
        a.authenticate_publisher("live", TOKEN)


def test_unknown_session_is_not_found_for_the_publisher(studio: Any) -> None:
    with pytest.raises(NotFound):
        a.authenticate_publisher("nope", TOKEN)


def test_ended_session_refuses_the_publisher(studio: Any, host: Any) -> None:
    do_end_session(host, studio.pk)
    with pytest.raises(IllegalTransition) as err:
        a.authenticate_publisher("live", TOKEN)
    assert err.value.code == "session_ended"


def test_second_publisher_is_refused_while_one_is_connected(studio: Any) -> None:
    a.do_publisher_connected(studio.pk, "res-1", timezone.now())
    for handover in (False, True):
        with pytest.raises(IllegalTransition) as err:
            a.authenticate_publisher("live", TOKEN, handover=handover)
        assert err.value.code == "publisher_active" and err.value.http_status == 409


def test_hand_over_lets_the_next_publisher_replace_the_current_one_within_the_window(
    studio: Any, host: Any, settings: Any
) -> None:
    settings.HUB_PUBLISHER_HANDOVER_SECONDS = 30
    start = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    a.do_publisher_connected(studio.pk, "res-1", start)
    until = a.do_hand_over_publisher(host, studio.pk, now=start)
    assert until == start + timedelta(seconds=30)
    grant = a.authenticate_publisher("live", TOKEN, now=start + timedelta(seconds=29))
    assert grant.replaces == "res-1"
    with pytest.raises(IllegalTransition):
        a.authenticate_publisher("live", TOKEN, now=start + timedelta(seconds=31))
    # The replacement connects: the window is used up, the old one leaving changes nothing.
    a.do_publisher_connected(studio.pk, "res-2", start + timedelta(seconds=5))
    a.do_publisher_disconnected(studio.pk, "res-1", start + timedelta(seconds=6))
    row = StudioStream.objects.get(session=studio)
    assert (row.publisher_resource_id, row.live, row.handover_until) == ("res-2", True, None)
    with pytest.raises(IllegalTransition):
        a.authenticate_publisher("live", TOKEN, now=start + timedelta(seconds=7))
    assert [e.note for e in _audit(studio, "publisher_handover")]
    assert _events(studio, "stream_state") == [{"live": True}]


def test_publisher_drop_and_return_tell_viewers_the_signal_state(studio: Any, frames: Any) -> None:
    now = timezone.now()
    a.do_publisher_connected(studio.pk, "res-1", now)
    a.do_publisher_disconnected(studio.pk, "res-1", now)
    a.do_publisher_disconnected(studio.pk, "res-1", now)  # again: nothing more
    a.do_publisher_connected(studio.pk, "res-2", now)
    assert _events(studio, "stream_state") == [{"live": True}, {"live": False}, {"live": True}]
    assert [f["data"] for f in frames.viewer if f["type"] == "stream_state"] == [
        {"live": True},
        {"live": False},
        {"live": True},
    ]
    assert viewer_snapshot(studio.pk).stage.live is True  # type: ignore[union-attr]
    assert [e.actor_label for e in _audit(studio, "publisher_connected")] == ["engine", "engine"]


def test_rotating_the_token_returns_a_new_one_once_and_the_old_one_stops_working(
    studio: Any, users: dict[str, Any]
) -> None:
    fresh = a.do_set_publisher_token(users["staff"], studio.pk)
    assert fresh != TOKEN and len(fresh) >= 40
    with pytest.raises(BadToken):
        a.authenticate_publisher("live", TOKEN)
    assert a.authenticate_publisher("live", fresh).session_id == studio.pk
    assert _audit(studio, "publisher_token")[-1].actor_label == "staff"


def test_chosen_token_must_be_long_enough(studio: Any, host: Any) -> None:
    with pytest.raises(DomainError) as err:
        a.do_set_publisher_token(host, studio.pk, "short")
    assert err.value.code == "bad_token_format"


def test_only_host_and_staff_rotate_the_token(studio: Any, users: dict[str, Any]) -> None:
    for who in ["leader", "screener", "observer", "dept", "nobody"]:
        with pytest.raises(ActionForbidden):
            a.do_set_publisher_token(users[who], studio.pk)
    assert a.authenticate_publisher("live", TOKEN).session_id == studio.pk


def test_only_the_host_hands_over(studio: Any, users: dict[str, Any]) -> None:
    for who in NOT_HOSTS:
        with pytest.raises(ActionForbidden):
            a.do_hand_over_publisher(users[who], studio.pk)
    assert StudioStream.objects.get(session=studio).handover_until is None


# --- agenda ----------------------------------------------------------------------------


@pytest.fixture
def meeting(make_session: Callable[..., Any], host: Any) -> Any:
    session = make_session("live", slug="meeting", kind="meeting")
    a.do_edit_agenda(
        host,
        session.pk,
        [
            a.AgendaEntry("审议《城市更新三年行动方案》"),
            a.AgendaEntry("研究干部任免事项", confidential=True),
            a.AgendaEntry("听取防汛工作汇报"),
        ],
    )
    return session


def _items(session: Any) -> list[AgendaItem]:
    return list(AgendaItem.objects.filter(session=session).order_by("position"))


def test_agenda_hides_confidential_titles_from_the_public(meeting: Any) -> None:
    agenda = _events(meeting, "agenda")[-1]["items"]
    assert [(i["position"], i["title"], i["confidential"]) for i in agenda] == [
        (1, "审议《城市更新三年行动方案》", False),
        (2, "", True),
        (3, "听取防汛工作汇报", False),
    ]
    stage = viewer_snapshot(meeting.pk).stage
    assert stage is not None and stage.agenda[1].title == "" and stage.current_item is None
    staff = a.staff_stage(meeting.pk)
    assert staff.agenda[1].title == "研究干部任免事项"


def test_moving_to_a_confidential_item_blanks_the_programme_and_back(
    meeting: Any, host: Any, frames: Any
) -> None:
    first, secret, _third = _items(meeting)
    a.do_set_agenda_item(host, meeting.pk, first.pk)
    assert a.current_program_state(meeting.pk) == {"confidential": False, "on_air_guest_ids": []}
    a.do_set_agenda_item(host, meeting.pk, secret.pk)
    assert a.current_program_state(meeting.pk)["confidential"] is True
    a.do_set_agenda_item(host, meeting.pk, None)
    assert a.current_program_state(meeting.pk)["confidential"] is False
    published = [f["data"]["item"] for f in frames.viewer if f["type"] == "agenda_item"]
    assert published[0]["title"] == "审议《城市更新三年行动方案》"
    assert published[1] == {"id": secret.pk, "position": 2, "title": "", "confidential": True}
    assert published[2] is None
    trail = _audit(meeting, "agenda_item")
    assert [(e.to_state, e.reason, e.actor_label) for e in trail] == [
        (str(first.pk), "", "host"),
        (str(secret.pk), "confidential", "host"),
        ("", "", "host"),
    ]
    stages = [f for f in frames.console if f["type"] == "stage"]
    assert stages and stages[-1]["data"]["current_item"] is None


def test_engine_hears_the_programme_state_after_commit(meeting: Any, host: Any) -> None:
    heard: list[tuple[int, dict[str, Any]]] = []
    a.program_state_listeners.append(lambda sid, state: heard.append((sid, state)))
    try:
        secret = _items(meeting)[1]
        a.do_set_agenda_item(host, meeting.pk, secret.pk)
    finally:
        a.program_state_listeners.clear()
    assert heard == [(meeting.pk, {"confidential": True, "on_air_guest_ids": []})]


def test_moving_to_the_current_item_again_is_refused(meeting: Any, host: Any) -> None:
    first = _items(meeting)[0]
    a.do_set_agenda_item(host, meeting.pk, first.pk)
    with pytest.raises(IllegalTransition):
        a.do_set_agenda_item(host, meeting.pk, first.pk)


def test_an_item_of_another_session_is_not_found(
    meeting: Any, make_session: Callable[..., Any], host: Any
) -> None:
    other = make_session("live", slug="other", kind="meeting")
    with pytest.raises(NotFound):
        a.do_set_agenda_item(host, other.pk, _items(meeting)[0].pk)


def test_editing_the_agenda_keeps_items_by_id_and_clears_a_removed_current_item(
    meeting: Any, host: Any, frames: Any
) -> None:
    first, secret, third = _items(meeting)
    a.do_set_agenda_item(host, meeting.pk, secret.pk)
    a.do_edit_agenda(
        host,
        meeting.pk,
        [
            a.AgendaEntry("听取防汛工作汇报（修订）", id=third.pk),
            a.AgendaEntry(first.title, id=first.pk),
        ],
    )
    assert [(i.pk, i.position, i.title) for i in _items(meeting)] == [
        (third.pk, 1, "听取防汛工作汇报（修订）"),
        (first.pk, 2, first.title),
    ]
    assert a.current_program_state(meeting.pk)["confidential"] is False
    assert _events(meeting, "agenda_item")[-1] == {"item": None}


@pytest.mark.parametrize(
    "entries, code",
    [
        ([a.AgendaEntry("  ")], "bad_agenda"),
        ([a.AgendaEntry("x" * 201)], "bad_agenda"),
        ([a.AgendaEntry("a")] * 101, "bad_agenda"),
    ],
)
def test_bad_agendas_are_refused_and_change_nothing(
    meeting: Any, host: Any, entries: list[Any], code: str
) -> None:
    before = [(i.pk, i.title) for i in _items(meeting)]
    with pytest.raises(DomainError) as err:
        a.do_edit_agenda(host, meeting.pk, entries)
    assert err.value.code == code
    assert [(i.pk, i.title) for i in _items(meeting)] == before


def test_listing_an_item_twice_or_of_another_session_is_refused(meeting: Any, host: Any) -> None:
    first = _items(meeting)[0]
    with pytest.raises(DomainError):
        a.do_edit_agenda(host, meeting.pk, [a.AgendaEntry("a", id=first.pk)] * 2)
    with pytest.raises(NotFound):
        a.do_edit_agenda(host, meeting.pk, [a.AgendaEntry("a", id=999_999)])


def test_only_the_host_moves_and_edits_the_agenda(meeting: Any, users: dict[str, Any]) -> None:
    for who in NOT_HOSTS:
        with pytest.raises(ActionForbidden):
            a.do_set_agenda_item(users[who], meeting.pk, _items(meeting)[0].pk)
        with pytest.raises(ActionForbidden):
            a.do_edit_agenda(users[who], meeting.pk, [a.AgendaEntry("x")])
    assert len(_items(meeting)) == 3 and not _audit(meeting, "agenda_item")


def test_the_agenda_of_an_ended_session_is_frozen(meeting: Any, host: Any) -> None:
    do_end_session(host, meeting.pk)
    with pytest.raises(IllegalTransition):
        a.do_set_agenda_item(host, meeting.pk, _items(meeting)[0].pk)


# --- guests ----------------------------------------------------------------------------


def test_guest_link_works_once_and_the_guest_waits_for_the_host(
    live_session: Any, host: Any, frames: Any
) -> None:
    invitation = a.do_invite_guest(host, live_session.pk, "宿城区 张女士", "caller")
    assert invitation.path == f"/guest/{invitation.token}/join"
    assert invitation.invite.token_hash == a.hash_token(invitation.token)
    grant = a.do_guest_connect(invitation.token, timezone.now())
    assert (grant.invite_id, grant.session_id, grant.slug, grant.label) == (
        invitation.invite.pk,
        live_session.pk,
        "live",
        "宿城区 张女士",
    )
    with pytest.raises(IllegalTransition) as err:
        a.do_guest_connect(invitation.token, timezone.now())
    assert err.value.code == "invite_used"
    guests = [f["data"] for f in frames.console if f["type"] == "guest"]
    assert [g["state"] for g in guests] == ["invited", "waiting"]
    assert not [f for f in frames.viewer if f["type"] == "guest_on_air"]


def test_expired_link_is_refused(live_session: Any, host: Any, settings: Any) -> None:
    settings.HUB_GUEST_INVITE_TTL_SECONDS = 600
    with time_machine.travel(datetime(2026, 3, 2, 2, 0, tzinfo=UTC), tick=False):
        invitation = a.do_invite_guest(host, live_session.pk, "远程嘉宾", "guest")
    with time_machine.travel(datetime(2026, 3, 2, 2, 10, 1, tzinfo=UTC), tick=False):
        with pytest.raises(IllegalTransition) as err:
            a.do_guest_connect(invitation.token, timezone.now())
    assert err.value.code == "invite_expired"
    assert GuestInvite.objects.get().state == GuestState.INVITED


def test_unknown_and_withdrawn_links_are_refused(live_session: Any, host: Any) -> None:
    with pytest.raises(NotFound) as err:
        a.do_guest_connect("not-a-token", timezone.now())
    assert err.value.code == "invite_unknown"
    invitation = a.do_invite_guest(host, live_session.pk, "听众", "caller")
    a.do_revoke_guest(host, live_session.pk, invitation.invite.pk)
    with pytest.raises(IllegalTransition) as err2:
        a.do_guest_connect(invitation.token, timezone.now())
    assert err2.value.code == "invite_revoked"


def _waiting_guest(session: Any, host: Any, label: str = "听众 李先生") -> GuestInvite:
    invitation = a.do_invite_guest(host, session.pk, label, "caller")
    a.do_guest_connect(invitation.token, timezone.now())
    return GuestInvite.objects.get(pk=invitation.invite.pk)


def test_host_puts_a_waiting_guest_on_air_and_takes_them_off(
    live_session: Any, host: Any, frames: Any
) -> None:
    guest = _waiting_guest(live_session, host)
    a.do_put_guest_on_air(host, live_session.pk, guest.pk)
    assert a.current_program_state(live_session.pk)["on_air_guest_ids"] == [guest.pk]
    stage = viewer_snapshot(live_session.pk).stage
    assert stage is not None and [g.label for g in stage.guests_on_air] == ["听众 李先生"]
    a.do_take_guest_off_air(host, live_session.pk, guest.pk)
    assert a.current_program_state(live_session.pk)["on_air_guest_ids"] == []
    assert _events(live_session, "guest_on_air") == [
        {"guest": {"id": guest.pk, "label": "听众 李先生"}, "on_air": True},
        {"guest": {"id": guest.pk, "label": "听众 李先生"}, "on_air": False},
    ]
    trail = [
        (e.action, e.from_state, e.to_state)
        for e in AuditEntry.objects.filter(
            session=live_session, action__startswith="guest_"
        ).order_by("id")
    ]
    assert trail == [
        ("guest_invite", "", "invited"),
        ("guest_joined", "invited", "waiting"),
        ("guest_on_air", "waiting", "on_air"),
        ("guest_off_air", "on_air", "waiting"),
    ]


def test_a_guest_who_is_not_waiting_cannot_go_on_air(live_session: Any, host: Any) -> None:
    invitation = a.do_invite_guest(host, live_session.pk, "未接入", "caller")
    with pytest.raises(IllegalTransition):
        a.do_put_guest_on_air(host, live_session.pk, invitation.invite.pk)
    with pytest.raises(IllegalTransition):
        a.do_take_guest_off_air(host, live_session.pk, invitation.invite.pk)
    guest = _waiting_guest(live_session, host)
    a.do_put_guest_on_air(host, live_session.pk, guest.pk)
    with pytest.raises(IllegalTransition):
        a.do_put_guest_on_air(host, live_session.pk, guest.pk)
    with pytest.raises(IllegalTransition):
        a.do_revoke_guest(host, live_session.pk, guest.pk)


def test_guests_go_on_air_only_while_live(make_session: Callable[..., Any], host: Any) -> None:
    session = make_session("collecting", slug="pre")
    guest = _waiting_guest(session, host)
    with pytest.raises(IllegalTransition):
        a.do_put_guest_on_air(host, session.pk, guest.pk)


def test_guest_hanging_up_on_air_goes_off_air_for_viewers(
    live_session: Any, host: Any, frames: Any
) -> None:
    guest = _waiting_guest(live_session, host)
    a.do_put_guest_on_air(host, live_session.pk, guest.pk)
    a.do_guest_disconnect(guest.pk, timezone.now())
    a.do_guest_disconnect(guest.pk, timezone.now())  # the engine may say it twice
    guest.refresh_from_db()
    assert guest.state == GuestState.LEFT and guest.left_at is not None
    assert [e["on_air"] for e in _events(live_session, "guest_on_air")] == [True, False]
    with pytest.raises(NotFound):
        a.do_guest_disconnect(999_999, timezone.now())


def test_a_guest_of_another_session_is_not_found(
    live_session: Any, make_session: Callable[..., Any], host: Any
) -> None:
    other = make_session("live", slug="other")
    guest = _waiting_guest(live_session, host)
    with pytest.raises(NotFound):
        a.do_put_guest_on_air(host, other.pk, guest.pk)


def test_listening_to_a_guest_needs_the_host_and_a_connected_guest(
    live_session: Any, host: Any, users: dict[str, Any]
) -> None:
    guest = _waiting_guest(live_session, host)
    a.check_listen_guest(host, guest.pk)
    a.check_listen_guest(host, guest.pk, slug="live")
    with pytest.raises(NotFound):
        a.check_listen_guest(host, guest.pk, slug="other")
    for who in NOT_HOSTS:
        with pytest.raises(ActionForbidden):
            a.check_listen_guest(users[who], guest.pk)
    a.do_guest_disconnect(guest.pk, timezone.now())
    with pytest.raises(IllegalTransition):
        a.check_listen_guest(host, guest.pk)


def test_only_the_host_invites_and_moves_guests(
    live_session: Any, host: Any, users: dict[str, Any]
) -> None:
    guest = _waiting_guest(live_session, host)
    invited = a.do_invite_guest(host, live_session.pk, "未接入", "caller").invite
    for who in NOT_HOSTS:
        with pytest.raises(ActionForbidden):
            a.do_invite_guest(users[who], live_session.pk, "x", "caller")
        with pytest.raises(ActionForbidden):
            a.do_put_guest_on_air(users[who], live_session.pk, guest.pk)
        with pytest.raises(ActionForbidden):
            a.do_revoke_guest(users[who], live_session.pk, invited.pk)
    a.do_put_guest_on_air(host, live_session.pk, guest.pk)
    for who in NOT_HOSTS:
        with pytest.raises(ActionForbidden):
            a.do_take_guest_off_air(users[who], live_session.pk, guest.pk)
    assert GuestInvite.objects.get(pk=guest.pk).state == GuestState.ON_AIR


@pytest.mark.parametrize("label, kind", [("", "caller"), ("x" * 61, "caller"), ("ok", "alien")])
def test_bad_invitations_are_refused(live_session: Any, host: Any, label: str, kind: str) -> None:
    with pytest.raises(DomainError):
        a.do_invite_guest(host, live_session.pk, label, kind)
    assert not GuestInvite.objects.exists()


def test_a_link_stops_working_when_the_session_ends(live_session: Any, host: Any) -> None:
    invitation = a.do_invite_guest(host, live_session.pk, "迟到的嘉宾", "guest")
    do_end_session(host, live_session.pk)
    with pytest.raises(IllegalTransition) as err:
        a.do_guest_connect(invitation.token, timezone.now())
    assert err.value.code == "session_ended"


# --- recordings and replay -------------------------------------------------------------


def test_replay_chapters_are_each_question_on_air_time_from_the_recording_start(
    live_session: Any, host: Any, users: dict[str, Any], ask: Callable[..., Any]
) -> None:
    t0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    early = ask("录像开始前上屏的问题？")
    first = ask("老旧小区改造什么时候开始？")
    second = ask("早高峰公交能否加密班次？")
    for q in (early, first, second):
        m.do_approve_question(host, live_session.pk, q.pk)
    sid = live_session.pk
    m.do_put_on_air(host, sid, early.pk, now=t0 - timedelta(seconds=30))
    m.do_mark_answered(host, sid, early.pk, "已答", now=t0 - timedelta(seconds=5))
    a.do_recording_started(sid, "live/rec-1/index.m3u8", t0)
    m.do_put_on_air(host, sid, first.pk, now=t0 + timedelta(seconds=95))
    m.do_mark_answered(users["leader"], sid, first.pk, "今年开工", now=t0 + timedelta(seconds=300))
    m.do_put_on_air(host, sid, second.pk, now=t0 + timedelta(seconds=400.5))
    m.do_mark_answered(host, sid, second.pk, "下月加密", now=t0 + timedelta(seconds=500))
    a.do_recording_finished(sid, "live/rec-1/index.m3u8", t0 + timedelta(seconds=600))
    found = chapters(live_session)
    assert [(c.kind, c.question_id, c.offset) for c in found] == [
        ("question", first.pk, 95.0),
        ("question", second.pk, 400.5),
    ]


def test_replay_api_lists_recordings_and_chapters_only_after_the_end(
    live_session: Any, host: Any, ask: Callable[..., Any], client: Any
) -> None:
    t0 = timezone.now() - timedelta(minutes=20)
    q = ask("停车难怎么解决？")
    m.do_approve_question(host, live_session.pk, q.pk)
    a.do_recording_started(live_session.pk, "hls/live/r1.m3u8", t0)
    m.do_put_on_air(host, live_session.pk, q.pk, now=t0 + timedelta(seconds=42))
    m.do_mark_answered(host, live_session.pk, q.pk, "新建停车场", now=t0 + timedelta(seconds=90))
    before = client.get("/api/streaming/sessions/live/replay").json()
    assert before["available"] is False and before["recordings"] == []
    a.do_recording_finished(live_session.pk, "hls/live/r1.m3u8", t0 + timedelta(minutes=10))
    do_end_session(host, live_session.pk)
    body = client.get("/api/streaming/sessions/live/replay").json()
    assert body["available"] is True
    assert body["recordings"][0]["url"] == "/hls/live/r1.m3u8"
    assert body["recordings"][0]["duration"] == 600.0
    assert [(c["question_id"], c["offset"]) for c in body["chapters"]] == [(q.pk, 42.0)]


def test_a_recording_left_running_is_closed_when_the_next_starts(live_session: Any) -> None:
    t0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    a.do_recording_started(live_session.pk, "a.m3u8", t0)
    a.do_recording_started(live_session.pk, "b.m3u8", t0 + timedelta(minutes=5))
    rows = list(Recording.objects.order_by("started_at").values_list("path", "ended_at"))
    assert rows == [("a.m3u8", t0 + timedelta(minutes=5)), ("b.m3u8", None)]
    with pytest.raises(NotFound):
        a.do_recording_finished(live_session.pk, "c.m3u8", t0)
    assert [e.actor_label for e in _audit(live_session, "recording_started")] == ["engine"] * 2

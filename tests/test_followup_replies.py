"""Replies under three-level review (三审) and the tone check that blocks rude, evasive or
preachy replies until they are edited or staff override with a recorded reason."""

from __future__ import annotations

from typing import Any

import pytest

from hub.errors import ActionForbidden, DomainError, IllegalTransition
from hub.followup import actions
from hub.followup.models import NoticeKind, ReplyStage, TaskState, ToneTerm
from hub.followup.tone import bump_tone_version, check_tone
from tests.followup_steps import accept, refresh

pytestmark = pytest.mark.django_db

RUDE = "经核实，此事不归我们管。如果对此有不满，建议另谋高就。"
GOOD = "经核实，加装电梯补贴已完成审核，将于11月30日前发放到位。如有疑问请致电12345。"


def test_the_seeded_phrases_catch_the_real_rude_replies_of_the_seeds() -> None:
    found = check_tone("你不说话没人把你当哑巴！" + RUDE + "请自行解决。无可奉告")
    terms = {f.term for f in found}
    assert {"你不说话没人把你当哑巴", "另谋高就", "此事不归我们管", "请自行", "无可奉告"} <= terms
    assert {f.category for f in found} >= {"rude", "evasive"}


def test_the_tone_check_sees_through_spaces_punctuation_and_traditional_characters() -> None:
    assert [f.term for f in check_tone("建議 另·謀-高 就")] == ["另谋高就"]
    assert check_tone(GOOD) == []


def test_staff_edit_the_phrase_list_and_every_process_rebuilds() -> None:
    assert check_tone("这是你们自己的问题") == []
    ToneTerm.objects.create(term="你们自己的问题", category="cold")
    bump_tone_version()
    assert [f.term for f in check_tone("这是你们自己的问题")] == ["你们自己的问题"]
    ToneTerm.objects.filter(term="你们自己的问题").update(active=False)
    bump_tone_version()
    assert check_tone("这是你们自己的问题") == []


def test_a_reply_passes_editor_section_head_and_leader_then_is_published(followup: Any) -> None:
    w = followup
    task = accept(w)
    reply = actions.do_save_reply(w.editor, task.pk, GOOD)
    assert reply.stage == ReplyStage.DRAFTING and reply.tone_flags == []
    reply = actions.do_editor_approve_reply(w.editor, task.pk)
    assert reply.stage == ReplyStage.SECTION_REVIEW
    reply = actions.do_section_approve_reply(w.section, task.pk)
    assert reply.stage == ReplyStage.LEADER_REVIEW
    reply = actions.do_sign_off_reply(w.leader, task.pk)
    assert reply.stage == ReplyStage.PUBLISHED and reply.published_at is not None
    # Names are frozen at signing: full name, or the username when there is none.
    assert reply.signers == {
        "editor": "dept",
        "section_head": "Sectionhead",
        "leader": "Deptleader",
    }
    assert reply.editor == w.editor and reply.section_head == w.section and reply.leader == w.leader
    assert reply.editor_at and reply.section_head_at and reply.leader_at
    task = refresh(task)
    assert task.state == TaskState.REPLIED and task.replied_at == reply.published_at
    # The hotline asker who left a mobile number is told by SMS.
    told = task.notices.filter(kind=NoticeKind.REPLY_PUBLISHED)
    assert [(n.channel, n.address, n.generation) for n in told] == [("sms", "13812345678", 1)]


def test_the_same_person_cannot_sign_two_reviews(followup: Any) -> None:
    w = followup
    task = accept(w)
    actions.do_save_reply(w.editor, task.pk, GOOD)
    actions.do_editor_approve_reply(w.editor, task.pk)
    with pytest.raises(DomainError) as refused:
        actions.do_section_approve_reply(w.editor, task.pk)
    assert refused.value.code == "same_reviewer"
    actions.do_section_approve_reply(w.section, task.pk)
    for person in (w.editor, w.section):
        with pytest.raises(DomainError):
            actions.do_sign_off_reply(person, task.pk)
    assert refresh(task).state == TaskState.IN_PROGRESS


def test_reviews_go_in_order(followup: Any) -> None:
    w = followup
    task = accept(w)
    with pytest.raises(IllegalTransition) as refused:
        actions.do_editor_approve_reply(w.editor, task.pk)
    assert refused.value.code == "no_reply"
    actions.do_save_reply(w.editor, task.pk, GOOD)
    with pytest.raises(IllegalTransition) as refused:
        actions.do_sign_off_reply(w.leader, task.pk)
    assert refused.value.code == "bad_stage"
    with pytest.raises(IllegalTransition):
        actions.do_section_approve_reply(w.section, task.pk)


def test_only_lead_department_members_write_and_review(followup: Any) -> None:
    w = followup
    task = accept(w)
    for person in (w.outsider, w.staff, w.nobody):
        with pytest.raises(ActionForbidden):
            actions.do_save_reply(person, task.pk, GOOD)
    actions.do_save_reply(w.editor, task.pk, GOOD)
    for person in (w.outsider, w.staff, w.nobody):
        with pytest.raises(ActionForbidden):
            actions.do_editor_approve_reply(person, task.pk)


def test_no_reply_before_the_task_is_accepted(followup: Any) -> None:
    from tests.followup_steps import assign

    w = followup
    assign(w)
    with pytest.raises(IllegalTransition):
        actions.do_save_reply(w.editor, w.tasks["lift"].pk, GOOD)


def test_editing_a_reply_in_review_restarts_every_review(followup: Any) -> None:
    w = followup
    task = accept(w)
    actions.do_save_reply(w.editor, task.pk, GOOD)
    actions.do_editor_approve_reply(w.editor, task.pk)
    actions.do_section_approve_reply(w.section, task.pk)
    reply = actions.do_save_reply(w.editor, task.pk, GOOD + "特此答复。")
    assert reply.stage == ReplyStage.DRAFTING
    assert reply.editor is None and reply.section_head is None and reply.signers == {}
    notes = list(task.events.filter(action="reply_saved").values_list("note", flat=True))
    assert notes == ["", "重新送审"]  # "review restarts", in the default language


def test_a_reviewer_sends_the_reply_back_with_a_note(followup: Any) -> None:
    w = followup
    task = accept(w)
    actions.do_save_reply(w.editor, task.pk, GOOD)
    actions.do_editor_approve_reply(w.editor, task.pk)
    with pytest.raises(DomainError):
        actions.do_send_back_reply(w.section, task.pk, "")
    reply = actions.do_send_back_reply(w.section, task.pk, "请写明具体发放时间")
    assert reply.stage == ReplyStage.DRAFTING and reply.editor is None
    assert task.events.get(action="reply_sent_back").note == "请写明具体发放时间"


def test_a_rude_reply_is_flagged_while_drafting_and_blocked_at_sign_off(followup: Any) -> None:
    w = followup
    task = accept(w)
    reply = actions.do_save_reply(w.editor, task.pk, RUDE)
    assert {f["term"] for f in reply.tone_flags} == {"此事不归我们管", "另谋高就"}
    actions.do_editor_approve_reply(w.editor, task.pk)
    actions.do_section_approve_reply(w.section, task.pk)
    reply = actions.do_sign_off_reply(w.leader, task.pk)
    assert reply.stage == ReplyStage.BLOCKED and reply.published_at is None
    task = refresh(task)
    assert task.state == TaskState.IN_PROGRESS and task.replied_at is None
    assert task.events.get(action="reply_blocked").note == "此事不归我们管, 另谋高就"
    assert not task.notices.filter(kind=NoticeKind.REPLY_PUBLISHED).exists()


def test_a_blocked_reply_is_edited_and_goes_through_the_reviews_again(followup: Any) -> None:
    w = followup
    task = accept(w)
    actions.do_save_reply(w.editor, task.pk, RUDE)
    actions.do_editor_approve_reply(w.editor, task.pk)
    actions.do_section_approve_reply(w.section, task.pk)
    actions.do_sign_off_reply(w.leader, task.pk)
    reply = actions.do_save_reply(w.editor, task.pk, GOOD)
    assert reply.stage == ReplyStage.DRAFTING and reply.tone_flags == []
    actions.do_editor_approve_reply(w.editor, task.pk)
    actions.do_section_approve_reply(w.section, task.pk)
    reply = actions.do_sign_off_reply(w.leader, task.pk)
    assert reply.stage == ReplyStage.PUBLISHED and reply.text == GOOD


def test_staff_override_the_tone_check_with_a_recorded_reason(followup: Any) -> None:
    w = followup
    task = accept(w)
    quoted = "群众来信称工作人员说“无可奉告”，经调查属实，已对相关人员批评教育，并于今日答复。"
    actions.do_save_reply(w.editor, task.pk, quoted)
    actions.do_editor_approve_reply(w.editor, task.pk)
    actions.do_section_approve_reply(w.section, task.pk)
    assert actions.do_sign_off_reply(w.leader, task.pk).stage == ReplyStage.BLOCKED
    with pytest.raises(ActionForbidden):
        actions.do_override_tone(w.leader, task.pk, "引用群众原话")
    with pytest.raises(DomainError):
        actions.do_override_tone(w.staff, task.pk, " ")
    reply = actions.do_override_tone(w.staff, task.pk, "“无可奉告”是引用群众反映的原话")
    assert reply.stage == ReplyStage.PUBLISHED
    assert reply.tone_override_by == w.staff and reply.tone_override_at is not None
    assert reply.tone_override_reason == "“无可奉告”是引用群众反映的原话"
    assert task.events.get(action="tone_override").actor == w.staff
    assert refresh(task).state == TaskState.REPLIED


def test_overriding_a_reply_that_is_not_blocked_is_illegal(followup: Any) -> None:
    w = followup
    task = accept(w)
    actions.do_save_reply(w.editor, task.pk, GOOD)
    with pytest.raises(IllegalTransition):
        actions.do_override_tone(w.staff, task.pk, "no reason to")


def test_publishing_while_an_extension_is_pending_drops_the_request(followup: Any) -> None:
    w = followup
    task = accept(w)
    actions.do_request_extension(w.editor, task.pk, 3, "复杂")
    from tests.followup_steps import reply_and_publish

    task = reply_and_publish(w)
    assert task.state == TaskState.REPLIED and task.requested_extension_days == 0


@pytest.mark.parametrize("step", ["section", "sign_off", "send_back"])
def test_only_lead_department_members_sign_the_later_reviews_or_send_back(
    followup: Any, step: str
) -> None:
    w = followup
    task = accept(w)
    actions.do_save_reply(w.editor, task.pk, GOOD)
    actions.do_editor_approve_reply(w.editor, task.pk)
    if step == "sign_off":
        actions.do_section_approve_reply(w.section, task.pk)
    call = {
        "section": lambda person: actions.do_section_approve_reply(person, task.pk),
        "sign_off": lambda person: actions.do_sign_off_reply(person, task.pk),
        "send_back": lambda person: actions.do_send_back_reply(person, task.pk, "请修改"),
    }[step]
    for person in (w.outsider, w.staff, w.host, w.nobody, None):
        with pytest.raises(ActionForbidden):
            call(person)
    before = refresh(task).replies.get().stage
    assert before in (ReplyStage.SECTION_REVIEW, ReplyStage.LEADER_REVIEW)

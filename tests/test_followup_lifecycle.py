"""Follow-up tasks: creation at session end, every transition, each action's permission,
and clear refusals of illegal transitions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hub.errors import ActionForbidden, DomainError, IllegalTransition, NotFound
from hub.followup import actions
from hub.followup.models import (
    FollowUpTask,
    NoticeKind,
    ReplyStage,
    TaskEvent,
    TaskState,
)
from tests.followup_steps import accept, assign, refresh, reply_and_publish

pytestmark = pytest.mark.django_db


# --- creation ----------------------------------------------------------------------------


def test_session_end_creates_one_task_per_merged_group_with_all_askers(followup: Any) -> None:
    w = followup
    lift = w.tasks["lift"]
    assert FollowUpTask.objects.filter(session=w.session).count() == 3
    assert lift.state == TaskState.PENDING
    assert lift.askers_count == 3
    assert set(lift.askers.values_list("question_id", flat=True)) == {
        w.questions["lift"].pk,
        w.questions["lift2"].pk,
        w.questions["lift3"].pk,
    }
    assert lift.is_public is True
    assert w.tasks["private"].is_public is False
    assert w.tasks["bus"].askers_count == 1
    created = TaskEvent.objects.get(task=lift, action="create")
    assert created.public and created.to_state == TaskState.PENDING


def test_creating_tasks_again_changes_nothing(followup: Any) -> None:
    assert actions.do_create_tasks_for_session(followup.session.pk) == []
    assert FollowUpTask.objects.count() == 3


def test_a_hotline_asker_with_a_mobile_gets_a_private_code_by_sms(followup: Any) -> None:
    lift = followup.tasks["lift"]
    notices = list(lift.notices.filter(kind=NoticeKind.PRIVATE_CODE))
    # lift2 came by hotline with 13812345678; lift (web) and lift3 (microblog) left none.
    assert [(n.channel, n.address) for n in notices] == [("sms", "13812345678")]
    assert followup.questions["lift2"].asker_code is not None


def test_tasks_are_only_created_for_ended_sessions(
    make_session: Callable[..., Any], users: dict[str, Any]
) -> None:
    session = make_session("live", slug="still-live")
    with pytest.raises(IllegalTransition) as refused:
        actions.do_create_tasks_for_session(session.pk)
    assert refused.value.code == "not_ended"


@pytest.mark.django_db(transaction=True)
def test_ending_the_session_creates_the_tasks_after_commit(
    users: dict[str, Any], make_session: Callable[..., Any], ask: Callable[..., Any]
) -> None:
    from hub.actions.sessions import do_end_session

    question = ask("路灯坏了好几天了")
    do_end_session(users["host"], question.session_id)
    task = FollowUpTask.objects.get(question=question)
    assert task.state == TaskState.PENDING


def test_the_timer_tick_repairs_a_session_whose_tasks_were_not_created(
    users: dict[str, Any], ask: Callable[..., Any]
) -> None:
    from hub.actions.sessions import do_end_session
    from hub.followup.timers import tick

    question = ask("小区垃圾清运不及时")
    do_end_session(users["host"], question.session_id)  # on_commit never runs here
    assert not FollowUpTask.objects.filter(question=question).exists()
    assert tick().tasks_created == 1
    assert FollowUpTask.objects.filter(question=question).exists()


# --- assignment ----------------------------------------------------------------------------


def test_staff_assign_a_task_to_a_lead_and_assisting_departments(followup: Any) -> None:
    w = followup
    actions.do_assign_task(
        w.staff,
        w.tasks["lift"].pk,
        lead_department_id=w.housing.pk,
        assisting_department_ids=[w.county.pk, w.housing.pk],
        note="请住建局牵头，宿城区配合",
    )
    task = refresh(w.tasks["lift"])
    assert task.state == TaskState.DISPATCHED
    assert task.lead_department == w.housing
    assert list(task.assisting_departments.all()) == [w.county]  # the lead is not repeated
    assert task.accept_deadline is not None and task.reply_deadline is not None
    assert task.deadline_generation == 1
    event = task.events.get(action="assign")
    assert event.department == w.housing and event.actor == w.staff and event.public


def test_assigning_can_correct_the_sector_which_trains_the_classifier(followup: Any) -> None:
    w = followup
    task = w.tasks["private"]  # 违建占用消防通道: filed as housing, really fire safety
    assert task.sector != "security"
    actions.do_assign_task(w.staff, task.pk, lead_department_id=w.county.pk, sector="security")
    task = refresh(task)
    assert task.sector == "security"
    task.question.refresh_from_db()
    assert task.question.sector == "security" and task.question.sector_source == "staff"


def test_a_private_question_cannot_be_published_when_assigning(followup: Any) -> None:
    w = followup
    with pytest.raises(DomainError) as refused:
        actions.do_assign_task(
            w.staff, w.tasks["private"].pk, lead_department_id=w.housing.pk, publish=True
        )
    assert refused.value.code == "private"
    assert refresh(w.tasks["private"]).state == TaskState.PENDING


def test_staff_may_edit_the_public_text_and_personal_data_is_masked_again(followup: Any) -> None:
    w = followup
    actions.do_assign_task(
        w.staff,
        w.tasks["bus"].pk,
        lead_department_id=w.transport.pk,
        public_text="早高峰公交太挤，联系我 13912345678",
    )
    assert refresh(w.tasks["bus"]).public_text == "早高峰公交太挤，联系我 139****5678"


def test_assigning_to_an_unknown_department_is_refused(followup: Any) -> None:
    with pytest.raises(NotFound):
        actions.do_assign_task(followup.staff, followup.tasks["lift"].pk, lead_department_id=999999)


def test_only_staff_may_assign(followup: Any) -> None:
    w = followup
    for person in (w.editor, w.host, w.nobody, None):
        with pytest.raises(ActionForbidden):
            actions.do_assign_task(person, w.tasks["lift"].pk, lead_department_id=w.housing.pk)


def test_assigning_twice_is_an_illegal_transition(followup: Any) -> None:
    assign(followup)
    with pytest.raises(IllegalTransition) as refused:
        assign(followup)
    # The message names the action, the task and its state (in the reader's language).
    assert (
        "交办" in refused.value.message and f"#{followup.tasks['lift'].pk}" in refused.value.message
    )
    assert refused.value.code == "illegal_transition"


# --- accept / return / reassign -----------------------------------------------------------


def test_the_lead_department_accepts(followup: Any) -> None:
    task = accept(followup)
    assert task.state == TaskState.IN_PROGRESS
    assert task.accepted_at is not None
    assert task.events.get(action="accept").actor == followup.editor


def test_only_members_of_the_lead_department_accept(followup: Any) -> None:
    w = followup
    assign(w)
    with pytest.raises(ActionForbidden) as refused:
        actions.do_accept_task(w.outsider, w.tasks["lift"].pk)
    assert refused.value.code == "not_member"
    for person in (w.staff, w.nobody):
        with pytest.raises(ActionForbidden):
            actions.do_accept_task(person, w.tasks["lift"].pk)


def test_accepting_a_pending_task_is_illegal(followup: Any) -> None:
    w = followup
    w.housing.members.add(w.editor)
    with pytest.raises(ActionForbidden):  # not dispatched: no lead department yet
        actions.do_accept_task(w.editor, w.tasks["lift"].pk)


def test_the_department_returns_a_task_with_a_reason_and_staff_reassign_it(
    followup: Any,
) -> None:
    w = followup
    assign(w)
    actions.do_return_task(w.editor, w.tasks["lift"].pk, "补贴发放属于区政府职责")
    task = refresh(w.tasks["lift"])
    assert task.state == TaskState.RETURNED
    assert task.lead_department is None and task.return_count == 1
    assert task.reply_clock_started_at is None
    returned = task.events.get(action="return")
    assert returned.department == w.housing and returned.note == "补贴发放属于区政府职责"

    actions.do_reassign_task(w.staff, task.pk, lead_department_id=w.county.pk)
    task = refresh(task)
    assert task.state == TaskState.DISPATCHED and task.lead_department == w.county
    assert task.dispatch_count == 2 and task.deadline_generation == 2


def test_returning_needs_a_reason(followup: Any) -> None:
    assign(followup)
    with pytest.raises(DomainError) as refused:
        actions.do_return_task(followup.editor, followup.tasks["lift"].pk, "   ")
    assert refused.value.code == "reason_required"


def test_returning_an_accepted_task_is_illegal(followup: Any) -> None:
    accept(followup)
    with pytest.raises(IllegalTransition):
        actions.do_return_task(followup.editor, followup.tasks["lift"].pk, "不归我们")


def test_only_the_lead_department_returns_and_only_staff_reassign(followup: Any) -> None:
    w = followup
    assign(w)
    with pytest.raises(ActionForbidden):
        actions.do_return_task(w.outsider, w.tasks["lift"].pk, "不是我们的")
    actions.do_return_task(w.editor, w.tasks["lift"].pk, "不是我们的")
    with pytest.raises(ActionForbidden):
        actions.do_reassign_task(w.editor, w.tasks["lift"].pk, lead_department_id=w.county.pk)


def test_reassigning_an_accepted_task_is_illegal(followup: Any) -> None:
    accept(followup)
    with pytest.raises(IllegalTransition):
        actions.do_reassign_task(
            followup.staff, followup.tasks["lift"].pk, lead_department_id=followup.county.pk
        )


def test_staff_dismiss_a_task_with_a_reason_and_only_staff(followup: Any) -> None:
    w = followup
    with pytest.raises(ActionForbidden):
        actions.do_dismiss_task(w.editor, w.tasks["bus"].pk, "重复")
    actions.do_dismiss_task(w.staff, w.tasks["bus"].pk, "与 12345 工单重复，已在办理")
    task = refresh(w.tasks["bus"])
    assert task.state == TaskState.DISMISSED and task.closed_at is not None
    with pytest.raises(IllegalTransition):
        actions.do_dismiss_task(w.staff, task.pk, "again")


# --- waiting, extensions ------------------------------------------------------------------


def test_waiting_for_the_citizen_and_resuming(followup: Any) -> None:
    w = followup
    accept(w)
    actions.do_wait_for_citizen(w.editor, w.tasks["lift"].pk, "请群众补充加装电梯的业主签字材料")
    task = refresh(w.tasks["lift"])
    assert task.state == TaskState.WAITING_CITIZEN
    assert task.reply_clock_started_at is None and task.reply_deadline is None
    assert task.wait_reason.startswith("请群众补充")
    actions.do_resume_task(w.editor, task.pk, "材料已收到")
    task = refresh(task)
    assert task.state == TaskState.IN_PROGRESS
    assert task.reply_clock_started_at is not None and task.reply_deadline is not None


def test_staff_may_resume_any_task_a_department_only_its_own(followup: Any) -> None:
    w = followup
    accept(w)
    actions.do_wait_for_citizen(w.editor, w.tasks["lift"].pk, "等待补充材料")
    with pytest.raises(ActionForbidden):
        actions.do_resume_task(w.outsider, w.tasks["lift"].pk)
    with pytest.raises(ActionForbidden):
        actions.do_resume_task(w.nobody, w.tasks["lift"].pk)
    actions.do_resume_task(w.staff, w.tasks["lift"].pk)
    assert refresh(w.tasks["lift"]).state == TaskState.IN_PROGRESS


def test_waiting_needs_a_reason_and_an_accepted_task(followup: Any) -> None:
    w = followup
    assign(w)
    with pytest.raises(IllegalTransition):
        actions.do_wait_for_citizen(w.editor, w.tasks["lift"].pk, "等待")
    actions.do_accept_task(w.editor, w.tasks["lift"].pk)
    with pytest.raises(DomainError):
        actions.do_wait_for_citizen(w.editor, w.tasks["lift"].pk, "")
    with pytest.raises(ActionForbidden):
        actions.do_wait_for_citizen(w.staff, w.tasks["lift"].pk, "等待")


def test_resuming_a_task_that_is_not_waiting_is_illegal(followup: Any) -> None:
    accept(followup)
    with pytest.raises(IllegalTransition):
        actions.do_resume_task(followup.editor, followup.tasks["lift"].pk)


def test_an_extension_is_requested_by_the_department_and_approved_by_staff(
    followup: Any,
) -> None:
    w = followup
    task = accept(w)
    budget = task.reply_budget
    actions.do_request_extension(w.editor, task.pk, 5, "涉及多个部门，需要联合勘察")
    assert refresh(task).state == TaskState.EXTENSION_REQUESTED
    with pytest.raises(ActionForbidden):
        actions.do_approve_extension(w.editor, task.pk)
    actions.do_approve_extension(w.staff, task.pk)
    task = refresh(task)
    assert task.state == TaskState.IN_PROGRESS
    assert task.extension_days == 5
    assert task.reply_budget == 2 * budget
    assert task.deadline_generation == 2


def test_staff_refuse_an_extension_with_a_reason_and_the_deadline_stands(followup: Any) -> None:
    w = followup
    task = accept(w)
    deadline = task.reply_deadline
    actions.do_request_extension(w.editor, task.pk, 3, "人手不足")
    with pytest.raises(ActionForbidden):
        actions.do_refuse_extension(w.editor, task.pk, "no")
    actions.do_refuse_extension(w.staff, task.pk, "理由不充分，请按期办理")
    task = refresh(task)
    assert task.state == TaskState.IN_PROGRESS and task.reply_deadline == deadline
    assert task.extension_days == 0


def test_extensions_never_exceed_fifteen_working_days_in_total(followup: Any) -> None:
    w = followup
    task = accept(w)
    with pytest.raises(DomainError) as refused:
        actions.do_request_extension(w.editor, task.pk, 11, "复杂")
    assert refused.value.code == "bad_days"
    actions.do_request_extension(w.editor, task.pk, 10, "复杂")
    actions.do_approve_extension(w.staff, task.pk)
    with pytest.raises(DomainError) as refused:
        actions.do_request_extension(w.editor, task.pk, 1, "还要再延")
    assert refused.value.code == "extension_limit"


def test_only_the_lead_department_requests_an_extension(followup: Any) -> None:
    w = followup
    accept(w)
    for person in (w.outsider, w.staff, w.nobody):
        with pytest.raises(ActionForbidden):
            actions.do_request_extension(person, w.tasks["lift"].pk, 2, "复杂")


def test_approving_without_a_request_is_illegal(followup: Any) -> None:
    accept(followup)
    with pytest.raises(IllegalTransition):
        actions.do_approve_extension(followup.staff, followup.tasks["lift"].pk, 2)


# --- closing and reopening -----------------------------------------------------------------


def test_staff_close_a_replied_task_resolved_or_unresolved(followup: Any) -> None:
    w = followup
    accept(w)
    reply_and_publish(w)
    with pytest.raises(ActionForbidden):
        actions.do_close_task(w.editor, w.tasks["lift"].pk, True)
    actions.do_close_task(w.staff, w.tasks["lift"].pk, True, "回访确认已解决")
    task = refresh(w.tasks["lift"])
    assert task.state == TaskState.CLOSED_RESOLVED and task.closed_at is not None
    accept(w, "bus")
    reply_and_publish(w, "bus", "已协调公交公司研究增开区间车。")
    actions.do_close_task(w.staff, w.tasks["bus"].pk, False)
    assert refresh(w.tasks["bus"]).state == TaskState.CLOSED_UNRESOLVED


def test_closing_an_unreplied_task_is_illegal(followup: Any) -> None:
    accept(followup)
    with pytest.raises(IllegalTransition):
        actions.do_close_task(followup.staff, followup.tasks["lift"].pk, True)


def test_a_task_is_reopened_once_only_with_a_fresh_clock_and_a_second_reply(
    followup: Any,
) -> None:
    w = followup
    accept(w)
    reply_and_publish(w)
    actions.do_close_task(w.staff, w.tasks["lift"].pk, False)
    with pytest.raises(ActionForbidden):
        actions.do_reopen_task(w.editor, w.tasks["lift"].pk, "群众不满意")
    actions.do_reopen_task(w.staff, w.tasks["lift"].pk, "回访未解决，重办")
    task = refresh(w.tasks["lift"])
    assert task.state == TaskState.IN_PROGRESS and task.reopen_count == 1
    assert task.closed_at is None and task.reply_deadline is not None
    reply_and_publish(w, text="已督促区政府落实，补贴已于今日发放。")
    replies = list(task.replies.order_by("round").values_list("round", "stage"))
    assert replies == [(1, ReplyStage.PUBLISHED), (2, ReplyStage.PUBLISHED)]
    with pytest.raises(IllegalTransition) as refused:
        actions.do_reopen_task(w.staff, task.pk, "再次重办")
    assert refused.value.code == "reopen_limit"


def test_reopening_an_open_task_is_illegal(followup: Any) -> None:
    accept(followup)
    with pytest.raises(IllegalTransition):
        actions.do_reopen_task(followup.staff, followup.tasks["lift"].pk, "重办")


def test_every_action_writes_an_audit_row(followup: Any) -> None:
    w = followup
    accept(w)
    actions.do_wait_for_citizen(w.editor, w.tasks["lift"].pk, "等待材料")
    actions.do_resume_task(w.editor, w.tasks["lift"].pk)
    reply_and_publish(w)
    actions.do_close_task(w.staff, w.tasks["lift"].pk, True)
    trail = list(w.tasks["lift"].events.values_list("action", "from_state", "to_state"))
    assert [a for a, _f, _t in trail] == [
        "create",
        "assign",
        "accept",
        "wait",
        "resume",
        "reply_saved",
        "review_editor",
        "review_section",
        "reply_published",
        "close",
    ]
    assert ("accept", "dispatched", "in_progress") in trail
    assert ("close", "replied", "closed_resolved") in trail

"""Demo follow-up tasks for ``manage.py load_demo``: an ended session whose unanswered
questions became tasks, driven through the real actions into every interesting state
(awaiting assignment, awaiting acceptance, overdue and supervised, waiting for the
citizen, a reply in review, a reply blocked by the tone check, replied and evaluated,
closed), so a new user sees the feature at once on /followup/work/ and the public board.

Runs once: an existing ``followup-demo`` session is left as it is. Times are set in the
past with each action's ``now`` so the deadlines and supervision are real.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from hub.actions.sessions import do_create_session, do_end_session, do_go_live, do_open_collection
from hub.followup import actions
from hub.followup.codes import issue_code
from hub.followup.models import FollowUpTask
from hub.intake.pipeline import IntakeItem, do_intake_question
from hub.models import Department, LiveSession, SessionKind
from hub.roles import Role
from moderation.actions import do_approve_question, do_merge_question

SLUG = "followup-demo"

#: Extra reviewers of the housing bureau: the three reviews need three people.
REVIEWERS = {"dept_kezhang": "市住建局 物业科 孙科长", "dept_fuju": "市住建局 分管副局长 周敏"}

# (key, channel, source id, asker, phone, text, publish)
QUESTIONS = [
    (
        "lift",
        "web",
        None,
        "幸福花园业主",
        "",
        "老旧小区加装电梯的补贴申请了半年还没到账，什么时候发放？",
        True,
    ),
    (
        "lift2",
        "hotline",
        "12345-fu-0001",
        "李阿姨",
        "13905271111",
        "我们小区加装电梯补贴迟迟不到位，请帮忙催一下。",
        False,
    ),
    ("bus", "web", None, "上班族", "", "发展大道早高峰公交太挤，能不能增开区间车？", True),
    (
        "noise",
        "hotline",
        "12345-fu-0002",
        "王先生",
        "13705272222",
        "楼下烧烤店油烟和噪音每天到凌晨，反映多次没人管。",
        True,
    ),
    ("school", "web", None, "学生家长", "", "新建小区的学位能不能保证？划片一直没公布。", True),
    (
        "property",
        "microblog",
        "status:fu-9001",
        "宿迁小李",
        "",
        "#市长热线面对面# 物业费上涨没有公示，业委会也不知情，合法吗？",
        True,
    ),
    ("road", "web", None, "骑行的风", "", "古黄河边非机动车道被违停占用，希望管一管。", True),
    ("leak", "web", None, "顶楼住户", "", "顶楼漏水物业推诿，维修基金怎么申请？", True),
    ("light", "web", None, "夜归人", "", "人民路路灯坏了一排，晚上很不安全。", True),
]


def _user(username: str, full_name: str, password: str, department: Department) -> User:
    user, _created = User.objects.get_or_create(username=username)
    user.first_name = full_name
    user.set_password(password)
    user.save()
    user.groups.set([Group.objects.get_or_create(name=Role.DEPARTMENT)[0]])
    department.members.add(user)
    return user


def load_followup_demo(
    users: dict[str, User], password: str, *, now: datetime | None = None
) -> list[FollowUpTask]:
    """Create the demo tasks (once). ``users`` are load_demo's accounts by username."""
    now = now or timezone.now()
    housing = Department.objects.get(name="市住房和城乡建设局")
    transport = Department.objects.get(name="市交通运输局")
    county = Department.objects.get(name="宿城区人民政府")
    section = _user("dept_kezhang", REVIEWERS["dept_kezhang"], password, housing)
    leader = _user("dept_fuju", REVIEWERS["dept_fuju"], password, housing)
    if LiveSession.objects.filter(slug=SLUG).exists():
        return []
    host, staff, editor = users["host"], users["staff"], users["dept"]
    start = now - timedelta(days=9)
    session = do_create_session(
        host,
        slug=SLUG,
        kind=SessionKind.QA,
        title="12345 热线部门负责人现场接听（上期）",
        description="上期现场接听中未能当场答复的问题，已转为跟踪任务，办理进度在此公开。",
        scheduled_start=start,
        scheduled_end=start + timedelta(hours=2),
        departments=[housing, transport],
        now=start,
    )
    do_open_collection(host, session.pk, now=start)
    questions = {}
    for key, channel, source_id, asker, phone, text, _publish in QUESTIONS:
        questions[key] = do_intake_question(
            IntakeItem(
                session_id=session.pk,
                channel=channel,
                text=text,
                source_id=source_id,
                asker_name=asker,
                contact=phone,
                submitted_by=users["screener"] if channel == "hotline" else None,
            )
        ).question
    do_go_live(host, session.pk, now=start)
    for key, *_rest, publish in QUESTIONS:
        if publish:
            do_approve_question(host, session.pk, questions[key].pk, now=start)
    do_merge_question(host, session.pk, questions["lift2"].pk, questions["lift"].pk, now=start)
    ended = start + timedelta(hours=2)
    with transaction.atomic():
        do_end_session(host, session.pk, now=ended)
        actions.do_create_tasks_for_session(session.pk, now=ended)
    tasks = {
        key: FollowUpTask.objects.get(question=questions[key])
        for key, *_rest in QUESTIONS
        if key != "lift2"
    }
    t = ended + timedelta(hours=1)

    def assign(key: str, department: Department, at: datetime, **kw: Any) -> None:
        actions.do_assign_task(staff, tasks[key].pk, lead_department_id=department.pk, now=at, **kw)

    def publish_reply(key: str, text: str, at: datetime) -> None:
        task_id = tasks[key].pk
        actions.do_save_reply(editor, task_id, text, now=at)
        actions.do_editor_approve_reply(editor, task_id, now=at + timedelta(minutes=20))
        actions.do_section_approve_reply(section, task_id, now=at + timedelta(minutes=40))
        actions.do_sign_off_reply(leader, task_id, now=at + timedelta(hours=1))

    # Closed, resolved, evaluated: the good case.
    assign("lift", housing, t, assisting_department_ids=[county.pk])
    actions.do_accept_task(editor, tasks["lift"].pk, now=t + timedelta(hours=1))
    publish_reply(
        "lift",
        "您好！经核实，幸福花园小区加装电梯补贴已于本周完成审核，补贴资金将于本月25日前拨付到业主"
        "委员会账户。如有疑问，请拨打市住建局电话0527-12345678。感谢您的监督！",
        t + timedelta(days=2),
    )
    actions.do_evaluate_by_code(
        issue_code(questions["lift"]), "yes", "satisfied", "", now=t + timedelta(days=3)
    )
    lift2 = tasks["lift"].askers.get(question=questions["lift2"])
    actions.do_record_callback(
        staff, tasks["lift"].pk, lift2.pk, "yes", "basic", "电话回访", now=t + timedelta(days=3)
    )
    actions.do_vote_on_reply(
        "demo-browser-1", tasks["lift"].pk, "satisfied", now=t + timedelta(days=3)
    )
    actions.do_vote_on_reply("demo-browser-2", tasks["lift"].pk, "basic", now=t + timedelta(days=3))
    actions.do_close_task(staff, tasks["lift"].pk, True, "回访满意", now=t + timedelta(days=4))

    # Returned by transport, reassigned to the county, replied: awaiting evaluation.
    assign("bus", transport, t)
    actions.do_return_task(
        _user("dept_transport", "市交通运输局 办公室", password, transport),
        tasks["bus"].pk,
        "发展大道区间车由宿城区公交公司运营，请交宿城区办理",
        now=t + timedelta(hours=2),
    )
    actions.do_reassign_task(
        staff, tasks["bus"].pk, lead_department_id=county.pk, now=t + timedelta(hours=3)
    )
    county_people = [
        _user(f"dept_county{i}", name, password, county)
        for i, name in enumerate(["宿城区政府办 编辑", "宿城区交通科 科长", "宿城区 副区长"])
    ]
    actions.do_accept_task(county_people[0], tasks["bus"].pk, now=t + timedelta(hours=4))
    actions.do_save_reply(
        county_people[0],
        tasks["bus"].pk,
        "您好！区公交公司已于早高峰增开发展大道区间车2班（7:10、7:30发车），后续将根据客流继续调整。",
        now=t + timedelta(days=3),
    )
    actions.do_editor_approve_reply(county_people[0], tasks["bus"].pk, now=t + timedelta(days=3))
    actions.do_section_approve_reply(county_people[1], tasks["bus"].pk, now=t + timedelta(days=3))
    actions.do_sign_off_reply(county_people[2], tasks["bus"].pk, now=t + timedelta(days=3, hours=1))

    # Accepted long ago and never replied: overdue, supervised by the timer.
    assign("noise", housing, t, sector="environment")
    actions.do_accept_task(editor, tasks["noise"].pk, now=t + timedelta(hours=2))

    # Waiting for the citizen (clock paused).
    assign("leak", housing, now - timedelta(days=2))
    actions.do_accept_task(
        editor, tasks["leak"].pk, now=now - timedelta(days=2) + timedelta(hours=1)
    )
    actions.do_wait_for_citizen(
        editor, tasks["leak"].pk, "请业主补充维修基金使用表决材料", now=now - timedelta(days=1)
    )

    # A reply in review: the section head (dept_kezhang) signs next.
    assign("property", housing, now - timedelta(days=1))
    actions.do_accept_task(editor, tasks["property"].pk, now=now - timedelta(hours=20))
    actions.do_save_reply(
        editor,
        tasks["property"].pk,
        "您好！物业服务收费调整须经业主大会表决并公示。我局已责成物业公司暂停执行新标准，并将组织"
        "业主委员会召开说明会。",
        now=now - timedelta(hours=2),
    )
    actions.do_editor_approve_reply(editor, tasks["property"].pk, now=now - timedelta(hours=1))

    # A rude draft blocked by the tone check at sign-off (staff may override or send back).
    assign("road", housing, now - timedelta(days=1))
    actions.do_accept_task(editor, tasks["road"].pk, now=now - timedelta(hours=20))
    actions.do_save_reply(
        editor,
        tasks["road"].pk,
        "此事不归我们管，请自行联系交警部门。",
        now=now - timedelta(hours=3),
    )
    actions.do_editor_approve_reply(editor, tasks["road"].pk, now=now - timedelta(hours=3))
    actions.do_section_approve_reply(section, tasks["road"].pk, now=now - timedelta(hours=2))
    actions.do_sign_off_reply(leader, tasks["road"].pk, now=now - timedelta(hours=1))

    # Dispatched an hour ago and not yet accepted; "school" stays awaiting assignment.
    assign("light", transport, now - timedelta(hours=1))

    from hub.followup.timers import tick

    tick(now)  # warnings and supervision for the backdated tasks, right away
    return list(tasks.values())

"""Building blocks of the follow-up tests: a small world (departments, people, an ended
session with tasks) and helpers that walk a task through its lifecycle with the real
actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import Group, User

from hub.actions.sessions import do_end_session
from hub.followup import actions
from hub.followup.models import FollowUpTask
from hub.models import Department, DepartmentLevel
from hub.roles import Role
from moderation.actions import do_approve_question, do_merge_question


@dataclass
class World:
    session: Any
    housing: Department
    transport: Department
    county: Department
    staff: User
    host: User
    editor: User  # the "dept" user, member of housing
    section: User
    leader: User
    outsider: User  # a department user of transport
    nobody: User
    questions: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, FollowUpTask] = field(default_factory=dict)


def department_user(username: str, *departments: Department) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username)
    user.first_name = username.capitalize()
    user.save()
    user.groups.add(Group.objects.get_or_create(name=Role.DEPARTMENT)[0])
    for department in departments:
        department.members.add(user)
    return user


def build_world(users: dict[str, User], make_session: Any, ask: Any) -> World:
    housing = Department.objects.create(name="市住房和城乡建设局", level=DepartmentLevel.CITY)
    transport = Department.objects.create(name="市交通运输局", level=DepartmentLevel.CITY)
    county = Department.objects.create(name="宿城区人民政府", level=DepartmentLevel.COUNTY)
    housing.members.add(users["dept"])
    world = World(
        session=None,
        housing=housing,
        transport=transport,
        county=county,
        staff=users["staff"],
        host=users["host"],
        editor=users["dept"],
        section=department_user("sectionhead", housing),
        leader=department_user("deptleader", housing),
        outsider=department_user("outsider", transport),
        nobody=users["nobody"],
    )
    q = world.questions
    q["lift"] = ask("老旧小区加装电梯的补贴什么时候发放？", asker_name="张先生")
    q["lift2"] = ask(
        "我们小区加装电梯补贴一直没到位",
        channel="hotline",
        contact="13812345678",
        source_id="12345-1",
    )
    q["lift3"] = ask("加装电梯补贴到底什么时候发？", channel="microblog", source_id="mb-1")
    q["bus"] = ask("发展大道早高峰公交太挤，能否增开区间车？", asker_name="上班族")
    q["private"] = ask("我家邻居违建占用消防通道", private=True, contact="13900001111")
    session = world.session = q["lift"].session
    for key in ("lift", "bus"):
        do_approve_question(world.host, session.pk, q[key].pk)
    do_merge_question(world.host, session.pk, q["lift2"].pk, q["lift"].pk)
    do_merge_question(world.host, session.pk, q["lift3"].pk, q["lift"].pk)
    do_end_session(world.host, session.pk)
    actions.do_create_tasks_for_session(session.pk)
    for key in ("lift", "bus", "private"):
        world.tasks[key] = FollowUpTask.objects.get(question=q[key])
    return world


def refresh(task: FollowUpTask) -> FollowUpTask:
    return FollowUpTask.objects.select_related("session", "question", "lead_department").get(
        pk=task.pk
    )


def assign(w: World, key: str = "lift", *, now: datetime | None = None) -> FollowUpTask:
    actions.do_assign_task(w.staff, w.tasks[key].pk, lead_department_id=w.housing.pk, now=now)
    return refresh(w.tasks[key])


def accept(w: World, key: str = "lift", *, now: datetime | None = None) -> FollowUpTask:
    assign(w, key, now=now)
    actions.do_accept_task(w.editor, w.tasks[key].pk, now=now)
    return refresh(w.tasks[key])


def reply_and_publish(
    w: World,
    key: str = "lift",
    text: str = "经核实，补贴将于本月底前发放到位。",
    *,
    now: datetime | None = None,
) -> FollowUpTask:
    task_id = w.tasks[key].pk
    actions.do_save_reply(w.editor, task_id, text, now=now)
    actions.do_editor_approve_reply(w.editor, task_id, now=now)
    actions.do_section_approve_reply(w.section, task_id, now=now)
    actions.do_sign_off_reply(w.leader, task_id, now=now)
    return refresh(w.tasks[key])

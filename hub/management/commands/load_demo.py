"""Load the demo: one account per role and a live all-media Q&A session ``demo`` with
Chinese sample questions from every channel. Safe to run again: accounts get the current
HUB_DEMO_PASSWORD, and an existing demo session is left as it is (``--reset`` is not
offered on purpose: sessions and their audit trail are never deleted)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.utils import timezone

from hub.actions.sessions import do_create_session, do_go_live, do_open_collection
from hub.intake.pipeline import IntakeItem, do_intake_question
from hub.models import Channel, Department, DepartmentLevel, LiveSession, SessionKind
from hub.roles import Role
from moderation.actions import do_approve_question, do_queue_question
from moderation.answers import do_add_library_entry
from moderation.models import LibraryEntry
from streaming.demo import load as load_stream_demo

ACCOUNTS = {
    "host": (Role.HOST, "主持人 王晓"),
    "leader": (Role.LEADER, "市住建局 李局长"),
    "screener": (Role.SCREENER, "导播 陈静"),
    "observer": (Role.OBSERVER, "市民观察团 刘强"),
    "staff": (Role.STAFF, "督办科 赵敏"),
    "dept": (Role.DEPARTMENT, "市住建局 办公室"),
}

DEPARTMENTS = [
    ("市住房和城乡建设局", DepartmentLevel.CITY),
    ("市交通运输局", DepartmentLevel.CITY),
    ("市教育局", DepartmentLevel.CITY),
    ("宿城区人民政府", DepartmentLevel.COUNTY),
]

# The answer library's starter entries: (question, answer, sector, department index).
LIBRARY: list[tuple[str, str, str, int]] = [
    (
        "公租房申请需要跑几个部门？能不能网上办理？",
        "公租房申请已实现一网通办：在市政务服务网“住房保障”栏目在线提交，社区、街道和住建局"
        "网上联审，无需来回跑。审核结果 20 个工作日内短信告知。",
        "housing",
        0,
    ),
    (
        "夜间施工噪音扰民怎么投诉？",
        "夜间（22 时至次日 6 时）施工须取得夜间施工许可。未经许可施工可拨打 12345 或 110 投诉，"
        "城管执法部门接单后 2 小时内到场处置。",
        "environment",
        0,
    ),
    (
        "物业费上涨需要经过什么程序？",
        "普通住宅前期物业服务收费实行政府指导价；调整收费须经业主大会或专有部分面积过半数且"
        "人数过半数的业主同意，并在小区显著位置公示 30 日。",
        "housing",
        0,
    ),
    (
        "新建小区的入学划片什么时候公布？",
        "每年 5 月底前由市教育局在官网公布各校施教区范围，新建小区同步纳入。",
        "education",
        2,
    ),
]

# (channel, source id, asker, phone, text, approve, queue)
QUESTIONS: list[tuple[str, str | None, str, str, str, bool, bool]] = [
    (
        "web",
        None,
        "市民小张",
        "",
        "老旧小区改造什么时候轮到我们幸福花园小区？楼道灯坏了半年没人修。",
        True,
        True,
    ),
    (
        "web",
        None,
        "",
        "13812345678",
        "新建小区的学位能不能保证？孩子明年上小学，划片一直没公布。",
        True,
        False,
    ),
    ("web", None, "上班族", "", "早高峰公交车太挤，能不能在发展大道增开区间车？", False, False),
    (
        "microblog",
        "status:demo-5001",
        "宿迁小李",
        "",
        "#市长热线面对面# 物业费上涨没有公示，业主委员会也不知情，这合法吗？",
        True,
        True,
    ),
    (
        "microblog",
        "status:demo-5002",
        "骑行的风",
        "",
        "#市长热线面对面# 古黄河边的非机动车道被占用停车，希望管一管。",
        False,
        False,
    ),
    (
        "microblog",
        "comment:demo-7001",
        "洋河人家",
        "",
        "#市长热线面对面# 公租房申请要跑几个部门？能不能一网通办？",
        False,
        False,
    ),
    (
        "hotline",
        "12345-demo-0001",
        "王阿姨",
        "13905271234",
        "我家楼上装修噪音每天到晚上十点，反映多次没人处理。",
        True,
        False,
    ),
    (
        "radio",
        "radio-demo-0001",
        "刘师傅",
        "13705275678",
        "出租车司机反映：高铁站接客区排队秩序乱，希望规范管理。",
        False,
        False,
    ),
    (
        "hotline",
        "12345-demo-0002",
        "匿名市民",
        "05278889999",
        "小区旁边工地夜间施工，影响休息，希望相关部门查处。",
        False,
        False,
    ),
]


class Command(BaseCommand):
    help = "Create the demo accounts and the demo session (slug 'demo')."

    def handle(self, *args: Any, **options: Any) -> None:
        password = settings.HUB_DEMO_PASSWORD
        users = {}
        for username, (role, full_name) in ACCOUNTS.items():
            group, _ = Group.objects.get_or_create(name=role)
            user, _ = User.objects.get_or_create(username=username)
            user.first_name = full_name
            user.is_staff = role in (Role.STAFF, Role.HOST)
            user.set_password(password)
            user.save()
            user.groups.set([group])
            users[username] = user
        for role_name in Role.values:
            Group.objects.get_or_create(name=role_name)
        departments = [
            Department.objects.get_or_create(name=name, defaults={"level": level})[0]
            for name, level in DEPARTMENTS
        ]
        departments[0].members.add(users["dept"])
        if not LibraryEntry.objects.exists():
            for question, answer, sector, department in LIBRARY:
                do_add_library_entry(
                    users["staff"],
                    question_text=question,
                    answer_text=answer,
                    sector=sector,
                    department_id=departments[department].pk,
                    published=True,
                )
        host = users["host"]
        from hub.followup.demo import load_followup_demo

        if load_followup_demo(users, str(password)):
            self.stdout.write("Follow-up demo: tasks in every state at /followup/work/.")
        if LiveSession.objects.filter(slug="demo").exists():
            self.stdout.write("The demo session exists already; accounts refreshed.")
            load_stream_demo(host, self.stdout.write)
            return
        now = timezone.now()
        session = do_create_session(
            host,
            slug="demo",
            kind=SessionKind.QA,
            title="全媒体问政：住房与城市建设专场",
            description="市住建局、市交通运输局负责人走进直播间，现场回应住房、物业、交通出行等民生诉求。"
            "网页、官方微博 #市长热线面对面#、12345 热线和广播连线同步提问。",
            scheduled_start=now - timedelta(minutes=10),
            scheduled_end=now + timedelta(hours=2),
            guests=[
                {"name": "李明", "title": "市住房和城乡建设局局长"},
                {"name": "周涛", "title": "市交通运输局副局长"},
            ],
            departments=departments[:2],
            microblog_hashtag="市长热线面对面",
        )
        do_open_collection(host, session.pk)
        created = []
        for channel, source_id, asker, phone, text, approve, queue in QUESTIONS:
            result = do_intake_question(
                IntakeItem(
                    session_id=session.pk,
                    channel=channel,
                    text=text,
                    source_id=source_id,
                    asker_name=asker,
                    contact=phone,
                    submitted_by=users["screener"]
                    if channel in (Channel.HOTLINE, Channel.RADIO)
                    else None,
                )
            )
            created.append((result.question.pk, approve, queue))
        do_go_live(host, session.pk)
        for question_id, approve, queue in created:
            if approve:
                do_approve_question(host, session.pk, question_id)
            if queue:
                do_queue_question(host, session.pk, question_id)
        self.stdout.write(
            self.style.SUCCESS(f"Demo session 'demo' is live with {len(created)} questions.")
        )
        load_stream_demo(host, self.stdout.write)

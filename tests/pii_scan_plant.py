"""Planting for the global plant-and-scan test: personal data typed into every writable
text field of every channel, through the paths a user takes (the web API, the signed
webhooks, console commands over the console WebSocket, the streaming, library and
follow-up APIs). Only what has no user-facing path is called as the system calls it: the
media engine (a guest's browser joining, recordings) and the end-of-session task job.

Each (field, form) pair gets its own number (:mod:`tests.pii_scan_forms`); an input that
refuses a plant (4xx with a code, an error frame) is recorded as refused, not planted.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.urls import path
from django.utils import timezone

from hub.consumers import ConsoleConsumer
from hub.intake.signing import sign
from hub.routing import websocket_application
from tests.pii_scan_forms import FORM_KEYS, FORMS, Plants, battery, chunks, text_of

SLUG = "pii-scan"
console_app = URLRouter([path("ws/sessions/<slug:slug>/console", ConsoleConsumer.as_asgi())])

# Distinct subjects, so that no two planted questions are merged as "the same question"
# (a merged question is not published on its own, which would hide its fields).
_SUBJECTS = (
    "路灯 井盖 公交站台 学区划分 医保报销 停车位 垃圾分类 广场舞噪音 行道树 菜市场 "
    "电梯加装 养老金 公积金 幼儿园 自来水 燃气管道 渣土车 共享单车 农贸市场 社区医院 "
    "楼道照明 下水道 油烟扰民 违章搭建 快递柜 充电桩 过街天桥 红绿灯 公厕 健身器材 "
    "河道保洁 拆迁补偿 廉租房 低保 残疾人补贴 疫苗接种 校车 食堂卫生 网吧 夜市 "
    "绿化带 人行道 路面塌陷 公园门票 图书馆 游泳馆 出租车 网约车 驾校 车管所 "
    "户口迁移 居住证 社保转移 失业金 技能培训 农民工工资 物业费 业委会 消防通道 电动车 "
    "高空抛物 流浪猫 宠物管理 噪声施工 空气质量 秸秆焚烧 污水处理 热力供暖 天然气价 电费 "
    "宽带网络 手机信号 老年食堂 托育机构 课后服务 学生午餐 校服 体育场地 文化站 电影院 "
    "景区厕所 旅游大巴 停车收费 占道经营 摊贩 广告牌 工地围挡 扬尘 雨污分流 积水 "
    "排水泵站 防汛 地铁规划 有轨电车 长途客运 火车站 机场大巴 高速出口 桥梁检修 隧道照明"
).split()
_ISSUES = (
    "一直没人管",
    "什么时候能解决",
    "问题反映多次",
    "希望尽快处理",
    "能否安排人看看",
    "到底归哪个部门",
)
_subject_counter = itertools.count()
# The session titles: the main session's first, four forms to a title.
_FIRST_TITLE = ("mobile_chinese", "id18_split", "landline_dash", "qq")
_OTHER_TITLES = [f for f in FORM_KEYS if f not in _FIRST_TITLE]
TITLE_FORMS = [_FIRST_TITLE] + [
    tuple(_OTHER_TITLES[i : i + 4]) for i in range(0, len(_OTHER_TITLES), 4)
]


def subject_text(lead: str, value: str) -> str:
    """A question of its own subject, carrying ``value`` (2–500 characters)."""
    n = next(_subject_counter)  # noqa: RUF100
    subject = _SUBJECTS[n % len(_SUBJECTS)]
    return f"{lead}{subject}{_ISSUES[n % len(_ISSUES)]}？第{n}号反映人联系方式：{value}"


def joined(plants: Plants, field: str, lead: str) -> str:
    """One long text carrying every form (for fields that hold a long text)."""
    return lead + "；".join(
        f"第{i}项{plants.marked(field, form)}" for i, form in enumerate(FORM_KEYS)
    )


def name_value(plants: Plants, field: str, form: str) -> str:
    """A name field: every other form is a name made only of the number (it must become
    网友 or be masked), the others carry a marker, to see where names are shown."""
    if FORM_KEYS.index(form) % 2:
        return plants.marked(field, form)
    return plants.value(field, form)


@dataclass
class Scene:
    """What was planted, and the ids a route's path parameters can be filled with."""

    plants: Plants = field(default_factory=Plants)
    params: dict[str, list[str]] = field(default_factory=dict)
    observer_frames: list[dict[str, Any]] = field(default_factory=list)
    staff_frames: list[dict[str, Any]] = field(default_factory=list)  # the host's console
    viewer_frames: list[dict[str, Any]] = field(default_factory=list)
    viewer_since_frames: list[dict[str, Any]] = field(default_factory=list)
    viewer_snapshot_after: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # a step that failed for another reason
    merged: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    # Outputs that exist only while the session runs (a guest's join page), read then.
    early_outputs: list[tuple[str, str]] = field(default_factory=list)
    unused_tokens: list[str] = field(default_factory=list)
    planted_tasks: list[int] = field(default_factory=list)  # tasks carrying follow-up plants
    carriers: list[int] = field(default_factory=list)  # rejected, deferred, flagged (by form)

    def add(self, name: str, value: Any) -> None:
        values = self.params.setdefault(name, [])
        if str(value) not in values:
            values.append(str(value))


# --- HTTP helpers ------------------------------------------------------------------------------


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"code": f"http_{response.status_code}", "message": response.content[:200]}


def _post(client: Client, url: str, body: Any, method: str = "post") -> tuple[int, Any]:
    response = getattr(client, method)(url, json.dumps(body), content_type="application/json")
    return response.status_code, _json(response)


def _signed(client: Client, url: str, payload: Any, secret: str) -> tuple[int, Any]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    response = client.post(
        url,
        body,
        content_type="application/json",
        headers={
            "X-Hub-Signature-256": sign(secret, body),
            "X-Hub-Timestamp": str(int(time.time())),
        },
    )
    return response.status_code, _json(response)


def _reason(status: int, body: Any) -> str:
    code = body.get("code") if isinstance(body, dict) else None
    return f"{status} {code or body}"


# --- sockets -----------------------------------------------------------------------------------


class Console:
    """A console WebSocket of one user; frames other than a command's answer are kept."""

    def __init__(self, user: Any) -> None:
        self.communicator = WebsocketCommunicator(console_app, f"/ws/sessions/{SLUG}/console")
        self.communicator.scope["user"] = user
        self.frames: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    async def open(self) -> None:
        connected, _ = await self.communicator.connect()
        assert connected

    async def drain(self, quiet: float = 0.01) -> None:
        """Keep what arrived; ``quiet``: how long nothing must arrive to stop."""
        while not await self.communicator.receive_nothing(timeout=quiet, interval=0.01):
            self.frames.append(json.loads(await self.communicator.receive_from(timeout=3)))

    async def command(self, **fields: Any) -> tuple[bool, Any]:
        command_id = next(self._ids)
        await self.communicator.send_json_to({"id": command_id, **fields})
        while True:
            frame = json.loads(await self.communicator.receive_from(timeout=10))
            data = frame.get("data") or {}
            if frame["type"] in ("ack", "error") and data.get("id") == command_id:
                if frame["type"] == "ack":
                    return True, data["result"]
                return False, data.get("code")
            self.frames.append(frame)


class Viewer:
    def __init__(self, since: int | None = None) -> None:
        query = f"?since={since}" if since is not None else ""
        self.communicator = WebsocketCommunicator(
            websocket_application, f"/ws/sessions/{SLUG}/live{query}"
        )
        self.frames: list[dict[str, Any]] = []

    async def open(self) -> None:
        """Connect and wait for the first frame (the snapshot, or the first one replayed)."""
        connected, _ = await self.communicator.connect()
        assert connected
        self.frames.append(json.loads(await self.communicator.receive_from(timeout=10)))

    async def drain(self, quiet: float = 0.01) -> None:
        """Keep what arrived; ``quiet``: how long nothing must arrive to stop."""
        while not await self.communicator.receive_nothing(timeout=quiet, interval=0.01):
            self.frames.append(json.loads(await self.communicator.receive_from(timeout=3)))


# --- the planting ------------------------------------------------------------------------------


def _make_session(users: dict[str, Any], scene: Scene) -> Any:
    from hub.actions.sessions import do_create_session, do_go_live, do_open_collection

    plants, now = scene.plants, timezone.now()
    session = do_create_session(
        users["host"],
        slug=SLUG,
        kind="qa",
        title="全媒体问政：城市管理面对面 "
        + "，".join(plants.marked("session.title", f) for f in TITLE_FORMS[0]),
        description=joined(plants, "session.description", "本期嘉宾及联系人：")
        + "；"
        + text_of(battery(plants, "battery.description")),
        guests=[
            {
                "name": name_value(plants, "session.guest_name", form),
                "title": name_value(plants, "session.guest_title", form),
            }
            for form in FORM_KEYS
        ],
        scheduled_start=now,
        scheduled_end=now + timedelta(hours=2),
    )
    do_open_collection(users["host"], session.pk)
    do_go_live(users["host"], session.pk)
    scene.add("slug", SLUG)
    # A title holds a few forms (200 characters): the others go to announced sessions.
    for n, forms in enumerate(TITLE_FORMS[1:], start=1):
        other = do_create_session(
            users["host"],
            slug=f"{SLUG}-{n}",
            kind="interview",
            title="在线访谈预告：" + "，".join(plants.marked("session.title", f) for f in forms),
            scheduled_start=now + timedelta(days=n),
            scheduled_end=now + timedelta(days=n, hours=2),
        )
        scene.add("slug", other.slug)
    return session


def _web_asks(scene: Scene, private: bool = False) -> list[int]:
    """One web question per form: text, nickname and contact each carry their own number
    (a private one: the text only)."""
    plants, ids = scene.plants, []
    url = f"/api/sessions/{SLUG}/questions"
    for form in FORM_KEYS:
        client = citizen()
        if private:
            fields = ("web.private_text",)
            body = {"text": subject_text("私下反映：", plants.marked("web.private_text", form))}
            body["private"] = True
        else:
            fields = ("web.text", "web.nickname", "web.contact")
            body = {
                "text": subject_text("网友提问：", plants.marked("web.text", form)),
                "nickname": name_value(plants, "web.nickname", form),
                "contact": plants.value("web.contact", form),
            }
        status, answer = _post(client, url, body)
        if status >= 400 and "contact" in body:
            plants.refuse("web.contact", form, _reason(status, answer))
            fields = ("web.text", "web.nickname")
            body.pop("contact")
            status, answer = _post(client, url, body)
        if status >= 400:
            for name in fields:
                plants.refuse(name, form, _reason(status, answer))
            continue
        ids.append(answer["id"])
        if answer.get("private_code"):
            scene.add("code", answer["private_code"])
    return ids


def _battery_asks(scene: Scene) -> None:
    """Every form of tests/pii_forms.py in web questions (a dozen to a question)."""
    url = f"/api/sessions/{SLUG}/questions"
    client = citizen()
    for run in chunks(battery(scene.plants, "battery.web_text"), 420):
        status, answer = _post(client, url, {"text": subject_text("网友反映：", text_of(run))})
        if status >= 400:
            for key, _ in run:
                scene.plants.refuse(*key, _reason(status, answer))


def _microblog(scene: Scene) -> None:
    plants = scene.plants
    statuses = [
        {
            "id": 5_100_000_000_000_000 + k,
            "idstr": str(5_100_000_000_000_000 + k),
            "text": subject_text("#市长热线面对面# ", plants.marked("microblog.text", form)),
            "created_at": "Sun Nov 22 14:30:00 +0800 2026",
            "user": {
                "id": 3_900_000 + k,
                "screen_name": name_value(plants, "microblog.screen_name", form),
            },
        }
        for k, form in enumerate(FORM_KEYS)
    ]
    runs = chunks(battery(plants, "battery.microblog_text"), 420)
    statuses += [
        {
            "id": 5_200_000_000_000_000 + n,
            "idstr": str(5_200_000_000_000_000 + n),
            "text": subject_text("#市长热线面对面# ", text_of(run)),
            "created_at": "Sun Nov 22 14:31:00 +0800 2026",
            "user": {"id": 3_800_000 + n, "screen_name": "宿迁网友"},
        }
        for n, run in enumerate(runs)
    ]
    status, body = _signed(
        Client(),
        "/api/intake/microblog",
        {"session": SLUG, "statuses": statuses},
        settings.MICROBLOG_SECRET,
    )
    _per_item(
        scene, status, body, "status:51000000000000", ("microblog.text", "microblog.screen_name")
    )
    refused = {} if status >= 400 else {r.get("source_id"): r for r in body.get("rejected", [])}
    for n, run in enumerate(runs):
        why = refused.get(f"status:{5_200_000_000_000_000 + n}")
        if status >= 400 or why:
            for key, _ in run:
                plants.refuse(*key, f"rejected {why.get('code') if why else status}")


def _microblog_comments(scene: Scene) -> None:
    """Comments under the official account's posts: the same fields, another item kind."""
    plants = scene.plants
    fields = ("microblog.comment_text", "microblog.comment_name")
    comments = [
        {
            "id": 4_100_000_000_000_000 + k,
            "idstr": str(4_100_000_000_000_000 + k),
            "text": subject_text("评论里问：", plants.marked(fields[0], form)),
            "created_at": "Sun Nov 22 14:32:00 +0800 2026",
            "user": {"id": 2_900_000 + k, "screen_name": name_value(plants, fields[1], form)},
        }
        for k, form in enumerate(FORM_KEYS)
    ]
    status, body = _signed(
        Client(),
        "/api/intake/microblog",
        {"session": SLUG, "comments": comments},
        settings.MICROBLOG_SECRET,
    )
    _per_item(scene, status, body, "comment:41000000000000", fields)


def _hotline(scene: Scene) -> None:
    plants = scene.plants
    fields = ("hotline.content", "hotline.caller_name", "hotline.caller_phone")

    def order(k: int, form: str, attempt: str, phone: bool = True) -> dict[str, Any]:
        item = {
            "order_id": f"pii-{k:02d}{attempt}",
            "content": subject_text("来电反映：", plants.marked("hotline.content", form)),
            "caller_name": name_value(plants, "hotline.caller_name", form),
        }
        if phone:
            item["caller_phone"] = plants.value("hotline.caller_phone", form)
        return item

    def deliver(orders: list[dict[str, Any]]) -> tuple[int, Any]:
        payload = {"session": SLUG, "orders": orders}
        return _signed(Client(), "/api/intake/hotline", payload, settings.HOTLINE_SECRET)

    status, body = deliver([order(k, form, "") for k, form in enumerate(FORM_KEYS)])
    rejected = _per_item(scene, status, body, "pii-", fields)
    # The phone field may refuse what is not a phone number: the same call again without
    # it plants the order's other fields.
    again = [order(k, FORM_KEYS[k], "b", phone=False) for k in rejected]
    if again:
        status, body = deliver(again)
        _per_item(scene, status, body, "pii-", fields[:2], suffix="b")


def _per_item(
    scene: Scene, status: int, body: Any, prefix: str, fields: tuple[str, ...], suffix: str = ""
) -> list[int]:
    """Mark the plants of refused items; returns the refused items' form indexes."""
    if status >= 400:
        for name in fields:
            for form in FORM_KEYS:
                scene.plants.refuse(name, form, _reason(status, body))
        return []
    refused = []
    for rejected in body.get("rejected", []):
        source = str(rejected.get("source_id") or "").removesuffix(suffix)
        k = int(source.removeprefix(prefix).lstrip("0") or 0) if source.startswith(prefix) else -1
        if 0 <= k < len(FORM_KEYS):
            refused.append(k)
            for name in fields:
                scene.plants.refuse(name, FORM_KEYS[k], f"rejected {rejected.get('code')}")
    return refused


async def _console_plants(
    scene: Scene, users: dict[str, Any], viewer: Viewer
) -> dict[str, Console]:
    """Call-ins typed by the screener, moderation notes, flags and live answers."""
    from hub.models import Question

    plants = scene.plants
    consoles = {name: Console(users[name]) for name in ("host", "screener", "leader", "observer")}
    for console in consoles.values():
        await console.open()
    screener, host, leader, observer = (
        consoles["screener"],
        consoles["host"],
        consoles["leader"],
        consoles["observer"],
    )
    for form in FORM_KEYS:
        call = {
            "action": "submit_call",
            "channel": "hotline",
            "text": subject_text("热线来电：", plants.marked("callin.text", form)),
            "name": name_value(plants, "callin.name", form),
        }
        ok, result = await screener.command(**call, phone=plants.value("callin.phone", form))
        if not ok:
            # The phone field may refuse what is not a phone number; the rest is planted.
            plants.refuse("callin.phone", form, f"error {result}")
            ok, result = await screener.command(**call)
            if not ok:
                for name in ("callin.text", "callin.name"):
                    plants.refuse(name, form, f"error {result}")
    await observer.drain()
    # Carriers of the host's and the observer's notes: neutral questions of their own.
    carriers = await sync_to_async(_carrier_asks)(3 * len(FORM_KEYS))
    scene.carriers = carriers
    pending = await sync_to_async(
        lambda: list(
            Question.objects.filter(session__slug=SLUG, visibility="public")
            .exclude(pk__in=carriers)
            .filter(state__in=["pending", "held"])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    )()
    for qid in pending + carriers[2 * len(FORM_KEYS) :]:
        ok, result = await host.command(action="approve", question=qid)
        if not ok:
            scene.problems.append(f"approve #{qid}: {result}")
    await observer.drain()
    await viewer.drain()
    n = len(FORM_KEYS)
    for k, form in enumerate(FORM_KEYS):
        for action, name, qid in (
            ("reject", "host.reject_note", carriers[k]),
            ("defer", "host.defer_note", carriers[n + k]),
            ("flag", "observer.flag_note", carriers[2 * n + k]),
        ):
            extra = {"reason": "other"} if action == "reject" else {}
            who = observer if action == "flag" else host
            ok, result = await who.command(
                action=action, question=qid, note=plants.marked(name, form), **extra
            )
            if not ok:
                plants.refuse(name, form, f"error {result}")
    await observer.drain()
    await viewer.drain()
    # The leader answers the web questions on air, one per form.
    web = await sync_to_async(
        lambda: list(
            Question.objects.filter(session__slug=SLUG, channel="web", state="approved")
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    )()
    for form, qid in zip(FORM_KEYS, web, strict=False):
        ok, result = await host.command(action="on_air", question=qid)
        if not ok:
            scene.problems.append(f"on_air #{qid}: {result}")
            continue
        for action, name in (("live_answer", "leader.live_answer"), ("answered", "leader.summary")):
            ok, result = await leader.command(
                action=action, question=qid, summary=plants.marked(name, form)
            )
            if not ok:
                plants.refuse(name, form, f"error {result}")
        await observer.drain()
        await viewer.drain()
    return consoles


def _carrier_asks(count: int) -> list[int]:
    ids: list[int] = []
    clients = [citizen() for _ in range(0, count, len(FORM_KEYS))]
    for n in range(count):
        client = clients[n // len(FORM_KEYS)]
        status, body = _post(
            client, f"/api/sessions/{SLUG}/questions", {"text": subject_text("请问", "无")}
        )
        assert status < 400, body
        ids.append(body["id"])
    return ids


_addresses = itertools.count(1)


def citizen() -> Client:
    """A browser of its own, from an address of its own, that loaded the viewer page
    first (as a citizen does before asking)."""
    n = next(_addresses)
    client = Client(REMOTE_ADDR=f"10.{n // 250 % 250}.{n % 250}.7")
    client.get(f"/s/{SLUG}/")
    return client


def _staff_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _stage(scene: Scene, users: dict[str, Any]) -> None:
    """Agenda items (public and confidential) and guests on air, through the streaming API;
    the guest's browser joining is the media engine's call."""
    from streaming import actions as stream

    plants = scene.plants
    host = _staff_client(users["host"])
    base = f"/api/streaming/sessions/{SLUG}"
    items = [{"title": plants.marked("agenda.title", form)} for form in FORM_KEYS]
    items += [
        {"title": plants.marked("agenda.confidential_title", form), "confidential": True}
        for form in FORM_KEYS
    ]
    status, body = _post(host, f"{base}/agenda", {"items": items}, method="put")
    if status >= 400:
        for entry in items:
            name = "agenda.confidential_title" if entry.get("confidential") else "agenda.title"
            for form in FORM_KEYS:
                plants.refuse(name, form, _reason(status, body))
    else:
        for item in body.get("agenda", body.get("items", [])) or []:
            if isinstance(item, dict) and "id" in item:
                status, answer = _post(host, f"{base}/agenda/current", {"item": item["id"]})
                if status >= 400:
                    scene.problems.append(f"agenda/current {item['id']}: {_reason(status, answer)}")
    # Guests on air (the label shows as 连线中: <label>) and links not used yet (the guest
    # opens the join page with the label on it).
    for field_name, on_air in (("guest.invite_label", False), ("guest.label", True)):
        for form in FORM_KEYS:
            label = name_value(plants, field_name, form)
            status, body = _post(host, f"{base}/guests", {"label": label, "kind": "guest"})
            if status >= 400:
                plants.refuse(field_name, form, _reason(status, body))
                continue
            guest_id, token = body["guest"]["id"], body["token"]
            scene.add("guest_id", guest_id)
            scene.add("token", token)
            scene.add("invite_id", guest_id)
            if not on_air:
                scene.unused_tokens.append(token)
                continue
            try:
                stream.do_guest_connect(token, timezone.now())
            except Exception as exc:  # a refusal the engine would get; noted, not fatal
                scene.problems.append(f"guest connect {guest_id}: {exc}")
                continue
            status, answer = _post(host, f"{base}/guests/{guest_id}/on_air", {})
            if status >= 400:
                scene.problems.append(f"guest on_air {guest_id}: {_reason(status, answer)}")


def _guest_pages(scene: Scene) -> None:
    """What a guest's link shows before the session ends (afterwards it answers 409)."""
    from tests.pii_scan_outputs import decode

    for token in scene.unused_tokens:
        for url in (f"/guest/{token}/join", f"/api/streaming/guests/{token}"):
            response = Client().get(url)
            assert response.status_code == 200, (url, response.status_code)
            scene.early_outputs.append((f"GET {url} as the guest, live", decode(response)))


def _library(scene: Scene, users: dict[str, Any]) -> None:
    plants = scene.plants
    staff = _staff_client(users["staff"])
    for form in FORM_KEYS:
        body = {
            "question": subject_text("咨询：", plants.marked("library.question", form)),
            "answer": "答复：请联系经办人 " + plants.marked("library.answer", form),
            "published": True,
        }
        status, answer = _post(staff, "/api/library", body)
        if status >= 400:
            for name in ("library.question", "library.answer"):
                plants.refuse(name, form, _reason(status, answer))
            continue
        scene.add("entry_id", answer["id"])
    for run in chunks(battery(plants, "battery.library_answer"), 3500):
        body = {"question": subject_text("咨询：", "各种写法的联系方式"), "answer": text_of(run)}
        status, answer = _post(staff, "/api/library", {**body, "published": True})
        if status >= 400:
            for key, _ in run:
                plants.refuse(*key, _reason(status, answer))
        else:
            scene.add("entry_id", answer["id"])


def _record(session_id: int, start: Any, end: Any) -> None:
    from streaming import actions as stream

    stream.do_recording_started(session_id, f"recordings/{SLUG}-1.mp4", start)
    stream.do_recording_finished(session_id, f"recordings/{SLUG}-1.mp4", end)


# The follow-up steps: (API path tail, who, body builder). Each text field gets the plant
# of the task's form; a step refused by the product marks its field refused for that form.
_TASK_STEPS: tuple[
    tuple[str, str, str | None, Callable[[str, dict[str, Any]], dict[str, Any]]], ...
] = (
    (
        "assign",
        "staff",
        "task.public_text",
        lambda v, ctx: {"lead_department": ctx["dept"], "publish": True, "public_text": v},
    ),
    ("accept", "editor", None, lambda v, ctx: {}),
    ("wait", "editor", "task.wait_reason", lambda v, ctx: {"reason": v}),
    ("resume", "editor", "task.resume_note", lambda v, ctx: {"note": v}),
    (
        "request-extension",
        "editor",
        "task.extension_reason",
        lambda v, ctx: {"days": 5, "reason": v},
    ),
    ("approve-extension", "staff", "task.extension_note", lambda v, ctx: {"note": v}),
    ("reply", "editor", "task.reply", lambda v, ctx: {"text": "经核实：" + v}),
    ("reply/editor-approve", "editor", None, lambda v, ctx: {}),
    ("reply/section-approve", "section", None, lambda v, ctx: {}),
    ("reply/sign-off", "leader", None, lambda v, ctx: {}),
    (
        "callback",
        "staff",
        "task.callback_comment",
        lambda v, ctx: {
            "asker": ctx["asker"],
            "resolved": "yes",
            "satisfaction": "satisfied",
            "comment": v,
        },
    ),
    ("close", "staff", "task.close_note", lambda v, ctx: {"resolved": True, "note": v}),
)


_EVALUATED_STEPS: tuple[
    tuple[str, str, str | None, Callable[[str, dict[str, Any]], dict[str, Any]]], ...
] = (
    ("assign", "staff", None, lambda v, ctx: {"lead_department": ctx["dept"], "publish": True}),
    ("accept", "editor", None, lambda v, ctx: {}),
    ("reply", "editor", "@battery", lambda v, ctx: {"text": ctx["battery"]}),
    ("reply/editor-approve", "editor", None, lambda v, ctx: {}),
    ("reply/section-approve", "section", None, lambda v, ctx: {}),
    ("reply/sign-off", "leader", None, lambda v, ctx: {}),
    (
        "evaluation",
        "citizen",
        "task.evaluation_comment",
        lambda v, ctx: {"resolved": "no", "satisfaction": "unsatisfied", "comment": v},
    ),
    ("close", "staff", None, lambda v, ctx: {"resolved": False, "note": ""}),
    ("reopen", "staff", "task.reopen_reason", lambda v, ctx: {"reason": v}),
)


def _followup(scene: Scene, users: dict[str, Any], session_id: int) -> None:
    from hub.followup import actions as followup
    from hub.followup.codes import issue_code
    from hub.followup.models import FollowUpTask, TaskAsker
    from hub.models import Department, DepartmentLevel
    from tests.followup_steps import department_user

    plants = scene.plants
    housing, _ = Department.objects.get_or_create(
        name="市城市管理局", defaults={"level": DepartmentLevel.CITY}
    )
    housing.members.add(users["dept"])
    scene.add("department_id", housing.pk)
    people = {
        "staff": _staff_client(users["staff"]),
        "editor": _staff_client(users["dept"]),
        "section": _staff_client(department_user("pii_section", housing)),
        "leader": _staff_client(department_user("pii_leader", housing)),
    }
    followup.do_create_tasks_for_session(session_id)
    for task in FollowUpTask.objects.filter(session_id=session_id):
        scene.add("task_id", task.pk)
        scene.add("request_id", task.pk)
    # The hotline questions' tasks get the department's texts and a staff callback; the
    # call-ins' tasks the asker's own evaluation (one per round) and a reopening.
    # The call-ins' replies carry every form of tests/pii_forms.py, a share each.
    replies = chunks(battery(plants, "battery.reply"), 700)
    per_task = -(-len(replies) // len(FORM_KEYS))
    for carrier, steps in (("hotline.content", _TASK_STEPS), ("callin.text", _EVALUATED_STEPS)):
        for k, form in enumerate(FORM_KEYS):
            run = [pair for r in replies[k * per_task : (k + 1) * per_task] for pair in r]
            if carrier == "hotline.content":
                run = []
            names = [step[2] for step in steps if step[2] and step[2] != "@battery"]
            marker = plants.markers.get((carrier, form))
            task = (
                FollowUpTask.objects.filter(session_id=session_id, question__text__contains=marker)
                .select_related("question")
                .first()
                if marker and (carrier, form) in plants.planted
                else None
            )
            if task is not None:
                scene.planted_tasks.append(task.pk)
            if task is None:
                for name in names:
                    plants.refuse(name, form, f"no task ({carrier} was not planted)")
                for key, _ in run:
                    plants.refuse(*key, f"no task ({carrier} was not planted)")
                continue
            asker = TaskAsker.objects.filter(task=task).order_by("pk").first()
            context = {
                "dept": housing.pk,
                "asker": asker.pk if asker else 0,
                "battery": "经核实：" + (text_of(run) or "已安排处理。"),
            }
            failed = None
            for tail, who, step_field, make in steps:
                name = None if step_field == "@battery" else step_field
                value = plants.marked(name, form) if name else "经核实，已安排处理。"
                if failed:
                    if name:
                        plants.refuse(name, form, f"not reached: {failed}")
                    if step_field == "@battery":
                        for key, _ in run:
                            plants.refuse(*key, f"not reached: {failed}")
                    continue
                if tail == "evaluation":
                    code = issue_code(task.question)
                    scene.add("code", code)
                    url, client = f"/api/followup/by-code/{code}/evaluation", citizen()
                else:
                    url, client = f"/api/followup/work/tasks/{task.pk}/{tail}", people[who]
                status, body = _post(client, url, make(value, context))
                if status >= 400:
                    failed = f"{tail} {_reason(status, body)}"
                    if name:
                        plants.refuse(name, form, failed)
                    if step_field == "@battery":
                        for key, _ in run:
                            plants.refuse(*key, failed)
            if failed:
                scene.problems.append(f"task {task.pk} ({form}): {failed}")
    # The deferred questions' tasks are returned by the department, the flagged ones'
    # dismissed by staff: both with a reason.
    n = len(FORM_KEYS)
    staff, editor = people["staff"], people["editor"]
    for k, form in enumerate(FORM_KEYS):
        for qid, field_name, steps in (
            (
                scene.carriers[n + k] if len(scene.carriers) > n + k else None,
                "task.return_reason",
                (
                    ("assign", staff, lambda v: {"lead_department": housing.pk}),
                    ("return", editor, lambda v: {"reason": v}),
                ),
            ),
            (
                scene.carriers[2 * n + k] if len(scene.carriers) > 2 * n + k else None,
                "task.dismiss_reason",
                (("dismiss", staff, lambda v: {"reason": v}),),
            ),
        ):
            task = FollowUpTask.objects.filter(question_id=qid).first() if qid else None
            if task is None:
                plants.refuse(field_name, form, "no task for its question")
                continue
            value = plants.marked(field_name, form)
            for tail, client, make in steps:
                status, body = _post(
                    client, f"/api/followup/work/tasks/{task.pk}/{tail}", make(value)
                )
                if status >= 400:
                    plants.refuse(field_name, form, f"{tail} {_reason(status, body)}")
                    break


async def plant_everything(users: dict[str, Any]) -> Scene:
    """Plant every field × form and collect what the viewer stream and the observer's
    console carried meanwhile."""
    from hub.models import Question

    scene = Scene()
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        scene.timings[name] = scene.timings.get(name, 0.0) + now - clock
        clock = now

    session = await sync_to_async(_make_session)(users, scene)
    live_viewer = Viewer()
    await live_viewer.open()
    await live_viewer.drain()
    first_seq = live_viewer.frames[0]["seq"] if live_viewer.frames else 0
    lap("session")
    await sync_to_async(_web_asks)(scene)
    await sync_to_async(_web_asks)(scene, private=True)
    await sync_to_async(_battery_asks)(scene)
    lap("web asks")
    await sync_to_async(_microblog)(scene)
    await sync_to_async(_microblog_comments)(scene)
    await sync_to_async(_hotline)(scene)
    await live_viewer.drain()
    lap("webhooks")
    start = timezone.now() - timedelta(seconds=5)
    consoles = await _console_plants(scene, users, live_viewer)
    lap("console")
    await sync_to_async(_stage)(scene, users)
    await sync_to_async(_guest_pages)(scene)
    await sync_to_async(_library)(scene, users)
    await live_viewer.drain()
    await sync_to_async(_record)(session.pk, start, timezone.now())
    ok, result = await consoles["host"].command(action="set_status", status="ended")
    assert ok, result
    for console in consoles.values():
        await console.drain()
    await live_viewer.drain()
    lap("stage, library, end")
    await sync_to_async(_followup)(scene, users, session.pk)
    await consoles["observer"].drain(quiet=0.3)
    await live_viewer.drain(quiet=0.3)
    lap("follow-up")
    scene.observer_frames = consoles["observer"].frames
    scene.staff_frames = consoles["host"].frames + consoles["leader"].frames
    scene.viewer_frames = live_viewer.frames
    for console in consoles.values():
        await console.communicator.disconnect()
    await live_viewer.communicator.disconnect()
    # A viewer that comes back with ``since`` (everything after its first snapshot), one
    # with since=0, and a fresh one.
    for since, into in (
        (first_seq, scene.viewer_since_frames),
        (0, scene.viewer_since_frames),
        (None, scene.viewer_snapshot_after),
    ):
        again = Viewer(since=since)
        await again.open()
        await again.drain(quiet=0.3)
        into.extend(again.frames)
        await again.communicator.disconnect()
    ids = await sync_to_async(
        lambda: list(
            Question.objects.filter(session__slug=SLUG).order_by("pk").values_list("pk", flat=True)
        )
    )()
    for qid in ids:
        scene.add("question_id", qid)
    scene.merged = await sync_to_async(
        lambda: Question.objects.filter(session__slug=SLUG, state="merged").count()
    )()
    lap("viewers")
    return scene


def seed_for_server() -> dict[str, Any]:
    """Plant everything in a server's own database (run in a separate process before the
    server starts, see the browser test); returns what the browser scan needs."""
    import asyncio

    from django.contrib.auth.models import User
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's host name is allowed, as in a test
    users = {u.username: u for u in User.objects.all()}
    scene = asyncio.run(plant_everything(users))
    return {
        "params": scene.params,
        "planted_tasks": scene.planted_tasks,
        "plants": [[p.field, p.form, p.value, list(p.cores)] for p in scene.plants],
        "markers": [[f, m, marker] for (f, m), marker in scene.plants.markers.items()],
    }


__all__ = ["FORMS", "SLUG", "Scene", "plant_everything", "seed_for_server"]

"""Realistic synthetic questions, for demos and benchmarks (no external data).

A stream of questions as the three channels send them during a busy all-media Q&A: the
web form, the official microblog (mentions and comments) and the 12345 hotline (calls,
and radio call-ins it relays). Deterministic for a seed. Used by ``manage.py feed_demo``
(which feeds a running server through its public interfaces) and by
``tests/bench/intake_pipeline.py`` (which feeds the pipeline directly).

* **Near-duplicate heavy.** Each question belongs to a *family* (one real question: a
  template × places × one of its phrasings). A new family is drawn with probability
  ``new_family_share``; otherwise an earlier family is asked again, chosen in proportion
  to how often it was asked (a few very popular questions, many asked once), in another
  phrasing and with the asking channel's noise: hashtags, @mentions, emoticons, short
  links and retweet chains on the microblog; greetings and fillers in call-ins.
* **Dressed up** now and then: traditional characters, full-width digits and letters.
* **Abusive** ones (the starter lexicon's words, some spaced out or punctuated to evade a
  filter: "狗 官", "废-物"), **illegal** offers and **spam** (links, "加微信").
* **Personal data**: mobile numbers (also spaced, with +86, full-width) and checksummed
  resident ID numbers in the text; hotline callers' numbers as the staff-only contact.
  Every such number is listed in :attr:`Sample.secrets`, so a caller can check that none
  of them appears on a public page.
* A few **invalid** web submissions (too short, too long) that intake refuses.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Sample", "SampleStream", "id_number_check"]

_ESTATE_HEADS = (
    "幸福 阳光 锦绣 金色 翠微 紫薇 桃园 东方 明珠 香樟 银河 碧水 龙湖 世纪 和谐 康居 美景 丽景 "
    "书香 学府 滨湖 运河 新城 御景 枫林 梧桐 春江 清风 水韵 海棠 丁香 玉兰 红枫 绿洲 朝阳 "
    "天成 润泽 嘉禾 金鹰 锦华"
).split()
_ESTATE_TAILS = "花园 家园 新村 苑 府 雅居 公寓 名邸 嘉园 华庭".split()
_ROAD_HEADS = (
    "人民 解放 建设 发展 黄河 长江 洪泽湖 青年 文化 幸福 西湖 太湖 珠江 迎宾 府前 通湖 "
    "环城 健康 宝龙 金沙江 世纪 富康 项王 马陵 古城 学院 工业 广州 深圳"
).split()
_ROAD_TAILS = "路 大道 街".split()
_DISTRICTS = (
    "宿城区 宿豫区 沭阳县 泗阳县 泗洪县 经开区 湖滨新区 洋河新区 城北新区 城南街道 "
    "古城街道 黄河街道 项里街道 双庄街道 王官集镇 仰化镇 蔡集镇 耿车镇"
).split()
_SCHOOL_HEADS = "实验 第一 第二 第三 育才 青华 钟吾 宿迁 运河 东大 北京路 新区 马陵 逸夫".split()
_SCHOOL_TAILS = "小学 中学 初级中学 实验学校".split()
_COMPANY_HEADS = "宏达 华建 鑫源 恒通 金陵 苏宿 泰和 永盛 昌隆 东升 瑞丰 海川".split()
_COMPANY_TAILS = "建筑公司 劳务公司 工程公司 装饰公司 物业公司".split()
_VILLAGE_HEADS = "张庄 李集 王圩 刘湾 陈沟 赵桥 孙庙 周墩 吴圩 郑楼 冯庄 蒋湖".split()

# (tag for hashtags, phrasings). Slots: {c} estate, {r} road, {d} district, {s} school,
# {co} company, {v} village, {n} a small number, {b} a building number. Phrasings of one
# template are paraphrases of one question; a family fixes the template and the slots.
_TEMPLATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "老旧小区改造",
        (
            "{c}的老旧小区改造什么时候轮到？",
            "老旧小区改造什么时候轮到{c}？",
            "{c}什么时候纳入老旧小区改造？",
        ),
    ),
    (
        "加装电梯",
        (
            "{c}加装电梯的补贴怎么申请？",
            "{c}想加装电梯，补贴怎么申请？",
            "{c}加装电梯补贴去哪里申请？",
        ),
    ),
    (
        "加装电梯",
        (
            "{c}{b}号楼加装电梯，低层住户不同意怎么办？",
            "{c}{b}号楼加装电梯低楼层业主反对，怎么办？",
        ),
    ),
    (
        "物业费",
        ("{c}物业费涨价没有经过业主同意，合法吗？", "{c}物业费突然涨价，没有业主同意，合法吗？"),
    ),
    (
        "物业管理",
        (
            "{c}物业不作为，垃圾没人清运，能不能换物业？",
            "{c}的物业什么都不管，垃圾堆着没人清运，怎么换物业？",
        ),
    ),
    (
        "停车难",
        ("{c}停车位太少，晚上停车难，能不能规划停车场？", "{c}停车难，能不能在附近建停车场？"),
    ),
    ("公租房", ("{d}公租房申请条件是什么？", "在{d}申请公租房需要什么条件？")),
    (
        "公租房",
        (
            "{d}公租房轮候了{n}年还没分到，什么时候能分？",
            "公租房排了{n}年队还没分到，{d}什么时候分房？",
        ),
    ),
    ("拆迁安置", ("{v}拆迁安置房什么时候交房？", "{v}的安置房说好去年交房，什么时候能交？")),
    ("拆迁安置", ("{v}拆迁补偿标准是多少？", "{v}拆迁每平方米补偿多少钱？")),
    (
        "不动产登记",
        (
            "{c}交房{n}年了，房产证什么时候能办下来？",
            "{c}交房{n}年了不动产权证还没办，什么时候办？",
        ),
    ),
    ("公积金", ("公积金贷款额度是怎么计算的？", "公积金贷款能贷多少，额度怎么算？")),
    ("公积金", ("在{d}买二手房可以提取公积金吗？", "{d}二手房能不能提取公积金？")),
    ("学区划分", ("{d}的学区划分什么时候公布？", "{d}今年学区划分方案何时公布？")),
    ("学区划分", ("{c}属于{s}的学区吗？", "{c}划分在哪个学区，是{s}吗？")),
    (
        "入学",
        ("随迁子女在{d}上小学需要什么材料？", "外地户口孩子在{d}读小学，入学要准备哪些材料？"),
    ),
    ("课后服务", ("{s}课后服务收费合理吗？", "{s}的课后服务费是怎么定的？")),
    (
        "农民工工资",
        (
            "{co}拖欠农民工工资{n}个月了，找哪个部门？",
            "{co}欠我们农民工工资{n}个月，该去哪里投诉？",
        ),
    ),
    (
        "劳动仲裁",
        ("被{co}辞退没有补偿，怎么申请劳动仲裁？", "{co}辞退员工不给补偿，劳动仲裁怎么申请？"),
    ),
    ("社保卡", ("社保卡丢了在{d}哪里补办？", "在{d}补办社保卡去哪里办？")),
    ("养老保险", ("灵活就业人员养老保险在{d}怎么缴费？", "{d}灵活就业的养老保险怎么交？")),
    ("医保报销", ("{d}异地就医医保报销需要哪些材料？", "在外地住院回{d}医保报销要哪些材料？")),
    ("医保", ("城乡居民医保今年缴费什么时候截止？", "城乡居民医保今年交费截止日期是哪天？")),
    ("居住证", ("在{d}办居住证需要什么材料？", "{d}居住证办理要带哪些材料？")),
    ("户口迁移", ("孩子户口迁到{d}怎么办理？", "{d}户口迁移需要什么手续？")),
    (
        "非机动车道",
        (
            "{r}上的非机动车道被汽车占了，能不能管一管？",
            "{r}非机动车道天天被汽车占用，交警能不能管？",
        ),
    ),
    (
        "红绿灯",
        ("{r}和{r2}路口红绿灯时间太短，能不能调整？", "{r}与{r2}交叉口信号灯时间太短了，建议调整"),
    ),
    ("公交线路", ("{c}附近没有公交车，能不能增开公交线路？", "{c}出行不方便，希望开通公交线路")),
    ("道路施工", ("{r}道路施工{n}个月了，什么时候结束？", "{r}修了{n}个月了，什么时候完工？")),
    ("网约车", ("在{d}网约车司机从业资格证怎么办理？", "在{d}办网约车从业资格证去哪里办？")),
    ("路灯", ("{r}的路灯坏了{n}天了，什么时候修？", "{r}路灯不亮{n}天了，谁来修？")),
    (
        "垃圾分类",
        ("{c}垃圾分类后垃圾桶太少，能不能增加？", "{c}分类垃圾桶不够用，能不能多放几个？"),
    ),
    (
        "噪音扰民",
        ("{c}旁边工地夜间施工噪音扰民，怎么处理？", "{c}附近工地晚上施工太吵，能不能管一管？"),
    ),
    (
        "油烟扰民",
        ("{r}的饭店油烟扰民，环保部门能不能查？", "{r}餐馆油烟直排，熏得没法开窗，谁来管？"),
    ),
    ("黑臭水体", ("{v}的河道发黑发臭，什么时候治理？", "{v}河水又黑又臭，什么时候整治？")),
    ("家庭医生", ("{c}的家庭医生签约怎么办理？", "{c}居民怎么签约家庭医生？")),
    ("预约挂号", ("{d}人民医院预约挂号太难了，能不能改进？", "{d}人民医院挂号难，网上总约不到号")),
    (
        "食品安全",
        ("{s}门口的小摊卖三无食品，谁来管？", "{s}附近流动摊贩卖三无食品，市场监管能不能查？"),
    ),
    ("预付卡", ("{r}的健身房关门了，预付卡的钱怎么退？", "{r}一家健身房跑路，预付卡退费找谁？")),
    ("营商环境", ("在{d}办营业执照要跑几次？", "{d}开个体户办营业执照需要跑几趟？")),
    ("低保", ("{v}低保申请条件是什么？", "{v}家里困难，怎么申请低保？")),
    ("高龄津贴", ("{d}八十岁以上老人高龄津贴怎么领？", "{d}高龄津贴领取需要什么手续？")),
    ("居家养老", ("{c}有没有社区老年食堂？", "{c}附近能不能开一个老年食堂？")),
    ("宅基地", ("{v}宅基地翻建房屋需要审批吗？", "{v}老房子翻建要不要办宅基地审批？")),
    ("土地流转", ("{v}土地流转费一直没给，找谁？", "{v}流转的土地租金拖欠了，该找哪个部门？")),
    ("自来水", ("{v}自来水经常停水，什么时候解决？", "{v}三天两头停水，自来水什么时候能正常？")),
    ("燃气", ("{c}天然气什么时候通？", "{c}什么时候能通天然气管道？")),
    ("充电桩", ("{c}能不能安装电动汽车充电桩？", "{c}想装新能源汽车充电桩，物业不让装怎么办？")),
    ("12345热线", ("12345热线打了{n}次都没人处理，怎么办？", "打12345热线{n}次了问题还没处理")),
)

_SLOT = re.compile(r"\{(\w+)\}")


def _slots_of(phrasing: str) -> frozenset[str]:
    return frozenset(_SLOT.findall(phrasing))


# Every phrasing of a template names the same slots, so a family is one question.
assert all(len({_slots_of(p) for p in phrasings}) == 1 for _, phrasings in _TEMPLATES)

HASHTAG = "市长热线面对面"
_MICRO_ACCOUNTS = ("@宿迁之声", "@宿迁发布", "@宿迁住建", "@宿迁人社", "@宿迁交警", "@宿迁教育")
_MICRO_EMOTICONS = ("[怒]", "[求助]", "[哭]", "[微笑]", "[无奈]", "[心碎]")
_MICRO_NAMES = ("宿迁小王", "湖滨居民", "洋河人家", "运河边的猫", "项王故里", "一只小羊", "阿杰")
_CALL_GREETINGS = ("喂，主持人你好，", "喂，你好，", "领导好，", "主持人您好，", "喂喂，您好，")
_CALL_LEADS = ("我想问一下，", "我想反映一下，", "我想咨询一下，", "就是想问问，", "")
_CALL_TAILS = ("谢谢。", "谢谢领导。", "希望尽快解决，谢谢。", "")
_SURNAMES = tuple("张王李刘陈杨赵黄周吴徐孙朱马胡郭何高林罗")
_WEB_NAMES = ("市民", "居民", "家长", "上班族", "老党员", "退休教师", "网友")
_FULL_WIDTH = {code: code + 0xFEE0 for code in range(0x21, 0x7F)}
_FULL_WIDTH_DIGITS = {ord(c): ord(c) + 0xFEE0 for c in "0123456789"}
_MOBILE_PREFIXES = (
    "130 131 133 135 136 137 138 139 150 151 152 155 157 158 159 166 177 180 "
    "181 182 183 185 186 187 188 189 191 199"
).split()
_ID_AREAS = ("321302", "321311", "321322", "321323", "321324", "321371")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# (lexicon term, how an evader writes it)
_ABUSE = (
    ("狗官", "狗 官"),
    ("废物", "废-物"),
    ("垃圾政府", "垃 圾 政 府"),
    ("脑残", "脑．残"),
    ("混蛋", "混 蛋"),
    ("白痴", "白*痴"),
)
_ABUSE_FRAMES = ("{w}，{q}", "{q}这些{w}到底管不管？", "{q}一群{w}！", "{q} {w}！！")
_ILLEGAL = (
    "代办假证，各类证件，包过，有意私聊",
    "出售公民信息，手机号实名数据，量大从优",
    "六合彩内部资料，稳赚不赔，加群",
    "赌博网站注册送彩金，日赚千元",
)
_SPAM = (
    "兼职刷单日结，加微信{n}了解",
    "免费领取养老补贴，点击链接 http://{s}.xyz/get",
    "贷款秒批不看征信，加我QQ{n}",
    "扫码领红包 www.{s}.com",
)


def id_number_check(first17: str) -> str:
    """The GB 11643 check character of a resident ID number's first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


@dataclass(frozen=True, slots=True)
class Sample:
    """One question as its channel sends it."""

    number: int  #: position in the stream, from 1
    channel: str  #: web | microblog | hotline | radio
    text: str  #: as sent (raw: noise, dressing and personal data included)
    family: int  #: the real question it is; repeats share it
    repeat: bool  #: the family was asked before in the stream
    traits: frozenset[str]  #: traditional, fullwidth, abusive, evasion, illegal, spam,
    #: phone, id_number, too_short, too_long
    asker: str  #: who asked, stable per person (browser, microblog user or caller)
    asker_name: str
    phone: str  #: the caller's number (hotline and radio): a staff-only contact
    secrets: tuple[str, ...]  #: personal numbers (digits only) no public page may show


@dataclass(frozen=True, slots=True)
class _Family:
    template: int
    slots: dict[str, str]


class SampleStream:
    """An endless, deterministic stream of :class:`Sample` (see the module docstring).

    The shares are probabilities per question; ``channels`` weighs the channels.
    """

    def __init__(
        self,
        seed: int = 20260301,
        *,
        channels: dict[str, float] | None = None,
        new_family_share: float = 0.3,
        traditional: float = 0.05,
        fullwidth: float = 0.05,
        abusive: float = 0.04,
        illegal: float = 0.01,
        spam: float = 0.01,
        phone: float = 0.06,
        id_number: float = 0.01,
        invalid: float = 0.01,
        returning_asker: float = 0.03,
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        weights = channels or {"web": 3, "microblog": 4, "hotline": 2, "radio": 1}
        self._channels = list(weights)
        self._channel_weights = [weights[c] for c in self._channels]
        self.new_family_share = new_family_share
        self.shares = {
            "traditional": traditional,
            "fullwidth": fullwidth,
            "abusive": abusive,
            "illegal": illegal,
            "spam": spam,
            "phone": phone,
            "id_number": id_number,
            "invalid": invalid,
            "returning_asker": returning_asker,
        }
        self.families: list[_Family] = []
        self._keys: set[tuple[Any, ...]] = set()
        self._asked: list[int] = []  # one entry per question: family sizes weigh repeats
        self._askers: dict[str, list[tuple[str, str, str]]] = {}  # channel → (id, name, phone)
        self._count = 0
        self._s2t: Callable[[str], str] | None = None

    # -- the stream --------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Sample]:
        while True:
            yield self.next()

    def take(self, n: int) -> list[Sample]:
        return [self.next() for _ in range(n)]

    def next(self, channel: str | None = None) -> Sample:
        """The next question (on ``channel``, or a channel drawn by weight)."""
        rng = self.rng
        self._count += 1
        channel = channel or rng.choices(self._channels, self._channel_weights)[0]
        if not self._asked or rng.random() < self.new_family_share:
            family, repeat = self._new_family(), False
        else:
            family, repeat = rng.choice(self._asked), True
        self._asked.append(family)
        text = self._render(family, channel)
        traits: set[str] = set()
        secrets: list[str] = []
        text = self._misbehave(text, channel, traits, secrets)
        roll = rng.random()
        if roll < self.shares["traditional"]:
            text = self._traditional(text)
            traits.add("traditional")
        elif roll < self.shares["traditional"] + self.shares["fullwidth"]:
            text = text.translate(_FULL_WIDTH_DIGITS).replace("，", "， ")
            traits.add("fullwidth")
        asker, name, phone = self._asker(channel)
        if phone:
            secrets.append(phone)
        return Sample(
            self._count,
            channel,
            text,
            family,
            repeat,
            frozenset(traits),
            asker,
            name,
            phone,
            tuple(secrets),
        )

    # -- families and wording ------------------------------------------------------------

    def _estate(self) -> str:
        return self.rng.choice(_ESTATE_HEADS) + self.rng.choice(_ESTATE_TAILS)

    def _road(self) -> str:
        return self.rng.choice(_ROAD_HEADS) + self.rng.choice(_ROAD_TAILS)

    def _new_family(self) -> int:
        rng = self.rng
        while True:
            template = rng.randrange(len(_TEMPLATES))
            slots = {
                "c": self._estate(),
                "r": self._road(),
                "r2": self._road(),
                "d": rng.choice(_DISTRICTS),
                "s": rng.choice(_SCHOOL_HEADS) + rng.choice(_SCHOOL_TAILS),
                "co": rng.choice(_COMPANY_HEADS) + rng.choice(_COMPANY_TAILS),
                "v": rng.choice(_VILLAGE_HEADS) + "村",
                "n": str(rng.randint(2, 12)),
                "b": str(rng.randint(1, 30)),
            }
            used = _slots_of(_TEMPLATES[template][1][0])
            if "r2" in used:  # an intersection: two different roads, in either order
                if slots["r"] == slots["r2"]:
                    continue
                if slots["r"] > slots["r2"]:
                    slots["r"], slots["r2"] = slots["r2"], slots["r"]
            key = (template, *sorted((k, v) for k, v in slots.items() if k in used))
            if key not in self._keys:
                self._keys.add(key)
                self.families.append(_Family(template, slots))
                return len(self.families) - 1

    def _render(self, family: int, channel: str) -> str:
        rng = self.rng
        fam = self.families[family]
        tag, phrasings = _TEMPLATES[fam.template]
        text = rng.choice(phrasings).format(**fam.slots)
        if channel == "web":
            if rng.random() < 0.3:
                text = "请问" + text
            return text
        if channel == "microblog":
            text = text.rstrip("？?。") + rng.choice(("？？", "！", "？", "??", ""))
            if rng.random() < 0.5:
                text = f"#{tag}# " + text
            if rng.random() < 0.5:
                text = f"#{HASHTAG}# " + text
            if rng.random() < 0.6:
                text = text + " " + rng.choice(_MICRO_ACCOUNTS)
            if rng.random() < 0.3:
                text = rng.choice(_MICRO_EMOTICONS) + text
            if rng.random() < 0.1:
                text += " http://t.cn/" + "".join(
                    rng.choices("abcdefghijkmnpqrstuvwxyzAB23456789", k=7)
                )
            if rng.random() < 0.1:
                text = "同问！//" + rng.choice(_MICRO_ACCOUNTS) + "：" + text
            return text
        # hotline and radio: what the call taker typed, fillers and all
        body = text.rstrip("？?。")
        if rng.random() < 0.5:
            body = body.replace("，", "，那个，", 1)
        place = fam.slots["c"] if "{c}" in "".join(phrasings) else fam.slots["d"]
        who = rng.choice((f"我是{place}的居民，", f"我家住在{place}，", ""))
        lead = "听众来电：" if channel == "radio" and rng.random() < 0.5 else ""
        return (
            lead
            + rng.choice(_CALL_GREETINGS)
            + who
            + rng.choice(_CALL_LEADS)
            + "就是"
            + body
            + rng.choice(("啊？", "呢？", "？"))
            + rng.choice(_CALL_TAILS)
        )

    def _misbehave(self, text: str, channel: str, traits: set[str], secrets: list[str]) -> str:
        """Abuse, illegal offers, spam, personal data and invalid submissions."""
        rng = self.rng
        shares = self.shares
        roll = rng.random()
        if roll < shares["abusive"]:
            word, evasion = rng.choice(_ABUSE)
            if rng.random() < 0.5:
                word = evasion
                traits.add("evasion")
            traits.add("abusive")
            return rng.choice(_ABUSE_FRAMES).format(w=word, q=text)
        roll -= shares["abusive"]
        if roll < shares["illegal"]:
            traits.add("illegal")
            return rng.choice(_ILLEGAL)
        roll -= shares["illegal"]
        if roll < shares["spam"]:
            traits.add("spam")
            code = "".join(rng.choices("abcdefghjkmnpqrstuvwxyz", k=6))
            return rng.choice(_SPAM).format(n=rng.randint(10_000_000, 99_999_999), s=code)
        roll -= shares["spam"]
        if roll < shares["phone"]:
            number = self._mobile()
            secrets.append(number)
            traits.add("phone")
            shown = rng.choice(
                (
                    number,
                    f"{number[:3]} {number[3:7]} {number[7:]}",
                    f"+86 {number[:3]}-{number[3:7]}-{number[7:]}",
                    number.translate(_FULL_WIDTH_DIGITS),
                )
            )
            return text + rng.choice(("我的电话", "联系电话：", "手机", "有事打我电话")) + shown
        roll -= shares["phone"]
        if roll < shares["id_number"]:
            number = self._id_number()
            secrets.append(number)
            traits.add("id_number")
            return text + "我的身份证号是" + number
        roll -= shares["id_number"]
        if roll < shares["invalid"] and channel == "web":
            if rng.random() < 0.5:
                traits.add("too_short")
                return rng.choice(("？", "啊", "。。", "1"))
            traits.add("too_long")
            return (text + "具体情况如下：") * 40
        return text

    # -- people and numbers --------------------------------------------------------------

    def _asker(self, channel: str) -> tuple[str, str, str]:
        """(asker id, name, phone): mostly new people; a few ask again."""
        rng = self.rng
        seen = self._askers.setdefault(channel, [])
        if seen and rng.random() < self.shares["returning_asker"]:
            return rng.choice(seen)
        number = len(seen) + 1
        phone = ""
        if channel == "web":
            name = rng.choice(("", f"{rng.choice(_WEB_NAMES)}{rng.choice(_SURNAMES)}"))
            asker = f"web-{number}"
        elif channel == "microblog":
            name = f"{rng.choice(_MICRO_NAMES)}{rng.randint(1, 9999)}"
            asker = str(5_000_000_000 + number)
        else:
            name = rng.choice(_SURNAMES) + rng.choice(("先生", "女士", "师傅", "大爷", "阿姨"))
            phone = self._mobile()
            asker = phone
        person = (asker, name, phone)
        seen.append(person)
        return person

    def _mobile(self) -> str:
        return self.rng.choice(_MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def _id_number(self) -> str:
        rng = self.rng
        born = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        first17 = rng.choice(_ID_AREAS) + born + f"{rng.randrange(1000):03d}"
        return first17 + id_number_check(first17)

    def _traditional(self, text: str) -> str:
        if self._s2t is None:
            from opencc import OpenCC

            self._s2t = OpenCC("s2t").convert
        return self._s2t(text)

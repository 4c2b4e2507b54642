"""Sector of a question (education, housing, transport …), by a method staff improve.

Method: multinomial naive Bayes over the question's content words (jieba, with the
government-domain dictionary and the stop-word list of moderation.similarity), with
Laplace smoothing. Its training data are
1. the seed keywords of each sector below, each counted as a short document, and
2. every question whose sector a staff member or host corrected (``sector_source ==
   "staff"``), each counted ``CORRECTION_WEIGHT`` times,
so every correction moves later questions that use the same words. A question none of
whose words the model knows is "other". The model is rebuilt when the corrections
change (a version in the shared cache, as for the screening lexicon).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.db import models
from django.utils.translation import gettext_lazy as _

from moderation.versioned import VersionedBuild

CORRECTIONS_VERSION_KEY = "moderation:sector-corrections-version"
CORRECTION_WEIGHT = 3


class Sector(models.TextChoices):
    EDUCATION = "education", _("Education")
    HOUSING = "housing", _("Housing and construction")
    LABOUR = "labour", _("Labour and social security")
    SECURITY = "security", _("Public security")
    TRANSPORT = "transport", _("Transport")
    ENVIRONMENT = "environment", _("Environment")
    HEALTH = "health", _("Health")
    MARKET = "market", _("Market regulation")
    CIVIL = "civil", _("Civil affairs")
    AGRICULTURE = "agriculture", _("Agriculture")
    OTHER = "other", _("Other")


SEED_KEYWORDS: dict[str, list[str]] = {
    Sector.EDUCATION: [
        "学校",
        "学区",
        "学位",
        "入学",
        "教师",
        "幼儿园",
        "小学",
        "中学",
        "招生",
        "课后服务",
        "校车",
        "学费",
        "教育",
        "划片",
        "中考",
        "高考",
        "培训机构",
    ],
    Sector.HOUSING: [
        "小区",
        "物业",
        "老旧小区改造",
        "加装电梯",
        "房产证",
        "不动产登记",
        "公租房",
        "拆迁",
        "安置",
        "楼道",
        "漏水",
        "业主委员会",
        "物业费",
        "住房",
        "公积金",
        "开发商",
        "违建",
        "装修",
    ],
    Sector.LABOUR: [
        "工资",
        "欠薪",
        "社保",
        "养老金",
        "失业",
        "就业",
        "劳动合同",
        "农民工",
        "退休",
        "医保卡",
        "社保卡",
        "招聘",
        "工伤",
        "养老保险",
    ],
    Sector.SECURITY: [
        "派出所",
        "报警",
        "治安",
        "诈骗",
        "盗窃",
        "户口",
        "身份证",
        "居住证",
        "交警",
        "打架",
        "安全隐患",
        "警察",
    ],
    Sector.TRANSPORT: [
        "公交",
        "地铁",
        "道路",
        "红绿灯",
        "停车",
        "堵车",
        "出租车",
        "网约车",
        "高铁",
        "站台",
        "非机动车道",
        "修路",
        "路灯",
        "驾驶证",
        "车站",
    ],
    Sector.ENVIRONMENT: [
        "噪音",
        "污染",
        "垃圾",
        "垃圾分类",
        "油烟",
        "排污",
        "河道",
        "绿化",
        "扬尘",
        "臭味",
        "环境",
        "施工噪音",
        "废气",
        "黑臭水体",
    ],
    Sector.HEALTH: [
        "医院",
        "医保",
        "看病",
        "挂号",
        "医生",
        "疫苗",
        "药店",
        "报销",
        "门诊",
        "卫生",
        "社区卫生服务中心",
        "体检",
        "药品",
    ],
    Sector.MARKET: [
        "价格",
        "食品安全",
        "商家",
        "消费",
        "投诉",
        "假货",
        "超市",
        "菜市场",
        "虚假宣传",
        "退款",
        "市场监管",
        "缺斤少两",
        "营业执照",
    ],
    Sector.CIVIL: [
        "低保",
        "养老院",
        "婚姻登记",
        "殡葬",
        "残疾人",
        "救助",
        "社区",
        "居委会",
        "老年人",
        "养老服务",
        "困难家庭",
        "慈善",
    ],
    Sector.AGRICULTURE: [
        "农村",
        "农民",
        "种植",
        "养殖",
        "土地流转",
        "农业",
        "粮食",
        "补贴",
        "化肥",
        "农田",
        "灌溉",
        "村里",
        "宅基地",
    ],
}


# Compound words the government-domain dictionary keeps whole (jieba does not split them,
# so the sector must know them as they are).
SEED_KEYWORDS[Sector.LABOUR] += ["农民工工资", "拖欠", "拖欠工资", "维权", "劳动仲裁", "加班费"]
SEED_KEYWORDS[Sector.TRANSPORT] += [
    "公交车",
    "公交线路",
    "区间车",
    "早高峰",
    "晚高峰",
    "停车难",
    "停车位",
    "共享单车",
]


SEED_KEYWORDS[Sector.TRANSPORT] += ["公交站台", "遮雨棚"]


@dataclass(frozen=True)
class _Model:
    log_prior: dict[str, float]
    log_likelihood: dict[str, dict[str, float]]
    log_unknown: dict[str, float]
    vocabulary: frozenset[str]


def _words(text: str) -> list[str]:
    from moderation.similarity import get_analyzer

    return [w for w in get_analyzer().tokens(text) if len(w) > 1 or w.isalpha()]


def _train() -> _Model:
    from hub.models import Question

    docs: dict[str, Counter[str]] = {s: Counter() for s in SEED_KEYWORDS}
    doc_counts: Counter[str] = Counter()
    for sector, keywords in SEED_KEYWORDS.items():
        for keyword in keywords:
            docs[sector].update(_words(keyword) or [keyword])
            docs[sector][keyword] += 1
            doc_counts[sector] += 1
    corrected = Question.objects.filter(sector_source="staff").exclude(sector="other")
    for sector, text in corrected.values_list("sector", "text").iterator():
        if sector in docs:
            for _ in range(CORRECTION_WEIGHT):
                docs[sector].update(_words(text))
            doc_counts[sector] += CORRECTION_WEIGHT
    vocabulary = frozenset(w for counts in docs.values() for w in counts)
    total_docs = sum(doc_counts.values())
    log_prior = {s: math.log(doc_counts[s] / total_docs) for s in docs}
    log_likelihood: dict[str, dict[str, float]] = {}
    log_unknown: dict[str, float] = {}
    for sector, counts in docs.items():
        denominator = sum(counts.values()) + len(vocabulary)
        log_likelihood[sector] = {w: math.log((n + 1) / denominator) for w, n in counts.items()}
        log_unknown[sector] = math.log(1 / denominator)
    return _Model(log_prior, log_likelihood, log_unknown, vocabulary)


#: This process's model; retrained whenever staff correct a sector.
model = VersionedBuild(CORRECTIONS_VERSION_KEY, _train)


def bump_corrections_version() -> None:
    model.bump()


def classify(text: str) -> str:
    """The most likely sector of ``text``, or "other" when none of its words is known."""
    return _classify(model.get(), text)


def classifier() -> Callable[[str], str]:
    """:func:`classify` with the model read once, for a batch of questions."""
    return partial(_classify, model.get())


def _classify(trained: _Model, text: str) -> str:
    words = [w for w in _words(text) if w in trained.vocabulary]
    if not words:
        return Sector.OTHER
    best, best_score = Sector.OTHER.value, -math.inf
    for sector, prior in trained.log_prior.items():
        likelihood = trained.log_likelihood[sector]
        unknown = trained.log_unknown[sector]
        score = prior + sum(likelihood.get(w, unknown) for w in words)
        if score > best_score:
            best, best_score = str(sector), score
    return best

"""The starter lexicon and default policies, shared by the data migration and tests."""

from __future__ import annotations

from typing import Any

POLICIES = {"abuse": "hold", "personal_data": "mask", "illegal": "reject", "spam": "hold"}

TERMS = {
    "abuse": [
        "傻逼",
        "傻B",
        "脑残",
        "去死",
        "滚蛋",
        "废物",
        "狗官",
        "混蛋",
        "王八蛋",
        "白痴",
        "垃圾政府",
        "你妈",
    ],
    "illegal": [
        "出售枪支",
        "买卖枪支",
        "代办假证",
        "办假证",
        "贩卖毒品",
        "出售毒品",
        "赌博网站",
        "六合彩",
        "出售公民信息",
    ],
    "spam": [
        "加微信",
        "加V",
        "代开发票",
        "低价办证",
        "刷单兼职",
        "免费领取",
        "点击链接",
        "扫码领",
        "贷款秒批",
        "加我QQ",
    ],
}


def seed(policy_model: Any, entry_model: Any) -> None:
    for category, action in POLICIES.items():
        policy_model.objects.get_or_create(category=category, defaults={"action": action})
    for category, terms in TERMS.items():
        for term in terms:
            entry_model.objects.get_or_create(term=term, defaults={"category": category})

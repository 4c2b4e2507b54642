"""The starter list of phrases that block a reply (雷人回复), shared by the data migration,
the demo and the tests. Staff extend and switch them off in the admin.

Sources: the rude replies cited in the seeds (a district mayor's mailbox answering "如果对此
有不满，建议另谋高就"; an official microblog's "你不说话没人把你当哑巴"; a county police
account's "家里人又违法了吧？找公安的茬") and the failures the State Council guidance on
government new media names: evasive answers (答非所问), empty preaching (空洞说教) and cold
refusals (生硬冷漠).
"""

from __future__ import annotations

from typing import Any

TERMS: dict[str, list[str]] = {
    "rude": [
        "另谋高就",
        "你不说话没人把你当哑巴",
        "没人把你当哑巴",
        "家里人又违法了吧",
        "找公安的茬",
        "赶紧溜回办公室",
        "爱信不信",
        "你算老几",
        "有本事你去告",
        "关你什么事",
        "少管闲事",
        "别无理取闹",
    ],
    "evasive": [
        "此事不归我们管",
        "不归我们管",
        "无可奉告",
        "不清楚具体情况",
        "请自行",
        "自己想办法",
    ],
    "preachy": [
        "要体谅政府",
        "要多理解政府",
        "请提高自身素质",
        "要有大局意识",
        "不要给政府添乱",
        "多从自身找原因",
    ],
    "cold": [
        "找别的部门",
        "去找街道",
        "不要再打电话",
        "不予答复",
    ],
}


def seed(term_model: Any) -> None:
    for category, terms in TERMS.items():
        for term in terms:
            term_model.objects.get_or_create(term=term, defaults={"category": category})

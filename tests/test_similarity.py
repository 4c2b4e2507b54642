"""Finding the same question across channels (moderation/similarity.py). No database."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import jieba
import pytest

from moderation import similarity as sim
from moderation.similarity import (
    MERGE_THRESHOLD,
    SUGGEST_THRESHOLD,
    Analyzer,
    Features,
    Match,
    NaiveIndex,
    SimilarityIndex,
    candidate_probability,
    get_analyzer,
    similarity,
)
from tests.bench.intake_similarity import QuestionFactory

WEB = "老旧小区改造什么时候轮到幸福花园小区？"
MICROBLOG = "#市长热线# @宿迁之声 幸福花园小区的老旧小区改造什么时候能轮到啊？？ http://t.cn/A6x9Zq"
RADIO = (
    "喂，主持人你好，我是幸福花园小区的居民，我想问一下，就是我们小区的老旧小区改造，"
    "啥时候能轮到我们啊？谢谢。"
)


def verdict(a: str, b: str) -> str:
    return SimilarityIndex().classify(similarity(a, b))


# --- the three channels -------------------------------------------------------------------


def test_the_same_question_from_web_microblog_and_radio_scores_merge_pairwise() -> None:
    for a, b in ((WEB, MICROBLOG), (WEB, RADIO), (MICROBLOG, RADIO)):
        assert similarity(a, b) >= MERGE_THRESHOLD, (a, b)
        assert verdict(a, b) == "merge"


def test_the_microblog_and_radio_copies_find_the_web_question_first_and_merge() -> None:
    index = SimilarityIndex()
    index.add(1, WEB)
    index.add(2, "幸福花园小区的物业费为什么这么贵？")
    index.add(3, "阳光家园的老旧小区改造什么时候开始？")
    for text in (MICROBLOG, RADIO):
        best = index.candidates(text)[0]
        assert best.question_id == 1
        assert index.classify(best.score) == "merge"


def test_a_copy_that_changes_the_verb_is_only_suggested() -> None:
    # A known limit of a lexical score: 开始 ("start") for 轮到 ("reach us"), plus 小区.
    web = "老旧小区改造什么时候轮到幸福花园？"
    microblog = "#市长热线# 幸福花园小区的老旧小区改造啥时候开始"
    assert verdict(web, microblog) == "suggest"


def test_channel_noise_leaves_the_features_unchanged() -> None:
    analyzer = get_analyzer()
    plain = analyzer.features("城北新区的学区划分什么时候公布？")
    for noisy in (
        "@宿迁教育 城北新区的学区划分什么时候公布？？",
        "[怒]#学区划分# 城北新区的学区划分什么时候公布！！ http://t.cn/Rx7abc2",
        "同问！//@宿迁之声：城北新区的学区划分什么时候公布",
        "回复@小明同学:城北新区的学区划分什么时候公布",
        "请问一下，城北新区的学区划分到底什么时候公布呢？谢谢！",
    ):
        assert analyzer.features(noisy) == plain, noisy


def test_traditional_and_full_width_variants_match_the_simplified_question() -> None:
    index = SimilarityIndex()
    index.add(7, "幸福花园3号楼加装电梯的补贴怎么申请？")
    index.add(8, WEB)
    for text, expected in (
        ("幸福花園３號樓加裝電梯的補貼怎麼申請？", 7),
        ("幸福花园３号楼加装电梯的补贴怎么申请?", 7),
        ("請問幸福花園小區老舊小區改造什麼時候輪到？", 8),
        ("老旧小区改造　什么时候　轮到　幸福花园小区", 8),
    ):
        best = index.candidates(text)[0]
        assert best == Match(expected, 1.0), text


# --- paraphrases and different questions ---------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("幸福花园小区加装电梯的补贴怎么申请？", "幸福花园加装电梯有补贴吗，去哪里申请？"),
        ("城北新区的学区划分什么时候公布？", "城北新区学区划分方案何时出台？"),
        ("公积金贷款额度是怎么计算的？", "请问一下公积金贷款额度怎么算啊？"),
        (
            "人民路上的非机动车道被汽车占了，能不能管一管？",
            "人民路非机动车道老是被汽车占着，能不能管管？",
        ),
        (
            "我们公司拖欠农民工工资三个月了，该找哪个部门？",
            "领导好，我是在工地上干活的，我们公司拖欠农民工工资已经三个月了，应该找哪个部门？",
        ),
    ],
)
def test_a_paraphrase_is_at_least_suggested(a: str, b: str) -> None:
    assert verdict(a, b) in ("suggest", "merge"), similarity(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("公租房申请条件是什么？", "公积金贷款额度是怎么计算的？"),
        ("公租房申请条件是什么？", "公租房租金可以用公积金支付吗？"),
        ("老旧小区改造什么时候轮到幸福花园？", "幸福花园小区的物业费为什么这么贵？"),
        ("幸福花园小区加装电梯的补贴怎么申请？", "幸福花园小区老旧小区改造什么时候开始？"),
        ("拆迁安置房什么时候交房？", "安置房的房产证什么时候能办下来？"),
        ("翠园小区物业费涨价没有经过业主同意，合法吗？", "翠园小区停车位太少，能不能增加？"),
    ],
)
def test_different_housing_questions_score_none(a: str, b: str) -> None:
    assert verdict(a, b) == "none", similarity(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("幸福花园小区加装电梯的补贴怎么申请？", "阳光小区加装电梯的补贴怎么申请？"),
        (
            "西湖大道餐馆油烟直排，熏得没法开窗，谁来管？",
            "学院大道餐馆油烟直排，熏得没法开窗，谁来管？",
        ),
        (
            "嘉禾雅居2号楼加装电梯，低楼层业主反对怎么办？",
            "嘉禾雅居28号楼加装电梯，低楼层业主反对怎么办？",
        ),
    ],
)
def test_the_same_question_about_another_place_is_never_merged_automatically(
    a: str, b: str
) -> None:
    assert verdict(a, b) != "merge", similarity(a, b)


def test_naming_different_places_keeps_even_long_identical_questions_below_merge() -> None:
    complaint = "餐馆油烟直排，熏得没法开窗，晚上还在门口烧烤到十二点，污水倒进雨水管，谁来管？"
    a, b = "西湖大道" + complaint, "学院大道" + complaint
    features = get_analyzer().features(a)
    assert features.names == {"@西湖大道"}
    assert 0.5 <= similarity(a, b) < MERGE_THRESHOLD
    assert similarity(a, "西湖大道那边" + complaint) == 1.0  # the same place: no penalty


def test_the_question_word_tells_when_from_how() -> None:
    analyzer = get_analyzer()
    assert "?when" in analyzer.features("加装电梯啥时候开始").items
    assert analyzer.features("加装电梯啥时候开始") == analyzer.features("加装电梯什么时候开始")
    assert "?how" in analyzer.features("加装电梯补贴如何申请").items
    assert verdict("幸福花园加装电梯什么时候开始？", "幸福花园加装电梯怎么申请？") == "none"


# --- scores ------------------------------------------------------------------------------


def test_scores_are_symmetric_bounded_and_one_for_identical_texts() -> None:
    texts = [WEB, MICROBLOG, RADIO, "公租房申请条件是什么？", "社保卡丢了在哪里补办？", ""]
    for a in texts:
        for b in texts:
            assert 0.0 <= similarity(a, b) <= 1.0
            assert similarity(a, b) == similarity(b, a)
    assert similarity(WEB, WEB) == 1.0
    assert similarity("", "") == 0.0  # nothing to compare: never a match


def test_rarer_words_weigh_more_than_common_ones() -> None:
    analyzer = get_analyzer()
    assert analyzer.weight("物业费") > analyzer.weight("开始")
    assert analyzer.weight("@幸福花园") == sim.NAME_WEIGHT
    assert analyzer.weight("?when") == sim.INTENT_WEIGHT
    assert sim.MIN_WEIGHT <= analyzer.weight("的的的") <= sim.MAX_WEIGHT


def test_classify_uses_the_documented_default_thresholds() -> None:
    index = SimilarityIndex()
    assert (MERGE_THRESHOLD, SUGGEST_THRESHOLD) == (0.8, 0.5)
    assert [index.classify(s) for s in (1.0, 0.8, 0.79, 0.5, 0.49, 0.0)] == [
        "merge",
        "merge",
        "suggest",
        "suggest",
        "none",
        "none",
    ]


def test_thresholds_can_be_configured_and_nonsense_is_refused() -> None:
    index = NaiveIndex(merge_threshold=0.9, suggest_threshold=0.3)
    assert [index.classify(s) for s in (0.85, 0.3, 0.29)] == ["suggest", "suggest", "none"]
    for merge, suggest in ((0.4, 0.5), (0.8, 0.0), (1.1, 0.5)):
        with pytest.raises(ValueError):
            SimilarityIndex(merge_threshold=merge, suggest_threshold=suggest)
    with pytest.raises(ValueError):
        SimilarityIndex(num_perm=64, bands=40, rows=3)


# --- the index ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [SimilarityIndex, NaiveIndex])
def test_removed_questions_are_no_longer_found(cls: Any) -> None:
    index = cls()
    index.add(1, WEB)
    index.add(2, "公租房申请条件是什么？")
    assert len(index) == 2 and 1 in index
    index.remove(1)
    assert len(index) == 1 and 1 not in index
    assert index.candidates(MICROBLOG) == []
    assert [m.question_id for m in index.candidates("公租房的申请条件？")] == [2]
    with pytest.raises(KeyError):
        index.remove(1)


@pytest.mark.parametrize("cls", [SimilarityIndex, NaiveIndex])
def test_adding_an_id_again_replaces_its_text(cls: Any) -> None:
    index = cls()
    index.add(5, WEB)
    index.add(5, "社保卡丢了在哪里补办？")
    assert len(index) == 1
    assert index.candidates(WEB) == []
    assert index.candidates("社保卡丢了去哪里补办")[0] == Match(5, 1.0)


def test_the_same_text_asked_many_times_is_returned_for_every_asker_in_id_order() -> None:
    index = SimilarityIndex()
    for question_id in (30, 10, 20):
        index.add(question_id, WEB)
    index.add(40, "阳光家园的老旧小区改造什么时候轮到？")
    found = index.candidates(MICROBLOG, limit=3)
    assert [m.question_id for m in found] == [10, 20, 30]
    assert len({m.score for m in found}) == 1
    index.remove(10)
    assert [m.question_id for m in index.candidates(MICROBLOG, limit=2)] == [20, 30]
    assert len(index) == 3


def test_candidates_are_best_first_and_respect_the_limit() -> None:
    index = SimilarityIndex()
    texts = {
        1: "幸福花园小区加装电梯的补贴怎么申请？",
        2: "幸福花园加装电梯有补贴吗，去哪里申请？",
        3: "阳光小区加装电梯的补贴怎么申请？",
        4: "公租房申请条件是什么？",
    }
    for question_id, text in texts.items():
        index.add(question_id, text)
    found = index.candidates(texts[1], limit=10)
    assert found[0] == Match(1, 1.0)
    assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)
    assert all(m.score > 0 for m in found)
    assert len(index.candidates(texts[1], limit=2)) == 2
    with pytest.raises(ValueError):
        index.candidates(texts[1], limit=0)


def test_rebuild_gives_the_same_answers_as_adding_one_by_one() -> None:
    pairs = [(q.question_id, q.text) for q in QuestionFactory(seed=7).generate(120)]
    incremental = SimilarityIndex()
    for question_id, text in pairs:
        incremental.add(question_id, text)
    rebuilt = SimilarityIndex.rebuild(iter(pairs), merge_threshold=0.85)
    assert rebuilt.merge_threshold == 0.85
    assert len(rebuilt) == len(incremental) == 120
    for _, text in pairs[::10]:
        assert rebuilt.candidates(text) == incremental.candidates(text)
    assert len(NaiveIndex.rebuild(pairs)) == 120


def test_lookups_stay_right_while_insertions_are_buffered_merged_and_removed() -> None:
    questions = QuestionFactory(seed=11).generate(150)
    index = SimilarityIndex(buffer_docs=7)  # merges into the sorted arrays every 7 new sets
    naive = NaiveIndex()
    for q in questions:
        index.add(q.question_id, q.text)
        naive.add(q.question_id, q.text)
    for q in questions[::3]:
        index.remove(q.question_id)
        naive.remove(q.question_id)
    removed = {q.question_id for q in questions[::3]}
    near = 0
    for q in questions[1:40]:  # some still pending, some merged, some removed
        lsh, exact = index.candidates(q.text), naive.candidates(q.text)
        assert not removed & {m.question_id for m in lsh}
        # The bands are for near-duplicates: a removed question asked once has none left.
        if exact and exact[0].score >= SUGGEST_THRESHOLD:
            near += 1
            assert lsh and lsh[0] == exact[0]
    assert near >= 30
    index.compact()
    assert index._pending == {} and len(index) == len(naive) == 100
    assert all(index._groups[s] is not None for s in set(index._slots.tolist()))


def test_lsh_finds_the_same_best_match_as_the_naive_index_on_generated_questions() -> None:
    factory = QuestionFactory(seed=2026)
    stored = factory.generate(400)
    queries = factory.queries(200, stored)
    lsh, naive = SimilarityIndex(), NaiveIndex()
    for q in stored:
        lsh.add(q.question_id, q.text)
        naive.add(q.question_id, q.text)
    near_duplicates = agree = 0
    for query in queries:
        exact = naive.candidates(query.text, limit=1)
        if not exact or exact[0].score < SUGGEST_THRESHOLD:
            continue
        near_duplicates += 1
        found = lsh.candidates(query.text, limit=1)
        agree += bool(found) and found[0].score == exact[0].score
    assert near_duplicates >= 100
    assert agree / near_duplicates >= 0.95


def test_empty_and_very_short_texts_do_not_crash() -> None:
    index = SimilarityIndex()
    naive = NaiveIndex()
    odd = [
        "",
        " ",
        "？？？",
        "你好",
        "嗯",
        "a",
        "1",
        "😀😀",
        "@宿迁之声",
        "http://t.cn/x",
        "#",
        "的了吗",
    ]
    for question_id, text in enumerate(odd):
        index.add(question_id, text)
        naive.add(question_id, text)
        assert isinstance(index.candidates(text), list)
        assert isinstance(naive.candidates(text), list)
    assert len(index) == len(naive) == len(odd)
    assert index.candidates("") == [] and index.candidates("你好") == []
    index.add(100, WEB)
    assert [m.question_id for m in index.candidates(RADIO)] == [100]
    for question_id in range(len(odd)):
        index.remove(question_id)
    assert len(index) == 1


# --- MinHash LSH -------------------------------------------------------------------------


def test_the_lsh_bands_catch_similar_sets_and_rarely_dissimilar_ones() -> None:
    assert candidate_probability(0.5) > 0.99
    assert candidate_probability(0.4) > 0.9
    assert candidate_probability(0.1) < 0.05


def test_signatures_are_stable_across_indexes_and_processes() -> None:
    features = get_analyzer().features(WEB)
    a, b = SimilarityIndex(), SimilarityIndex()
    assert (a.band_keys(features) == b.band_keys(features)).all()
    assert len(set(a.band_keys(features).tolist())) == a.bands
    # blake2b, not Python's per-process salted hash(): the same number in every process
    assert sim._h32("公积金") == int.from_bytes(
        __import__("hashlib").blake2b("公积金".encode(), digest_size=4).digest(), "little"
    )
    assert a.minhash(features).jaccard(a.minhash(features)) == 1.0


# --- dictionaries and loading ------------------------------------------------------------


def test_the_user_dictionary_keeps_government_terms_whole() -> None:
    tokens = get_analyzer().tokens("请问老旧小区改造和加装电梯的公积金提取，12345热线怎么说？")
    assert {"老旧小区改造", "加装电梯", "公积金提取", "12345热线"} <= set(tokens)
    assert "请问" not in tokens and "的" not in tokens


def test_the_data_files_are_well_formed() -> None:
    lines = sim.USERDICT_PATH.read_text(encoding="utf-8").splitlines()
    assert 150 <= len(lines) <= 250
    words = [line.split(" ")[0] for line in lines]
    assert len(set(words)) == len(words)
    assert all(re.fullmatch(r"\S+ \d+ [a-z]+", line) for line in lines)
    stop = get_analyzer().stopwords
    assert {"请问", "什么", "怎么", "能不能", "的", "了", "吗", "呢", "我们", "一下"} <= stop
    assert {"希望", "相关部门"} <= stop
    # the one deliberate overlap: kept whole by the dictionary, then dropped as boilerplate
    assert set(words) & stop == {"市长热线"}


def test_the_analyzer_loads_its_own_tokenizer_once_even_when_threads_race(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    created: list[Any] = []
    real = jieba.Tokenizer

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            created.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(jieba, "Tokenizer", Counting)
    analyzer = Analyzer()
    results: list[Features] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        barrier.wait()
        results.append(analyzer.features(RADIO))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(created) == 1
    assert created[0] is not jieba.dt  # not the global tokenizer
    assert analyzer.tokenizer is created[0]
    assert len(results) == 6 and all(r == results[0] for r in results)
    assert results[0] == get_analyzer().features(RADIO)


@pytest.mark.parametrize("copies", [4, 5, 6, 9])
def test_a_question_asked_word_for_word_again_gets_what_the_full_search_gives(
    copies: int,
) -> None:
    # With at least `limit` stored copies of the very same features the index answers from
    # that group alone; with fewer it searches. Either way: the naive scan's answer.
    text = "老旧小区改造什么时候轮到我们幸福花园小区？"
    others = [
        "幸福花园小区老旧小区改造什么时候开始？",
        "老旧小区改造什么时候轮到阳光小区？",
        "幸福花园小区的楼道灯坏了没人修",
    ]
    index, naive = SimilarityIndex(buffer_docs=3), NaiveIndex()
    pairs = [(i, t) for i, t in enumerate(others, start=1)]
    # Copies among the others, in words that fold to the same features (width, 繁體, fillers).
    variants = [text, f"请问{text}", "老舊小區改造什麼時候輪到我們幸福花園小區？", f"  {text}！"]
    pairs += [(100 + 7 * k, variants[k % len(variants)]) for k in range(copies)]
    for question_id, words in pairs:
        index.add(question_id, words)
        naive.add(question_id, words)
    assert len({index.analyzer.features(words).items for _, words in pairs[3:]}) == 1
    for limit in (1, 3, 5, 6):
        assert index.candidates(text, limit=limit) == naive.candidates(text, limit=limit)
    assert index.candidates(text, limit=5)[0] == Match(100, 1.0)

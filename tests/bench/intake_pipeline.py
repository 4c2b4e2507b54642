"""Throughput of the whole intake pipeline (normalise, screen, store, merge, notify).

    python -m tests.bench.intake_pipeline --questions 1000 [--database-url URL]

Builds a fresh database (SQLite file in a temp folder by default, or the PostgreSQL URL
given, which must name a database this script may drop and create), loads the demo, then
takes in N generated questions one after another through ``do_intake_question`` exactly
as the web API does, and prints questions per second. This is the baseline for issue 3's
target of 1,000 questions/s; it measures one thread, as one web worker runs it.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="intake-bench-")
    url = args.database_url or f"sqlite:///{folder}/bench.sqlite3"
    os.environ["HUB_DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    if url.startswith("postgres"):
        import psycopg

        base, _, name = url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_demo", verbosity=0)
    from hub.intake.pipeline import IntakeItem, do_intake_question
    from hub.models import LiveSession, Question

    session_id = LiveSession.objects.get(slug="demo").pk
    rng = random.Random(1)
    places = ["幸福花园", "洋河新城", "古黄河畔", "宿城区", "湖滨新区", "运河小区", "金鹰广场"]
    topics = [
        "老旧小区改造",
        "路灯不亮",
        "物业费上涨",
        "学区划分",
        "公交线路",
        "垃圾清运",
        "噪音扰民",
        "停车难",
        "加装电梯",
        "医保报销",
    ]
    endings = ["什么时候能解决？", "能不能尽快处理？", "希望相关部门管一管。", "请问进展如何？"]
    texts = [
        f"{rng.choice(places)}{rng.choice(topics)}的问题{rng.choice(endings)}第{i}号"
        for i in range(args.questions)
    ]
    started = time.perf_counter()
    for i, text in enumerate(texts):
        do_intake_question(
            IntakeItem(session_id=session_id, channel="web", text=text, asker_ref=f"bid:{i}")
        )
    elapsed = time.perf_counter() - started
    merged = Question.objects.filter(state="merged").count()
    engine = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    sys.stdout.write(
        f"intake pipeline, {engine}: {args.questions} questions in {elapsed:.1f} s = "
        f"{args.questions / elapsed:.0f} questions/s (one thread; {merged} auto-merged)\n"
    )


if __name__ == "__main__":
    main()

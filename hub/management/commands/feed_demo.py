"""Feed a running hub's session with realistic questions through its public interfaces,
as a busy all-media Q&A would, then check that no personal number reached a public page.

    .venv/bin/python manage.py feed_demo [--url http://127.0.0.1:8000] [--session demo]
        [--count 5000] [--approve 40]

The questions come from :class:`hub.intake.samples.SampleStream`: many near-duplicates of
popular questions across channels (paraphrases, channel noise, traditional characters,
full-width digits), abuse (some spaced out to evade a filter), illegal offers, spam,
mobile and ID numbers in the text, callers' numbers as contacts. They are sent exactly
as the outside world sends them, several requests at a time (``--workers``):

* **web**: ``POST /api/sessions/{slug}/questions``, one request per question, each
  simulated citizen with a browser of its own (it loads the viewer page ``/s/{slug}/``
  first, as a browser does: that page load issues its browser id cookie) and an address
  of its own in ``X-Forwarded-For``. The server counts that address only when it trusts
  proxy headers (``HUB_PROXY_HEADERS=1``, as behind the production proxy); otherwise all
  web questions share the script's address and its limit ``HUB_WEB_RATE_PER_IP``: the
  script then waits as ``Retry-After`` says, at most ``--max-wait`` seconds in all, and
  reports what it could not send.
* **microblog** mentions and comments: the signed webhook ``POST /api/intake/microblog``,
  ``--microblog-batch`` items per delivery (every ``--retry-every``-th delivery is sent
  twice, as webhook retries are: its items must come back as duplicates).
* **12345 hotline** work orders and **radio** call-ins it relays: the signed webhook
  ``POST /api/intake/hotline``, ``--hotline-batch`` orders per delivery.

Webhook secrets: ``--microblog-secret`` / ``--hotline-secret``, by default this
installation's ``HUB_MICROBLOG_SECRET`` / ``HUB_HOTLINE_SECRET`` (the documented
development values when unset, as for ``make run``).

Then, with the demo accounts (``--password``, default ``HUB_DEMO_PASSWORD``): an
observer reads the console to count the questions screening held; the host approves
``--approve`` of the questions waiting for review (those with masked personal data
first), so that fed questions reach the public pages, the hot words and the sectors.

Finally it prints a summary (per channel: sent, accepted, duplicates, refused by code;
from the public moderation record: merged, rejected by reason, pending; held; elapsed)
and fetches the public pages (``/s/{slug}/``, and the session's questions, record and
insights from the API), failing (exit status 1) if any personal number it sent appears
there, with or without separators. ``--json PATH`` also writes the summary as JSON.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hub.intake.samples import Sample, SampleStream
from hub.intake.signing import sign

TIMEOUT = 30.0
_SEPARATORS = re.compile(r"[\s\-()（）+]")


@dataclass
class _Channel:
    """What one channel's requests came back with."""

    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    not_sent: int = 0
    resent: int = 0  # items delivered a second time (webhook retries)


class _Feed:
    """The feeding run: requests, their answers, and the ids of the questions accepted."""

    def __init__(self, base: str, slug: str, secrets: dict[str, str], max_wait: float) -> None:
        self.base = base.rstrip("/")
        self.slug = slug
        self.secrets = secrets
        self.max_wait = max_wait
        self.lock = threading.Lock()
        self.channels: dict[str, _Channel] = {c: _Channel() for c in ("web", "microblog")}
        self.channels.update({c: _Channel() for c in ("hotline", "radio")})
        self.question_ids: set[int] = set()
        self.waited = 0.0
        self.throttled = False
        self.browsers: dict[str, urllib.request.OpenerDirector] = {}
        self.visited: set[str] = set()
        self.errors: list[str] = []

    # -- HTTP --------------------------------------------------------------------------------

    def _opener(self, asker: str | None) -> urllib.request.OpenerDirector:
        if asker is None:
            return urllib.request.build_opener()
        with self.lock:
            opener = self.browsers.get(asker)
            if opener is None:
                jar = http.cookiejar.CookieJar()
                opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
                self.browsers[asker] = opener
        return opener

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        asker: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        request = urllib.request.Request(  # noqa: S310 - the base URL is checked to be http(s)
            self.base + path,
            data=body,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with self._opener(asker).open(request, timeout=TIMEOUT) as response:
                raw, status, got = response.read(), response.status, dict(response.headers)
        except urllib.error.HTTPError as error:
            raw, status, got = error.read(), error.code, dict(error.headers)
        try:
            data = json.loads(raw or b"null")
        except ValueError:
            data = raw.decode("utf-8", "replace")
        return status, data, got

    def visit(self, asker: str, headers: dict[str, str]) -> None:
        """Load the viewer page once per simulated citizen, as its browser would before
        asking: the page issues the browser id (``hub_bid``) the API then recognises."""
        with self.lock:
            if asker in self.visited:
                return
            self.visited.add(asker)
        request = urllib.request.Request(  # noqa: S310 - the base URL is checked to be http(s)
            f"{self.base}/s/{self.slug}/", headers={"Accept": "text/html", **headers}
        )
        try:
            with self._opener(asker).open(request, timeout=TIMEOUT) as response:
                response.read()
        except urllib.error.HTTPError as error:
            with self.lock:
                self.errors.append(f"GET /s/{self.slug}/ gave HTTP {error.code}")

    # -- channels ----------------------------------------------------------------------------

    def web(self, sample: Sample) -> None:
        """One web submission, as a citizen's browser sends it (retried when throttled)."""
        body = {"text": sample.text, "nickname": sample.asker_name[:40]}
        if "phone" in sample.traits and sample.number % 3 == 0:
            body["contact"] = sample.secrets[0]  # some also leave their number as contact
        number = int(sample.asker.rsplit("-", 1)[-1])
        headers = {
            "X-Forwarded-For": f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}",
            "Idempotency-Key": f"feed-{sample.number}",
        }
        channel = self.channels["web"]
        data = json.dumps(body, ensure_ascii=False).encode()
        self.visit(sample.asker, {"X-Forwarded-For": headers["X-Forwarded-For"]})
        while True:
            status, answer, got = self.call(
                "POST", f"/api/sessions/{self.slug}/questions", data, headers, sample.asker
            )
            if status != 429:
                break
            wait = float(got.get("Retry-After") or 1)
            with self.lock:
                self.throttled = True
                if self.waited + wait > self.max_wait:
                    channel.not_sent += 1
                    return
                self.waited += wait
            time.sleep(wait)
        with self.lock:
            channel.sent += 1
            if status in (200, 201) and isinstance(answer, dict):
                self.question_ids.add(int(answer["id"]))
                if answer.get("duplicate"):
                    channel.duplicates += 1
                else:
                    channel.accepted += 1
            else:
                code = answer.get("code", str(status)) if isinstance(answer, dict) else str(status)
                channel.refused[code] += 1

    def microblog(self, samples: list[Sample], run: str, resend: bool) -> None:
        statuses: list[dict[str, Any]] = []
        comments: list[dict[str, Any]] = []
        for sample in samples:
            item_id = f"{run}{sample.number:06d}"
            user = {
                "id": int(sample.asker),
                "idstr": sample.asker,
                "screen_name": sample.asker_name,
            }
            entry = {
                "id": int(item_id),
                "idstr": item_id,
                "text": sample.text,
                "created_at": time.strftime("%a %b %d %H:%M:%S +0800 %Y"),
                "user": user,
            }
            (comments if sample.number % 4 == 0 else statuses).append(entry)
        payload = {"session": self.slug, "statuses": statuses, "comments": comments}
        if resend:
            with self.lock:
                self.channels["microblog"].resent += len(samples)
        for attempt in range(2 if resend else 1):
            self._deliver(
                "/api/intake/microblog", "microblog", payload, samples, count=attempt == 0
            )

    def hotline(self, samples: list[Sample], run: str) -> None:
        orders = [
            {
                "order_id": f"FEED-{run}-{sample.number}",
                "content": sample.text,
                "caller_name": sample.asker_name,
                "caller_phone": sample.phone,
                "channel": sample.channel,
            }
            for sample in samples
        ]
        self._deliver(
            "/api/intake/hotline", "hotline", {"session": self.slug, "orders": orders}, samples
        )

    def _deliver(
        self,
        path: str,
        secret: str,
        payload: dict[str, Any],
        samples: list[Sample],
        count: bool = True,
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {
            "X-Hub-Signature-256": sign(self.secrets[secret], body),
            "X-Hub-Timestamp": str(int(time.time())),
        }
        status, answer, _ = self.call("POST", path, body, headers)
        by_source = _source_channels(samples, payload)
        with self.lock:
            if status != 200 or not isinstance(answer, dict):
                self.errors.append(f"{path}: HTTP {status}: {str(answer)[:200]}")
                for channel in by_source.values():
                    self.channels[channel].refused[f"http_{status}"] += 1
                return
            for kind in ("accepted", "duplicates", "rejected"):
                for entry in answer.get(kind, []):
                    channel = by_source.get(str(entry.get("source_id")), samples[0].channel)
                    row = self.channels[channel]
                    if count:
                        row.sent += 1
                    if entry.get("question") is not None:
                        self.question_ids.add(int(entry["question"]))
                    if kind == "accepted":
                        row.accepted += 1
                    elif kind == "duplicates":
                        row.duplicates += 1
                    else:
                        row.refused[str(entry.get("code"))] += 1


def _source_channels(samples: list[Sample], payload: dict[str, Any]) -> dict[str, str]:
    """source id as the hub reports it → channel of the sample."""
    out: dict[str, str] = {}
    for entry in payload.get("statuses", []):
        out[f"status:{entry['idstr']}"] = "microblog"
    for entry in payload.get("comments", []):
        out[f"comment:{entry['idstr']}"] = "microblog"
    for order, sample in zip(payload.get("orders", []), samples, strict=False):
        out[str(order["order_id"])] = sample.channel
    return out


def _total(counts: Any) -> dict[str, int]:
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    return dict(total)


def _plain(text: str) -> str:
    """Digits as ASCII and separators dropped, so a number split by spaces or dashes (or
    written in full-width digits) is still found."""
    text = text.translate({code: code - 0xFEE0 for code in range(0xFF10, 0xFF1A)})
    return _SEPARATORS.sub("", text)


class Command(BaseCommand):
    help = "Feed a running hub's session with realistic questions from every channel."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--session", default="demo")
        parser.add_argument("--count", type=int, default=5000)
        parser.add_argument("--seed", type=int, default=20260301)
        parser.add_argument("--workers", type=int, default=8, help="requests at a time")
        parser.add_argument("--microblog-batch", type=int, default=50)
        parser.add_argument("--hotline-batch", type=int, default=20)
        parser.add_argument(
            "--retry-every", type=int, default=10, help="send every Nth microblog delivery twice"
        )
        parser.add_argument("--approve", type=int, default=40)
        parser.add_argument("--password", default=None, help="demo accounts' password")
        parser.add_argument("--max-wait", type=float, default=300.0)
        parser.add_argument("--microblog-secret", default=None)
        parser.add_argument("--hotline-secret", default=None)
        parser.add_argument("--json", type=Path, default=None, help="write the summary here")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["session"]
        if not str(options["url"]).startswith(("http://", "https://")):
            raise CommandError("--url must be an http:// or https:// address")
        feed = _Feed(
            options["url"],
            slug,
            {
                "microblog": options["microblog_secret"] or settings.MICROBLOG_SECRET,
                "hotline": options["hotline_secret"] or settings.HOTLINE_SECRET,
            },
            options["max_wait"],
        )
        status, session, _ = feed.call("GET", f"/api/sessions/{slug}")
        if status != 200:
            raise CommandError(f"{feed.base}: session {slug!r} not found (HTTP {status})")
        if session.get("status") not in ("collecting", "live"):
            raise CommandError(f"session {slug!r} is {session.get('status')}: not taking questions")
        record_before = feed.call("GET", f"/api/sessions/{slug}/record")[1]
        samples = SampleStream(options["seed"]).take(options["count"])
        run = str(int(time.time()) % 10_000_000)
        self.stdout.write(
            f"Feeding {len(samples)} questions to {feed.base}/s/{slug}/ "
            f"({options['workers']} requests at a time)…"
        )
        started = time.monotonic()
        self._send(feed, samples, run, options)
        elapsed = time.monotonic() - started
        record_after = feed.call("GET", f"/api/sessions/{slug}/record")[1]

        password = str(options["password"] or settings.HUB_DEMO_PASSWORD)
        held, approved, moderation_note = self._moderate(feed, password, options["approve"])
        leaks, checked = self._check_public(feed, samples)
        summary = self._summary(
            feed, samples, elapsed, record_before, record_after, held, approved, leaks, checked
        )
        summary["moderation_note"] = moderation_note
        self.stdout.write(self._format(summary))
        if options["json"]:
            options["json"].write_text(json.dumps(summary, ensure_ascii=False, indent=2))
        if leaks:
            raise CommandError(f"personal numbers on public pages: {leaks}")

    # -- sending -------------------------------------------------------------------------------

    def _send(self, feed: _Feed, samples: list[Sample], run: str, options: dict[str, Any]) -> None:
        jobs: list[Callable[[], None]] = []
        deliveries = 0
        blog: list[Sample] = []
        calls: list[Sample] = []
        for sample in samples:
            if sample.channel == "web":
                jobs.append(lambda s=sample: feed.web(s))  # type: ignore[misc]
            elif sample.channel == "microblog":
                blog.append(sample)
                if len(blog) == options["microblog_batch"]:
                    batch, blog = blog, []
                    deliveries += 1
                    resend = options["retry_every"] > 0 and deliveries % options["retry_every"] == 0
                    jobs.append(lambda b=batch, r=resend: feed.microblog(b, run, r))  # type: ignore[misc]
            else:
                calls.append(sample)
                if len(calls) == options["hotline_batch"]:
                    batch, calls = calls, []
                    jobs.append(lambda b=batch: feed.hotline(b, run))  # type: ignore[misc]
        if blog:
            jobs.append(lambda b=blog: feed.microblog(b, run, False))  # type: ignore[misc]
        if calls:
            jobs.append(lambda b=calls: feed.hotline(b, run))  # type: ignore[misc]
        done = 0
        with ThreadPoolExecutor(max_workers=max(1, options["workers"])) as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.result()
                done += 1
                if done % 200 == 0:
                    self.stdout.write(f"  {done}/{len(jobs)} requests")
        if feed.throttled:
            self.stdout.write(
                "  The server limited web questions per address: start it with "
                "HUB_PROXY_HEADERS=1 so that each simulated citizen's address "
                "(X-Forwarded-For) counts on its own, as behind the production proxy."
            )

    # -- the console: held questions, approvals ---------------------------------------------

    def _moderate(self, feed: _Feed, password: str, approve: int) -> tuple[int | None, int, str]:
        """(held among the fed questions, questions approved, note). Uses the console
        WebSocket as the observer (reading) and the host (approving)."""
        try:
            return asyncio.run(self._console(feed, password, approve))
        except Exception as exc:  # no demo accounts, other password, server trouble
            return None, 0, f"console not used: {exc}"

    async def _console(
        self, feed: _Feed, password: str, approve: int
    ) -> tuple[int | None, int, str]:
        import websockets

        async def session_of(username: str) -> tuple[Any, Any]:
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            # The login page sets the csrftoken cookie; the login POST sends it back in
            # X-CSRFToken, as the page's script does.
            with opener.open(feed.base + "/login/", timeout=TIMEOUT) as page:
                page.read()
            csrf = next((c.value or "" for c in jar if c.name == "csrftoken"), "")
            body = json.dumps({"username": username, "password": password}).encode()
            request = urllib.request.Request(  # noqa: S310 - checked to be http(s)
                feed.base + "/api/auth/login",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "X-CSRFToken": csrf},
            )
            with opener.open(request, timeout=TIMEOUT):
                pass
            cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
            ws_base = feed.base.replace("http", "ws", 1)
            socket = await websockets.connect(
                f"{ws_base}/ws/sessions/{feed.slug}/console",
                additional_headers={"Cookie": cookie, "Origin": feed.base},
                open_timeout=TIMEOUT,
                max_size=None,
            )
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
                if frame["type"] == "snapshot":
                    break
            snapshot = frame["data"]
            # A busy session's questions continue in questions_batch frames.
            total = sum(snapshot["counts"]["by_channel"].values())
            questions = {q["id"]: q for q in snapshot["questions"]}
            while len(questions) < total:
                try:
                    frame = json.loads(await asyncio.wait_for(socket.recv(), 5.0))
                except TimeoutError:
                    break
                if frame["type"] == "questions_batch":
                    questions.update((q["id"], q) for q in frame["data"]["questions"])
            snapshot["questions"] = list(questions.values())
            return socket, snapshot

        observer, snapshot = await session_of("observer")
        await observer.close()
        mine = [q for q in snapshot["questions"] if q["id"] in feed.question_ids]
        held = sum(1 for q in mine if q["held"])
        if approve <= 0:
            return held, 0, ""
        host, snapshot = await session_of("host")
        waiting = [
            q
            for q in snapshot["questions"]
            if q["id"] in feed.question_ids and q["state"] == "pending" and not q["held"]
        ]
        # Questions whose personal data was masked first: the public check must see some.
        waiting.sort(
            key=lambda q: (not any(f["category"] == "personal_data" for f in q["flags"]), q["id"])
        )
        approved = 0
        try:
            for number, question in enumerate(waiting[:approve]):
                await host.send(
                    json.dumps({"id": number, "action": "approve", "question": question["id"]})
                )
                while True:
                    frame = json.loads(await asyncio.wait_for(host.recv(), TIMEOUT))
                    if frame["type"] in ("ack", "error") and frame["data"]["id"] == number:
                        approved += frame["type"] == "ack"
                        break
        finally:
            await host.close()
        return held, approved, ""

    # -- checks and the summary ---------------------------------------------------------------

    def _check_public(self, feed: _Feed, samples: list[Sample]) -> tuple[list[str], list[str]]:
        secrets = sorted({number for s in samples for number in s.secrets})
        pages = [
            f"/s/{feed.slug}/",
            f"/api/sessions/{feed.slug}/questions",
            f"/api/sessions/{feed.slug}/record",
            f"/api/sessions/{feed.slug}/insights",
        ]
        leaks = []
        for path in pages:
            status, body, _ = feed.call("GET", path)
            if status != 200:
                leaks.append(f"{path}: could not be checked (HTTP {status})")
            text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
            plain = _plain(text)
            leaks += [f"{path}: {n}" for n in secrets if n in text or n in plain]
        return leaks, pages

    def _summary(
        self,
        feed: _Feed,
        samples: list[Sample],
        elapsed: float,
        before: Any,
        after: Any,
        held: int | None,
        approved: int,
        leaks: list[str],
        checked: list[str],
    ) -> dict[str, Any]:
        def delta(channel: str, key: str) -> int:
            return int(after["by_channel"][channel][key]) - int(before["by_channel"][channel][key])

        def rejected(channel: str) -> dict[str, int]:
            now = Counter(after["by_channel"][channel]["rejected"])
            now.subtract(before["by_channel"][channel]["rejected"])
            return {reason: n for reason, n in now.items() if n}

        channels: dict[str, dict[str, Any]] = {}
        for name, row in feed.channels.items():
            channels[name] = {
                "generated": sum(1 for s in samples if s.channel == name),
                "sent": row.sent,
                "accepted": row.accepted,
                "duplicates": row.duplicates,
                "refused": dict(row.refused),
                "not_sent": row.not_sent,
                "resent": row.resent,
                "merged": delta(name, "merged"),
                "rejected": rejected(name),
                "pending": delta(name, "pending"),
            }
        traits = Counter(t for s in samples for t in s.traits)
        return {
            "url": feed.base,
            "session": feed.slug,
            "questions": len(samples),
            "elapsed_seconds": round(elapsed, 1),
            "per_second": round(len(samples) / elapsed, 1) if elapsed else None,
            "channels": channels,
            "accepted": sum(c["accepted"] for c in channels.values()),
            "duplicates": sum(c["duplicates"] for c in channels.values()),
            "merged": sum(c["merged"] for c in channels.values()),
            "held": held,
            "rejected": _total(c["rejected"] for c in channels.values()),
            "refused": _total(c["refused"] for c in channels.values()),
            "approved": approved,
            "throttled_wait_seconds": round(feed.waited, 1),
            "generated_traits": dict(traits),
            "personal_numbers_sent": len({n for s in samples for n in s.secrets}),
            "public_pages_checked": checked,
            "leaks": leaks,
            "errors": feed.errors,
        }

    def _format(self, summary: dict[str, Any]) -> str:
        lines = [
            "",
            f"Fed {summary['questions']} questions in {summary['elapsed_seconds']} s "
            f"({summary['per_second']}/s) to {summary['url']}/s/{summary['session']}/",
            f"{'channel':<10} {'sent':>6} {'accepted':>9} {'dupl.':>6} {'merged':>7} "
            f"{'pending':>8}  rejected / refused",
        ]
        for name, row in summary["channels"].items():
            out = ", ".join(f"{k} {v}" for k, v in sorted(row["rejected"].items()))
            refused = ", ".join(f"{k} {v}" for k, v in sorted(row["refused"].items()))
            extra = "; ".join(p for p in (out, f"refused: {refused}" if refused else "") if p)
            not_sent = f" ({row['not_sent']} not sent: rate limited)" if row["not_sent"] else ""
            lines.append(
                f"{name:<10} {row['sent']:>6} {row['accepted']:>9} {row['duplicates']:>6} "
                f"{row['merged']:>7} {row['pending']:>8}  {extra or '-'}{not_sent}"
            )
        held = summary["held"]
        lines += [
            f"accepted {summary['accepted']}, duplicates {summary['duplicates']}, "
            f"merged {summary['merged']}, held for review "
            f"{'?' if held is None else held}, rejected {sum(summary['rejected'].values())} "
            f"{summary['rejected'] or ''}, refused at intake {sum(summary['refused'].values())}",
            f"approved by the host: {summary['approved']}"
            + (f" ({summary['moderation_note']})" if summary.get("moderation_note") else ""),
            f"personal numbers sent: {summary['personal_numbers_sent']}; public pages checked: "
            f"{', '.join(summary['public_pages_checked'])}: "
            + ("none shows any of them" if not summary["leaks"] else f"LEAKS {summary['leaks']}"),
        ]
        if summary["errors"]:
            lines.append(f"errors: {summary['errors'][:5]}")
        return "\n".join(lines) + "\n"

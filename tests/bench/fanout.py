"""Fan-out benchmark: the hub's viewer stream against two reference servers.

One run measures, for every viewer count, three (or four) servers, each freshly started in
its own process:

(a) ``websockets`` ``broadcast()`` (:mod:`tests.bench.ws_broadcast_server`): the ceiling;
(b) a plain Channels app on Daphne, one consumer per viewer fed by ``group_send`` on the
    ``InMemoryChannelLayer`` (:mod:`tests.bench.channels_app`);
(c) the hub's viewer stream ``/ws/sessions/demo/live`` (``python -m hub.serve``), driven
    through its console at the same event rate (:mod:`tests.bench.hub_driver`);
    with ``--redis URL`` also (c) with ``HUB_REDIS_URL`` set.

The client harness (:mod:`tests.bench.client`) connects the viewers, warms up, then counts
delivered event frames and their latency (receive time - the frame's ``ts``) over a fixed
window. The report gives frames/s, p50/p99/max latency, delivery ratio, the ratios
(c)/(a) and (c)/(b), and a PASS/FAIL line for the goal: at 1,000 viewers x 10 events/s,
(c) delivers at least 0.6 x (a)'s frames/s with p99 <= 250 ms.

Usage::

    python -m tests.bench.fanout --viewers 1000,5000 --rate 10 --duration 10 --out bench-report.txt
    python -m tests.bench.fanout --quick        # smoke test: 50 viewers, 2 s

Exit status: 0 when the goal passes or is not evaluated (e.g. ``--quick``), 1 when it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from tests.bench.client import ClientKind, ViewerSwarm, WindowResult
from tests.bench.frames import START_PATH, frame_size
from tests.bench.hub_driver import DriverStats, HubDriver
from tests.bench.machine import command_line, machine_lines
from tests.bench.procs import (
    ServerProcess,
    free_port,
    run_checked,
    system_busy_seconds,
    tail,
)

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

GOAL_VIEWERS = 1000
GOAL_RATE = 10.0
GOAL_MIN_RATIO = 0.6
GOAL_MAX_P99_MS = 250.0

LAYER_CAPACITY = 1000
#: The same Daphne options for (b) and (c): no access log, no keepalive pings in the run.
DAPHNE_FLAGS = ["--verbosity", "0", "--ping-interval", "86400"]
HUB_LOG_LEVEL = "WARNING"

_STARTED = time.monotonic()


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only the report."""
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


# --- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A server under test."""

    key: str
    label: str
    path: str

    @property
    def is_hub(self) -> bool:
        return self.key.startswith("c")


TARGET_A = Target("a", "(a) websockets broadcast()", "/bench")
TARGET_B = Target("b", "(b) Channels + Daphne", "/bench")
TARGET_C = Target("c", "(c) hub", "/ws/sessions/demo/live")
TARGET_C_REDIS = Target("c-redis", "(c) hub + Redis", "/ws/sessions/demo/live")


@dataclass(frozen=True)
class Config:
    viewers: list[int]
    rate: float
    duration: float
    warmup: float
    targets: list[Target]
    out: Path
    batch: int
    connect_timeout: float
    warm_timeout: float
    max_seconds: float
    pin: bool
    redis_url: str | None
    hub_user: str
    hub_password: str
    keep_workdir: bool
    quick: bool
    client: ClientKind
    python: str = sys.executable

    def scenario_budget(self) -> float:
        """Upper bound on one scenario (server start, ramp, warm-up, window, teardown)."""
        return 120 + self.connect_timeout + self.warm_timeout + self.warmup + self.duration


def _positive_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("expected positive integers, e.g. 1000,5000")
    return values


def parse_args(argv: Sequence[str]) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.fanout",
        description="Fan-out benchmark: websockets broadcast() vs Channels vs the hub.",
    )
    parser.add_argument("--viewers", type=_positive_list, help="viewer counts (default 1000,5000)")
    parser.add_argument("--rate", type=float, default=GOAL_RATE, help="events per second")
    parser.add_argument("--duration", type=float, help="measured window, seconds (default 10)")
    parser.add_argument("--warmup", type=float, help="seconds of events before the window (3)")
    parser.add_argument(
        "--targets", default="a,b,c", help="comma-separated subset of a,b,c (default a,b,c)"
    )
    parser.add_argument("--redis", metavar="URL", help="also run (c) with HUB_REDIS_URL=URL")
    parser.add_argument("--out", type=Path, help="report file (default bench-report.txt)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 50 viewers, 2 s")
    parser.add_argument("--batch", type=int, default=50, help="connections opened at once")
    parser.add_argument(
        "--client",
        choices=("fast", "asyncio"),
        default="fast",
        help="viewer client: websockets Sans-I/O handshake + inline frame reader (default) "
        "or websockets.asyncio.client.connect (several times more client CPU per frame)",
    )
    parser.add_argument("--connect-timeout", type=float, default=240, help="ramp bound, s")
    parser.add_argument("--warm-timeout", type=float, default=10, help="first-event bound, s")
    parser.add_argument("--max-seconds", type=float, default=1800, help="whole-run bound, s")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client CPUs")
    parser.add_argument("--keep-workdir", action="store_true", help="keep logs and databases")
    args = parser.parse_args(argv)

    if args.quick:
        viewers = args.viewers or [50]
        duration = args.duration or 2.0
        warmup = 1.0 if args.warmup is None else args.warmup
        out = args.out or Path("bench-report-quick.txt")
    else:
        viewers = args.viewers or [1000, 5000]
        duration = args.duration or 10.0
        warmup = 3.0 if args.warmup is None else args.warmup
        out = args.out or Path("bench-report.txt")
    known = {t.key: t for t in (TARGET_A, TARGET_B, TARGET_C)}
    keys = [k.strip() for k in args.targets.split(",") if k.strip()]
    if not keys or any(k not in known for k in keys):
        parser.error("--targets takes a comma-separated subset of a,b,c")
    targets = [known[k] for k in ("a", "b", "c") if k in keys]
    if args.redis:
        if not args.redis.startswith(("redis://127.0.0.1", "redis://localhost")):
            parser.error("--redis must point at a local Redis (redis://127.0.0.1:...)")
        targets.append(TARGET_C_REDIS)
    if args.rate <= 0 or duration <= 0 or warmup < 0 or args.batch <= 0:
        parser.error("--rate, --duration and --batch must be positive, --warmup >= 0")
    return Config(
        viewers=viewers,
        rate=args.rate,
        duration=duration,
        warmup=warmup,
        targets=targets,
        out=out,
        batch=args.batch,
        connect_timeout=args.connect_timeout,
        warm_timeout=args.warm_timeout,
        max_seconds=args.max_seconds,
        pin=not args.no_pin,
        redis_url=args.redis,
        hub_user="host",
        hub_password=os.environ.get("HUB_DEMO_PASSWORD", "hub-demo-2026"),
        keep_workdir=args.keep_workdir,
        quick=args.quick,
        client=args.client,
    )


# --- results --------------------------------------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class ScenarioResult:
    """One server at one viewer count."""

    target: Target
    viewers: int
    rate: float
    duration: float
    window: WindowResult | None = None
    error: str | None = None
    server_start_seconds: float | None = None
    server_rss: int | None = None
    driver: DriverStats | None = None
    other_cpu_seconds: float | None = None
    log_path: Path | None = None
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    notes: list[str] = field(default_factory=list)

    def finish(self) -> None:
        if self.window is not None and self.window.latencies:
            ordered = sorted(self.window.latencies)
            self.p50_ms = percentile(ordered, 0.50) * 1000
            self.p99_ms = percentile(ordered, 0.99) * 1000
            self.max_ms = ordered[-1] * 1000

    @property
    def ok(self) -> bool:
        return self.error is None and self.window is not None

    @property
    def frames_per_second(self) -> float:
        return self.window.frames / self.window.window_seconds if self.window else math.nan

    @property
    def expected_frames(self) -> float:
        return self.viewers * self.rate * self.duration

    @property
    def delivery(self) -> float:
        return self.window.frames / self.expected_frames if self.window else math.nan


# --- servers --------------------------------------------------------------------------------


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "BENCH_"))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _hub_env(cfg: Config, database: Path, redis: bool) -> dict[str, str]:
    env = _base_env()
    env["HUB_DATABASE_URL"] = f"sqlite:///{database}"
    env["HUB_DEMO_PASSWORD"] = cfg.hub_password
    env["HUB_LOG_LEVEL"] = HUB_LOG_LEVEL
    # Every simulated viewer connects from 127.0.0.1: no per-address socket cap.
    env["HUB_WS_MAX_VIEWERS_PER_ADDRESS"] = "1000000"
    if redis and cfg.redis_url:
        env["HUB_REDIS_URL"] = cfg.redis_url
    return env


class HubTemplate:
    """A migrated SQLite database with the demo data, copied fresh for every scenario."""

    def __init__(self, cfg: Config, workdir: Path) -> None:
        self.cfg = cfg
        self.path = workdir / "hub-template.sqlite3"
        self.log = workdir / "hub-setup.log"
        self.error: str | None = None
        self.ready = False

    def prepare(self) -> None:
        if self.ready or self.error:
            return
        if not (ROOT / "hub" / "serve.py").exists():
            self.error = "hub/serve.py does not exist yet (python -m hub.serve is the runner)"
            return
        env = _hub_env(self.cfg, self.path, redis=False)
        manage = [self.cfg.python, str(ROOT / "manage.py")]
        try:
            log("hub: manage.py migrate")
            run_checked(
                [*manage, "migrate", "--noinput"], cwd=ROOT, env=env, log=self.log, timeout=300
            )
            log("hub: manage.py load_demo")
            run_checked([*manage, "load_demo"], cwd=ROOT, env=env, log=self.log, timeout=300)
        except Exception as exc:
            self.error = f"hub set-up failed: {exc}"
            return
        self.ready = True

    def copy_to(self, database: Path) -> None:
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                shutil.copyfile(source, f"{database}{suffix}")


def make_server(
    cfg: Config, target: Target, port: int, scenario_dir: Path, hub: HubTemplate | None
) -> ServerProcess:
    cpu = 1 if cfg.pin else None
    log_path = scenario_dir / "server.log"
    if target.key == "a":
        argv = [
            cfg.python,
            "-m",
            "tests.bench.ws_broadcast_server",
            "--host",
            HOST,
            "--port",
            str(port),
            "--rate",
            str(cfg.rate),
        ]
        env = _base_env()
    elif target.key == "b":
        argv = [
            cfg.python,
            "-m",
            "daphne",
            "-b",
            HOST,
            "-p",
            str(port),
            *DAPHNE_FLAGS,
            "tests.bench.channels_app:application",
        ]
        env = _base_env() | {
            "BENCH_RATE": str(cfg.rate),
            "BENCH_LAYER_CAPACITY": str(LAYER_CAPACITY),
        }
    else:
        assert hub is not None
        database = scenario_dir / "bench.sqlite3"
        hub.copy_to(database)
        argv = [cfg.python, "-m", "hub.serve", "--port", str(port), *DAPHNE_FLAGS]
        env = _hub_env(cfg, database, redis=target.key == "c-redis")
    return ServerProcess(target.label, argv, cwd=ROOT, env=env, log=log_path, cpu=cpu)


# --- one scenario ---------------------------------------------------------------------------


async def start_producer(port: int) -> None:
    """Open ``/start`` on a reference server: its producer starts, the server closes."""
    origin = f"http://{HOST}:{port}"
    async with connect(
        f"ws://{HOST}:{port}{START_PATH}",
        origin=Origin(origin),
        compression=None,
        ping_interval=None,
        open_timeout=30,
    ) as control:
        try:
            async with asyncio.timeout(30):
                async for _ in control:
                    pass
        except ConnectionClosed:
            pass


async def run_scenario(
    cfg: Config,
    target: Target,
    viewers: int,
    workdir: Path,
    hub: HubTemplate | None,
    budget: float,
) -> ScenarioResult:
    """Start the server, ramp ``viewers``, warm up, measure one window, tear down."""
    result = ScenarioResult(target, viewers, cfg.rate, cfg.duration)
    scenario_dir = workdir / f"{target.key}-{viewers}"
    scenario_dir.mkdir()
    result.log_path = scenario_dir / "server.log"
    if hub is not None and target.is_hub:
        hub.prepare()
        if hub.error:
            result.error = hub.error
            return result
    server: ServerProcess | None = None
    swarm: ViewerSwarm | None = None
    driver: HubDriver | None = None
    scope = asyncio.timeout(budget)
    try:
        async with scope:
            port = free_port(HOST)
            server = make_server(cfg, target, port, scenario_dir, hub)
            server.start()
            result.server_start_seconds = await server.wait_ready(HOST, port, timeout=90)
            log(f"{target.label}: listening on {port} after {result.server_start_seconds:.1f} s")
            if target.is_hub:
                driver = HubDriver(HOST, port, username=cfg.hub_user, password=cfg.hub_password)
                questions = math.ceil(cfg.rate * (cfg.warm_timeout + cfg.warmup + cfg.duration + 3))
                await driver.prepare(questions)
                log(
                    f"{target.label}: {questions} questions created in "
                    f"{driver.stats.create_seconds:.1f} s"
                )
            origin = f"http://{HOST}:{port}"
            swarm = ViewerSwarm(
                f"ws://{HOST}:{port}{target.path}",
                viewers,
                origin=origin,
                batch=cfg.batch,
                client=cfg.client,
            )
            await swarm.connect_all(cfg.connect_timeout)
            server.check_alive()
            log(
                f"{target.label}: {swarm.connected}/{viewers} viewers connected in "
                f"{swarm.ramp_seconds:.1f} s"
            )
            gc.collect()
            gc.freeze()  # the harness's long-lived objects: keep the collector off them
            if driver is not None:
                driver.start(cfg.rate)
            else:
                await start_producer(port)
            # A server too slow to deliver any event in time is measured anyway (the report
            # notes how many viewers were warm): its near-zero frames/s is the finding.
            await swarm.wait_warm(cfg.warm_timeout)
            await asyncio.sleep(cfg.warmup)
            busy_before = system_busy_seconds()
            result.window = window = await swarm.measure(cfg.duration, server.cpu_seconds)
            result.other_cpu_seconds = (
                system_busy_seconds()
                - busy_before
                - window.client_cpu_seconds
                - (window.server_cpu_seconds or 0.0)
            )
            result.server_rss = server.rss_bytes()
            server.check_alive()
    except Exception as exc:
        if isinstance(exc, TimeoutError) and scope.expired():
            result.error = f"scenario exceeded its time bound of {budget:.0f} s"
        else:
            result.error = f"{type(exc).__name__}: {exc}"
        if result.window is not None:
            result.notes.append(f"error after the window: {result.error}")
            result.error = None
    finally:
        if driver is not None:
            try:
                result.driver = await asyncio.wait_for(driver.stop(), 15)
            except Exception as exc:
                result.notes.append(f"driver stop: {type(exc).__name__}: {exc}")
        if swarm is not None:
            await swarm.close()
        gc.unfreeze()
        if server is not None:
            await asyncio.to_thread(server.stop)
    if result.error and result.log_path.exists():
        result.error += f"\n  server log tail ({result.log_path}):\n{tail(result.log_path, 12)}"
    result.finish()
    return result


# --- report ---------------------------------------------------------------------------------


def _fmt(value: float, spec: str = ".1f") -> str:
    return "-" if math.isnan(value) else format(value, spec)


def _lost(counter: Counter[str]) -> str:
    return ", ".join(f"{n}× {code}" for code, n in counter.most_common(3))


def goal_line(
    cfg: Config, results: list[ScenarioResult], target: Target
) -> tuple[str, bool | None]:
    """The PASS/FAIL line for ``target`` (c or c-redis); ``None`` when not evaluated."""
    name = (
        f"GOAL {target.label} at {GOAL_VIEWERS} viewers × {GOAL_RATE:g} events/s "
        f"[frames/s ≥ {GOAL_MIN_RATIO} × (a), p99 ≤ {GOAL_MAX_P99_MS:g} ms]"
    )
    if cfg.rate != GOAL_RATE or GOAL_VIEWERS not in cfg.viewers:
        return (
            f"{name}: NOT EVALUATED — this run is not at the goal's operating point "
            f"(viewers {','.join(map(str, cfg.viewers))}, rate {cfg.rate:g})"
        ), None
    by_key = {(r.target.key, r.viewers): r for r in results}
    c = by_key.get((target.key, GOAL_VIEWERS))
    a = by_key.get(("a", GOAL_VIEWERS))
    if a is None or not a.ok:
        return f"{name}: FAIL — (a) did not run, so the ratio cannot be computed", False
    if c is None or not c.ok:
        reason = (c.error or "no result").splitlines()[0] if c else "not run"
        return f"{name}: FAIL — {target.label} did not run: {reason}", False
    ratio = c.frames_per_second / a.frames_per_second
    passed = ratio >= GOAL_MIN_RATIO and c.p99_ms <= GOAL_MAX_P99_MS
    verdict = "PASS" if passed else "FAIL"
    return (
        f"{name}: {verdict} — (c)/(a) = {ratio:.2f} "
        f"({c.frames_per_second:.0f} vs {a.frames_per_second:.0f} frames/s), "
        f"p99 = {c.p99_ms:.1f} ms"
    ), passed


def _bound(r: ScenarioResult) -> str:
    """Which side ran out of CPU during the window, if any (≥ 90 % of its core)."""
    w = r.window
    if w is None:
        return ""
    sides = []
    if w.server_cpu_seconds is not None and w.server_cpu_seconds >= 0.9 * w.window_seconds:
        sides.append("server")
    if w.client_cpu_seconds >= 0.9 * w.window_seconds:
        sides.append("client")
    return "both" if len(sides) == 2 else (sides[0] if sides else "no")


def render(
    cfg: Config,
    argv: Sequence[str],
    started: datetime,
    results: list[ScenarioResult],
    workdir: Path,
    kept: bool,
    interrupted: bool = False,
) -> tuple[str, bool | None]:
    """The report text, and the goal verdict (``None``: not evaluated)."""
    pinning = "server pinned to CPU 1, client harness to CPU 0" if cfg.pin else "no CPU pinning"
    lines = [
        "Fan-out benchmark — viewer stream",
        f"date:     {started.isoformat(timespec='seconds')} "
        f"(run took {time.monotonic() - _STARTED:.0f} s)",
        f"command:  {command_line('tests.bench.fanout', argv)}",
        f"cwd:      {Path.cwd()}",
        *machine_lines(
            ("websockets", "channels", "daphne", "Django", "Twisted", "channels-redis"), load=False
        ),
        f"load:     1-min load average {os.getloadavg()[0]:.2f} at the end of the run "
        "(the 'other' column below shows the rest of the machine's load during each window)",
        f"setup:    rate {cfg.rate:g} events/s, warm-up {cfg.warmup:g} s, window "
        f"{cfg.duration:g} s; viewers ramped {cfg.batch} at a time; events start once all "
        "are connected; each server freshly started in its own process",
        f"          {pinning}; compression off on all sides; client pings off; "
        f"viewer client: {cfg.client}",
        f"          (a) websockets broadcast(), frame {frame_size()} B",
        f"          (b) Daphne {' '.join(DAPHNE_FLAGS)}; InMemoryChannelLayer capacity "
        f"{LAYER_CAPACITY} (default 100), expiry 60 s",
        f"          (c) python -m hub.serve {' '.join(DAPHNE_FLAGS)}, fresh SQLite copy of "
        f"migrate + load_demo, HUB_LOG_LEVEL={HUB_LOG_LEVEL}; events = console `approve` "
        "at the rate (one question_published each)",
        "latency = client receive time − frame ts (same clock); frames/s = event frames "
        "received in the window / window; snapshot and heartbeat frames ignored",
        "",
    ]
    header = (
        f"{'target':<28}{'viewers':>8}{'frames/s':>11}{'expected':>10}{'delivery':>10}"
        f"{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"
    )
    lines += [header, "-" * len(header)]
    for r in results:
        if r.ok:
            lines.append(
                f"{r.target.label:<28}{r.viewers:>8}{r.frames_per_second:>11.0f}"
                f"{r.viewers * r.rate:>10.0f}{r.delivery * 100:>9.1f}%"
                f"{_fmt(r.p50_ms):>10}{_fmt(r.p99_ms):>10}{_fmt(r.max_ms):>10}"
            )
        else:
            lines.append(f"{r.target.label:<28}{r.viewers:>8}   ERROR (see notes)")
    lines.append("")

    header2 = (
        f"{'target':<28}{'viewers':>8}{'conn':>7}{'events':>8}{'B/frame':>9}"
        f"{'min/med':>10}{'lost':>6}{'srv CPU':>9}{'µs/frame':>10}{'cli CPU':>9}{'other':>7}"
        f"{'bound':>8}{'srv RSS':>9}{'ramp s':>8}"
    )
    lines += [
        f"diagnostics: events = distinct seq seen in the window (expected "
        f"{cfg.rate * cfg.duration:.0f}); min/med = frames per viewer; lost = connections "
        "closed before the window ended; µs/frame = server CPU per delivered frame",
        "(for the hub this includes making the events: approves);",
        "CPU = % of one core over the window (server incl. children; other = all other "
        "processes and the kernel's softirq work, which includes loopback TCP); "
        "bound = side at ≥ 90 % of its core",
        header2,
        "-" * len(header2),
    ]
    for r in results:
        w = r.window
        if w is None:
            continue
        ordered = sorted(w.per_viewer)
        median = ordered[len(ordered) // 2] if ordered else 0
        lost = sum(w.lost_in_window.values()) + sum(w.lost_before_window.values())
        srv_cpu = (
            f"{w.server_cpu_seconds / w.window_seconds * 100:.0f}%"
            if w.server_cpu_seconds is not None
            else "-"
        )
        other = (
            f"{max(0.0, r.other_cpu_seconds) / w.window_seconds * 100:.0f}%"
            if r.other_cpu_seconds is not None
            else "-"
        )
        cost = (
            f"{w.server_cpu_seconds / w.frames * 1e6:.0f}"
            if w.server_cpu_seconds is not None and w.frames
            else "-"
        )
        rss = f"{r.server_rss / 2**20:.0f} MB" if r.server_rss else "-"
        per_viewer = f"{ordered[0] if ordered else 0}/{median}"
        lines.append(
            f"{r.target.label:<28}{r.viewers:>8}{w.viewers_connected:>7}{len(w.seqs):>8}"
            f"{w.frame_bytes:>9.0f}{per_viewer:>10}{lost:>6}{srv_cpu:>9}{cost:>10}"
            f"{w.client_cpu_seconds / w.window_seconds * 100:>8.0f}%{other:>7}{_bound(r):>8}"
            f"{rss:>9}{w.ramp_seconds:>8.1f}"
        )
    lines.append("")

    lines.append("ratios of delivered frames/s, hub vs reference (p99 latencies in brackets):")
    for viewers in cfg.viewers:
        by_key = {r.target.key: r for r in results if r.viewers == viewers and r.ok}
        for hub_key in ("c", "c-redis"):
            c = by_key.get(hub_key)
            if c is None:
                continue
            parts = []
            for ref in ("a", "b"):
                other_result = by_key.get(ref)
                if other_result is None:
                    continue
                if other_result.frames_per_second > 0:
                    ratio = c.frames_per_second / other_result.frames_per_second
                    parts.append(
                        f"({hub_key})/({ref}) = {ratio:.2f} "
                        f"[{_fmt(c.p99_ms)} vs {_fmt(other_result.p99_ms)} ms]"
                    )
                else:
                    parts.append(f"({hub_key})/({ref}) = n/a [({ref}) delivered no frame]")
            if parts:
                lines.append(f"  {viewers:>5} viewers: " + ";  ".join(parts))
    if not any(r.ok and r.target.is_hub for r in results):
        lines.append("  (none: the hub did not run)")
    elif not any(r.ok and not r.target.is_hub for r in results):
        lines.append("  (none: no reference server ran)")
    lines.append("")

    notes = []
    for r in results:
        prefix = f"{r.target.label} @ {r.viewers}"
        if r.error:
            notes.append(f"{prefix}: ERROR {r.error}")
        w = r.window
        if w is not None:
            if w.connect_failures:
                notes.append(
                    f"{prefix}: {sum(w.connect_failures.values())} connections failed "
                    f"({_lost(w.connect_failures)})"
                )
            if w.lost_before_window or w.lost_in_window:
                notes.append(
                    f"{prefix}: connections lost before the window: "
                    f"{_lost(w.lost_before_window) or 0}; in the window: "
                    f"{_lost(w.lost_in_window) or 0}"
                )
            if w.warm_viewers < w.viewers_connected:
                notes.append(
                    f"{prefix}: only {w.warm_viewers}/{w.viewers_connected} viewers had an "
                    "event before the window"
                )
            if r.other_cpu_seconds is not None and r.other_cpu_seconds > 0.5 * w.window_seconds:
                notes.append(
                    f"{prefix}: the rest of the machine (other processes, kernel softirq) used "
                    f"{r.other_cpu_seconds / w.window_seconds * 100:.0f}% of a core during the "
                    "window: it was not idle, figures are pessimistic"
                )
            if "client" in _bound(r):
                notes.append(
                    f"{prefix}: the client harness used its whole core: frames/s and latency "
                    "are limits of the client here, not of the server"
                )
        d = r.driver
        if d is not None and (d.questions_created or d.approves_sent):
            acks = sorted(d.ack_latencies)
            notes.append(
                f"{prefix}: driver created {d.questions_created} questions in "
                f"{d.create_seconds:.1f} s; approves sent {d.approves_sent}, acked "
                f"{d.approves_acked}; ack latency p50 {_fmt(percentile(acks, 0.5) * 1000)} ms, "
                f"p99 {_fmt(percentile(acks, 0.99) * 1000)} ms"
                + ("; RAN OUT of questions" if d.ran_out else "")
            )
        if d is not None:
            for reason, n in d.refusals.most_common(3):
                notes.append(f"{prefix}: {n} approves refused/failed: {reason}")
            notes.extend(f"{prefix}: {note}" for note in d.notes)
        notes.extend(f"{prefix}: {note}" for note in r.notes)
    if notes:
        lines += ["notes:", *("  " + n for n in notes), ""]
    lines.append(f"logs:     {workdir}" + ("" if kept else " (removed)"))
    if interrupted:
        lines.append("INTERRUPTED: only the scenarios listed above finished")

    # The goal is judged on (c) as configured by default; (c) + Redis gets its own line.
    verdicts: dict[str, bool | None] = {}
    for target in (t for t in cfg.targets if t.is_hub):
        text, verdicts[target.key] = goal_line(cfg, results, target)
        lines.append(text)
    if not verdicts:
        lines.append("GOAL: NOT EVALUATED — (c) was not among the targets")
    verdict = verdicts.get("c", verdicts.get("c-redis"))
    return "\n".join(lines) + "\n", verdict


# --- main -----------------------------------------------------------------------------------


def _prepare_client(cfg: Config) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    needed = max(cfg.viewers) + 256
    if hard < needed:
        raise SystemExit(f"RLIMIT_NOFILE is {hard}; {needed} file descriptors are needed")
    if cfg.pin:
        if len(os.sched_getaffinity(0)) < 2 or (os.cpu_count() or 1) < 2:
            raise SystemExit("CPU pinning needs 2 CPUs; pass --no-pin")
        os.sched_setaffinity(0, {0})


async def run(cfg: Config, workdir: Path, results: list[ScenarioResult]) -> None:
    """Run every scenario in turn, appending to ``results`` (kept if interrupted)."""
    deadline = time.monotonic() + cfg.max_seconds
    hub = HubTemplate(cfg, workdir) if any(t.is_hub for t in cfg.targets) else None
    for viewers in cfg.viewers:
        for target in cfg.targets:
            remaining = deadline - time.monotonic()
            budget = min(cfg.scenario_budget(), remaining)
            if budget < cfg.duration + 30:
                skipped = ScenarioResult(target, viewers, cfg.rate, cfg.duration)
                skipped.error = f"skipped: the run's bound of {cfg.max_seconds:.0f} s was reached"
                results.append(skipped)
                continue
            log(f"{target.label}: {viewers} viewers")
            result = await run_scenario(cfg, target, viewers, workdir, hub, budget)
            if result.ok:
                log(
                    f"{target.label}: {viewers} viewers → {result.frames_per_second:.0f} "
                    f"frames/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms"
                )
            else:
                log(f"{target.label}: {viewers} viewers → {(result.error or '').splitlines()[0]}")
            results.append(result)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (e.g. a CI time limit) unwinds like Ctrl-C, so the servers are stopped."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminated)
    cfg = parse_args(argv)
    started = datetime.now().astimezone()
    machine_note = f"nproc={os.cpu_count()}"
    _prepare_client(cfg)
    workdir = Path(tempfile.mkdtemp(prefix="fanout-bench-"))
    log(f"{machine_note}; work directory {workdir}")
    results: list[ScenarioResult] = []
    interrupted = False
    try:
        asyncio.run(run(cfg, workdir, results))
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: reporting the scenarios that finished")
    keep = cfg.keep_workdir or interrupted or any(not r.ok for r in results) or not results
    report, verdict = render(cfg, argv, started, results, workdir, keep, interrupted)
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.write(report)
    sys.stdout.flush()
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    cfg.out.write_text(report, encoding="utf-8")
    log(f"report written to {cfg.out}")
    return 1 if verdict is False else 0


if __name__ == "__main__":
    sys.exit(main())

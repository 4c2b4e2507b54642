"""Server subprocesses for the benchmark: start, wait for the port, sample CPU, stop.

Every server runs in its own process (its own session / process group, optionally pinned
to one CPU) so that the client harness and the server under test each get a core. CPU
time and RSS are read from ``/proc`` for the server process and its descendants, so the
report can show whether the server or the client was the bottleneck.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_RUNNING: set[ServerProcess] = set()


class ServerError(RuntimeError):
    """A server did not start, or died."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _child_setup(cpu: int | None) -> Callable[[], None]:
    def setup() -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    return setup


def system_busy_seconds() -> float:
    """CPU seconds the machine has spent busy since boot: user, nice, system, irq, softirq.

    Idle, iowait and steal (time the hypervisor gave to someone else) are not counted.
    """
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(value) for value in fields[:7])
    return (user + nice + system + irq + softirq) / _CLOCK_TICKS


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name, which may itself contain spaces.
    return text[text.rindex(")") + 2 :].split()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def run_checked(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path, timeout: float
) -> None:
    """Run a set-up command (e.g. ``manage.py migrate``); raise with its output's tail."""
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            completed = subprocess.run(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ServerError(f"{' '.join(argv)} timed out after {timeout:.0f} s") from None
    if completed.returncode != 0:
        raise ServerError(f"{' '.join(argv)} exited with {completed.returncode}:\n{tail(log)}")


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file, indented."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "    (no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


class ServerProcess:
    """One server under test, with its output in ``log``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        log: Path,
        cpu: int | None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.env = dict(env)
        self.log = log
        self.cpu = cpu
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise ServerError(f"{self.name} is not started")
        return self._proc.pid

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"$ {' '.join(self.argv)}\n".encode())
            out.flush()
            self._proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_child_setup(self.cpu),
            )
        _RUNNING.add(self)

    def check_alive(self) -> None:
        if self._proc is None:
            raise ServerError(f"{self.name} is not started")
        code = self._proc.poll()
        if code is not None:
            raise ServerError(f"{self.name} exited with {code}:\n{tail(self.log)}")

    async def wait_ready(self, host: str, port: int, timeout: float) -> float:
        """Wait until ``host:port`` accepts TCP connections; return the seconds it took."""
        started = time.monotonic()
        while True:
            self.check_alive()
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
            except (OSError, TimeoutError):
                if time.monotonic() - started > timeout:
                    raise ServerError(
                        f"{self.name} did not listen on {host}:{port} within {timeout:.0f} s:\n"
                        f"{tail(self.log)}"
                    ) from None
                await asyncio.sleep(0.1)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return time.monotonic() - started

    def _pids(self) -> list[int]:
        if self._proc is None or self._proc.poll() is not None:
            return []
        return [self._proc.pid, *_descendants(self._proc.pid)]

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by the server and its live descendants."""
        total = 0
        for pid in self._pids():
            fields = _proc_stat(pid)
            if fields is not None:
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / _CLOCK_TICKS

    def rss_bytes(self) -> int:
        """Resident memory of the server and its live descendants."""
        total = 0
        for pid in self._pids():
            fields = _proc_stat(pid)
            if fields is not None:
                total += int(fields[21]) * _PAGE_SIZE
        return total

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the server's process group, then SIGKILL it after ``timeout``."""
        proc = self._proc
        _RUNNING.discard(self)
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        # Also ends descendants that outlived the leader (the group is the server's own).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop(timeout=3)

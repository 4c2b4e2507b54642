"""What every benchmark report starts with: the command that reproduces it, the machine,
its load, the versions of the packages measured; and the percentile the reports use."""

from __future__ import annotations

import math
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path


def machine_lines(packages: Sequence[str], *, load: bool = True) -> list[str]:
    """``load:`` (1/5/15-minute load averages, unless ``load`` is false), ``machine:`` and
    ``packages:`` lines (the installed versions of ``packages``; missing ones left out)."""
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or "?"
    versions = []
    for package in packages:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    lines = []
    if load:
        averages = (
            " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
        )
        lines.append(
            f"load:     {averages} (1/5/15 min averages at the start: other work on the machine)"
        )
    return [
        *lines,
        f"machine:  nproc={os.cpu_count()} ({model}), {platform.system()} {platform.release()} "
        f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        f"packages: {', '.join(versions)}",
    ]


def command_line(module: str, argv: Sequence[str]) -> str:
    """The command that runs ``module`` with ``argv`` again, with this interpreter (relative
    to the working folder when inside it); marked when run through make."""
    python = sys.executable
    try:
        relative = os.path.relpath(python)
        if not relative.startswith(".."):
            python = relative
    except ValueError:
        pass
    command = shlex.join([python, "-m", module, *argv])
    return command + ("   (via make)" if os.environ.get("MAKELEVEL") else "")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile of already sorted values (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]

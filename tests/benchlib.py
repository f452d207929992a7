"""What the benchmark scripts share: the row each figure is reported as, the one table
printer, timing helpers, and the scratch directory and environment of measured runs.

Measured `tether` processes cache bytecode, as an installed tether does: with
PYTHONDONTWRITEBYTECODE set, every start would recompile tether's modules.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from e2e import TEST_IMAGE, remove_home_sandboxes, tether_env

TETHER = [str(Path(sys.executable).with_name("tether"))]  # the console script, as installed
IMAGE = TEST_IMAGE
# Imported once before measuring, so that no measured run pays for compiling them.
WARM_UP = "import anthropic, docker, rich, typer, tether.cli.app, tether.core.harness"


@dataclass(frozen=True)
class Row:
    """One of tether's figures beside a baseline measured in the same run, and its bar."""

    figure: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    bar_text: str = ""
    met: bool | None = None  # None: no bar for this figure

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else math.nan


def at_most(value: float, limit: float, unit: str) -> tuple[str, bool]:
    """The (bar_text, met) of a figure that must not exceed `limit`."""
    return f"≤ {limit:g} {unit}", value <= limit


def print_table(rows: list[Row]) -> None:
    header = ("figure", "tether", "baseline", "value", "ratio", "bar", "met")
    cells = [header] + [
        (
            r.figure,
            _number(r.value, r.unit),
            r.baseline_name,
            _number(r.baseline, r.unit),
            "—" if math.isnan(r.ratio) else f"{r.ratio:.2f}×",
            r.bar_text or "—",
            {True: "yes", False: "NO", None: "—"}[r.met],
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    for n, line in enumerate(cells):
        print("  ".join(_pad(cell, widths[i], i) for i, cell in enumerate(line)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _pad(cell: str, width: int, column: int) -> str:
    numeric = column in (1, 3, 4)
    return cell.rjust(width) if numeric else cell.ljust(width)


def _number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "—"
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:,.{digits}f} {unit}"


# -- timing -----------------------------------------------------------------------------


def timings_ms(action: Callable[[], object], runs: int, warmup: int = 0) -> list[float]:
    """Wall time of each of `runs` calls of `action`, in ms, after `warmup` unmeasured calls."""
    for _ in range(warmup):
        action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def median_ms(action: Callable[[], object], runs: int, warmup: int = 0) -> float:
    return statistics.median(timings_ms(action, runs, warmup))


def quiet(command: list[str], env: dict[str, str]) -> Callable[[], object]:
    """`command` as an action: run to its end, output discarded, failure raised."""
    return lambda: subprocess.run(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
    )


def command_ms(command: list[str], env: dict[str, str], runs: int = 11) -> float:
    """Median wall time of a command, in ms, after one warm-up run."""
    return median_ms(quiet(command, env), runs, warmup=1)


def wait_usage(process: subprocess.Popen[bytes]) -> resource.struct_rusage:
    """Wait for `process`; its own resource usage, from wait4. (RUSAGE_CHILDREN would
    hold the largest peak memory of all children so far, not this one's.)"""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, process.args)
    return usage


def peak_mb(usage: resource.struct_rusage) -> float:
    """Peak resident memory (VmHWM) in MB; Linux reports ru_maxrss in KiB."""
    return usage.ru_maxrss / 1024


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


# -- where measured runs happen ---------------------------------------------------------


def home(work: Path, name: str) -> Path:
    """A data dir directly under `work`, so that `scratch` finds and removes its sandboxes."""
    path = work / name
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def env_for(data_dir: Path, base_url: str = "http://127.0.0.1:9", **extra: str) -> dict[str, str]:
    """The environment of a measured `tether` using `data_dir` and the model at `base_url`."""
    return tether_env(base_url, IMAGE, TETHER_HOME=str(data_dir), **extra)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A temporary directory for one benchmark run, whose bytecode cache measured
    processes share. Afterwards it is deleted, with every container and volume labelled
    with a data dir directly under it, and the environment is restored."""
    saved, cwd = dict(os.environ), os.getcwd()
    with tempfile.TemporaryDirectory(
        prefix="tether-bench-", dir=os.environ.get("BENCH_DIR")
    ) as tmp:
        work = Path(tmp)
        os.chdir(work)  # not in a git work tree: each session's workspace starts empty
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        subprocess.run([sys.executable, "-c", WARM_UP], check=True)
        try:
            yield work
        finally:
            for data_dir in work.iterdir():
                remove_home_sandboxes(data_dir)
            os.environ.clear()
            os.environ.update(saved)
            os.chdir(cwd)

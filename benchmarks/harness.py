"""The benchmark harness shared by every ``benchmarks/bench_*.py`` (and the ``jm_*.py`` sides).

- Fresh processes: :func:`run_json` (a child that prints its phase times as JSON on its last
  stdout line) and :func:`time_repeats` (whole-process wall times, median of repeats).
- Cold and warm: :func:`time_cold_and_warm` runs a jaxmice child three times, cold without
  the compilation cache, filling an empty cache, and cold from that cache; each child also
  times a second, warm call itself.
- The compilation cache is switched off in one way only: ``JAXMICE_COMPILATION_CACHE=0``
  (:data:`NO_CACHE`, :func:`switch_off_compilation_cache`).
- R: :func:`r_missing_reason` says why ``Rscript`` with the given packages cannot run.
- Results: :func:`append_result` appends a row with the columns :data:`FIELDS` to
  ``benchmarks/results/results.csv``; :func:`fmt`, :func:`ratio`, :func:`platform_name`,
  :func:`timestamp` and :func:`jax_backend` fill it.

Only the standard library is imported here, so that a ``jm_*.py`` child's import time is
jaxmice's own.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "results.csv"
FIELDS = [
    "date",
    "benchmark",
    "rows",
    "cols",
    "m",
    "maxit",
    "r_seconds",
    "jaxmice_seconds",
    "ratio",
    "platform",
    "jax_backend",
    "note",
    "commit",
    "versions",
]
# the one switch that keeps jaxmice from reading or writing JAX's persistent cache
NO_CACHE = {"JAXMICE_COMPILATION_CACHE": "0"}


# ----- the compilation cache -----------------------------------------------------------------
def switch_off_compilation_cache() -> None:
    """In a ``jm_*.py`` child, before jaxmice's first call: no persistent compilation cache."""
    os.environ.update(NO_CACHE)


def child_env(own_cache_only: bool = False) -> dict[str, str]:
    """Environment for a child process: this checkout first on ``PYTHONPATH``.

    Args:
        own_cache_only: drop a user's ``JAX_COMPILATION_CACHE_DIR``, so that jaxmice picks its
            own folder under ``XDG_CACHE_HOME`` (set per run by :func:`time_cold_and_warm`).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if own_cache_only:
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        env.pop("JAXMICE_COMPILATION_CACHE", None)
    return env


# ----- fresh processes -----------------------------------------------------------------------
def run_json(cmd: list[str], label: str, env: dict[str, str] | None = None) -> tuple[float, dict]:
    """Run a command as a fresh process; return its wall time and the JSON it printed.

    The child's stderr is echoed indented. The last line of its stdout must be JSON.

    Raises:
        RuntimeError: the child failed or printed no JSON.
    """
    print(f"  {label}: {' '.join(Path(c).name for c in cmd)}", file=sys.stderr)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    elapsed = time.perf_counter() - start
    for line in proc.stderr.strip().splitlines():
        print(f"    {line}", file=sys.stderr)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{label} exited with status {proc.returncode}")
    return elapsed, json.loads(lines[-1])


def time_process(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Run a command as a fresh process and return its wall time in seconds.

    The child's stderr (phase times) is echoed indented.

    Raises:
        RuntimeError: the child failed.
    """
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    elapsed = time.perf_counter() - start
    for line in proc.stderr.strip().splitlines():
        print(f"    {line}", file=sys.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited with status {proc.returncode}")
    return elapsed


def time_repeats(
    cmd: list[str], repeats: int, label: str, env: dict[str, str] | None = None
) -> float:
    """Time ``cmd`` as ``repeats`` fresh processes and return the median wall time."""
    times = []
    for i in range(repeats):
        print(f"  {label} run {i + 1}/{repeats}", file=sys.stderr)
        times.append(time_process(cmd, env))
    return statistics.median(times)


@dataclass(frozen=True)
class ColdRun:
    """One jaxmice child process: ``key`` is ``nocache``, ``fill`` or ``cached``."""

    label: str
    key: str
    wall: float
    report: dict


def cold_run_plan(
    cmd: list[str], no_cache_flag: Sequence[str], env: dict[str, str], cache_home: Path
) -> list[tuple[str, str, list[str], dict[str, str]]]:
    """The three cold runs: no cache; filling an empty cache; cold from that cache.

    Args:
        cmd: the jaxmice child's command (a ``jm_*.py`` script and its arguments).
        no_cache_flag: the child's option that switches the cache off (``["--no-cache"]``).
        env: the child environment (see :func:`child_env` with ``own_cache_only``).
        cache_home: a fresh folder for ``XDG_CACHE_HOME``: jaxmice's cache goes under it.

    Returns:
        ``(label, key, command, environment)`` per run, in the order they must run.
    """
    cache_env = dict(env, XDG_CACHE_HOME=str(cache_home))
    return [
        ("jaxmice cold, no cache", "nocache", [*cmd, *no_cache_flag], dict(env, **NO_CACHE)),
        ("jaxmice filling an empty cache", "fill", cmd, cache_env),
        ("jaxmice cold, cached", "cached", cmd, cache_env),
    ]


def time_cold_and_warm(
    cmd: list[str], env: dict[str, str], cache_home: Path, no_cache_flag: Sequence[str] = (
        "--no-cache",)
) -> tuple[list[ColdRun], list[str]]:
    """Run the jaxmice child cold without cache, filling a cache and cold from it.

    Each child reports its own warm (second) call in its JSON. A failed child is reported and
    skipped.

    Returns:
        The runs that succeeded, and a note per failed run.
    """
    runs, failures = [], []
    for label, key, run_cmd, run_env in cold_run_plan(cmd, no_cache_flag, env, cache_home):
        try:
            wall, report = run_json(run_cmd, label, run_env)
        except RuntimeError as exc:
            print(f"warning: {exc}", file=sys.stderr)
            failures.append(f"{label} failed")
            continue
        runs.append(ColdRun(label, key, wall, report))
    return runs, failures


def jax_backend(env: dict[str, str]) -> str:
    """Return the default JAX backend a fresh child process would use."""
    proc = subprocess.run(
        [sys.executable, "-c", "import jax; print(jax.default_backend())"],
        capture_output=True,
        text=True,
        env=env,
    )
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


# ----- R ---------------------------------------------------------------------------------------
def r_missing_reason(packages: Sequence[str]) -> str | None:
    """Say why ``Rscript`` with ``packages`` cannot be run, or return None when it can."""
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    loads = "; ".join(f"library({p})" for p in packages)
    probe = subprocess.run(
        ["Rscript", "-e", f"suppressPackageStartupMessages({{{loads}}})"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"R package {' or '.join(packages)} not installed"
    return None


def r_skip_reason(no_r: bool, packages: Sequence[str]) -> str | None:
    """``--no-r`` or why R cannot run (printed as a note), or None to run R."""
    skip = "--no-r" if no_r else r_missing_reason(packages)
    if skip:
        print(f"note: skipping R {', '.join(packages)} ({skip})", file=sys.stderr)
    return skip


# ----- the results CSV -------------------------------------------------------------------------
def append_result(row: dict[str, object], path: Path = RESULTS) -> None:
    """Append one row to the results CSV, with the checkout's commit and the versions it ran
    under; a file with an older header is rewritten with the current one first (its rows'
    new fields left empty)."""
    row = dict(row)
    row.setdefault("commit", commit())
    row.setdefault("versions", versions())
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != FIELDS:
                old = list(reader)
                with path.open("w", newline="") as out:
                    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n",
                                            restval="", extrasaction="ignore")
                    writer.writeheader()
                    writer.writerows(old)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow(row)


def commit() -> str:
    """The checkout's commit (``-dirty`` with uncommitted changes), or empty outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("-dirty" if dirty else "")


def versions() -> str:
    """The versions a result ran under: Python, jax, jaxlib, numpyro, numpy, pandas."""
    from importlib import metadata

    found = [f"python {platform.python_version()}"]
    for package in ("jax", "jaxlib", "numpyro", "numpy", "pandas"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return "; ".join(found)


def fmt(value: float | None, digits: int = 2) -> str:
    """Format a number for the table and CSV; None becomes an empty string."""
    return "" if value is None else f"{value:.{digits}f}"


def ratio(r: float | None, jm: float | None) -> float | None:
    """``r / jm`` when both are known (above 1: jaxmice faster)."""
    return r / jm if r is not None and jm else None


def platform_name() -> str:
    """The ``platform`` column: system, machine and CPU count."""
    return f"{platform.system()} {platform.machine()} {os.cpu_count()} cpus"


def timestamp() -> str:
    """The ``date`` column: now, to the second."""
    return dt.datetime.now().isoformat(timespec="seconds")

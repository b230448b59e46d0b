"""Time jaxmice against R mice on the same generated single-level data.

Usage::

    python benchmarks/bench_single_level.py --rows 20000 --cols 10 --m 5 --maxit 10 \
        --seed 1 --repeats 1 [--no-r] [--no-cache]

Both sides are timed as whole fresh processes (interpreter start, library import,
reading the CSV, imputation), so JAX compilation counts against jaxmice just as
loading the mice package counts against R. ``ratio`` is ``r_seconds /
jaxmice_seconds``: above 1 means jaxmice was faster. A row is appended to
``benchmarks/results/results.csv``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generate import make_single_level, write_csv

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
]


def r_missing_reason() -> str | None:
    """Say why R mice cannot be run, or return None when it can."""
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    probe = subprocess.run(
        ["Rscript", "-e", "suppressPackageStartupMessages(library(mice))"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return "R package mice not installed"
    return None


def time_process(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Run a command as a fresh process and return its wall time in seconds.

    The child's stderr (phase times) is echoed indented; a failure raises.

    Args:
        cmd: Command and arguments.
        env: Environment for the child; the current one when None.

    Returns:
        Elapsed wall-clock seconds.
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
    """Time ``cmd`` ``repeats`` times and return the median wall time."""
    times = []
    for i in range(repeats):
        print(f"  {label} run {i + 1}/{repeats}", file=sys.stderr)
        times.append(time_process(cmd, env))
    return statistics.median(times)


def jax_backend(env: dict[str, str]) -> str:
    """Return the default JAX backend a fresh child process would use."""
    proc = subprocess.run(
        [sys.executable, "-c", "import jax; print(jax.default_backend())"],
        capture_output=True,
        text=True,
        env=env,
    )
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


def append_result(row: dict[str, object], path: Path = RESULTS) -> None:
    """Append one row to the results CSV, writing the header for a new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow(row)


def fmt(value: float | None, digits: int = 2) -> str:
    """Format a number for the table and CSV; None becomes an empty string."""
    return "" if value is None else f"{value:.{digits}f}"


def print_table(row: dict[str, object]) -> None:
    """Print the timing columns of a result row as a small table."""
    keys = ["rows", "cols", "m", "maxit", "r_seconds", "jaxmice_seconds", "ratio"]
    cells = [str(row[k]) or "-" for k in keys]
    widths = [max(len(k), len(c)) for k, c in zip(keys, cells, strict=True)]
    print("  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True)))
    print("  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)))


def main(argv: list[str] | None = None) -> None:
    """Generate data, time both sides, print and record the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--cols", type=int, default=10)
    parser.add_argument("--m", type=int, default=5)
    parser.add_argument("--maxit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="runs per side; median is kept")
    parser.add_argument("--no-r", action="store_true", help="time jaxmice only")
    parser.add_argument("--no-jaxmice", action="store_true", help="time R mice only")
    parser.add_argument(
        "--no-cache", action="store_true", help="disable JAX's persistent compilation cache"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    args = parser.parse_args(argv)

    notes = [f"median of {args.repeats}"] if args.repeats > 1 else []
    skip_r = "--no-r" if args.no_r else r_missing_reason()
    if skip_r:
        print(f"note: skipping R mice ({skip_r})", file=sys.stderr)
        notes.append(f"R skipped: {skip_r}")
    if args.no_jaxmice:
        notes.append("jaxmice skipped")
    if args.no_cache:
        notes.append("JAX compilation cache off")

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))

    r_s = jm_s = None
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        write_csv(make_single_level(args.rows, args.cols, args.seed), data)
        common = [str(args.m), str(args.maxit), str(args.seed)]
        if not skip_r:
            r_cmd = ["Rscript", str(HERE / "r" / "mice_single.R"), str(data), *common]
            r_s = time_repeats(r_cmd, args.repeats, "R mice")
        if not args.no_jaxmice:
            jm_cmd = [sys.executable, str(HERE / "jm_single.py"), str(data)]
            jm_cmd += ["--m", common[0], "--maxit", common[1], "--seed", common[2]]
            jm_cmd += ["--no-cache"] if args.no_cache else []
            jm_s = time_repeats(jm_cmd, args.repeats, "jaxmice", env)

    row: dict[str, object] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "benchmark": "single_level_pmm",
        "rows": args.rows,
        "cols": args.cols,
        "m": args.m,
        "maxit": args.maxit,
        "r_seconds": fmt(r_s),
        "jaxmice_seconds": fmt(jm_s),
        "ratio": fmt(r_s / jm_s if r_s and jm_s else None),
        "platform": f"{platform.system()} {platform.machine()} {os.cpu_count()} cpus",
        "jax_backend": "" if args.no_jaxmice else jax_backend(env),
        "note": "; ".join(notes),
    }
    print_table(row)
    append_result(row, args.results)
    print(f"appended to {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()

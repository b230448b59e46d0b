"""The 1M-row IPD benchmark: five incomplete variables in 200 uneven studies, then a pooled fit.

Usage::

    python benchmarks/bench.py ipd                      # full scale: 1,000,000 rows, m 20, maxit 20
    python benchmarks/bench.py ipd --rows 20000 --studies 40 --m 2 --maxit 2      # small
    python benchmarks/bench.py ipd [--seed 1] [--phase all|impute] [--analyses lmer,glmer]
        [--cache] [--out benchmarks/results/ipd] [--results PATH]

The data are ``generate.make_ipd_large(rows, studies, seed)``: studies of uneven size (a
minimum of 50 rows plus a lognormal share; the min / median / max are recorded), complete
covariates ``x1`` (with a study part) and ``x2``, and five incomplete variables, each imputed
with the study as a random intercept (``study`` coded -2 in every row of
``jm.make_predictor_matrix(df, "study")``, every other column a fixed predictor):

- ``y1`` and ``y2`` continuous, by 2l.pan (about 25% and 20% missing at random);
- ``s`` continuous, wholly missing in 20% of the studies (systematically missing), by 2l.pan;
- ``b`` binary (a Categorical), by 2l.bin (about 15% missing at random);
- ``o`` ordinal (an ordered Categorical of 4 levels), by 2l.polr (about 30% missing at random).

The parent process does not import JAX: it runs the benchmark as one fresh child process
(``--child``; the compilation cache is off, ``JAXMICE_COMPILATION_CACHE=0``, unless
``--cache``) and reads the one line of JSON it prints last (the harness's child protocol).
The child times, in order:

1. ``generate``: drawing the data.
2. ``impute``: the imputation, ``jm.mice(..., progress=False)``, split as
   ``jm.mice(..., maxit=0)`` (checks, set-up, compiling and running the initial fill), then
   ``imp.iterate(1)`` (compiling the iteration program and running the first iteration) and
   ``imp.iterate(maxit - 1)`` (running the rest; the program is compiled once whatever maxit
   is). The three calls give exactly ``jm.mice(..., maxit=maxit)`` with the same seed.
   ``per_iteration_s`` = rest / (maxit - 1); ``compile_s`` ~ first iteration - per iteration.
3. ``analysis`` (not with ``--phase impute``): ``imp.fit("y1 ~ x1 + b + (1 | study)")`` (lmer,
   REML) and ``.pool()``; with ``glmer`` in ``--analyses`` also
   ``imp.fit("b ~ y1 + x1 + (1 | study)", family="binomial").pool()``, each timed on its own.

Memory: at the start of each phase the child resets the kernel's peak-RSS mark (writing 5 to
``/proc/self/clear_refs``), so ``peak_rss`` of a phase is the peak resident memory during that
phase (data and programs still alive from earlier phases included); ``ru_maxrss`` (from
``resource.getrusage``) is also recorded after each phase (it follows the same reset on Linux).
Where the reset is refused the peaks are cumulative and the JSON says so. The impute phase also
records each of its three calls' peak (``steps``). The target is below 8 GiB at full scale. On
a GPU the arrays live in device memory, which RSS does not count: the JSON then also holds the
device's ``memory_stats()`` (``peak_bytes_in_use``) after the imputation and after the analysis.

Floor bytes ("bytes one iteration must read and write"): for each visit v and each chain, the
design matrix read once (rows x q_v x 8 bytes, q_v the visit's design columns: the intercept,
one per continuous or binary predictor, K - 1 dummies per K-level categorical predictor), the
imputed column written once (rows x 8) and the cross products formed once (q_v^2 x 8), summed
over the visits and the m chains. Not counted: the study index and per-study sums of the random
part, the cut points, random numbers, the chain statistics and any extra sweep (every method
here runs one sweep per visit). ``floor_seconds`` = bytes / 4.8e12 (the HBM bandwidth of an
H200) per iteration and for maxit iterations: no GPU run can be faster than this.

Each run writes ``benchmarks/results/ipd/ipd_<rows>r_<studies>s_m<m>_it<maxit>_seed<seed>.json``
(or under ``--out``), prints a table and appends the rows ``ipd_impute`` and (with the analysis)
``ipd_analysis`` to the results CSV.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from generate import IPD_METHODS as METHODS
from harness import (
    HERE,
    NO_CACHE,
    RESULTS,
    append_result,
    child_env,
    fmt,
    report,
    run_json,
    timestamp,
)

OUT = HERE / "results" / "ipd"
DATA_COLUMNS = 8  # study, x1, x2, y1, y2, s, b, o
ANALYSES = {
    "lmer": ("y1 ~ x1 + b + (1 | study)", "gaussian"),
    "glmer": ("b ~ y1 + x1 + (1 | study)", "binomial"),
}
HBM_BYTES_PER_S = 4.8e12
GIB = 2.0**30
MEMORY_TARGET_GIB = 8.0


# ----- memory --------------------------------------------------------------------------------
def _status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process; False where that is refused."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def memory(reset_ok: bool) -> dict:
    """Current and peak resident memory in GiB (peak since the last reset when ``reset_ok``)."""
    rss, hwm = _status_kib("VmRSS"), _status_kib("VmHWM")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "rss_gib": None if rss is None else rss * 1024 / GIB,
        "peak_rss_gib": (maxrss if hwm is None else hwm) * 1024 / GIB,
        "ru_maxrss_gib": maxrss * 1024 / GIB,
        "peak_since_phase_start": reset_ok,
    }


def device_memory(jax) -> dict | None:
    """The accelerator's memory statistics (peak bytes in use on a GPU); None on the CPU."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001 - not every backend reports
        return None
    if not stats:
        return None
    keep = ("peak_bytes_in_use", "bytes_in_use", "bytes_limit")
    return {k: int(stats[k]) for k in keep if k in stats}


# ----- floor bytes ---------------------------------------------------------------------------
def floor_bytes(codes, rows: int, m: int) -> dict:
    """Bytes one iteration must read and write: design read, column written, cross products.

    Args:
        codes: i[V, Q] each visit's code per design column (0 = not used; the intercept
            counts).
        rows: rows of the data.
        m: chains.
    """
    import numpy as np

    q = (np.asarray(codes) != 0).sum(axis=1).astype(np.int64)
    design = int((rows * q * 8).sum()) * m
    written = int(rows * 8 * len(q)) * m
    cross = int((q * q * 8).sum()) * m
    total = design + written + cross
    return {
        "design_columns_per_visit": q.tolist(),
        "design_read_bytes": design,
        "column_written_bytes": written,
        "cross_product_bytes": cross,
        "bytes_per_iteration": total,
        "floor_seconds_per_iteration": total / HBM_BYTES_PER_S,
    }


# ----- the child: the benchmark itself --------------------------------------------------------
def child(args: argparse.Namespace) -> dict:
    """Generate, impute and analyse in this process; return the timings and memory."""
    import numpy as np
    from generate import ipd_study_sizes, make_ipd_large

    res: dict = {"phases": {}}
    reset_ok = reset_peak()

    start = time.perf_counter()
    df, systematic = make_ipd_large(args.rows, args.studies, args.seed)
    sizes = ipd_study_sizes(args.rows, args.studies, args.seed)
    res["phases"]["generate"] = {"seconds": time.perf_counter() - start, **memory(reset_ok)}
    res["data"] = {
        "rows": len(df),
        "studies": args.studies,
        "study_size_min": int(sizes.min()),
        "study_size_median": float(np.median(sizes)),
        "study_size_max": int(sizes.max()),
        "systematically_missing_studies": len(systematic),
        "missing_share": {c: float(df[c].isna().mean()) for c in METHODS},
        "frame_bytes": int(df.memory_usage(deep=True).sum()),
    }

    import jax

    import jaxmice as jm

    res["jax"] = {"version": jax.__version__, "backend": jax.default_backend(),
                  "devices": [str(d) for d in jax.devices()]}
    pred = jm.make_predictor_matrix(df, "study")
    steps: dict = {}

    def timed(name, call):
        """Run ``call()`` with the peak mark reset; record its seconds and peak RSS."""
        ok = reset_peak()
        begin = time.perf_counter()
        out = call()
        jax.block_until_ready(out.data)
        steps[name] = {"seconds": time.perf_counter() - begin, **memory(ok)}
        return out

    imp = timed("init", lambda: jm.mice(df, m=args.m, maxit=0, method=METHODS,
                                        predictor_matrix=pred, seed=args.seed, progress=False))
    if args.maxit >= 1:
        imp = timed("first_iteration", lambda: imp.iterate(1, progress=False))
    if args.maxit >= 2:
        imp = timed("rest", lambda: imp.iterate(args.maxit - 1, progress=False))
    init, first, rest = (steps.get(k, {}).get("seconds", 0.0)
                         for k in ("init", "first_iteration", "rest"))
    peak = max(st["peak_rss_gib"] for st in steps.values())
    per_it = rest / (args.maxit - 1) if args.maxit >= 2 else None
    res["phases"]["impute"] = {
        "seconds": init + first + rest,
        "init_s": init,
        "first_iteration_s": first,
        "rest_s": rest,
        "per_iteration_s": per_it,
        "compile_s": None if per_it is None else first - per_it,
        **memory(reset_ok),
        "steps": steps,
    }
    # the phase's peak is the largest of its steps' (each step reset the mark)
    res["phases"]["impute"]["peak_rss_gib"] = max(peak, res["phases"]["impute"]["peak_rss_gib"])
    res["device_memory"] = device_memory(jax)
    res["state_bytes"] = int(imp.data.size * imp.data.dtype.itemsize)
    res["events"] = imp.logged_events.to_dict(orient="records")
    res["floor"] = floor_bytes(imp.consts.visits.codes, len(df), args.m)
    res["floor"]["floor_seconds_maxit"] = (res["floor"]["floor_seconds_per_iteration"]
                                           * args.maxit)

    if args.phase == "all":
        res["analyses"] = {}
        reset_ok = reset_peak()
        total = 0.0
        for name in args.analyses:
            formula, family = ANALYSES[name]
            start = time.perf_counter()
            fits = imp.fit(formula, family=family)
            pooled = fits.pool()
            seconds = time.perf_counter() - start
            total += seconds
            extra = getattr(pooled, "extra", None)
            res["analyses"][name] = {
                "formula": formula,
                "family": family,
                "seconds": seconds,
                "pooled": pooled.summary().to_dict(orient="records"),
                "extra": {} if extra is None else {str(k): float(v) for k, v in extra.items()},
            }
        res["phases"]["analysis"] = {"seconds": total, **memory(reset_ok)}
        res["device_memory_after_analysis"] = device_memory(jax)
    return res


# ----- the parent: run the child, print, record -----------------------------------------------
def print_table(res: dict, args: argparse.Namespace) -> None:
    """The phase times and memory, the floor bytes and the pooled estimates."""
    d = res["data"]
    print(f"\n{d['rows']:,} rows in {d['studies']} studies (sizes min {d['study_size_min']}, "
          f"median {d['study_size_median']:.0f}, max {d['study_size_max']}), "
          f"m = {args.m}, maxit = {args.maxit}, backend {res['jax']['backend']}")
    print(f"{'phase':<28}{'seconds':>10}{'peak RSS GiB':>14}{'RSS after GiB':>15}")
    for name, ph in res["phases"].items():
        print(f"{name:<28}{ph['seconds']:>10.2f}{ph['peak_rss_gib']:>14.2f}"
              f"{ph['rss_gib'] or float('nan'):>15.2f}")
        if name == "impute":
            for key, label in (("init", "  mice(maxit=0)"),
                               ("first_iteration", "  iterate(1) (compile + 1)"),
                               ("rest", f"  iterate({args.maxit - 1})")):
                step = ph["steps"].get(key)
                if step is not None:
                    print(f"{label:<28}{step['seconds']:>10.2f}{step['peak_rss_gib']:>14.2f}"
                          f"{step['rss_gib'] or float('nan'):>15.2f}")
            for key, label in (("per_iteration_s", "  per iteration"),
                               ("compile_s", "  compile (first - per it)")):
                if ph.get(key) is not None:
                    print(f"{label:<28}{ph[key]:>10.2f}")
    for name, an in res.get("analyses", {}).items():
        print(f"  {name:<26}{an['seconds']:>10.2f}   {an['formula']} ({an['family']})")
    peak = max(ph["peak_rss_gib"] for ph in res["phases"].values())
    flag = "below" if peak < MEMORY_TARGET_GIB else "ABOVE"
    print(f"peak RSS of the process {peak:.2f} GiB ({flag} the {MEMORY_TARGET_GIB:.0f} GiB "
          f"target); chains' state m x rows x columns x 8 = {res['state_bytes'] / 2**20:.1f} MiB")
    f = res["floor"]
    print(f"bytes one iteration must read and write: {f['bytes_per_iteration']:.4g} "
          f"(design {f['design_read_bytes']:.4g}, column {f['column_written_bytes']:.4g}, "
          f"cross products {f['cross_product_bytes']:.4g}; design columns per visit "
          f"{f['design_columns_per_visit']})")
    print(f"floor_seconds at {HBM_BYTES_PER_S:.2g} B/s: {f['floor_seconds_per_iteration']:.3g} "
          f"per iteration, {f['floor_seconds_maxit']:.3g} for maxit = {args.maxit}")
    if res.get("device_memory"):
        print(f"device memory after the imputation: {res['device_memory']}")
    if res["events"]:
        print(f"{len(res['events'])} logged events, first: {res['events'][0]}")
    for name, an in res.get("analyses", {}).items():
        print(f"\npooled {name}: {an['formula']}")
        for row in an["pooled"]:
            print(f"  {row['term']:<12} estimate {row['estimate']:.4f}  se "
                  f"{row['std_error']:.4f}  fmi {row['fmi']:.3f}")
        for key, value in an["extra"].items():
            print(f"  {key:<32} {value:.4f}")


def parent(args: argparse.Namespace, argv: list[str]) -> None:
    """Run the benchmark as a fresh child process; print and write its results."""
    env = child_env()
    if not args.cache:
        env.update(NO_CACHE)
    load = os.getloadavg()[0]
    try:
        wall, res = run_json([sys.executable, str(Path(__file__).resolve()), "--child", *argv],
                             "ipd benchmark", env)
    except RuntimeError as exc:
        sys.exit(str(exc))
    res.update(
        options={k: getattr(args, k) for k in ("rows", "studies", "m", "maxit", "seed",
                                               "phase", "analyses", "cache")},
        methods=METHODS,
        process_wall_s=wall,
        load_average_start=load,
        cpu_count=os.cpu_count(),
        date=timestamp(),
    )
    print_table(res, args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / (f"ipd_{args.rows}r_{args.studies}s_m{args.m}_it{args.maxit}"
                       f"_seed{args.seed}.json")
    path.write_text(json.dumps(res, indent=1, default=str) + "\n")
    print(f"\nwrote {path}")
    record(res, args, path)


def record(res: dict, args: argparse.Namespace, path: Path) -> None:
    """Append ``ipd_impute`` (and ``ipd_analysis``) to the results CSV."""
    d, imp = res["data"], res["phases"]["impute"]
    common = dict(date=res["date"], rows=d["rows"], cols=DATA_COLUMNS, m=args.m,
                  maxit=args.maxit, r_seconds="", ratio="",
                  jax_backend=res["jax"]["backend"])
    per_it, compile_s = imp.get("per_iteration_s"), imp.get("compile_s")
    notes = [f"{d['studies']} studies ({d['study_size_min']}-{d['study_size_max']} rows)",
             f"per iteration {fmt(per_it, 3) or '-'} s, compile {fmt(compile_s) or '-'} s",
             f"peak RSS {imp['peak_rss_gib']:.2f} GiB",
             f"process wall {res['process_wall_s']:.1f} s",
             f"load average {res['load_average_start']:.2f}",
             "cache on" if args.cache else "cache off", f"JSON {path.name}"]
    append_result(dict(common, benchmark="ipd_impute", jaxmice_seconds=fmt(imp["seconds"]),
                       note="; ".join(notes)), args.results)
    if "analysis" in res["phases"]:
        ana = res["phases"]["analysis"]
        parts = [f"{name} {an['seconds']:.1f} s" for name, an in res["analyses"].items()]
        append_result(dict(common, benchmark="ipd_analysis", jaxmice_seconds=fmt(ana["seconds"]),
                           note="; ".join([*parts, f"peak RSS {ana['peak_rss_gib']:.2f} GiB",
                                           f"JSON {path.name}"])), args.results)
    print(f"appended to {args.results}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Parse the options; run as the parent (default) or as the benchmark child."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--m", type=int, default=20)
    parser.add_argument("--maxit", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--phase", choices=("all", "impute"), default="all",
                        help="impute: stop after the imputation (no analysis)")
    parser.add_argument("--analyses", default="lmer,glmer",
                        help=f"comma-separated, from {', '.join(ANALYSES)}")
    parser.add_argument("--cache", action="store_true",
                        help="leave jaxmice's compilation cache on (default off)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the JSON")
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.analyses = [a for a in args.analyses.split(",") if a]
    unknown = set(args.analyses) - set(ANALYSES)
    if unknown:
        parser.error(f"unknown analyses {sorted(unknown)}; choose from {list(ANALYSES)}")
    if args.maxit < 0 or args.m < 1:
        parser.error("need m >= 1 and maxit >= 0")
    if args.child:
        report(child(args))
    else:
        parent(args, [a for a in argv if a != "--child"])


if __name__ == "__main__":
    main()

"""Write the replications of the two-level binary bias study as CSVs (both scenarios).

Usage::

    python studies/write_bin2l_reps.py [--reps 100] [--out studies/results/bin2l_reps]

Replication ``r`` (seeds ``0 .. reps - 1``) of each scenario is
``bin2l_design.make_binary_two_level(r, systematic=...)``, written to
``OUT/{sporadic,systematic}/rep_{r:03d}.csv`` with the columns ``g``, ``y``, ``x`` (the
amputed binary, empty where missing) and ``x_full`` (the complete binary, for the
complete-data fit; it must not be used for imputing). ``studies/r/mice_2lbin_reps.R``
reads them; the analysis model is ``glmer(x ~ y + (1 | g), binomial)`` with intercept
-0.5, slope 0.8 and random-intercept variance 1.0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bin2l_design import make_binary_two_level, write_csv

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "bin2l_reps"
SCENARIOS = {"sporadic": False, "systematic": True}


def write_reps(out: Path, reps: int) -> None:
    """Write ``reps`` replications of each scenario under ``out``.

    Args:
        out: The folder; ``sporadic/`` and ``systematic/`` are made in it.
        reps: Number of replications (seeds ``0 .. reps - 1``).
    """
    for scenario, systematic in SCENARIOS.items():
        for rep in range(reps):
            complete, amputed = make_binary_two_level(rep, systematic=systematic)
            amputed["x_full"] = complete["x"]
            write_csv(amputed, out / scenario / f"rep_{rep:03d}.csv")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    write_reps(args.out, args.reps)
    print(f"wrote {args.reps} replications of {', '.join(SCENARIOS)} under {args.out}")


if __name__ == "__main__":
    main()

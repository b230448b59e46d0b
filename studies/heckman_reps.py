"""Known-truth simulation study of 2l.heckman (issue 14), resumable: one CSV row per
replication.

Usage::

    python -u studies/heckman_reps.py [--reps 500] [--mar-reps 200] [--cells all]
                                      [--out studies/results/heckman_reps]

The design, the analysis and the pooling are ``tests/support/heckman_simulation.py``'s (8 cells:
continuous/binary x rho 0.3/0.6 x with/without 2 of 10 clusters wholly missing). Each cell
and method writes ``OUT/<cell>__<method>.csv``, a row appended (and flushed) as each
replication finishes; a restart skips the replications already there. Replications run in
rounds over the cells (rep r of every cell before rep r + 1; the continuous cells first,
being ~20 times cheaper), so a run stopped early leaves every cell with about as many
replications. 2l.heckman runs ``--reps`` replications, the MAR comparison (2l.pan, 2l.bin)
``--mar-reps`` on the same data sets (the first ones), and ``--selection-reps`` (default 0)
replications of ``2l.heckman-selection`` (micemd's conditioning of wholly missing clusters on
non-selection) on the cells with wholly missing clusters. ``summarize_heckman_reps.py``
prints the table.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
import heckman_simulation as hs  # noqa: E402  (the tests' design, run large here)

RESULTS = Path(__file__).resolve().parent / "results" / "heckman_reps"


def _done(path: Path) -> set[int]:
    if not path.exists():
        return set()
    with path.open() as f:
        return {int(row["rep"]) for row in csv.DictReader(f)}


def _append(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
        f.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--mar-reps", type=int, default=200)
    parser.add_argument("--selection-reps", type=int, default=0,
                        help="replications of 2l.heckman-selection (systematic='selection', "
                        "micemd's conditioning) on the cells with wholly missing clusters")
    parser.add_argument("--cells", default="all",
                        help="'all', 'continuous', 'binary' or comma-separated cell names")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.cells == "all":
        cells = hs.CELLS
    elif args.cells in ("continuous", "binary"):
        cells = [c for c in hs.CELLS if c.outcome == args.cells]
    else:
        wanted = args.cells.split(",")
        cells = [c for c in hs.CELLS if c.name in wanted]
    for outcome in ("continuous", "binary"):
        group = [c for c in cells if c.outcome == outcome]
        jobs = [(c, method, args.reps if method == "2l.heckman" else args.mar_reps)
                for c in group for method in ("2l.heckman", hs.MAR_METHOD[outcome])]
        jobs += [(c, "2l.heckman-selection", args.selection_reps) for c in group
                 if c.sys and args.selection_reps]
        paths = {(c.name, method): args.out / f"{c.name}__{method}.csv" for c, method, _ in jobs}
        done = {key: _done(path) for key, path in paths.items()}
        start = time.perf_counter()
        for rep in range(max((n for *_, n in jobs), default=0)):
            for cell, method, n in jobs:
                key = (cell.name, method)
                if rep >= n or rep in done[key]:
                    continue
                row = hs.replicate(cell, method, rep)
                _append(paths[key], row)
            if rep % 10 == 9:
                print(f"{outcome}: rep {rep + 1} done, {time.perf_counter() - start:.0f} s",
                      flush=True)
        print(f"{outcome}: finished in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()

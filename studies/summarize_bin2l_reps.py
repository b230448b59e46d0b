"""Summarise the two-level binary bias study: mean, bias, Monte Carlo SE and coverage.

Usage::

    python studies/summarize_bin2l_reps.py RESULTS.csv [RESULTS.csv ...] [--json OUT.json]

Each CSV has one row per replication as written by ``studies/r/mice_2lbin_reps.R``
(or by ``studies/jm_2lbin_reps.py``, in the same format)
(columns ``est_intercept``, ``se_intercept``, ``df_intercept``, ``est_slope``, ...,
``ri_variance`` and the complete-data ``full_*``). For the pooled and the complete-data
estimates of the intercept, the slope and the random-intercept variance it reports the
mean over replications, its bias against the truth (-0.5, 0.8, 1.0), the Monte Carlo SE of
the mean (sd / sqrt(reps)), the empirical SD and, for the pooled fixed effects, the mean
pooled SE and the coverage of the 95% interval ``est +- t(df) se``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from bin2l_design import BINARY_TWO_LEVEL_TRUTH
from scipy import stats

PARAMETERS = {  # name -> (pooled column, complete-data column, truth)
    "intercept": ("est_intercept", "full_intercept", BINARY_TWO_LEVEL_TRUTH["intercept"]),
    "slope": ("est_slope", "full_slope", BINARY_TWO_LEVEL_TRUTH["slope"]),
    "ri_variance": ("ri_variance", "full_ri_variance", BINARY_TWO_LEVEL_TRUTH["ri_variance"]),
}


def summarize(df: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Summarise one scenario's replications.

    Args:
        df: One row per replication (see the module docstring).

    Returns:
        Per parameter and source (``imputed``, ``complete``) a dict with ``mean``,
        ``bias``, ``mcse``, ``emp_sd`` and, for imputed fixed effects, ``mean_se`` and
        ``coverage``; plus ``reps`` and ``seconds_per_rep``.
    """
    n = len(df)
    out: dict[str, dict[str, float]] = {
        "run": {"reps": n, "seconds_per_rep": float(df["seconds"].mean())}
    }
    for name, (pooled, full, truth) in PARAMETERS.items():
        for source, column in (("imputed", pooled), ("complete", full)):
            values = df[column].to_numpy(dtype=float)
            sd = float(values.std(ddof=1))
            row = {
                "truth": truth,
                "mean": float(values.mean()),
                "bias": float(values.mean() - truth),
                "mcse": sd / np.sqrt(n),
                "emp_sd": sd,
            }
            if source == "imputed" and name != "ri_variance":
                se = df[f"se_{name}"].to_numpy(dtype=float)
                half = stats.t.ppf(0.975, df[f"df_{name}"].to_numpy(dtype=float)) * se
                row["mean_se"] = float(se.mean())
                row["coverage"] = float(np.mean(np.abs(values - truth) <= half))
            out[f"{name} {source}"] = row
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the summary of every results CSV given; optionally write them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+")
    parser.add_argument("--json", type=Path, default=None, help="write the summaries here")
    args = parser.parse_args(argv)
    summaries = {}
    for path in args.results:
        summary = summarize(pd.read_csv(path))
        summaries[path.stem] = summary
        run = summary["run"]
        print(f"{path}: {run['reps']} reps, {run['seconds_per_rep']:.2f} s per rep")
        print(f"  {'parameter':<22}{'truth':>7}{'mean':>9}{'bias':>9}{'mcse':>8}{'emp_sd':>8}"
              f"{'mean_se':>9}{'cover':>7}")
        for key, row in summary.items():
            if key == "run":
                continue
            extra = (f"{row['mean_se']:>9.4f}{row['coverage']:>7.2f}" if "coverage" in row
                     else "")
            print(f"  {key:<22}{row['truth']:>7.2f}{row['mean']:>9.4f}{row['bias']:>9.4f}"
                  f"{row['mcse']:>8.4f}{row['emp_sd']:>8.4f}{extra}")
    if args.json is not None:
        args.json.write_text(json.dumps(summaries, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""The ``jaxmice`` console command: ``jaxmice demo popmis --out figures/``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _rubin_mean(frames: list, column: str) -> tuple[float, float, float]:
    """Pooled mean of a column by Rubin's rules: (estimate, standard error, fmi approx)."""
    q = np.array([f[column].mean() for f in frames])
    u = np.array([f[column].var() / len(f) for f in frames])
    m = len(q)
    between = q.var(ddof=1) if m > 1 else 0.0
    total = u.mean() + (1 + 1 / m) * between
    return float(q.mean()), float(np.sqrt(total)), float((1 + 1 / m) * between / total)


def demo_popmis(out: Path, m: int, maxit: int, seed: int, progress: bool) -> None:
    """Impute popmis's ``popular`` and summarise the imputations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import jaxmice as jm

    df = jm.datasets.load_popmis()[["school", "popular", "sex", "texp"]]
    print(f"popmis: {len(df)} pupils in {df.school.nunique()} schools; "
          f"popular missing in {df.popular.isna().sum()} rows ({df.popular.isna().mean():.0%})")
    pred = jm.make_predictor_matrix(df)
    pred.loc[:, "school"] = 0  # single-level imputation: the school id is not a number
    start = time.perf_counter()
    imp = jm.mice(df, m=m, maxit=maxit, predictor_matrix=pred, seed=seed, progress=progress)
    imp.data.block_until_ready()
    seconds = time.perf_counter() - start
    print(f"\n{imp}\nimputed in {seconds:.2f} s (JAX compilation included)")
    frames = imp.complete("all")
    table = [(k + 1, f.popular.mean(), f.popular.std()) for k, f in enumerate(frames)]
    print("\nimputation  mean(popular)  sd(popular)")
    for k, mean, sd in table:
        print(f"{k:>10}  {mean:>13.4f}  {sd:>11.4f}")
    est, se, fmi = _rubin_mean(frames, "popular")
    observed = df.popular.dropna()
    print(f"\npooled mean of popular (Rubin's rules): {est:.4f} (SE {se:.4f}, fmi {fmi:.3f}); "
          f"complete cases: {observed.mean():.4f}")
    out.mkdir(parents=True, exist_ok=True)
    chain_mean = imp.chain_mean.loc["popular"]
    chain_sd = np.sqrt(imp.chain_var.loc["popular"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, data, label in ((axes[0], chain_mean, "mean"), (axes[1], chain_sd, "sd")):
        ax.plot(data.index, data.to_numpy())
        ax.set_xlabel("iteration")
        ax.set_title(f"popular: chain {label}")
    fig.tight_layout()
    fig.savefig(out / "popmis_trace.png", dpi=100)
    imp.to_csv(out / "popmis_imputed_long.csv")
    print(f"wrote {out / 'popmis_trace.png'} and {out / 'popmis_imputed_long.csv'}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``jaxmice`` command."""
    parser = argparse.ArgumentParser(prog="jaxmice", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a case study on a built-in data set")
    demo.add_argument("case", choices=["popmis"])
    demo.add_argument("--out", type=Path, default=Path("figures"))
    demo.add_argument("--m", type=int, default=20)
    demo.add_argument("--maxit", type=int, default=10)
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "demo" and args.case == "popmis":
        demo_popmis(args.out, args.m, args.maxit, args.seed, not args.no_progress)


if __name__ == "__main__":
    main()

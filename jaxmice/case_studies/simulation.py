"""Case study: a simulation study of multilevel imputation (random-intercept design).

The design follows the random-intercept scenarios of Grund, Luedtke and Robitzsch (2018,
Organizational Research Methods 21(1), "Multiple imputation of missing data for multilevel
models: simulations and recommendations"): 50 clusters of 20 rows,

    x1 = a_j + 0.3 x2 + e1,   a_j ~ N(0, 0.2), e1 ~ N(0, 0.8)     (x1 has an ICC of 0.2)
    y  = 1 + 0.5 x1 + 0.3 x2 + u_j + e,   u_j ~ N(0, 0.25), e ~ N(0, 1)

with x2 complete and y and x1 missing at random given x2 (logistic, about 30% each). Each
replication is imputed by every method (``2l.pan`` for y and x1 with a random intercept per
cluster, and single-level ``pmm`` ignoring the clusters), analysed by
``lmer(y ~ x1 + x2 + (1 | g))``, pooled by Rubin's rules and scored against the true fixed
effects (:func:`jaxmice.score`): bias, coverage and their Monte Carlo errors per method. All
replications of a method run as one batched program (``jm.mice([df_1, ..., df_R])``).

``python examples/simulation_study.py [--reps R] [--quick] [--out DIR]`` writes the table
``simulation_scores.csv`` and the figure ``simulation_coverage_bias.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

#: the analysis model's true fixed effects
TRUTH = {"(Intercept)": 1.0, "x1": 0.5, "x2": 0.3}
FORMULA = "y ~ x1 + x2 + (1 | g)"
#: methods compared: the imputation method and whether it uses the cluster
METHODS = {"2l.pan": True, "pmm": False}


def replication(seed: int, n_clusters: int = 50, per: int = 20) -> Any:
    """One replication's incomplete data: columns ``g, x1, x2, y`` (see the module)."""
    from jaxmice._src.adapters import frames_out

    rng = np.random.default_rng(seed)
    n = n_clusters * per
    g = np.repeat(np.arange(n_clusters), per)
    x2 = rng.normal(size=n)
    x1 = rng.normal(0, np.sqrt(0.2), n_clusters)[g] + 0.3 * x2 + rng.normal(0, np.sqrt(0.8), n)
    y = 1.0 + 0.5 * x1 + 0.3 * x2 + rng.normal(0, 0.5, n_clusters)[g] + rng.normal(size=n)
    df = frames_out.columns_frame({"g": g, "x1": x1, "x2": x2, "y": y})
    # MAR given x2: P(missing) = logistic(-1 + x2), about 30% of each of y and x1
    for column in ("y", "x1"):
        df.loc[rng.random(n) < 1.0 / (1.0 + np.exp(1.0 - x2)), column] = np.nan
    return df


def predictors(df: Any, multilevel: bool) -> Any:
    """The predictor matrix: every column predicts y and x1; g is the cluster (-2) or unused."""
    import jaxmice as jm

    pred = jm.make_predictor_matrix(df, cluster="g" if multilevel else None)
    if not multilevel:
        pred.loc[:, "g"] = 0
    return pred


def study(frames: list, method: str, multilevel: bool, m: int, maxit: int, seed: int,
          progress: bool | None = False) -> Any:
    """Impute, analyse and pool every replication with one method: a PooledBatch."""
    import jaxmice as jm

    batch = jm.mice(frames, m=m, maxit=maxit, method={"y": method, "x1": method},
                    predictor_matrix=predictors(frames[0], multilevel), seed=seed,
                    progress=progress)
    return batch.fit(FORMULA).pool()


def add_options(parser: argparse.ArgumentParser) -> None:
    """The study's own option: the number of replications."""
    parser.add_argument("--reps", type=int, default=None,
                        help="replications (default 200; --quick: 8)")


def run(out: Path, m: int = 5, maxit: int = 10, seed: int = 1, progress: bool | None = None,
        reps: int = 200) -> dict:
    """Run the study for every method; write the score table and the figure to ``out``."""
    import jaxmice as jm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames = [replication(seed * 100_003 + r) for r in range(reps)]
    pooled = {name: study(frames, name, multilevel, m, maxit, seed, progress)
              for name, multilevel in METHODS.items()}
    scores = jm.score(pooled, TRUTH)
    scores.to_csv(out / "simulation_scores.csv", index=False)
    shown = scores[["method", "term", "bias", "bias_mcse", "coverage", "coverage_mcse"]]
    print(f"{reps} replications, m = {m}, maxit = {maxit}:")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    figure = plot_scores(scores)
    figure.savefig(out / "simulation_coverage_bias.png", dpi=120)
    return {"scores": scores, "pooled": pooled,
            "files": [out / "simulation_scores.csv", out / "simulation_coverage_bias.png"]}


def plot_scores(scores: Any) -> Any:
    """Coverage and bias by method and term, with 95% Monte Carlo intervals."""
    from matplotlib.figure import Figure

    terms = list(dict.fromkeys(scores.term))
    methods = list(dict.fromkeys(scores.method))
    fig = Figure(figsize=(9, 3.6))
    axes = fig.subplots(1, 2)
    for k, method in enumerate(methods):
        part = scores[scores.method == method].set_index("term").loc[terms]
        ypos = np.arange(len(terms)) + 0.15 * (k - (len(methods) - 1) / 2)
        for ax, measure in zip(axes, ("coverage", "bias"), strict=True):
            ax.errorbar(part[measure], ypos, xerr=1.96 * part[f"{measure}_mcse"], fmt="o",
                        label=method, capsize=3)
    axes[0].axvline(0.95, color="grey", ls="--")
    axes[1].axvline(0.0, color="grey", ls="--")
    for ax, title in zip(axes, ("coverage of 95% intervals", "bias"), strict=True):
        ax.set_yticks(np.arange(len(terms)), terms)
        ax.set_title(title)
    axes[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig

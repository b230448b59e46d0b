"""Case study III: obesity, 2,111 people in 5 regions, ``Weight`` missing not at random.

``Weight`` is wholly missing in region 3 and, elsewhere, more often missing for heavier people
(a Heckman selection model with ``Time`` as the exclusion restriction, code -3, is the
tutorial's answer; it comes with a later release). This release shows the pattern, the
correlations, the predictor matrix with ``Time`` coded -3 for the selection equation, and an
imputation *under MAR* (2l.pmm for ``Weight``, ``BMI`` passive as ``Weight / Height^2``) as the
reference an MNAR analysis is compared with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run(out: Path, m: int = 10, maxit: int = 10, seed: int = 1, progress: bool | None = None,
        quiet: bool = False) -> dict[str, Any]:
    """Run case study III as far as this release goes; figures and tables go to ``out``."""
    import jaxmice as jm

    say = (lambda *a: None) if quiet else print
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    df = jm.datasets.load_obesity()
    say(f"Obesity: {len(df)} people in {df.Cluster.nunique()} regions; Weight missing in "
        f"{int(df.Weight.isna().sum())} rows")
    say(jm.md_pattern(df).to_string())
    pred = jm.make_predictor_matrix(df, cluster="Cluster")
    pred.loc["Weight", "BMI"] = 0  # BMI is derived from Weight
    pred.loc[:, "BMI"] = 0
    selection = pred.copy()
    selection.loc["Weight", "Time"] = -3  # the Heckman model's exclusion restriction
    for name, fig in (("obesity_pattern.png", jm.plot_pattern(df, cluster="Cluster")),
                      ("obesity_correlations.png", jm.plot_corr(df)),
                      ("obesity_predictor_matrix.png", jm.plot_pred(selection))):
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        written.append(out / name)
    pred.loc["Weight", "Time"] = 0  # under MAR Time carries no information on Weight
    method = {"Weight": "2l.pmm", "BMI": "~ I(Weight / Height^2)", "Height": "2l.pmm",
              "FamOb": "logreg", "Age": "2l.pmm"}
    pred.loc[["FamOb"], "Cluster"] = 0  # logreg is single-level: no cluster code in its row
    imp = jm.mice(df, m=m, maxit=maxit, method=method, predictor_matrix=pred, seed=seed,
                  progress=progress)
    pooled = imp.fit("BMI ~ Gender + Age + (1 | Cluster)").pool()
    say(f"\nBMI ~ Gender + Age + (1 | Cluster) under MAR (m = {m}):")
    say(pooled.summary()[["term", "estimate", "std_error", "fmi"]].to_string(index=False))
    say(pooled.extra.to_string())
    say("\nwrote " + ", ".join(str(p) for p in written))
    return dict(pooled=pooled, imputations=imp, figures=written)

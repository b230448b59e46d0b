"""Case study II: IMPACT, 11,022 patients with traumatic brain injury in 15 studies.

``ct``, ``pupil`` and four binary auxiliaries are missing sporadically and *systematically*
(``ct`` absent in studies SKB and NABIS, ``pupil`` in HIT I, ``tsah`` and ``edh`` in SLIN).
This release covers what its methods allow: the missing-data pattern (top patterns, and
missingness per study, where systematic missingness shows), correlations to choose auxiliaries,
the complete-case logistic mixed model with odds ratios, the predictor matrix with the study
as cluster (-2), and an imputation with single-level methods and study dummies, pooled as odds
ratios. Multilevel imputation of the binary and categorical variables (2l.bin, 2l.polyreg)
comes with a later release.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ANALYSIS = "mort ~ type + age + motor_score + pupil + ct + (1 | name)"


def run(out: Path, m: int = 10, maxit: int = 10, seed: int = 1, progress: bool | None = None,
        quiet: bool = False, rows: int | None = None) -> dict[str, Any]:
    """Run case study II as far as this release goes; figures and tables go to ``out``.

    Args:
        rows: use only the first ``rows`` patients of every study (a quick run).
    """
    import jaxmice as jm

    say = (lambda *a: None) if quiet else print
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    df = jm.datasets.load_impact(incomplete=True)
    if rows is not None:
        df = df.groupby("name", observed=True).head(rows).reset_index(drop=True)
    say(f"IMPACT: {len(df)} patients in {df.name.nunique()} studies")
    pattern = jm.md_pattern(df)
    say(f"{len(pattern) - 1} missing-data patterns; the most frequent:")
    say(pattern.head(6).to_string())
    for name, fig in (("impact_pattern.png", jm.plot_pattern(df, npat=10, cluster="name")),
                      ("impact_correlations.png", jm.plot_corr(df, rotate=True))):
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        written.append(out / name)

    complete = jm.glmer(ANALYSIS, df, family="binomial")
    say(f"\nComplete cases ({complete.nobs} of {len(df)} patients), odds ratios:")
    say(complete.tidy(exponentiate=True).query("effect == 'fixed'")
        [["term", "estimate", "conf_low", "conf_high"]].to_string(index=False))

    pred = jm.make_predictor_matrix(df, cluster="name")
    meth = jm.make_method(df, pred)
    fig = jm.plot_pred(pred, meth)
    fig.savefig(out / "impact_predictor_matrix.png", dpi=110, bbox_inches="tight")
    written.append(out / "impact_predictor_matrix.png")

    # until the multilevel categorical methods exist: single-level methods, study as dummies
    dummies = jm.make_predictor_matrix(df)
    imp = jm.mice(df, m=m, maxit=maxit, predictor_matrix=dummies, seed=seed,
                  progress=progress)
    pooled = imp.fit(ANALYSIS, family="binomial").pool()
    say(f"\nImputed (single-level methods, study dummies; m = {m}), pooled odds ratios:")
    say(pooled.summary(exponentiate=True)[["term", "estimate", "conf_low", "conf_high",
                                           "fmi"]].to_string(index=False))
    pooled.summary(exponentiate=True).to_csv(out / "impact_pooled_odds_ratios.csv", index=False)
    written.append(out / "impact_pooled_odds_ratios.csv")
    say("\nwrote " + ", ".join(str(p) for p in written))
    return dict(complete_cases=complete, pooled=pooled, figures=written)

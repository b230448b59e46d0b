"""Case study II: IMPACT, 11,022 patients with traumatic brain injury in 15 studies.

``ct``, ``pupil`` and the binary auxiliaries are missing sporadically and *systematically*
(``ct`` absent in studies SKB and NABIS, ``pupil`` in HIT I, ``tsah`` and ``edh`` in SLIN). As
the tutorial does: the missing-data pattern (top 10, and per study, where systematic
missingness shows), correlations to choose auxiliaries, the complete-case logistic mixed
model, the predictor matrix with the study as cluster (-2) and every predictor with a random
slope (2), multilevel imputation (``pupil`` by 2l.polyreg, ``ct`` by 2l.polr, ``hypots``,
``tsah`` and ``edh`` by 2l.bin; ``hypox`` dropped, as the tutorial does), traces and R-hat,
then the analysis model on every completed data set, pooled as odds ratios, beside the complete
cases and the complete data (``load_impact(incomplete=False)``, the truth here).

``ct`` (Marshall classes I/II, III, IV/V) is ordered in meaning, but the data set ships it as
an unordered categorical, as R's ``metamisc::impact`` does, so that the analysis model codes it
by treatment dummies (R gives an ordered factor polynomial contrasts). The imputation declares
it ordinal (``kinds={"ct": "ordinal"}``), so 2l.polr imputes it with one latent scale rather
than two sets of logits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ANALYSIS = "mort ~ type + age + motor_score + pupil + ct + (1 | name)"
IMPUTED = ("pupil", "ct", "hypots", "tsah", "edh")
COLUMNS = ("name", "type", "age", "motor_score", *IMPUTED, "mort")
#: the imputation's kind overrides (see the module docstring)
KINDS = {"ct": "ordinal"}


def predictor_matrix(df: Any) -> Any:
    """The tutorial's predictor matrix: the study as cluster (-2) and every other column a
    fixed and random effect (2) in the rows of the incomplete variables."""
    import jaxmice as jm

    pred = jm.make_predictor_matrix(df, cluster="name")
    for row in IMPUTED:
        for col in df.columns:
            if col not in (row, "name"):
                pred.loc[row, col] = 2
    return pred


def odds_ratio_table(pooled: Any, complete_cases: Any, complete_data: Any) -> Any:
    """Odds ratios with 95% intervals, one row per fixed effect: the imputed data (pooled),
    the complete cases and the complete data."""
    from jaxmice._src.adapters import frames_out

    def cells(frame):
        return {row.term: f"{row.estimate:.3f} ({row.conf_low:.3f}, {row.conf_high:.3f})"
                for row in frame.itertuples()}

    def fixed(model):
        tidy = model.tidy(exponentiate=True)
        return tidy[tidy.effect == "fixed"]

    columns = {"multilevel MI": cells(pooled.summary(exponentiate=True)),
               "complete cases": cells(fixed(complete_cases)),
               "complete data (truth)": cells(fixed(complete_data))}
    rows = list(dict.fromkeys(term for column in columns.values() for term in column))
    table = frames_out.labelled_matrix(
        [[column.get(row, "") for column in columns.values()] for row in rows], rows, columns)
    table.index.name = "odds ratio"
    return table


def run(out: Path, m: int = 10, maxit: int = 10, seed: int = 1, progress: bool | None = None,
        quiet: bool = False, rows: int | None = None) -> dict[str, Any]:
    """Run case study II; figures and tables go to ``out``.

    Args:
        rows: use only the first ``rows`` patients of every study (a quick run).

    Returns:
        ``{"complete_cases", "complete_data": MixedModel, "pooled": Pooled, "imputations",
        "table": DataFrame, "figures": [paths]}``.
    """
    import time

    import jaxmice as jm

    say = (lambda *a: None) if quiet else print
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        written.append(out / name)

    df = jm.datasets.load_impact(incomplete=True)
    truth = jm.datasets.load_impact(incomplete=False)
    if rows is not None:
        df = df.groupby("name", observed=True).head(rows)
        truth = truth.loc[df.index].reset_index(drop=True)
        df = df.reset_index(drop=True)
    say(f"IMPACT: {len(df)} patients in {df.name.nunique()} studies")
    pattern = jm.md_pattern(df)
    say(f"{len(pattern) - 1} missing-data patterns; the 10 most frequent (1 = observed):")
    say(pattern.head(10).to_string())
    save(jm.plot_pattern(df, npat=10, cluster="name"), "impact_pattern.png")
    save(jm.plot_corr(df, rotate=True), "impact_correlations.png")

    complete_cases = jm.glmer(ANALYSIS, df, family="binomial")
    say(f"\nComplete cases: {complete_cases.nobs} of {len(df)} patients")

    df = df[list(COLUMNS)]  # hypox dropped, as the tutorial does
    pred = predictor_matrix(df)
    methods = jm.make_method(df, pred, kinds=KINDS)
    say("\nMethods: " + ", ".join(f"{k} {v}" for k, v in methods.items() if v))
    save(jm.plot_pred(pred, methods), "impact_predictor_matrix.png")
    start = time.perf_counter()
    imp = jm.mice(df, m=m, maxit=maxit, predictor_matrix=pred, kinds=KINDS, seed=seed,
                  progress=progress)
    seconds = time.perf_counter() - start
    say(f"Imputed m = {m}, maxit = {maxit} in {seconds:.1f} s")
    save(imp.plot_trace(), "impact_trace.png")
    if m >= 2:
        say(jm.convergence_summary(imp))

    pooled = imp.fit(ANALYSIS, family="binomial").pool()
    complete_data = jm.glmer(ANALYSIS, truth, family="binomial")
    table = odds_ratio_table(pooled, complete_cases, complete_data)
    say(f"\n{ANALYSIS}: odds ratios (95% interval)")
    say(table.to_string())
    table.to_csv(out / "impact_odds_ratios.csv")
    written.append(out / "impact_odds_ratios.csv")
    pooled.summary(exponentiate=True).to_csv(out / "impact_pooled_odds_ratios.csv", index=False)
    written.append(out / "impact_pooled_odds_ratios.csv")
    say("\nwrote " + ", ".join(str(p) for p in written))
    return dict(complete_cases=complete_cases, complete_data=complete_data, pooled=pooled,
                imputations=imp, table=table, figures=written, seconds=seconds)

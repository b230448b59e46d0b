"""Case study III: obesity, 2,111 people in 5 regions, ``Weight`` missing not at random.

``Weight`` is wholly missing in region 3 and, elsewhere, missing more often for some people
than the observed data can tell (missing not at random). As the tutorial does: the pattern,
the correlations, the predictor matrix with the region as cluster (-2) and ``Time`` (the
time the interview took) coded -3, the exclusion restriction of the selection equation;
``Weight`` imputed by the multilevel Heckman selection model (2l.heckman with predictive
mean matching: per-region bivariate selection fits, meta-analysed across regions; region 3
draws its parameters from the population; pmm because the normal draws, though sane on
average, reach below any observed weight, even negative: see :data:`HECKMAN_OPTIONS`), the
other incomplete columns by 2l.pmm (Height, Age, with the region) and logreg (FamOb), ``BMI``
passive as ``Weight / Height^2``; traces; per-region means of Weight and BMI and
``BMI ~ Gender + Age + FamOb + (1 | Cluster)``, pooled by Rubin's rules, beside an
imputation under MAR (2l.pmm for Weight, ``Time`` not a predictor of it) and the complete
cases; then a delta-adjustment sensitivity analysis (tipping point): the Heckman imputation
rerun with every imputed Weight shifted by delta kg, one compiled program for every delta.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ANALYSIS = "BMI ~ Gender + Age + FamOb + (1 | Cluster)"
CLUSTER = "Cluster"
PASSIVE_BMI = "~ I(Weight / Height^2)"
#: the methods of the incomplete columns other than Weight
METHODS = {"Height": "2l.pmm", "FamOb": "logreg", "Age": "2l.pmm", "BMI": PASSIVE_BMI}
HECKMAN, MAR, COMPLETE_CASES = "Heckman (2l.heckman)", "MAR (2l.pmm)", "complete cases"
#: 2l.heckman's options. Region 3 has no observed Weight, so its parameters are drawn from
#: the population distribution of four regions' fits. Before 2l.heckman's guard on the draws
#: of Psi (``PSI_DRAW_LIMIT``) that now and then gave a chain absurd weights (a region-3 mean
#: of 670 kg in one of 10 chains at seed 1). With the guard, and without pmm (m = 10, maxit =
#: 10, seeds 1-3), the region-3 chain means are 53-104 kg (pooled 80-83 kg, SE 11-18; the
#: observed regions' means 73-95 kg) with within-chain SDs of 15-18 kg (observed 14-17): no
#: explosion, but the normal draws' lower tail reaches below any observed weight (minimum
#: 28 kg), down to -9 kg in one chain. Predictive mean matching (micemd's ``pmm`` option)
#: keeps every imputation an observed weight, and moves the pooled means little (region 3:
#: 90.0 kg, SE 14.7, at seed 1), so it stays
HECKMAN_OPTIONS = {"pmm": True}
#: the delta adjustments of the sensitivity analysis (kg added to every imputed Weight)
DELTAS = (-10.0, -5.0, 0.0, 5.0, 10.0)


def predictor_matrix(df: Any, heckman: bool) -> Any:
    """The predictor matrix: the region as cluster (-2) for every multilevel method; BMI
    predicts nothing (it is derived from Weight and Height); FamOb's logreg is single-level,
    so no cluster code in its row. Under the Heckman model ``Time`` enters Weight's selection
    equation only (-3, the exclusion restriction); under MAR it is not a predictor of Weight
    (0), so that the two imputations differ in the selection model alone."""
    import jaxmice as jm

    pred = jm.make_predictor_matrix(df, cluster=CLUSTER)
    pred.loc[:, "BMI"] = 0
    pred.loc["FamOb", CLUSTER] = 0
    pred.loc["Weight", "Time"] = -3 if heckman else 0
    return pred


def strategies(df: Any) -> dict[str, dict[str, Any]]:
    """The two imputations compared: method and predictor matrix of each."""
    return {MAR: dict(method={**METHODS, "Weight": "2l.pmm"},
                      predictor_matrix=predictor_matrix(df, heckman=False)),
            HECKMAN: dict(method={**METHODS, "Weight": "2l.heckman"},
                          predictor_matrix=predictor_matrix(df, heckman=True),
                          method_options={"Weight": HECKMAN_OPTIONS})}


def region_means(frame: Any, regions: Sequence) -> tuple[Any, Any]:
    """Mean Weight and BMI per region and overall, with their sampling variances (s^2 / n),
    as ``(estimates: Series, covariance: f[k, k])`` for :meth:`Imputations.analyze` (the
    means of different regions are independent; only the diagonal enters the pooled
    standard errors). Regions without an observed value get NaN."""
    import numpy as np

    from jaxmice._src.adapters import frames_out

    names, estimates, variances = [], [], []
    for column in ("Weight", "BMI"):
        values = frame[column]
        stats = values.groupby(frame[CLUSTER]).agg(["mean", "var", "count"]).reindex(regions)
        names += [f"{column}: region {r}" for r in regions] + [f"{column}: all"]
        estimates += [*stats["mean"], values.mean()]
        variances += [*(stats["var"] / stats["count"]), values.var() / values.count()]
    return (frames_out.float_series(estimates, names),
            np.diag(np.asarray(variances, dtype=np.float64)))


def _cell(estimate: float, std_error: float) -> str:
    if estimate != estimate:  # NaN: not estimable (region 3 in the complete cases)
        return ""
    return f"{estimate:.3f} ({std_error:.3f})"


def comparison_table(means: Mapping[str, Any], pooled: Mapping[str, Any],
                     complete_means: tuple[Any, Any], complete_fit: Any) -> Any:
    """Side by side, "estimate (se)": a row per region mean (Weight, BMI) and per fixed
    effect of the analysis model, a column per strategy (complete cases first).

    Args:
        means, pooled: per imputation strategy, the pooled region means and the pooled
            analysis model (:class:`~jaxmice.Pooled`).
        complete_means: :func:`region_means` of the rows with Weight observed.
        complete_fit: the analysis model on the complete cases (a ``MixedModel``).
    """
    import numpy as np

    from jaxmice._src.adapters import frames_out

    estimates, covariance = complete_means
    se = np.sqrt(np.diagonal(covariance))
    tidy = complete_fit.tidy()
    tidy = tidy[tidy.effect == "fixed"]
    columns = {COMPLETE_CASES: {
        **{name: _cell(e, s) for name, e, s in zip(estimates.index, estimates, se,
                                                   strict=True)},
        **{row.term: _cell(row.estimate, row.std_error) for row in tidy.itertuples()}}}
    for name in pooled:
        cells = {row.term: _cell(row.estimate, row.std_error)
                 for row in means[name].summary().itertuples()}
        cells.update({row.term: _cell(row.estimate, row.std_error)
                      for row in pooled[name].summary().itertuples()})
        columns[name] = cells
    rows = list(dict.fromkeys(key for cells in columns.values() for key in cells))
    table = frames_out.labelled_matrix(
        [[cells.get(row, "") for cells in columns.values()] for row in rows], rows, columns)
    table.index.name = "estimate (se)"
    return table


def delta_table(results: Mapping[float, Mapping[str, Any]]) -> Any:
    """The sensitivity analysis: a row per delta with the pooled mean BMI and mean Weight
    (all regions) and the analysis model's Gender and Age effects, with standard errors, and
    the seconds each imputation took."""
    from jaxmice._src.adapters import frames_out

    records = []
    for delta, result in results.items():
        means = result["means"].summary().set_index("term")
        fixed = result["pooled"].summary().set_index("term")
        records.append({
            "delta_kg": delta,
            "mean_BMI": means.loc["BMI: all", "estimate"],
            "mean_BMI_se": means.loc["BMI: all", "std_error"],
            "mean_Weight": means.loc["Weight: all", "estimate"],
            "GenderMale": fixed.loc["GenderMale", "estimate"],
            "GenderMale_se": fixed.loc["GenderMale", "std_error"],
            "Age": fixed.loc["Age", "estimate"],
            "Age_se": fixed.loc["Age", "std_error"],
            "seconds": result["seconds"]})
    columns = ["delta_kg", "mean_BMI", "mean_BMI_se", "mean_Weight", "GenderMale",
               "GenderMale_se", "Age", "Age_se", "seconds"]
    return frames_out.records_frame(records, columns)


def run(out: Path, m: int = 10, maxit: int = 10, seed: int = 1, progress: bool | None = None,
        quiet: bool = False, deltas: Sequence[float] = DELTAS) -> dict[str, Any]:
    """Run case study III, print its tables and write its figures to ``out``.

    Args:
        deltas: the delta adjustments (kg) of the sensitivity analysis; 0 is the Heckman
            imputation itself, so it is always included.

    Returns:
        ``{"imputations": {strategy: Imputations}, "means", "pooled": {strategy: Pooled},
        "complete_cases": MixedModel, "complete_means": (Series, f[k, k]), "table",
        "delta_table": DataFrame, "sensitivity": {delta: {...}}, "seconds": {...},
        "figures": [paths]}``.
    """
    import jaxmice as jm

    say = (lambda *a: None) if quiet else print
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        written.append(out / name)

    df = jm.datasets.load_obesity()
    regions = sorted(df[CLUSTER].unique())
    say(f"Obesity: {len(df)} people in {len(regions)} regions; Weight missing in "
        f"{int(df.Weight.isna().sum())} rows")
    say("Missing-data pattern (1 = observed):")
    say(jm.md_pattern(df).to_string())
    say("\nShare of Weight missing per region:")
    say(df.Weight.isna().groupby(df[CLUSTER]).mean().round(3).to_string())
    specs = strategies(df)
    save(jm.plot_pattern(df, cluster=CLUSTER), "obesity_pattern.png")
    save(jm.plot_corr(df), "obesity_correlations.png")
    save(jm.plot_pred(specs[HECKMAN]["predictor_matrix"], specs[HECKMAN]["method"]),
         "obesity_predictor_matrix.png")

    imputations, means, pooled, seconds = {}, {}, {}, {}
    for name, spec in specs.items():
        start = time.perf_counter()
        imp = jm.mice(df, m=m, maxit=maxit, seed=seed, progress=progress, **spec)
        seconds[name] = time.perf_counter() - start
        imputations[name] = imp
        means[name] = imp.analyze(lambda frame: region_means(frame, regions)).pool()
        pooled[name] = imp.fit(ANALYSIS).pool()
        slug = "heckman" if name == HECKMAN else "mar"
        save(imp.plot_trace(), f"obesity_trace_{slug}.png")
        say(f"\n{name}: imputed m = {m}, maxit = {maxit} in {seconds[name]:.1f} s "
            "(first call: tracing and compilation included)")
    heckman = imputations[HECKMAN]
    save(heckman.plot_density("Weight", cluster=CLUSTER), "obesity_density_heckman.png")
    events = heckman.logged_events
    if len(events):
        say("\n2l.heckman's log:")
        say(events[["iteration", "event", "detail"]].to_string(index=False))
    if m >= 2:
        say(jm.convergence_summary(heckman))

    observed = df[df.Weight.notna()]
    complete_means = region_means(observed, regions)
    complete_fit = heckman.complete_case_fit(ANALYSIS)
    table = comparison_table(means, pooled, complete_means, complete_fit)
    say(f"\nMean Weight (kg) and BMI per region, and {ANALYSIS} (fixed effects), pooled "
        f"over m = {m} imputations; complete cases: {len(observed)} people with Weight, "
        f"{complete_fit.nobs} in the model:")
    say(table.to_string())
    table.to_csv(out / "obesity_comparison.csv")
    written.append(out / "obesity_comparison.csv")

    # the tipping-point loop: delta is data in the compiled program, so every delta after
    # the first reuses the Heckman imputation's program
    sensitivity = {0.0: dict(imputations=heckman, means=means[HECKMAN], pooled=pooled[HECKMAN],
                             seconds=seconds[HECKMAN])}
    for delta in deltas:
        if float(delta) == 0.0:
            continue
        start = time.perf_counter()
        imp = jm.mice(df, m=m, maxit=maxit, seed=seed, progress=progress,
                      delta={"Weight": float(delta)}, **specs[HECKMAN])
        elapsed = time.perf_counter() - start
        sensitivity[float(delta)] = dict(
            imputations=imp, seconds=elapsed,
            means=imp.analyze(lambda frame: region_means(frame, regions)).pool(),
            pooled=imp.fit(ANALYSIS).pool())
    sensitivity = dict(sorted(sensitivity.items()))
    deltas_frame = delta_table(sensitivity)
    later = [r["seconds"] for d, r in sensitivity.items() if d != 0.0]
    say("\nDelta adjustment (every imputed Weight + delta kg; Heckman model, same seed):")
    say(deltas_frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if later:
        say(f"first Heckman call {seconds[HECKMAN]:.1f} s (compiles); the {len(later)} delta "
            f"runs {min(later):.1f}-{max(later):.1f} s each (one compiled program)")
    deltas_frame.to_csv(out / "obesity_delta.csv", index=False)
    written.append(out / "obesity_delta.csv")
    say("\nwrote " + ", ".join(str(p) for p in written))
    return dict(imputations=imputations, means=means, pooled=pooled,
                complete_cases=complete_fit, complete_means=complete_means, table=table,
                delta_table=deltas_frame, sensitivity=sensitivity, seconds=seconds,
                figures=written)

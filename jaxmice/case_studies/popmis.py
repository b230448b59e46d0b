"""Case study I: popularity of 2,000 pupils in 100 schools, ``popular`` missing at random.

The steps of the R tutorial: look at the missing-data pattern, the intraclass correlation and
the correlations; impute ``popular`` three ways (ignoring the schools; schools as fixed dummy
variables; a multilevel model, school coded -2); check the chains; fit
``popular ~ 1 + sex + texp + (1 | school)`` to every completed data set; pool with Rubin's rules,
variance components and ICC included; compare with the complete cases. The known lesson shows
in the pooled ICC: ignoring the cluster shrinks it, fixed dummies inflate it, the multilevel
model gets it right.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ANALYSIS = "popular ~ 1 + sex + texp + (1 | school)"
COMPLETE_CASES = "complete cases"


def _save(fig: Any, out: Path, name: str, written: list[Path]) -> None:
    path = out / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    written.append(path)


def _cells(fixed: Any, extra: Mapping[str, float]) -> dict[str, str]:
    """One column of the comparison: "estimate (se)" per fixed effect, then each extra
    parameter (variance components, ICC) under its mitml name."""
    cells = {row.term: f"{row.estimate:.4f} ({row.std_error:.4f})" for row in fixed.itertuples()}
    cells.update({key: f"{value:.4f}" for key, value in extra.items()})
    return cells


def comparison_table(pooled: Mapping[str, Any], complete: Any = None) -> Any:
    """Pooled tables side by side: a row per fixed effect ("estimate (se)") and per extra
    parameter (variance components, ICC), a column per strategy, complete cases last.

    Args:
        pooled: per strategy, its :class:`~jaxmice.Pooled` (``summary()`` and ``extra``).
        complete: a complete-case :class:`~jaxmice.models.MixedModel`; its extra parameters
            are named as the pooled ones (``extra_parameters``).

    Returns:
        DataFrame [parameter x strategy] of formatted cells ("" where a strategy lacks one).
    """
    from jaxmice._src.adapters import frames_out

    columns = {name: _cells(p.summary(), p.extra) for name, p in pooled.items()}
    if complete is not None:
        tidy = complete.tidy()
        columns[COMPLETE_CASES] = _cells(tidy[tidy.effect == "fixed"],
                                         complete.batch.extra_parameters())
    rows = list(dict.fromkeys(key for cells in columns.values() for key in cells))
    table = frames_out.labelled_matrix(
        [[cells.get(row, "") for cells in columns.values()] for row in rows], rows, columns)
    table.index.name = "parameter"
    return table


def strategies(df: Any) -> dict[str, dict[str, Any]]:
    """The three imputation strategies: data, method and predictor matrix of each."""
    import jaxmice as jm

    ignore = jm.make_predictor_matrix(df)
    ignore.loc[:, "school"] = 0
    dummies = df.assign(school=df.school.astype("category"))
    return {
        "ignore cluster (pmm)": dict(data=df, method={"popular": "pmm"},
                                     predictor_matrix=ignore),
        "fixed dummies (pmm)": dict(data=dummies, method={"popular": "pmm"},
                                    predictor_matrix=jm.make_predictor_matrix(dummies)),
        "multilevel (2l.pan)": dict(data=df, method={"popular": "2l.pan"},
                                    predictor_matrix=jm.make_predictor_matrix(df, "school")),
    }


def run(out: Path, m: int = 20, maxit: int = 10, seed: int = 1, progress: bool | None = None,
        quiet: bool = False) -> dict[str, Any]:
    """Run case study I, print its tables and write its figures to ``out``.

    Returns:
        ``{"pooled": {strategy: Pooled}, "complete_cases": MixedModel, "table": DataFrame,
        "figures": [paths]}``.
    """
    import jaxmice as jm

    say = (lambda *a: None) if quiet else print
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    df = jm.datasets.load_popmis()[["school", "popular", "sex", "texp"]]
    say(f"popmis: {len(df)} pupils in {df.school.nunique()} schools; popular missing in "
        f"{int(df.popular.isna().sum())} rows ({df.popular.isna().mean():.0%})\n")
    say("Missing-data pattern (1 = observed):")
    say(jm.md_pattern(df).to_string())
    say(f"\nICC of popular (observed rows): {jm.icc(df, 'popular', cluster='school'):.3f}")
    _save(jm.plot_pattern(df), out, "popmis_pattern.png", written)
    _save(jm.plot_corr(df), out, "popmis_correlations.png", written)

    pooled, timings = {}, {}
    for name, spec in strategies(df).items():
        start = time.perf_counter()
        imp = jm.mice(spec["data"], m=m, maxit=maxit, method=spec["method"],
                      predictor_matrix=spec["predictor_matrix"], seed=seed, progress=progress)
        fits = imp.fit(ANALYSIS)
        pooled[name] = fits.pool()
        timings[name] = time.perf_counter() - start
        slug = name.split(" (")[0].replace(" ", "_")
        _save(imp.plot_trace(), out, f"popmis_trace_{slug}.png", written)
        if name.startswith("multilevel"):
            _save(jm.plot_pred(spec["predictor_matrix"], imp.method), out,
                  "popmis_predictor_matrix.png", written)
            _save(imp.plot_density("popular"), out, "popmis_density.png", written)
            convergence = jm.convergence(imp)
            last = convergence[convergence.iteration == convergence.iteration.max()]
            say(f"\nmultilevel chains: R-hat at iteration {maxit}: "
                f"{float(last.rhat.iloc[0]):.3f}")
    complete = jm.lmer(ANALYSIS, df)
    table = comparison_table(pooled, complete)
    say(f"\nPooled {ANALYSIS} (m = {m}, maxit = {maxit}); estimate (standard error):")
    say(table.to_string())
    for name, seconds in timings.items():
        say(f"  {name}: imputed, fitted and pooled in {seconds:.1f} s")
    table.to_csv(out / "popmis_pooled.csv")
    written.append(out / "popmis_pooled.csv")
    say("\nwrote " + ", ".join(str(p) for p in written))
    return dict(pooled=pooled, complete_cases=complete, table=table, figures=written)

"""The case-study examples in their ``--quick`` mode, and the README's main command."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxmice import cli
from jaxmice.case_studies import impact, obesity, popmis, run_example

EXAMPLES = Path(__file__).parent.parent / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_popmis_case_study(tmp_path, capsys):
    result = popmis.run(tmp_path, m=3, maxit=3, progress=False)
    table = result["table"]
    assert list(table.columns) == [*popmis.strategies(_popmis()).keys(),
                                   "complete cases"]
    assert {"(Intercept)", "sex", "texp", "ICC|school", "Intercept~~Intercept|school",
            "Residual~~Residual"} <= set(table.index)
    icc = {name: p.extra["ICC|school"] for name, p in result["pooled"].items()}
    assert icc["ignore cluster (pmm)"] < icc["multilevel (2l.pan)"] < icc["fixed dummies (pmm)"]
    for path in result["figures"]:
        assert path.exists() and path.stat().st_size > (300 if path.suffix == ".csv" else 5000)
    printed = capsys.readouterr().out
    assert "Pooled popular ~ 1 + sex + texp + (1 | school)" in printed


def _popmis():
    import jaxmice as jm

    return jm.datasets.load_popmis()[["school", "popular", "sex", "texp"]]


def test_main_command_runs_the_case_study(tmp_path, capsys):
    cli.main(["demo", "popmis", "--out", str(tmp_path), "--quick", "--no-progress"])
    assert (tmp_path / "popmis_pooled.csv").exists()
    assert (tmp_path / "popmis_trace_multilevel.png").exists()
    assert "ICC|school" in capsys.readouterr().out


@pytest.mark.filterwarnings("error")  # a new warning here is a regression
def test_impact_example_quick(tmp_path):
    """Case study II end to end on 150 patients per study: multilevel methods by kind, every
    cell imputed with a level of its column, and pooled odds ratios near the complete data's
    (the truth here) where the imputed variables enter the analysis model."""
    result = impact.run(tmp_path, m=3, maxit=3, progress=False, quiet=True, rows=150)
    imp = result["imputations"]
    assert imp.method[list(impact.IMPUTED)].tolist() == [
        "2l.polyreg", "2l.polr", "2l.bin", "2l.bin", "2l.bin"]
    assert imp.logged_events.empty
    done = imp.complete(2)
    assert done[list(impact.IMPUTED)].notna().all().all()
    assert list(done.ct.cat.categories) == ["I/II", "III", "IV/V"] and not done.ct.cat.ordered
    table = result["pooled"].summary().set_index("term")
    truth = result["complete_data"].tidy().query("effect == 'fixed'").set_index("term")
    assert {"typeRCT", "age", "ctIV/V", "pupilNone"} <= set(table.index)
    assert np.exp(table.loc["age", "estimate"]) > 1.0  # older patients die more often
    # the imputed terms within 2 pooled SEs of the complete data's estimates
    for term in ("pupilOne", "pupilNone", "ctIII", "ctIV/V"):
        gap = abs(table.loc[term, "estimate"] - truth.loc[term, "estimate"])
        assert gap < 2 * table.loc[term, "std_error"], term
    assert result["complete_cases"].nobs < 15 * 150
    assert list(result["table"].columns) == ["multilevel MI", "complete cases",
                                             "complete data (truth)"]
    assert all(p.exists() for p in result["figures"])


@pytest.mark.filterwarnings("error")  # a new warning here is a regression
def test_obesity_example_quick(tmp_path):
    """Case study III at the quick settings (m = 3, maxit = 3, deltas 0 and 5): Weight by
    2l.heckman with region 3 (wholly missing) drawing from the population and logged as
    systematically missing; BMI passive; a finite, plausible region-3 mean; the Heckman model
    imputes heavier people than MAR where the regions' fits say selection is MNAR; and the
    delta adjustment moves the pooled mean BMI by what a 5 kg shift of the imputed Weights
    makes of it."""
    result = obesity.run(tmp_path, m=3, maxit=3, progress=False, quiet=True,
                         deltas=(0.0, 5.0))
    heckman = result["imputations"][obesity.HECKMAN]
    assert heckman.method["Weight"] == "2l.heckman"
    assert heckman.predictor_matrix.loc["Weight", "Time"] == -3
    assert result["imputations"][obesity.MAR].predictor_matrix.loc["Weight", "Time"] == 0
    data = heckman.complete(0)
    assert data[["Weight", "Height", "Age", "FamOb"]].notna().all().all()
    assert np.allclose(data.BMI, data.Weight / data.Height**2)  # passive BMI follows Weight
    events = heckman.logged_events
    notes = events[events.event == "cluster not fitted"]
    assert len(notes) == 1 and notes.variable.iloc[0] == "Weight"
    assert re.search(r"^cluster 3: no observed value \(systematically missing\)",
                     notes.detail.iloc[0])

    means = {name: pooled.summary().set_index("term")
             for name, pooled in result["means"].items()}
    region3 = means[obesity.HECKMAN].loc["Weight: region 3", "estimate"]
    assert np.isfinite(region3) and 60 < region3 < 130
    # region 5's own fit has rho about -0.5 (heavier people missing more often) and only a
    # quarter missing: Heckman imputes them heavier than MAR by several pooled SEs
    gap = (means[obesity.HECKMAN].loc["Weight: region 5", "estimate"]
           - means[obesity.MAR].loc["Weight: region 5", "estimate"])
    se = np.hypot(means[obesity.HECKMAN].loc["Weight: region 5", "std_error"],
                  means[obesity.MAR].loc["Weight: region 5", "std_error"])
    assert gap > se, (gap, se)

    table = result["table"]
    assert list(table.columns) == [obesity.COMPLETE_CASES, obesity.MAR, obesity.HECKMAN]
    assert table.loc["Weight: region 3", obesity.COMPLETE_CASES] == ""
    assert {"GenderMale", "Age", "FamObyes", "BMI: all"} <= set(table.index)
    assert result["complete_cases"].nobs == 1033  # the rows with Weight observed

    deltas = result["delta_table"].set_index("delta_kg")
    assert list(deltas.index) == [0.0, 5.0]
    assert np.isfinite(deltas[["GenderMale", "Age", "mean_BMI"]].to_numpy()).all()
    # the same seed: +5 kg on every imputed Weight moves the imputed Weights of the regions
    # with their own fits by 5 kg, up to the feedback of the shifted Weights into the other
    # columns' imputations. Region 3 (no observed Weight) draws its parameters from the
    # population, and a Psi draw near the guard's limit (PSI_DRAW_LIMIT) may be kept in one
    # run and replaced in the other: its shift is not a common-random-numbers difference.
    sens = result["sensitivity"]
    imputed = heckman.where[:, list(data.columns).index("Weight")]
    own_fit = imputed & (data[obesity.CLUSTER] != 3).to_numpy()
    weights = {d: np.array([sens[d]["imputations"].complete(k).Weight.to_numpy()[own_fit]
                            for k in range(3)]) for d in (0.0, 5.0)}
    moved = (weights[5.0] - weights[0.0]).mean()
    assert abs(moved - 5.0) < 0.25 * 5.0, moved
    for path in result["figures"]:
        assert path.exists() and path.stat().st_size > (100 if path.suffix == ".csv" else 5000)


@pytest.mark.parametrize("name, script", [("popmis", "popmis"), ("impact", "impact"),
                                          ("obesity", "obesity"),
                                          ("simulation", "simulation_study")])
def test_example_scripts_use_the_shared_runner(name, script):
    source = (EXAMPLES / f"{script}.py").read_text()
    assert f'run_example("{name}")' in source
    load_example(script)  # imports cleanly (the run is guarded by __main__)


def test_simulation_study_quick(tmp_path, capsys):
    """The example study's quick run: 8 replications per method, a score row per method and
    term, the figure and table written; 2l.pan's bias within 4 Monte Carlo SEs of 0 for the
    slopes (8 replications: a smoke test of the pipeline, the coverage is checked at scale in
    benchmarks/bench_simulation.py)."""
    result = run_example("simulation", ["--quick", "--out", str(tmp_path)])
    scores = result["scores"]
    assert scores.method.tolist() == ["2l.pan"] * 3 + ["pmm"] * 3
    assert (scores.n_reps == 8).all()
    pan = scores[scores.method == "2l.pan"].set_index("term")
    assert (abs(pan.loc[["x1", "x2"], "bias"]) < 4 * pan.loc[["x1", "x2"], "bias_mcse"]).all()
    assert all(path.exists() for path in result["files"])
    assert "8 replications" in capsys.readouterr().out


def test_run_example_quick_options(tmp_path):
    result = run_example("obesity", ["--quick", "--out", str(tmp_path)])
    assert result["imputations"][obesity.HECKMAN].m == 3
    assert sorted(result["sensitivity"]) == [0.0, 5.0]


def test_demo_and_examples_share_one_command_line():
    from jaxmice.case_studies import CASE_STUDIES, case_study_kwargs

    assert CASE_STUDIES == ("popmis", "impact", "obesity", "simulation")
    args = cli.build_parser().parse_args(["demo", "impact", "--quick", "--m", "4", "--seed", "7"])
    assert args.case == "impact"
    assert case_study_kwargs("impact", args) == dict(m=4, maxit=3, rows=150, seed=7,
                                                     progress=False)
    full = cli.build_parser().parse_args(["demo", "popmis", "--no-progress"])
    assert case_study_kwargs("popmis", full) == dict(seed=1, progress=False)


@pytest.mark.parametrize("name, script", [("popmis", "popmis"), ("impact", "impact"),
                                          ("obesity", "obesity"),
                                          ("simulation", "simulation_study")])
def test_case_studies_leave_matplotlib_backend_alone(name, script):
    """Figures draw on their own Agg canvas: no example or case study calls matplotlib.use."""
    sources = [(EXAMPLES / f"{script}.py").read_text(),
               (Path(popmis.__file__).parent / f"{name}.py").read_text()]
    assert not any("matplotlib.use" in source or "pyplot" in source for source in sources)


@pytest.mark.slow
@pytest.mark.filterwarnings("error")  # a new warning here is a regression
def test_impact_pooled_log_odds_ratios_agree_with_r_jomo(tmp_path):
    """Case study II in full (m = 10, maxit = 10) against R's jomo (``mitml::jomoImpute``,
    random intercept per study, n.burn 1000; studies/r/impact_jomo.R): the pooled log odds
    ratios of pupil and ct within 2 pooled SEs of each other."""
    reference = json.loads((Path(__file__).parent / "data" / "impact_jomo_reference.json")
                           .read_text())["pooled"]
    jomo = pd.DataFrame({k: reference[k] for k in ("terms", "estimate", "se")}).set_index(
        "terms")
    result = impact.run(tmp_path, m=10, maxit=10, progress=False, quiet=True)
    ours = result["pooled"].summary().set_index("term")
    for term in ("pupilOne", "pupilNone", "ctIII", "ctIV/V"):
        gap = abs(ours.loc[term, "estimate"] - jomo.loc[term, "estimate"])
        assert gap < 2 * ours.loc[term, "std_error"], term
        assert gap < 2 * jomo.loc[term, "se"], term

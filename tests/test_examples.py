"""The case-study examples in their ``--quick`` mode, and the README's main command."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

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


@pytest.mark.filterwarnings("ignore")
def test_impact_example_quick(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = impact.run(tmp_path, m=3, maxit=3, progress=False, quiet=True, rows=150)
    table = result["pooled"].summary(exponentiate=True).set_index("term")
    assert {"typeRCT", "age", "ctIV/V", "pupilNone"} <= set(table.index)
    assert table.loc["age", "estimate"] > 1.0  # older patients die more often
    assert result["complete_cases"].nobs < 15 * 150
    assert all(p.exists() for p in result["figures"])


def test_obesity_example_quick(tmp_path):
    result = obesity.run(tmp_path, m=3, maxit=3, progress=False, quiet=True)
    data = result["imputations"].complete(0)
    assert data.Weight.notna().all()
    ratio = data.Weight / data.Height**2
    assert (abs(data.BMI - ratio) < 1e-9).all()  # passive BMI follows the imputed Weight
    assert set(result["pooled"].summary().term) >= {"(Intercept)", "Age"}


@pytest.mark.parametrize("name", ["popmis", "impact", "obesity"])
def test_example_scripts_use_the_shared_runner(name):
    source = (EXAMPLES / f"{name}.py").read_text()
    assert f'run_example("{name}")' in source
    load_example(name)  # imports cleanly (the run is guarded by __main__)


def test_run_example_quick_options(tmp_path):
    result = run_example("obesity", ["--quick", "--out", str(tmp_path)])
    assert result["imputations"].m == 3

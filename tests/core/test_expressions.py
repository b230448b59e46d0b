"""The one R-expression evaluator: numpy and jax.numpy backends give the same numbers, and
both readers (model frames and passive imputation) use it."""

import re

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.analysis.formula import parse_formula
from jaxmice._src.core import evaluate as expressions

TEXTS = ["I(Weight / Height^2)", "log(Weight) - -sqrt(Height) * 2", "abs(Height - 1.75)",
         "exp(Height) + log10(Weight)", "I((Weight + 1)^0.5)"]


def _columns() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"Weight": rng.uniform(50, 100, 20), "Height": rng.uniform(1.5, 2.0, 20)}


@pytest.mark.parametrize("text", TEXTS)
def test_backends_and_readers_agree(text):
    columns = _columns()
    tree = parse_formula(f"y ~ I({text})").fixed.terms[0].factors[0]
    by_numpy = expressions.evaluate(tree, columns.__getitem__, expressions.NUMPY)
    jax_columns = {k: jnp.asarray(v) for k, v in columns.items()}
    by_jax = expressions.evaluate(tree, jax_columns.__getitem__, expressions.JAX)
    np.testing.assert_allclose(np.asarray(by_jax), by_numpy, rtol=1e-15)
    by_passive = jm.passive(f"~ {text}").fn(jax_columns)
    np.testing.assert_allclose(np.asarray(by_passive), by_numpy, rtol=1e-15)


def test_bmi_value():
    value = jm.passive("~ I(Weight / Height^2)").fn({"Weight": jnp.array([81.0]),
                                                      "Height": jnp.array([1.8])})
    np.testing.assert_allclose(np.asarray(value), [25.0], rtol=1e-15)


def test_passive_never_runs_python():
    """The formulas' parser reads passive expressions: anything but R's arithmetic on
    columns is refused, naming what and where."""
    for text, reason in [("~ __import__('os').system('true')", "unexpected character '_'"),
                         ("~ [Weight]", "unexpected character '['"),
                         ("~ log(Weight, 2)", "takes exactly one argument"),
                         ("~ scale(Weight)", "scale() is not allowed"),
                         ("~ Weight : Height", "operator ':' is not allowed"),
                         ("~ Weight +", "empty term after '+'")]:
        with pytest.raises(ValueError, match=re.escape(reason)):
            jm.passive(text)
    assert jm.passive("~ I(Weight / Height^2) + Weight").inputs == ("Weight", "Height")


def test_passive_reads_dotted_and_backquoted_names_as_formulas_do():
    """``~ I(wt.kg / ht.m^2)`` (R's dotted names) works in a passive expression as in a
    formula, through a whole imputation."""
    value = jm.passive("~ I(wt.kg / `ht m`^2)").fn({"wt.kg": jnp.array([81.0]),
                                                    "ht m": jnp.array([1.8])})
    np.testing.assert_allclose(np.asarray(value), [25.0], rtol=1e-6)
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"wt.kg": rng.normal(75, 10, 60), "ht.m": rng.normal(1.75, 0.1, 60)})
    frame["bmi"] = frame["wt.kg"] / frame["ht.m"] ** 2
    frame.loc[:9, ["wt.kg", "bmi"]] = np.nan
    pred = jm.make_predictor_matrix(frame)
    pred.loc["wt.kg", "bmi"] = 0
    imp = jm.mice(frame, m=2, maxit=2, seed=1, progress=False, predictor_matrix=pred,
                  method={"wt.kg": "pmm", "bmi": "~ I(wt.kg / ht.m^2)"})
    for done in imp.complete("all"):
        np.testing.assert_allclose(done["bmi"], done["wt.kg"] / done["ht.m"] ** 2, rtol=1e-12)

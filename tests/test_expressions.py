"""The one R-expression evaluator: numpy and jax.numpy backends give the same numbers, and
both readers (model frames and passive imputation) use it."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxmice as jm
from jaxmice import expressions
from jaxmice.models.formula import parse_formula

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
    for text in ["~ __import__('os').system('true')", "~ Weight.real", "~ [Weight]",
                 "~ log(Weight, 2)", "~ scale(Weight)"]:
        with pytest.raises(ValueError, match="is not allowed"):
            jm.passive(text)
    with pytest.raises(ValueError, match="syntax error"):
        jm.passive("~ Weight +")
    assert jm.passive("~ I(Weight / Height^2) + Weight").inputs == ("Weight", "Height")

"""The contract every imputation method follows.

A method is a :class:`MethodInfo` (metadata the sampler and ``make_method`` read) whose
``make`` factory turns a :class:`Target` (static facts about the variable) into an
:class:`Imputer`: a pair of pure functions, ``init`` and ``draw``, in the style of optax and
blackjax. The sampler vmaps both over the m chains and jit-compiles the whole iteration, so a
method never calls ``jit`` or ``vmap`` itself and never leaves JAX.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax


@dataclass(frozen=True)
class Target:
    """Static facts about the variable being imputed (hashable: part of the compiled plan).

    Attributes:
        kind: ``continuous``, ``binary``, ``nominal`` or ``ordinal``.
        name: the column label (for messages; None inside the compiled plan, where one
            target may serve several columns).
        n_levels: number of categories (0 for continuous).
        n_clusters: number of clusters (0 for single-level methods).
        options: method options as sorted ``(name, value)`` pairs, e.g. ``(("donors", 5),)``.
        n_random: multilevel methods: random effects per cluster (the intercept plus one per
            design column coded 2 or 4).
        n_means: multilevel methods: design columns whose cluster means are added (codes 3
            and 4).
    """

    name: Hashable
    kind: str
    n_levels: int = 0
    n_clusters: int = 0
    options: tuple = ()
    n_random: int = 0
    n_means: int = 0

    def option(self, name: str, default: Any) -> Any:
        """The value of option ``name``, or ``default``."""
        return dict(self.options).get(name, default)


class VisitInputs(NamedTuple):
    """What a method sees at one visit, for one chain.

    Attributes:
        y: f[n] current completed values of the target (codes for categorical targets).
        ry: bool[n] rows where the target is observed: the rows a model is fitted on.
        wy: bool[n] rows to impute.
        x: f[n, q] design from the current completed predictors; column 0 is the intercept,
            categorical predictors are dummy coded.
        keep: bool[q] design columns used: the intercept and the predictors of this target,
            less constant and collinear ones. Columns not kept must be ignored (they belong
            to other targets' models).
        gram: f[q, q] cross products ``x' diag(ry) x`` over the fitting rows (all design
            columns; mask with ``keep``).
        codes: i[q] predictor-matrix code of each design column (1 for the intercept, 0 for
            columns that are not predictors of this target), e.g. 2 marks a random slope.
        cluster: i[n] cluster code of each row (all zero for single-level methods).
    """

    y: jax.Array
    ry: jax.Array
    wy: jax.Array
    x: jax.Array
    keep: jax.Array
    gram: jax.Array
    codes: jax.Array
    cluster: jax.Array


class Draw(NamedTuple):
    """The result of one visit.

    Attributes:
        values: f[n] imputations (the sampler writes only the ``wy`` rows).
        state: the method's new state (``()`` for stateless methods).
        ok: bool[] False when the fit failed; the sampler then keeps the previous values and
            logs the failure.
    """

    values: jax.Array
    state: Any
    ok: jax.Array


class Imputer(NamedTuple):
    """A method bound to one target variable.

    Attributes:
        init: ``(inputs: VisitInputs) -> state``, called once before the first iteration.
        draw: ``(key, state, inputs: VisitInputs) -> Draw``.
    """

    init: Callable[[VisitInputs], Any]
    draw: Callable[[jax.Array, Any, VisitInputs], Draw]


def no_state(inputs: VisitInputs) -> tuple:
    """``init`` for stateless methods."""
    return ()


@dataclass(frozen=True)
class MethodInfo:
    """A registered imputation method.

    Attributes:
        name: the name users type (``"pmm"``, ``"2l.pan"``).
        kinds: the variable kinds it can impute.
        make: ``(target: Target) -> Imputer``.
        needs_cluster: whether it needs a cluster variable (code -2 in its predictor row).
        multilevel_alternative: the method to suggest when a single-level method is given a
            cluster code.
        options: the option names it accepts (e.g. ``("donors", "ridge")``).
        description: one line for tables and error messages.
    """

    name: str
    kinds: frozenset[str]
    make: Callable[[Target], Imputer]
    needs_cluster: bool = False
    multilevel_alternative: str | None = None
    options: tuple[str, ...] = ()
    description: str = ""
    allowed_codes: frozenset[int] = field(default_factory=lambda: frozenset({0, 1}))

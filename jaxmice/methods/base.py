"""The contract every imputation method follows.

A method is a :class:`MethodInfo` (metadata the specification, the plan and ``make_method``
read) whose ``make`` factory turns a :class:`Target` (static facts about the variable) and the
method's options into an :class:`Imputer`: a pair of pure functions, ``init`` and ``draw``, in
the style of optax and blackjax. The sampler vmaps both over the m chains and jit-compiles the
whole iteration, so a method never calls ``jit`` or ``vmap`` itself and never leaves JAX.

Options are declared once, as the factory's keyword-only arguments with their defaults, e.g.
``make(target, *, donors=5, ridge=1e-5)``; :attr:`MethodInfo.options` reads them from that
signature.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

#: the method of a column that is not imputed
NO_METHOD = ""
#: the method of a passive column (a function of other columns)
PASSIVE = "~"
#: the levels a method imputes at: each row, or each cluster (one value per cluster)
LEVELS = ("row", "cluster")


@dataclass(frozen=True)
class Target:
    """Static facts about the variable being imputed (hashable: part of the compiled plan).

    Attributes:
        kind: ``continuous``, ``binary``, ``nominal`` or ``ordinal``.
        name: the column label (for messages; None inside the compiled plan, where one
            target may serve several columns).
        n_levels: number of categories (0 for continuous).
        n_clusters: number of clusters of the size class (0 for single-level methods): the
            data set's clusters, then padding clusters with no rows (:func:`real_clusters`).
        options: the options given for the column as sorted ``(name, value)`` pairs, e.g.
            ``(("donors", 5),)``; the factory gets them as keyword arguments.
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
        delta: f[] the sensitivity shift of this column (``jm.mice(delta=...)``; 0 when not
            given). The sampler adds it to the draws of a continuous target; a method of a
            binary target that declares ``MethodInfo.delta`` adds it to its linear predictor.
        present: bool[n] the data set's rows; the others pad it to its size class
            (:mod:`jaxmice.sizes`): never observed, never imputed, in no cluster (their code
            is outside every segment sum). A method that reads rows beyond ``ry`` (a selection
            model's unselected rows) must mask them. None: every row is present.
    """

    y: jax.Array
    ry: jax.Array
    wy: jax.Array
    x: jax.Array
    keep: jax.Array
    gram: jax.Array
    codes: jax.Array
    cluster: jax.Array
    delta: jax.Array | float = 0.0
    present: jax.Array | None = None


def rows_present(inputs: VisitInputs) -> jax.Array:
    """bool[n]: the data set's rows among ``inputs``' (:attr:`VisitInputs.present`)."""
    if inputs.present is None:
        return jnp.ones(inputs.y.shape, bool)
    return inputs.present


class Draw(NamedTuple):
    """The result of one visit.

    Attributes:
        values: f[n] imputations (the sampler writes only the ``wy`` rows).
        state: the method's new state (``()`` for stateless methods).
        ok: bool[] False when the fit failed; the sampler then keeps the previous values and
            logs the failure.
        fallback: i[] clusters whose own fit failed at this visit (e.g. a Hessian that is not
            positive definite), so that they drew their parameters from the population
            distribution instead, as a wholly missing cluster does; logged (0 for methods
            without per-cluster fits).
    """

    values: jax.Array
    state: Any
    ok: jax.Array
    fallback: jax.Array | int = 0


class Imputer(NamedTuple):
    """A method bound to one target variable.

    Attributes:
        init: ``(inputs: VisitInputs) -> state``, called once before the first iteration;
            None for a stateless method (its ``draw`` then gets the state ``()``).
        draw: ``(key, state, inputs: VisitInputs) -> Draw``.
    """

    init: Callable[[VisitInputs], Any] | None
    draw: Callable[[jax.Array, Any, VisitInputs], Draw]


def observed_levels(inputs: VisitInputs, n_levels: int) -> jax.Array:
    """``b[n_levels]`` the levels of a categorical target that some observed row has: a
    level without one (an unused category) is masked out of the method's draws
    (:func:`draw_category`, :func:`draw_binary`), so it is never imputed."""
    codes = jnp.clip(inputs.y, 0, n_levels - 1).astype(jnp.int32)
    return jax.ops.segment_sum(inputs.ry.astype(jnp.int32), codes, n_levels) > 0


def draw_category(key: jax.Array, log_weights: jax.Array, seen: jax.Array) -> jax.Array:
    """``i[n]`` a category per row from ``log_weights: f[n, K]`` (logits or log
    probabilities), the unobserved levels (``seen: b[K]`` False) masked out; where every
    level is observed, ``jax.random.categorical``'s draws themselves."""
    return jax.random.categorical(key, jnp.where(seen, log_weights, -jnp.inf))


def draw_binary(key: jax.Array, p: jax.Array, seen: jax.Array) -> jax.Array:
    """``b[n]`` Bernoulli(``p: f[n]``) draws, a level no observed row has (``seen: b[2]``)
    never drawn; where both are observed, ``jax.random.bernoulli``'s draws themselves."""
    return jax.random.bernoulli(key, jnp.where(seen[1], jnp.where(seen[0], p, 1.0), 0.0))


def real_clusters(cluster: jax.Array, n_clusters: int) -> jax.Array:
    """bool[J]: the clusters that have rows. The others pad the data set up to its size
    class (:mod:`jaxmice.sizes`): they have no rows (a padded row's code is J, outside every
    segment sum), and must count nowhere: not in Psi's posterior, not among the clusters of a
    meta-analysis, not in a count of clusters.

    Args:
        cluster: i[n] each row's cluster code; n_clusters: J, the size class's count.
    """
    ones = jnp.ones(cluster.shape, jnp.int32)
    return jax.ops.segment_sum(ones, cluster, n_clusters) > 0


def initial_state(imputer: Imputer, inputs: VisitInputs) -> Any:
    """``imputer``'s state before the first visit (``()`` for a stateless method)."""
    return () if imputer.init is None else imputer.init(inputs)


def at_least_one(value: Any, option: str, method: str, target: Target) -> int:
    """An integer option that must be >= 1 (``donors``, ``sweeps``), checked when the method
    is bound.

    Raises:
        ValueError: naming the method, the column and the option.
    """
    count = int(value)
    if count < 1:
        raise ValueError(f"{method} for column {target.name!r}: {option} must be >= 1, "
                         f"got {value!r}")
    return count


def no_design_facts(codes: np.ndarray) -> dict[str, int]:
    """The static facts of a method that reads no predictor codes beyond 0/1: none."""
    return {}


@dataclass(frozen=True)
class MethodInfo:
    """A registered imputation method.

    Attributes:
        name: the name users type (``"pmm"``, ``"2l.pan"``).
        kinds: the variable kinds it can impute.
        make: ``(target: Target, *, option=default, ...) -> Imputer``; its keyword-only
            arguments are the method's options.
        needs_cluster: whether it needs a cluster variable (code -2 in its predictor row).
        multilevel_alternative: the method to suggest when a single-level method is given a
            cluster code.
        description: one line for tables and error messages.
        allowed_codes: the predictor codes it accepts (besides -2).
        level: ``"row"`` (one value per row) or ``"cluster"`` (one value per cluster, the
            column constant within clusters).
        design_facts: ``(codes: i[q]) -> {Target field: int}``, the static facts the method
            needs from its row of design codes (e.g. ``n_random``, ``n_means``).
        delta: whether it adds ``VisitInputs.delta`` to its linear predictor, so that it can
            take a sensitivity shift on a binary target (a continuous target's draws are
            shifted by the sampler, whatever the method).
        optional_cluster: it takes a cluster variable (code -2) but also works without one
            (a single-level model then).
        check_row: ``(column: schema.Column, row: i[p], names) -> None``, the method's own
            checks of the column and its predictor-matrix row (raise ValueError, or warn),
            run when the model is specified.
        cluster_notes: for methods that fit each cluster on its own, ``(ry: bool[n], cluster:
            i[n], n_clusters: int, codes: i[q]) -> [(cluster, reason), ...]``, the clusters the
            observed pattern alone makes unfittable (no observed row, too few residual
            degrees of freedom, ...), computed once before the run and logged.
        unused_levels: the method never draws a level of a categorical target that no
            observed row has (it draws donors' values, or masks such levels out of its draws:
            :func:`observed_levels`), so a category unused in the data (a pandas level left
            after subsetting) is kept and never imputed, as in R. Without it such a target
            is an error naming the levels.
    """

    name: str
    kinds: frozenset[str]
    make: Callable[..., Imputer]
    needs_cluster: bool = False
    multilevel_alternative: str | None = None
    description: str = ""
    allowed_codes: frozenset[int] = field(default_factory=lambda: frozenset({0, 1}))
    level: str = "row"
    design_facts: Callable[[np.ndarray], Mapping[str, int]] = no_design_facts
    delta: bool = False
    optional_cluster: bool = False
    check_row: Callable[[Any, np.ndarray, tuple], None] | None = None
    cluster_notes: Callable[..., list[tuple[int, str]]] | None = None
    unused_levels: bool = False

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"method {self.name!r}: level must be one of {LEVELS}, got "
                             f"{self.level!r}")
        if self.level == "cluster" and not self.needs_cluster:
            raise ValueError(f"method {self.name!r}: a cluster-level method needs a cluster")

    @property
    def defaults(self) -> dict[str, Any]:
        """The options the factory accepts (its keyword-only arguments) and their defaults."""
        params = inspect.signature(self.make).parameters.values()
        return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}

    @property
    def options(self) -> tuple[str, ...]:
        """The option names it accepts (e.g. ``("donors", "ridge")``)."""
        return tuple(self.defaults)

    def check_options(self, given: Mapping[str, Any], column: Hashable) -> tuple:
        """``given`` as sorted ``(name, value)`` pairs (:attr:`Target.options`).

        Raises:
            ValueError: an option the method does not take, naming the column.
        """
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            raise ValueError(f"column {column!r}: method {self.name!r} takes no option(s) "
                             f"{unknown} (it takes {list(self.options)})")
        return tuple(sorted(given.items()))

    def target(self, name: Hashable, kind: str, n_levels: int, n_clusters: int,
               codes: np.ndarray, options: tuple = ()) -> Target:
        """The :class:`Target` of a column imputed by this method.

        Args:
            codes: i[q] the design codes of the column's visit (intercept 1).
        """
        return Target(name=name, kind=kind, n_levels=n_levels, n_clusters=n_clusters,
                      options=options, **self.design_facts(np.asarray(codes)))

    def bind(self, target: Target) -> Imputer:
        """The method bound to ``target``, its options passed to the factory."""
        return self.make(target, **dict(target.options))

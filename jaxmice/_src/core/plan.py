"""From a :class:`~jaxmice._src.core.specification.Specification` to the sampler's static
:class:`~jaxmice._src.engine.Plan` and device :class:`~jaxmice._src.engine.Consts`.

The plan groups the visits into *branches*, one per distinct (method, target, post): columns
that share one compile one copy of the method. The design holds every column that predicts
some target; each visit carries the predictor codes of the design's columns, which the
visit's method reads (through :meth:`~jaxmice.methods.MethodInfo.target`) for whatever static
facts it needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import numpy as np

from jaxmice._src.adapters import frames_in
from jaxmice._src.core.design import PredictorBlock, make_terms
from jaxmice._src.core.passive import Passive
from jaxmice._src.core.specification import Specification
from jaxmice._src.runtime.sizes import cluster_class, rows_at
from jaxmice.methods import MethodInfo, Target


@dataclass(frozen=True)
class Branch:
    """One compiled visit body: a method bound to a target signature.

    Attributes:
        method: the method itself (not its name: a method registered anew under the same
            name makes a different plan, so no stale program is reused).
        target: static facts (kind, levels, options); ``target.name`` is None.
        post: optional ``f[n] -> f[n]`` applied to the draws.
    """

    method: MethodInfo
    target: Target
    post: Callable[[jax.Array], jax.Array] | None = None


@dataclass(frozen=True)
class Plan:
    """Everything static about an imputation run: the compiled program's identity.

    Attributes:
        branches: the distinct visit bodies.
        visit_branch: the branch of each visit, in visit order.
        terms: the full design layout (every column that predicts some target).
        passives: ``(position, Passive)`` pairs, recomputed after every visit.
        names: column labels (passive functions look columns up by label).
        tracked: positions of the columns whose chain mean/variance is recorded.
    """

    branches: tuple[Branch, ...]
    visit_branch: tuple[int, ...]
    terms: tuple[PredictorBlock, ...]
    passives: tuple[tuple[int, Passive], ...]
    names: tuple[Hashable, ...]
    tracked: tuple[int, ...]


class Visits(NamedTuple):
    """The visit sequence as arrays (one row per visit).

    Attributes:
        column: i[V] column imputed.
        branch: i[V] branch that imputes it.
        slot: i[V] its index among the branch's visits.
        codes: i[V, Q] predictor code of each design column (intercept 1; 0 = not used).
        cluster_column: i[V] its cluster column (0 when none).
    """

    column: jax.Array
    branch: jax.Array
    slot: jax.Array
    codes: jax.Array
    cluster_column: jax.Array


class Consts(NamedTuple):
    """Arrays that stay fixed during a run (shared by all chains).

    Attributes:
        observed: bool[n, p] observed cells.
        where: bool[n, p] cells to impute.
        clusters: i[n, p] cluster codes of each row by cluster column (0 elsewhere).
        visits: the visit table.
        delta: f[p] each column's sensitivity shift (0 for none). Data, not part of the plan:
            a tipping-point analysis over many deltas reuses one compiled program.
        present: bool[n] the data set's rows; the rest pad it to its size class
            (:mod:`jaxmice.sizes`).
    """

    observed: jax.Array
    where: jax.Array
    clusters: jax.Array
    visits: Visits
    delta: jax.Array
    present: jax.Array


def design_codes(row: np.ndarray, term_of: np.ndarray, column: int) -> np.ndarray:
    """i[Q] the predictor code of each design column for the visit of ``column``.

    Args:
        row: i[p] the column's predictor-matrix row.
        term_of: i[Q] the data column of each design column (entry 0, the intercept, unused).

    Returns:
        The intercept coded 1, the column's own dummies and the cluster variable 0.
    """
    codes = np.where(np.arange(len(term_of)) == 0, 1, row[term_of])
    codes[1:][term_of[1:] == column] = 0
    return np.where(codes == -2, 0, codes)


def _design(spec: Specification) -> tuple[tuple[PredictorBlock, ...], np.ndarray]:
    """The design's terms and the data column of each design column (i[Q], intercept 0)."""
    pred = spec.predictor
    # codes -3 and -4 (a selection model's equations) are predictors too; -2 is the cluster
    predictors = sorted({k for j in spec.visit_sequence
                         for k in np.flatnonzero((pred[j] != 0) & (pred[j] != -2)).tolist()})
    terms = make_terms(spec.schema, predictors)
    return terms, np.array([0] + [t.column for t in terms for _ in t.labels])


def pad_rows(values: np.ndarray, rows: int, fill: float | bool = 0) -> np.ndarray:
    """``values: [n, ...]`` with ``rows - n`` rows of ``fill`` appended (a size class's
    padding, :mod:`jaxmice.sizes`)."""
    extra = rows - values.shape[0]
    if extra == 0:
        return values
    return np.concatenate([values, np.full((extra, *values.shape[1:]), fill, values.dtype)])


def build_plan(spec: Specification, values: np.ndarray, observed: np.ndarray,
               min_rows: int = 0) -> tuple[Plan, Consts]:
    """The static plan and the visit table of ``spec`` on the encoded data.

    The plan and the arrays are for a size class (:mod:`jaxmice.sizes`), not the exact size:
    rows are padded to :func:`~jaxmice.sizes.row_class` ``(n)`` (never observed, never
    imputed), each cluster column's clusters to :func:`~jaxmice.sizes.cluster_class` (clusters
    with no row; the methods tell them by that, :func:`jaxmice.methods.base.real_clusters`),
    and a padded row's cluster code is the padded count J, which segment sums drop. So one
    compiled program serves every data set of the class, and padding changes no draw.

    Args:
        values: f[n, p] the encoded data; observed: bool[n, p] its observed cells.
        min_rows: a larger row class to pad to (a batch's merged class,
            :func:`~jaxmice.sizes.merged_row_classes`), or 0.

    Raises:
        ValueError: an option value a method rejects (raised by its factory, naming the
            column).
    """
    schema, pred, where = spec.schema, spec.predictor, spec.where
    terms, term_of = _design(spec)
    n, n_padded = values.shape[0], rows_at(values.shape[0], min_rows)
    # single-level visits read a cluster column of zeros: their padded rows get code 1,
    # outside the one group a single-level method may sum over
    clusters = pad_rows(np.zeros(values.shape, dtype=np.int32), n_padded, 1)
    branches: list[Branch] = []
    rows: dict[str, list] = dict(column=[], branch=[], slot=[], codes=[], cluster_column=[])
    for j in spec.visit_sequence:
        col, info, row = schema.columns[j], spec.models[j], pred[j]
        cluster_col = int(np.flatnonzero(row == -2)[0]) if (row == -2).any() else None
        n_clusters = 0
        if cluster_col is not None:
            index = frames_in.cluster_index(values, observed, schema, schema.names[cluster_col])
            n_clusters = cluster_class(index.n_clusters)
            clusters[:n, cluster_col] = index.row_cluster
            clusters[n:, cluster_col] = n_clusters  # dropped by every segment sum
        codes = design_codes(row, term_of, j)
        target = info.target(name=col.name, kind=col.kind, n_levels=col.n_levels,
                             n_clusters=n_clusters, codes=codes, options=spec.options[j])
        info.bind(target)  # the factory checks the option values, naming the column
        branch = Branch(method=info, target=dataclasses.replace(target, name=None),
                                post=spec.post.get(j))
        if branch not in branches:
            branches.append(branch)
        b = branches.index(branch)
        rows["column"].append(j)
        rows["branch"].append(b)
        rows["slot"].append(rows["branch"].count(b) - 1)
        rows["codes"].append(codes)
        rows["cluster_column"].append(cluster_col or 0)
    passives = tuple(sorted(spec.passives.items()))
    tracked = tuple(sorted(set(spec.visit_sequence)
                           | {j for j, _ in passives if where[:, j].any()}))
    plan = Plan(branches=tuple(branches), visit_branch=tuple(rows["branch"]),
                        terms=terms, passives=passives, names=schema.names, tracked=tracked)
    n_visits = len(spec.visit_sequence)
    # host arrays: every driver stacks them into the engine's replication axis on the host
    # (a device copy here was read back at once, 1.4 ms a data set of a batch)
    visits = Visits(**{
        k: (np.array(v, dtype=np.int32).reshape(n_visits, len(term_of)) if k == "codes"
            else np.array(v, dtype=np.int32))
        for k, v in rows.items()})
    delta = np.zeros(values.shape[1])
    for j, shift in spec.delta.items():
        delta[j] = shift
    consts = Consts(observed=pad_rows(observed, n_padded, False),
                            where=pad_rows(where, n_padded, False), clusters=clusters,
                            visits=visits, delta=delta, present=np.arange(n_padded) < n)
    return plan, consts


def cluster_events(spec: Specification, values: np.ndarray, observed: np.ndarray,
                   plan: Plan, consts: Consts) -> list[dict]:
    """The clusters that methods fitting each cluster on its own cannot fit, from the observed
    pattern alone (:attr:`~jaxmice.methods.MethodInfo.cluster_notes`), as log records of
    iteration 0."""
    schema, events = spec.schema, []
    visits = consts.visits
    columns, cluster_columns = np.asarray(visits.column), np.asarray(visits.cluster_column)
    # the data set's own rows and clusters, not its size class's
    codes, clusters = np.asarray(visits.codes), np.asarray(consts.clusters)[:len(values)]
    for v, b in enumerate(plan.visit_branch):
        branch = plan.branches[b]
        j, g = int(columns[v]), int(cluster_columns[v])
        if branch.method.cluster_notes is None:
            continue
        has_cluster = (spec.predictor[j] == -2).any()
        labels = (frames_in.cluster_index(values, observed, schema, schema.names[g]).labels
                  if has_cluster else ("all rows",))
        notes = branch.method.cluster_notes(observed[:, j], clusters[:, g], len(labels),
                                            codes[v])
        for k, reason in notes:
            events.append(dict(iteration=0, variable=schema.names[j],
                               method=branch.method.name, event="cluster not fitted",
                               detail=f"cluster {labels[k]!r}: {reason}"))
    return events

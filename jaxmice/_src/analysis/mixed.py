"""``jm.lmer`` and ``jm.glmer``: lme4's mixed models on one data set or a batch of them.

A batch (e.g. the m completed data sets of an imputation) is fitted by one compiled program,
vmapped over the data sets; a single data set is a batch of one. Results come back as
:class:`MixedModel` (one fit) or :class:`MixedModels` (a batch, indexable by data set), with
lme4's names: ``fixed``, ``se`` (``vcov``), ``varcomp`` (``as.data.frame(VarCorr())``),
``loglik``, ``ranef`` (``as.data.frame(ranef(condVar = TRUE))``) and ``tidy()`` (broom.mixed).

Size classes (:mod:`jaxmice.sizes`): a fit program is compiled for a size class, not an exact
shape. Rows are padded to :func:`~jaxmice.sizes.row_class` with weight 0 (not counted in
``n``, so neither in REML's ``n - p``, sigma nor the likelihood), the levels of each grouping
factor to :func:`~jaxmice.sizes.cluster_class` (a level without rows has ``Z = 0``: its block of
the penalised factor is the identity, log-determinant 0, effects 0; they are sliced off the
results). Each data set carries its own row-to-level arrays, so data sets with different
clusters and rows (the replications of a simulation, :meth:`jaxmice.batch.Batch.fit`) share one
program per class: :func:`fit_column_sets`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from jaxmice._src.adapters import frames_in
from jaxmice._src.analysis.fitted import (
    MixedModel,
    MixedModels,
)
from jaxmice._src.analysis.formula import Formula, parse_formula
from jaxmice._src.analysis.model_frame import ColumnData, ModelFrame, model_frame
from jaxmice._src.numerics.glm import fit_regression
from jaxmice._src.numerics.glmm import FAMILIES, GlmmData, fit_glmm
from jaxmice._src.numerics.lmm import fit_lmm_stats_batch, lmm_stats
from jaxmice._src.numerics.structure import (
    ROW_AXES,
    ReArrays,
    ReShape,
    ReStructure,
    batch_rows,
    build_structure,
    real_effects,
)
from jaxmice._src.runtime.precision import in_float64
from jaxmice._src.runtime.programs import program
from jaxmice._src.runtime.sizes import chunk_size, cluster_class, padded_positions, rows_at

#: bytes a batched fit may hold (about): more data sets than fit are fitted in chunks
FIT_MEMORY_BUDGET = 2 * 2**30
#: bytes one data set's fit holds per row and design column at its peak, an estimate (glmer
#: at 100,000 rows: about 1.1 KB a row with 3 fixed and 1 random column)
FIT_BYTES_PER_CELL = 256


@program(static_argnames=("shape", "reml"))
def _fit_lmm_batch(y: jax.Array, x: jax.Array, zval: jax.Array, w: jax.Array, re: ReArrays,
                   shape: ReShape, theta0: jax.Array, reml: bool) -> Any:
    """LMM fits of B data sets: ``y: f[B, n]``, ``x: f[B, n, p]``, ``zval: f[B, n, K]``,
    ``w: f[B, n]``, each data set's own row arrays in ``re`` (:data:`ROW_AXES`); ``n`` and
    ``shape`` are the size class's."""
    stats = jax.vmap(lambda yi, xi, zi, wi, rei: lmm_stats(yi, xi, zi, wi, rei, shape),
                     in_axes=(0, 0, 0, 0, ROW_AXES))(y, x, zval, w, re)
    return fit_lmm_stats_batch(stats, re, shape, theta0, reml)  # uses re's Lambda arrays only


@program(static_argnames=("shape", "family"))
def _fit_glmm_batch(y: jax.Array, x: jax.Array, zval: jax.Array, w: jax.Array, re: ReArrays,
                    shape: ReShape, theta0: jax.Array, family: str) -> Any:
    """GLMM fits of B data sets, the arguments as :func:`_fit_lmm_batch`'s."""
    def one(yi, xi, zi, wi, rei):
        return fit_glmm(GlmmData(yi, xi, zi, wi), rei, shape, theta0, family)

    return jax.vmap(one, in_axes=(0, 0, 0, 0, ROW_AXES))(y, x, zval, w, re)


def _columns(formula: Formula, data: Sequence) -> dict[str, ColumnData]:
    """The formula's columns from each frame, stacked along a leading batch axis."""
    names = formula.variables()
    per_frame = [frames_in.formula_columns(df, names) for df in data]
    columns = {}
    for name in names:
        first = per_frame[0][name]
        for k, cols in enumerate(per_frame[1:], start=1):
            if cols[name].levels != first.levels:
                raise ValueError(f"column {name!r} has levels {cols[name].levels} in data set "
                                 f"{k}, but {first.levels} in data set 0; a batch shares levels")
        values = np.concatenate([cols[name].values for cols in per_frame], axis=0)
        columns[name] = ColumnData(values=values, levels=first.levels, ordered=first.ordered)
    return columns


def _check_response(frame: ModelFrame, family: str) -> None:
    y = frame.y
    name = frame.response
    if family == "gaussian":
        if frame.response_levels is not None:
            raise ValueError(f"response {name!r} is a factor; lmer needs a numeric response "
                             "(use glmer(family='binomial') for a two-level factor)")
        return
    if frame.response_levels is not None and len(frame.response_levels) != 2:
        raise ValueError(f"response {name!r} is a factor with {len(frame.response_levels)} "
                         f"levels; family={family!r} needs a 0/1 response or two levels")
    if family == "binomial":
        bad = np.unique(y[(y != 0) & (y != 1)])
        if bad.size:
            raise ValueError(f"binomial response {name!r} must be 0/1 (or a two-level factor or "
                             f"bool); it has the value(s) {bad[:5].tolist()}")
    elif family == "poisson":
        bad = np.unique(y[(y < 0) | (y != np.round(y))])
        if bad.size:
            raise ValueError(f"poisson response {name!r} must hold non-negative whole counts; it "
                             f"has the value(s) {bad[:5].tolist()}")


def _check_sizes(frame: ModelFrame, structure: ReStructure, family: str) -> None:
    n = int(frame.rows.sum())
    for term in structure.terms:
        if len(term.levels) >= n and family == "gaussian":
            raise ValueError(f"grouping factor {term.group!r} has {len(term.levels)} levels for "
                             f"{n} observations; each group needs more than one row on average")
    total = sum(len(t.levels) * t.q for t in structure.terms)
    if family == "gaussian" and total >= n:
        raise ValueError(f"{total} random effects for {n} observations: the residual variance "
                         "is not identifiable; simplify the random terms")


@program(static_argnames=("family",))
def _fit_regression_batch(y: jax.Array, x: jax.Array, w: jax.Array, family: str) -> Any:
    """Regressions of B data sets: ``y: f[B, n]``, ``x: f[B, n, p]``, ``w: f[B, n]``."""
    return jax.vmap(lambda yi, xi, wi: fit_regression(yi, xi, wi, family))(y, x, w)


def fit_chunk_size(batch: int, rows: int, columns: int) -> int:
    """Data sets fitted at once: all ``batch``, or fewer where that would hold more than
    :data:`FIT_MEMORY_BUDGET` (1,000,000 rows: one at a time)."""
    return chunk_size(batch, FIT_MEMORY_BUDGET, FIT_BYTES_PER_CELL * rows * (columns + 2))


def _pad_rows(a: np.ndarray, rows: int) -> np.ndarray:
    """``a: f[B, n, ...]`` with zero rows appended up to ``rows``."""
    out = np.zeros((a.shape[0], rows, *a.shape[2:]), a.dtype)
    out[:, :a.shape[1]] = a
    return out


@dataclass(frozen=True, eq=False)
class _Prepared:
    """One model frame's B data sets laid out for their size class, ready for a fit program.

    Attributes:
        common: the :class:`MixedModels` fields that come from the frame (exact ``nobs``).
        structure: the exact random-effects structure (what the results report); None for a
            regression.
        batched: host arrays with a leading axis B, rows padded to the class:
            ``y, x, w`` and for mixed models ``zval, block, zcol``.
        shape: the padded layout's static sizes (None for a regression).
        shared: the padded layout's ``Lambda`` index arrays and theta's start.
        effects: :func:`~jaxmice._src.numerics.structure.real_effects` of the padded layout.
    """

    common: dict
    structure: ReStructure | None
    batched: tuple
    shape: ReShape | None = None
    shared: tuple = ()
    effects: tuple = ()

    @property
    def key(self) -> tuple:
        """What the fit program depends on: data sets with equal keys share one."""
        return (self.shape, tuple((a.shape[1:], str(a.dtype)) for a in self.batched),
                tuple(a.tobytes() for a in self.shared))


def _prepare(formula: Formula, columns: dict[str, ColumnData], family: str,
             random_required: bool, min_rows: int = 0) -> _Prepared:
    """The model frame of a batch of data sets, padded to its size class (or ``min_rows``,
    a larger one)."""
    # lme4 drops factor levels no row uses before building the design
    frame = model_frame(formula, columns, drop_unused_levels=True)
    _check_response(frame, family)
    common = dict(formula=formula.text, family=family, fixed_names=tuple(frame.fixed_names),
                  nobs=int(frame.rows.sum()), n_omitted=int((~frame.rows).sum()),
                  dropped=tuple(frame.dropped), source=(formula, columns))
    batch, n = frame.y.shape
    rows = rows_at(n, min_rows)
    # padding rows have weight 0: they count in no sum, neither in n nor in n - p
    y, x = (_pad_rows(np.asarray(a, np.float64), rows) for a in (frame.y, frame.x))
    w = np.broadcast_to((np.arange(rows) < n).astype(np.float64), (batch, rows))
    if not frame.random and not random_required:
        return _Prepared(common, None, (y, x, w))
    structure, zval = build_structure(frame.random)
    _check_sizes(frame, structure, family)
    padded, _ = build_structure(frame.random, [cluster_class(len(d.levels))
                                               for d in frame.random])
    re = batch_rows(padded.arrays, batch, rows)
    batched = (y, x, w, _pad_rows(np.asarray(zval, np.float64), rows), re.block, re.zcol)
    shared = (*re[2:], np.asarray(padded.initial_theta(), np.float64))
    return _Prepared(common, structure, batched, padded.shape, shared, real_effects(padded))


def _group_chunk(first: _Prepared, total: int, chunk: int | None) -> int:
    """Data sets one fit call of a group of ``total`` takes (:func:`fit_chunk_size`, at most
    ``chunk``)."""
    _, rows, columns = first.batched[1].shape
    size = fit_chunk_size(total, rows, columns)
    return size if chunk is None else max(1, min(size, chunk))


def _fit_call(first: _Prepared, family: str, reml: bool) -> Callable[[tuple], Any]:
    """The fit program call for device arrays of a group whose first frame is ``first``."""
    shape = first.shape
    shared = tuple(jax.device_put(a) for a in first.shared)

    def call(arrays: tuple) -> Any:
        if shape is None:
            return _fit_regression_batch(*arrays, family=family)
        y, x, w, zval, block, zcol = arrays
        re = ReArrays(block, zcol, *shared[:4])
        if family == "gaussian":
            return _fit_lmm_batch(y, x, zval, w, re, shape=shape, theta0=shared[4], reml=reml)
        return _fit_glmm_batch(y, x, zval, w, re, shape=shape, theta0=shared[4], family=family)

    return call


@dataclass(eq=False)
class _GroupFits:
    """The fits of one group of prepared frames (one key: one program), submitted a chunk
    at a time as its frames arrive.

    Attributes:
        call: the fit program's call (:func:`_fit_call`).
        full: data sets a chunk takes once the group holds that many (:func:`_group_chunk`).
        sizes: per frame of the group, its data sets.
        pending: frames' host arrays not yet submitted, and their data sets.
        chunks: the submitted chunks' futures (host outputs), in order.
    """

    call: Callable[[tuple], Any]
    full: int
    sizes: list[int] = field(default_factory=list)
    pending: list[tuple] = field(default_factory=list)
    held: int = 0
    chunks: list[Future] = field(default_factory=list)


@in_float64  # the switch is per thread; jaxmice's fits run in float64
def _fit_chunk(call: Callable[[tuple], Any], arrays: tuple, compiled: Future | None) -> Any:
    """Host outputs of one chunk, after the group's first chunk (``compiled``) has compiled
    the program (so no two threads compile it)."""
    if compiled is not None:
        compiled.result()
    # device_put, not jnp.asarray: the latter compiles a small program per shape and dtype
    return jax.device_get(call(tuple(jax.device_put(a) for a in arrays)))


def _submit(pool: ThreadPoolExecutor | _Inline, group: _GroupFits, count: int) -> None:
    """Submit the group's next ``count`` pending data sets as a chunk of ``group.full`` (the
    last data set repeated) or, for a group that never filled one, of ``count``."""
    joined = tuple(np.concatenate(parts) for parts in zip(*group.pending, strict=True))
    size = group.full if group.chunks or count == group.full else count
    rows = padded_positions(count, size)
    first = group.chunks[0] if group.chunks else None
    group.chunks.append(pool.submit(_fit_chunk, group.call, tuple(a[rows] for a in joined),
                                    first))
    rest = tuple(a[count:] for a in joined)
    group.held -= count
    group.pending = [rest] if group.held else []


class _Inline:
    """An executor that runs each call at once, on the calling thread (one fit thread: a
    single data set's fits need no pool, and a thread per call would cost its memory)."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def submit(self, fn: Callable, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as err:  # raised again by result(), as a pool's future does
            future.set_exception(err)
        return future


def _add(pool: ThreadPoolExecutor | _Inline, group: _GroupFits, batched: tuple) -> int:
    """Add a frame's host arrays (leading axis: its data sets) to the group, submitting each
    full chunk; returns the frame's position in the group."""
    count = batched[0].shape[0]
    group.sizes.append(count)
    group.pending.append(batched)
    group.held += count
    while group.held >= group.full:
        _submit(pool, group, group.full)
    return len(group.sizes) - 1


def _flush(pool: ThreadPoolExecutor | _Inline, group: _GroupFits) -> None:
    """Submit what the group still holds (its last chunk)."""
    if group.held:
        _submit(pool, group, group.held)


def _joined(group: _GroupFits) -> list[Any]:
    """Per frame of the group, its fits' host outputs (the chunks' padding dropped)."""
    raw = jax.tree.map(lambda *leaves: np.concatenate(leaves),
                       *(future.result() for future in group.chunks))
    ends = np.cumsum(group.sizes).tolist()
    return [jax.tree.map(lambda a, lo=lo, hi=hi: a[lo:hi], raw)
            for lo, hi in zip([0, *ends[:-1]], ends, strict=True)]


def _models(prepared: _Prepared, raw: Any, family: str, reml: bool) -> MixedModels:
    """The :class:`MixedModels` of one prepared frame from its fits' host outputs, the
    size class's padding levels sliced off."""
    batch = prepared.batched[0].shape[0]
    common = prepared.common
    if prepared.structure is None:
        return MixedModels(
            **common, reml=False, structure=None, theta=np.zeros((batch, 0)),
            beta=np.asarray(raw.beta), vcov=np.asarray(raw.vcov), sigma=np.asarray(raw.sigma),
            b=np.zeros((batch, 0, 0)), b_cov=np.zeros((batch, 0, 0, 0)),
            deviance=np.asarray(raw.deviance), grad=np.zeros((batch, 0)),
            n_iter=np.asarray(raw.n_iter), converged=np.asarray(raw.converged), extra={})
    blocks, cols = prepared.effects
    b = np.asarray(raw.b)[:, blocks][:, :, cols]
    b_cov = np.asarray(raw.b_cov)[:, blocks][:, :, cols][:, :, :, cols]
    if family == "gaussian":
        sigma, extra = np.asarray(raw.sigma), {}
    else:
        sigma = np.ones(batch)
        extra = {"vcov_rx": np.asarray(raw.vcov_rx), "hessian_ok": np.asarray(raw.hessian_ok)}
    return MixedModels(
        **common, reml=reml and family == "gaussian", structure=prepared.structure,
        theta=np.asarray(raw.theta), beta=np.asarray(raw.beta), vcov=np.asarray(raw.vcov),
        sigma=sigma, b=b, b_cov=b_cov, deviance=np.asarray(raw.deviance),
        grad=np.asarray(raw.grad), n_iter=np.asarray(raw.n_iter),
        converged=np.asarray(raw.converged), extra=extra)


def fit_column_sets(formula: Formula, column_sets: Sequence[dict[str, ColumnData]],
                    family: str, reml: bool, random_required: bool = True,
                    chunk: int | None = None, threads: int = 1,
                    min_rows: Sequence[int] | None = None) -> list[MixedModels]:
    """Fit ``formula`` to several batches of data sets, each with its own rows and clusters
    (e.g. the replications of a simulation, each with its m completed data sets).

    Each batch gets its own model frame, padded to its size class; batches of one class
    (equal padded rows, levels and design columns) are fitted together by one compiled
    program, in chunks of at most ``chunk`` data sets (and :func:`fit_chunk_size`'s memory
    bound), on ``threads`` worker threads: a chunk is fitted as soon as its frames are
    prepared, while the main thread prepares the next (on a 2-core CPU the frames of 1,000
    replications take about 1.9 s, their program's compilation about 1.2 s).

    Args:
        formula: the parsed formula.
        column_sets: per batch, its formula columns (``values: f[B_r, n_r]``).
        family, reml: as :func:`fit_columns`.
        random_required: as :func:`fit_columns`.
        chunk: most data sets one program call fits (None: the memory bound alone).
        threads: chunks fitted at once.
        min_rows: per batch, a larger row class to pad to (a batch of imputations' merged
            class, :func:`jaxmice.sizes.merged_row_classes`), or None.

    Returns:
        One :class:`MixedModels` per batch, in order, each as :func:`fit_columns` gives it.
    """
    floors = [0] * len(column_sets) if min_rows is None else list(min_rows)
    prepared: list[_Prepared] = []
    groups: dict[tuple, _GroupFits] = {}
    member: list[tuple[_GroupFits, int]] = []
    # a chunk is fitted on a worker thread as soon as its group holds it, while the main
    # thread prepares the next frames (the first chunk compiles the group's program)
    with ThreadPoolExecutor(threads) if threads > 1 else _Inline() as pool:
        for columns, floor in zip(column_sets, floors, strict=True):
            item = _prepare(formula, columns, family, random_required, floor)
            prepared.append(item)
            group = groups.get(item.key)
            if group is None:
                group = groups[item.key] = _GroupFits(
                    _fit_call(item, family, reml), _group_chunk(item, sys.maxsize, chunk))
            member.append((group, _add(pool, group, item.batched)))
        for group in groups.values():
            _flush(pool, group)
        outputs = {id(group): _joined(group) for group in groups.values()}
    raws = [outputs[id(group)][k] for group, k in member]
    fits = [_models(item, raw, family, reml) for item, raw in zip(prepared, raws, strict=True)]
    for fit in fits:
        fit.check()
    return fits


def fit_columns(formula: Formula, columns: dict[str, ColumnData], family: str, reml: bool,
                random_required: bool = True) -> MixedModels:
    """Fit ``formula`` to a batch of data sets given as formula columns (``values: f[B, n]``).

    Without random terms (and ``random_required`` False) the model is a regression, as R's
    ``lm`` / ``glm``. The entry point for ``jm.lmer`` / ``jm.glmer`` / ``jm.glm`` and for
    ``Imputations.fit``, which builds the columns from the completed data without frames.
    """
    return fit_column_sets(formula, [columns], family, reml, random_required)[0]


def _fit(formula: str, data: Any, family: str, reml: bool, random_required: bool = True
         ) -> MixedModel | MixedModels:
    single = frames_in.is_frame_like(data)
    frames = [data] if single else list(data)
    if not frames:
        raise ValueError("no data sets to fit")
    parsed = parse_formula(formula)
    fits = fit_columns(parsed, _columns(parsed, frames), family, reml, random_required)
    return fits[0] if single else fits


@in_float64
def glm(formula: str, data: Any, family: str = "gaussian") -> MixedModel | MixedModels:
    """Fit a regression without random effects, as R's ``lm`` (gaussian) or ``glm``.

    Args:
        formula: e.g. ``"mort ~ type + age + ct"`` (no random terms).
        data: a DataFrame, or a sequence of same-shaped DataFrames (one batch).
        family: ``"gaussian"``, ``"binomial"`` (logit) or ``"poisson"`` (log).

    Returns:
        A :class:`MixedModel` (or :class:`MixedModels`) without variance components other
        than the residual; its ``dfcom`` is ``n - p``, as R's ``df.residual``.
    """
    if family not in ("gaussian", *FAMILIES):
        raise ValueError(f"unknown family {family!r}; choose gaussian, binomial or poisson")
    if parse_formula(formula).random:
        raise ValueError(f"{formula!r} has random terms; use jm.lmer or jm.glmer")
    return _fit(formula, data, family, reml=False, random_required=False)


@in_float64
def lmer(formula: str, data: Any, reml: bool = True) -> MixedModel | MixedModels:
    """Fit a linear mixed model, as lme4's ``lmer``.

    Args:
        formula: an lme4 formula, e.g. ``"popular ~ 1 + sex + texp + (1 | school)"``.
        data: a DataFrame, or a sequence of same-shaped DataFrames (fitted as one batch).
        reml: REML (default, as lme4) or maximum likelihood.

    Returns:
        A :class:`MixedModel` for one frame, :class:`MixedModels` for a sequence.

    Raises:
        FormulaError: the formula does not parse (the message points at the token).
        ValueError: unknown columns, missing values in a grouping factor, a factor response.
        ModelFitError: the criterion became non-finite.
    """
    return _fit(formula, data, "gaussian", reml)


@in_float64
def glmer(formula: str, data: Any, family: str = "binomial") -> MixedModel | MixedModels:
    """Fit a generalised linear mixed model by the Laplace approximation, as lme4's ``glmer``.

    Args:
        formula: an lme4 formula, e.g. ``"mort ~ type + age + (1 | name)"``.
        data: a DataFrame, or a sequence of same-shaped DataFrames (fitted as one batch).
        family: ``"binomial"`` (logit link; 0/1, bool or two-level factor response) or
            ``"poisson"`` (log link; counts).

    Returns:
        A :class:`MixedModel` for one frame, :class:`MixedModels` for a sequence.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; glmer takes {FAMILIES} "
                         "(use lmer for a gaussian response)")
    return _fit(formula, data, family, reml=False)

"""``jm.mice``: specify the model (:mod:`.specification`), plan it (:mod:`.plan`), run the
sampler."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jaxmice._src.adapters import frames_in
from jaxmice._src.engine import sampler
from jaxmice._src.engine.batch import mice_batch
from jaxmice._src.engine.preparation import check_counts, padded_start, prepare, starting_data
from jaxmice._src.imputations import Imputations
from jaxmice._src.runtime.devices import block, copy_to, join, make_layout, pad_lanes
from jaxmice._src.runtime.precision import in_float64


@in_float64
def mice(
    df: Any,
    m: int = 5,
    maxit: int = 10,
    method: Any = None,
    predictor_matrix: Any = None,
    where: Any = None,
    visit_sequence: str | Sequence[Hashable] | None = None,
    post: Mapping[Hashable, Callable[[jax.Array], jax.Array]] | None = None,
    seed: int | None = None,
    progress: bool | None = None,
    kinds: Mapping[Hashable, str] | None = None,
    method_options: Mapping[Hashable, Mapping[str, Any]] | None = None,
    data_init: Any = None,
    delta: Mapping[Hashable, float] | None = None,
    chunk_size: int | None = None,
    devices: Any = None,
    dtype: str = "float64",
) -> Any:
    """Multiple imputation by chained equations, m chains at once.

    Args:
        df: the incomplete data (pandas DataFrame; NaN/None/NA mark missing cells).
        m: number of imputations (parallel chains).
        maxit: number of iterations.
        method: one method name for every incomplete column, or per column (dict, Series or
            list); ``""`` leaves a column alone; ``"~ expr"`` or ``jm.passive(fn)`` defines it
            passively. Defaults by kind: pmm, logreg, polyreg, polr.
        predictor_matrix: codes (rows = imputed column, columns = predictors) as a DataFrame,
            array, or partial ``{row: {column: code}}``. Defaults to all ones off the diagonal.
        where: bool cells to impute (default: the missing cells); observed cells marked True are
            over-imputed.
        visit_sequence: ``"roman"`` (left to right, default), ``"arabic"``, ``"monotone"``
            (fewest missing first), ``"revmonotone"``, or a list of column names.
        post: per column ``f[n] -> f[n]`` applied to each draw, e.g. ``jm.squeeze(1, 10)``.
        seed: integer seed; the same seed gives the same imputations. For a batch, one
            integer (replication seeds drawn from it) or one per data set.
        progress: show a progress bar: None (default) on a terminal or in a notebook, not
            when the output goes to a file or a log; True or False to force.
        kinds: per-column kind overrides (``continuous binary nominal ordinal count``; counts
            are never inferred, declare them).
        method_options: per-column method options, e.g. ``{"y": {"donors": 10}}``.
        data_init: starting values for the imputed cells (R's ``data.init``): one complete
            DataFrame like ``df`` for every chain, or a list of m of them (e.g. over-dispersed
            starts for convergence checks). Default: random draws from the observed values.
        delta: per-column sensitivity shifts for an MNAR analysis, e.g. ``{"Weight": 5.0}``:
            a continuous column's imputations are shifted by delta (at every iteration, so
            the other columns are imputed given the shifted values, as R's ``post``
            adjustment); a binary column's method adds delta to its linear predictor (log
            odds for logit models). The shifts are data, not part of the compiled program: a
            tipping-point loop over deltas compiles once.
        chunk_size: for a batch (``df`` a list of DataFrames), the replications run at once
            (default :data:`jaxmice.batch.CHUNK`, fewer where a chunk would pass
            :data:`jaxmice.batch.MEMORY_BUDGET`); each chunk is padded to this width.
        devices: the devices to spread the chains over (a batch: its chunks of
            replications): None for all of them (those of every process after
            ``jax.distributed.initialize``), a count for the first ones, or a list of
            :class:`jax.Device`. The answer is the same, bit for bit, on any of them
            (:mod:`jaxmice._src.runtime.devices`); ``imp.devices`` says which were used.
        dtype: ``"float64"`` (default) or ``"float32"``: the chains' data, designs and
            random draws in float32 (half the memory and bandwidth, for GPUs), their cross
            products and the methods' parameter draws still in float64; observed values are
            returned exactly as given. Imputed values are rounded to float32.

    ``df`` may be a list of DataFrames (the replications of a simulation study): they are
    imputed together as one compiled program, with an extra vmapped replication axis, and
    the result is a :class:`~jaxmice.batch.Batch` (``batch[r]`` is replication r's
    :class:`~jaxmice.Imputations`). Replication r is imputed with the seed
    ``batch.seeds[r]``: ``batch.reproduce(r)`` (a batch of that one data set) gives it again
    bit for bit; ``jm.mice(dfs[r], seed=batch.seeds[r], ...)`` agrees up to rounding.

    Returns:
        The :class:`~jaxmice.Imputations`, or a :class:`~jaxmice.batch.Batch`.
    """
    if frames_in.is_frame_sequence(df):
        return mice_batch(df, m=m, maxit=maxit, method=method, predictor_matrix=predictor_matrix,
                          where=where, visit_sequence=visit_sequence, post=post, seed=seed,
                          progress=progress, kinds=kinds, method_options=method_options,
                          data_init=data_init, delta=delta, chunk_size=chunk_size,
                          devices=devices, dtype=dtype)
    if chunk_size is not None:
        raise ValueError("chunk_size applies to a batch of data sets (a list of DataFrames)")
    check_counts(m, maxit)
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31 - 1))
    imp = prepare(df, m, seed, method=method, predictor_matrix=predictor_matrix, where=where,
                  visit_sequence=visit_sequence, post=post, kinds=kinds,
                  method_options=method_options, delta=delta, dtype=dtype)
    layout = make_layout(devices, m, multiple=sampler.lane_width())
    start = starting_data(data_init, m, imp.values, imp.where, imp.schema)
    if start is not None:
        start = pad_lanes(padded_start(start, imp), layout.lanes)
    # the engine's replication axis: this data set as a batch of one
    replicated = sampler.replicate(imp.chain_values, imp.consts, np.asarray(imp.root))
    blocks = {}
    for k in layout.local:  # one program per device, dispatched without waiting
        values, consts, roots = copy_to(replicated, layout, k)
        lanes = copy_to(sampler.chain_lanes(layout, k), layout, k)
        given = None if start is None else block(start, layout, k)
        blocks[k] = sampler.start_lanes(imp.plan, values, consts, roots, lanes, given,
                                        sampler.lane_width(), m)
    data, states = join(blocks, layout)
    chains = dataclasses.replace(imp, data=data, states=states, layout=layout)
    return Imputations(chains.advance(maxit, progress=progress))

"""One data set, encoded, specified and planned: what :func:`jaxmice.mice` and a batch's
replications share before the engine runs them (frame -> encoded arrays and schema ->
specification -> plan)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jaxmice._src.adapters import frames_in
from jaxmice._src.core.checks import check_count
from jaxmice._src.core.plan import build_plan, cluster_events, pad_rows
from jaxmice._src.core.schema import Schema
from jaxmice._src.core.specification import specify
from jaxmice._src.engine.chains import Chains


def check_counts(m: Any, maxit: Any) -> None:
    """``m`` and ``maxit`` are integers, at least 1 and 0."""
    check_count("m", m, 1)
    check_count("maxit", maxit, 0)


def check_dtype(dtype: Any) -> str:
    """``dtype`` as ``"float64"`` or ``"float32"``, the chains' data types."""
    name = getattr(dtype, "__name__", None) or str(dtype)
    if name not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' (default) or 'float32', got {dtype!r}")
    return name


def starting_data(data_init: Any, m: int, values: np.ndarray, where: np.ndarray,
               schema: Schema) -> np.ndarray | None:
    """``data_init`` as f[m, n, p] starting data (observed cells from the data), or None."""
    if data_init is None:
        return None
    frames = [data_init] * m if frames_in.is_frame_like(data_init) else list(data_init)
    if len(frames) != m:
        raise ValueError(f"data_init has {len(frames)} data sets; give one, or m = {m}")
    start = np.stack([frames_in.encode_like(frame, schema, "data_init") for frame in frames])
    gaps = where[None] & np.isnan(start)
    if gaps.any():
        k, i, j = (int(a[0]) for a in np.nonzero(gaps))
        raise ValueError(f"data_init {k} has a missing value in column {schema.names[j]!r} "
                         f"(row {i}), a cell to impute; data_init must fill every such cell")
    return np.where(where[None], start, values[None])


def padded_start(start: np.ndarray, imp: Chains) -> np.ndarray:
    """``start: f[k, n, p]`` (:func:`starting_data`) padded with the size class's rows, in
    the chains' dtype: f[k, N, p]."""
    rows = imp.chain_values.shape[0]
    return np.stack([pad_rows(s, rows) for s in start]).astype(imp.dtype)


def root_key(seed: int) -> jax.Array:
    """``jax.random.PRNGKey(seed)``, written on the host for the default generator's seeds of
    0 to 2**31 - 1 (threefry's key is then ``[0, seed]``): the device call took 0.3 ms a data
    set, a tenth of a batch's preparation."""
    if (jax.config.jax_default_prng_impl == "threefry2x32" and not isinstance(seed, bool)
            and isinstance(seed, (int, np.integer)) and 0 <= seed < 2**31):
        return np.array([0, seed], np.uint32)
    return jax.random.PRNGKey(seed)


def prepare(df: Any, m: int, seed: int, min_rows: int = 0, **options: Any) -> Chains:
    """Encode, specify and plan one data set: its :class:`Chains` before they start
    (``data`` and ``states`` are None), the part of :func:`mice` a batch runs per data set;
    ``min_rows``: a larger row class to pad to (:func:`~jaxmice._src.core.plan.build_plan`)."""
    dtype = check_dtype(options.pop("dtype", "float64"))
    values, observed, schema = frames_in.encode(df, options.pop("kinds"))
    spec = specify(values, observed, schema, **options)
    plan, consts = build_plan(spec, values, observed, min_rows)
    return Chains(
        schema=schema, values=values, observed=observed, where=spec.where,
        predictor=spec.predictor, methods=spec.methods, passives=spec.passives, plan=plan,
        consts=consts, root=root_key(seed), seed=seed, data=None, states=None,
        history=[], events=list(spec.events) + cluster_events(spec, values, observed, plan,
                                                              consts),
        dtype=dtype,
    )

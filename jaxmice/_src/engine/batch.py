"""Batches of replications: ``jm.mice([df_1, ..., df_R])``, run by the single run's engine.

A simulation study imputes R data sets of one design. Each replication is encoded, checked and
planned as :func:`jaxmice.mice` would do it alone (:mod:`jaxmice._src.engine.preparation`);
replications whose plans and size classes agree (one design: the same columns, kinds and methods;
row and cluster counts padded up the ladder of :mod:`jaxmice.sizes`; cluster sizes and missingness
patterns are data) then run together: a chunk of C replications is one call of the engine
(:func:`jaxmice._src.engine.sampler.start_lanes`, :func:`~jaxmice._src.engine.sampler.step_lanes`)
whose lanes are its C x m chains, each run as it runs alone. Each chunk is padded to the same number
of replications (the last one repeated), so one program, compiled once, serves every chunk of a
size class; one progress bar counts the chunks.

Seeds: replication r is imputed with the integer seed ``batch.seeds[r]`` (drawn from
``numpy.random.SeedSequence(seed)``; the first k seeds of a batch of R are those of a batch of
k), with the keys ``jm.mice(df_r, seed=batch.seeds[r])`` uses alone; since every lane runs
the same per-chain kernel in a loop whose length is data, replication r equals itself in any
batch, and equals that single run bit for bit at one :func:`~jaxmice._src.engine.sampler.lane_width`
(by default a batch runs :data:`~jaxmice._src.engine.sampler.BATCH_LANE_WIDTH` lanes at a time,
vmapped, a single run one: ``JAXMICE_LANE_WIDTH`` sets both; otherwise they agree to
rounding).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from jaxmice._src.adapters import frames_in
from jaxmice._src.analysis.pool import PooledBatch, pool
from jaxmice._src.engine import sampler
from jaxmice._src.engine.chains import Chains
from jaxmice._src.engine.preparation import check_counts, padded_start, prepare, starting_data
from jaxmice._src.imputations import Imputations, fit_arrays
from jaxmice._src.runtime.devices import choose_devices
from jaxmice._src.runtime.precision import in_float64
from jaxmice._src.runtime.progress import show_progress
from jaxmice._src.runtime.sizes import chunk_size, merged_row_classes, padded_positions, row_class

#: replications per chunk by default (fewer for large data sets, see :func:`default_chunk_size`)
CHUNK = 32
#: chunks imputed at once, each on its own thread (see :func:`mice_batch`)
THREADS = 2
#: device bytes a chunk of replications may take (about): the default chunk size follows
MEMORY_BUDGET = 2 * 2**30
#: bytes per completed-data cell one replication's iteration holds at its peak, an estimate
#: (the design, cross products and each method's intermediates, per chain and row)
BYTES_PER_CELL = 400


def replication_seeds(seed: int, count: int) -> np.ndarray:
    """``i[count]`` the integer seed of each replication (prefix-stable in ``count``)."""
    state = np.random.SeedSequence(seed).generate_state(count, dtype=np.uint32)
    return (state & np.uint32(0x7FFFFFFF)).astype(np.int64)


def default_chunk_size(prepared: Chains, m: int) -> int:
    """Replications per chunk: :data:`CHUNK`, or fewer where that would take more than
    :data:`MEMORY_BUDGET`. It depends on the design's shape only, never on the batch's size:
    XLA's floating-point results depend on the chunk's width (its reductions and products are
    ordered by shape), so one width makes replication r the same in every batch."""
    return chunk_size(CHUNK, MEMORY_BUDGET, m * _lane_bytes(prepared))


def _lane_bytes(prepared: Chains) -> int:
    """Bytes one chain's iteration holds at its peak (about)."""
    n, p = prepared.values.shape
    q = max(len(prepared.plan.terms), 1)
    return BYTES_PER_CELL * n * (p + q)


def batch_lane_width(prepared: Chains, m: int) -> int:
    """Lanes the batch's programs for data sets of ``prepared``'s shape run at once
    (:func:`jaxmice._src.engine.sampler.lane_width`): from the shape only, as the chunk, so that a
    replication's values never depend on the batch it is in."""
    return sampler.lane_width(batch=True, lane_bytes=_lane_bytes(prepared),
                              lanes=default_chunk_size(prepared, m) * m)


def _take(tree: Any, i: int) -> Any:
    return jax.tree.map(lambda leaf: leaf[i], tree)


def chunk_lanes(chunk: int, m: int, width: int) -> sampler.Lanes:
    """The lanes of a chunk of ``chunk`` replications of ``m`` chains (replication-major),
    padded to a multiple of the lane width with copies of the last."""
    total = -(-chunk * m // width) * width
    lane = padded_positions(chunk * m, total).astype(np.int32)
    return sampler.Lanes(replication=lane // m, chain=lane % m)


def _run_chunk(part: list[Chains], chunk: int, m: int, maxit: int,
               device: Any = None, starts: list | None = None) -> tuple:
    """Impute one chunk of replications (padded to ``chunk``) on ``device`` (the default
    one when None): host data ``f[C, m, N, p]``, states and per-iteration stats, each with a
    leading C axis. ``starts``: per replication of ``part``, its chains' starting data
    ``f[m, N, p]`` (``data_init``), or None.

    The engine is the single run's (:func:`jaxmice._src.engine.sampler.start_lanes`,
    :func:`~jaxmice._src.engine.sampler.step_lanes`): its lanes are the chunk's C x m chains, each
    run as it runs alone, so replication r equals ``jm.mice(frames[r], seed=batch.seeds[r])`` at
    the same lane width.
    """
    plan = part[0].plan
    # every chunk one shape: one program (and at least sampler.MIN_REPLICATIONS of them)
    padded = [part[i] for i in padded_positions(len(part), max(chunk, sampler.MIN_REPLICATIONS))]
    values = jax.device_put(np.stack([imp.chain_values for imp in padded]), device)
    consts = jax.device_put(sampler.stack([imp.consts for imp in padded]), device)
    roots = jax.device_put(np.stack([np.asarray(imp.root) for imp in padded]), device)
    width = batch_lane_width(part[0], m)
    lanes = chunk_lanes(chunk, m, width)
    given = None
    if starts is not None:
        chains = np.stack([starts[i] for i in padded_positions(len(part), chunk)])  # f[C, m, N, p]
        given = jax.device_put(chains[lanes.replication, lanes.chain], device)
    lanes = jax.device_put(lanes, device)
    # a last, short chunk runs the same program, its padding lanes skipped
    active = len(part) * m
    data, states = sampler.start_lanes(plan, values, consts, roots, lanes, given, width, m,
                                       active)
    stats = []
    for t in range(1, maxit + 1):
        data, states, s = sampler.step_lanes(plan, data, states, consts, roots, t, lanes,
                                             width, m, active)
        stats.append(s)
    # lanes back to [C, m, ...] (padding lanes dropped)
    return jax.tree.map(lambda x: np.asarray(x)[:chunk * m].reshape(chunk, m, *x.shape[1:]),
                        jax.device_get((data, states, stats)))


def _run_x64(part: list[Chains], chunk: int, m: int, maxit: int,
             compiled: Future | None, device: Any = None, starts: list | None = None
             ) -> tuple:
    """:func:`_run_chunk` on a worker thread: float64 (the switch is per thread), and after
    the group's first chunk has compiled its programs (``compiled``), so no two threads
    compile the same program."""
    if compiled is not None:
        compiled.result()
    with jax.enable_x64(True):
        return _run_chunk(part, chunk, m, maxit, device, starts)


def _run_spread(prepared: list[Chains], group_of: list, groups: list, m: int, maxit: int,
                devices: tuple, starts: list | None = None) -> tuple[list, list, list]:
    """Every group's chunks spread over ``devices`` (``group_of[r]``: replication r's group,
    one of ``groups``, each ``(plan, shape, chunk width)``): chunk i of a group runs on device
    ``i mod N`` (the same program as on one device, so the same values), one round of N
    chunks at a time, each device on its own thread; with several processes each runs its
    own devices' chunks and the rounds' results are exchanged (every process ends with all).

    Returns:
        Per replication: host data, states and per-iteration stats.
    """
    from jax.experimental import multihost_utils

    me = jax.process_index()
    mine = [k for k, d in enumerate(devices) if d.process_index == me]
    owners = sorted({d.process_index for d in devices})
    data: list = [None] * len(prepared)
    states: list = [None] * len(prepared)
    history: list = [None] * len(prepared)
    for key in groups:
        idx, chunk = [r for r in range(len(prepared)) if group_of[r] == key], key[2]
        parts = [idx[i:i + chunk] for i in range(0, len(idx), chunk)]
        rounds = -(-len(parts) // len(devices))
        # every device busy
        parts = [parts[i] for i in padded_positions(len(parts), rounds * len(devices))]
        with ThreadPoolExecutor(len(mine)) as pool:
            for first in range(0, len(parts), len(devices)):
                futures = {k: pool.submit(_run_x64, [prepared[r] for r in parts[first + k]],
                                          chunk, m, maxit, None, devices[k],
                                          _starts_of(starts, parts[first + k])) for k in mine}
                results = {k: f.result() for k, f in futures.items()}
                if len(owners) > 1:  # each process has its own devices' chunks: exchange
                    local = [results[k] for k in mine]
                    gathered = multihost_utils.process_allgather(sampler.stack(local))
                    positions = [[k for k, d in enumerate(devices) if d.process_index == q]
                                 for q in owners]
                    results = {k: _take(_take(gathered, qi), li)
                               for qi, ks in enumerate(positions) for li, k in enumerate(ks)}
                for k in range(len(devices)):
                    chunk_data, chunk_states, chunk_stats = results[k]
                    for i, r in enumerate(parts[first + k]):
                        data[r] = np.asarray(chunk_data[i])
                        states[r] = _take(chunk_states, i)
                        history[r] = [_take(st, i) for st in chunk_stats]
    return data, states, history


def batch_row_classes(frames: Sequence[Any], m: int, maxit: int) -> list[int]:
    """The row class each data set of a batch runs at: its own, or a larger one of the batch
    where a compile costs more than the padding (:func:`jaxmice.sizes.merged_row_classes`)."""
    rows = [len(frame) for frame in frames]
    merged = merged_row_classes(rows, m * maxit)
    return [merged[row_class(n)] for n in rows]


@in_float64
def mice_batch(frames: Sequence[Any], *, m: int, maxit: int, seed: Any,
               progress: bool | None, chunk_size: int | None, data_init: Any = None,
               devices: Any = None, row_classes: Sequence[int] | None = None,
               **options: Any) -> Batch:
    """Impute a batch of data sets (see :func:`jaxmice.mice`, which calls this for a list).

    A pipeline: the main thread encodes, checks and plans the data sets one by one and hands
    each full chunk to :data:`THREADS` worker threads, which compile (a group's first chunk)
    and run them while the next chunks are prepared. XLA's CPU runtime runs one such program
    on about one core, and releases Python's lock while it compiles or runs, so the set-up,
    the compilation and two chunks in flight share a 2-core machine. Chunks are independent:
    the threads change no value.

    On several devices (``devices``, :func:`jaxmice._src.runtime.devices.choose_devices`) the data
    sets are prepared first and the chunks then spread over the devices (:func:`_run_spread`).

    ``row_classes``: the row class each data set runs at (by default
    :func:`batch_row_classes`; :meth:`Batch.reproduce` gives a replication's own).
    """
    check_counts(m, maxit)
    if data_init is not None and (frames_in.is_frame_like(data_init)
                                  or len(data_init) != len(frames)):
        raise ValueError(f"data_init for a batch of {len(frames)} data sets is a list with one "
                         "entry per data set (each a DataFrame, or a list of m of them)")
    if chunk_size is not None and (isinstance(chunk_size, bool)
                                   or not isinstance(chunk_size, (int, np.integer))
                                   or chunk_size < 1):
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    if seed is None:
        seed = int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(seed, (list, tuple, np.ndarray)):
        seeds = np.asarray(seed, np.int64).reshape(-1)
        if seeds.size != len(frames):
            raise ValueError(f"seed has {seeds.size} entries for {len(frames)} data sets; give "
                             "one integer, or one per data set")
    else:
        seeds = replication_seeds(seed, len(frames))
    columns = list(frames[0].columns)
    if row_classes is None:
        row_classes = batch_row_classes(frames, m, maxit)
    options = dict(options, min_rows=row_classes)
    chosen = choose_devices(devices)
    if len(chosen) > 1 or jax.process_count() > 1:
        return _spread_batch(frames, columns, seeds, m, maxit, chunk_size, chosen, options,
                             data_init)
    prepared: list[Chains] = []
    starts: list | None = None if data_init is None else []
    pending: dict[Any, list[int]] = {}
    chunks: dict[Any, int] = {}
    first: dict[Any, Future] = {}
    submitted: list[tuple[list[int], Future]] = []
    bar = None
    if show_progress(progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=None, desc="imputing", unit="chunk", leave=False)
    pool = ThreadPoolExecutor(THREADS)

    def submit(key: Any) -> None:
        idx = pending.pop(key)
        future = pool.submit(_run_x64, [prepared[r] for r in idx], chunks[key], m, maxit,
                             first.get(key), chosen[0], _starts_of(starts, idx))
        first.setdefault(key, future)
        if bar is not None:
            future.add_done_callback(lambda _: bar.update(1))
        submitted.append((idx, future))

    try:
        for r, frame in enumerate(frames):
            imp = _prepare_one(frame, r, columns, m, int(seeds[r]), options)
            prepared.append(imp)
            if starts is not None:
                starts.append(_start_of(data_init[r], r, imp, m))
            key = (imp.plan, imp.chain_values.shape)
            if key not in chunks:
                chunks[key] = chunk_size or default_chunk_size(imp, m)
            pending.setdefault(key, []).append(r)
            if len(pending[key]) == chunks[key]:
                submit(key)
        for key in list(pending):
            submit(key)
        data: list = [None] * len(frames)
        states: list = [None] * len(frames)
        history: list = [None] * len(frames)
        for idx, future in submitted:
            chunk_data, chunk_states, chunk_stats = future.result()
            for i, r in enumerate(idx):
                data[r] = chunk_data[i]
                states[r] = _take(chunk_states, i)
                history[r] = [_take(s, i) for s in chunk_stats]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
    return Batch(prepared=tuple(prepared), data=tuple(data), states=tuple(states),
                 history=tuple(history), seeds=seeds, frames=tuple(frames),
                 options=_run_options(options, m, maxit, chunk_size),
                 n_groups=len(chunks), devices=chosen)


def _run_options(options: dict, m: int, maxit: int, chunk_size: int | None) -> dict:
    """The :func:`jaxmice.mice` arguments a batch keeps (not its per-data-set row classes)."""
    kept = {k: v for k, v in options.items() if k != "min_rows"}
    return dict(kept, m=m, maxit=maxit, chunk_size=chunk_size)


def _starts_of(starts: list | None, idx: list[int]) -> list | None:
    """The starting data of replications ``idx``, or None (no ``data_init``)."""
    return None if starts is None else [starts[r] for r in idx]


def _start_of(given: Any, r: int, imp: Chains, m: int) -> np.ndarray:
    """Replication r's ``data_init`` entry as its chains' starting data ``f[m, N, p]``."""
    try:
        return padded_start(starting_data(given, m, imp.values, imp.where, imp.schema), imp)
    except (ValueError, TypeError) as err:
        raise type(err)(f"data set {r}: {err}") from err


def _prepare_one(frame: Any, r: int, columns: list, m: int, seed: int, options: dict
                 ) -> Chains:

    if list(frame.columns) != columns:
        raise ValueError(f"data set {r} has columns {list(frame.columns)}; every data "
                         f"set of a batch needs those of data set 0, {columns}")
    options = dict(options)
    try:
        return prepare(frame, m, seed, min_rows=options.pop("min_rows")[r], **options)
    except (ValueError, TypeError) as err:
        raise type(err)(f"data set {r}: {err}") from err


def _spread_batch(frames: Sequence[Any], columns: list, seeds: np.ndarray, m: int, maxit: int,
                  chunk_size: int | None, devices: tuple, options: dict,
                  data_init: Any = None) -> Batch:
    """:func:`mice_batch` over several devices or processes (see :func:`_run_spread`)."""
    prepared = [_prepare_one(frame, r, columns, m, int(seeds[r]), options)
                for r, frame in enumerate(frames)]
    starts = None if data_init is None else [
        _start_of(data_init[r], r, imp, m) for r, imp in enumerate(prepared)]
    groups: dict[Any, tuple] = {}
    keys = []
    for imp in prepared:
        key = (imp.plan, imp.chain_values.shape)
        if key not in groups:
            groups[key] = (*key, chunk_size or default_chunk_size(imp, m))
        keys.append(groups[key])
    data, states, history = _run_spread(prepared, keys, list(groups.values()), m, maxit,
                                        devices, starts)
    return Batch(prepared=tuple(prepared), data=tuple(data), states=tuple(states),
                 history=tuple(history), seeds=seeds, frames=tuple(frames),
                 options=_run_options(options, m, maxit, chunk_size),
                 n_groups=len(groups), devices=devices)


@dataclass(frozen=True)
class Batch:
    """The imputations of a batch of data sets (``jm.mice([df_1, ..., df_R])``).

    ``len(batch)`` is R and ``batch[r]`` replication r's
    :class:`~jaxmice.Imputations`, built on demand from the batch's arrays.

    Attributes:
        prepared: per replication, its encoded and planned data (no chains).
        data: per replication, ``f[m, n, p]`` the completed data (host).
        states: per replication, the methods' states.
        history: per replication, its per-iteration statistics.
        seeds: ``i[R]`` the seed of each replication (``jm.mice(df_r, seed=seeds[r])``).
        frames: the data sets, as given.
        options: the :func:`jaxmice.mice` arguments of the run.
        n_groups: programs the batch needed (one per distinct plan and shape).
        devices: the devices the chunks ran on.
    """

    prepared: tuple
    data: tuple
    states: tuple
    history: tuple
    seeds: np.ndarray
    frames: tuple
    options: dict
    n_groups: int
    devices: tuple = ()

    def __len__(self) -> int:
        return len(self.prepared)

    @in_float64
    def __getitem__(self, r: int) -> Imputations:
        if not -len(self) <= r < len(self):
            raise IndexError(f"replication {r} does not exist: the batch has {len(self)}")
        r = r % len(self)
        imp = dataclasses.replace(self.prepared[r], data=jax.device_put(self.data[r]),
                                  states=jax.device_put(self.states[r]), history=[])
        events = list(imp.events)
        for t, stats in enumerate(self.history[r], start=1):
            events.extend(imp.events_of(t, stats))
        return Imputations(dataclasses.replace(imp, history=list(self.history[r]),
                                               events=events))

    def __iter__(self):
        return (self[r] for r in range(len(self)))

    def reproduce(self, r: int) -> Imputations:
        """Replication r imputed again, bit for bit as in the batch: a batch of the one data
        set with its seed, the batch's options and the row class it ran at
        (:meth:`row_class`). The single call ``jm.mice(frames[r], seed=seeds[r], ...)`` runs
        the same engine and gives the same values too where that class is the data set's
        own (the batch did not merge it into a larger one)."""
        return mice_batch([self.frames[r]], seed=[int(self.seeds[r])], progress=False,
                          row_classes=[self.row_class(r)], **self.options)[0]

    def row_class(self, r: int) -> int:
        """The row class replication r ran at (:func:`batch_row_classes`)."""
        return int(self.prepared[r].chain_values.shape[0])

    @in_float64
    def fit(self, formula: str, family: str = "gaussian", reml: bool = True,
            chunk_size: int | None = None) -> BatchFits:
        """Fit a model to all R x m completed data sets (R: ``with(imp, lmer(...))`` per
        replication).

        Each replication is fitted with its own rows and clusters (its model frame, as its
        own ``batch[r].fit(...)``); replications of one size class (:mod:`jaxmice.sizes`:
        rows and levels padded, padding inert) share one compiled, vmapped fit program,
        called on ``chunk_size`` replications' m data sets at a time (default :data:`CHUNK`,
        fewer where memory asks), :data:`THREADS` calls at once.

        Returns:
            :class:`BatchFits`; ``.pool()`` pools per replication.
        """
        m = self.options["m"]
        data, schemas = [], []
        for r, prepared in enumerate(self.prepared):
            # the chains may hold the size class's padding rows after the data set's own
            rows = prepared.values.shape[0]
            completed = prepared.with_observed(np.asarray(self.data[r])[:, :rows])
            data.append(np.where(prepared.filled[None], completed, np.nan))
            schemas.append(prepared.schema)
        fits = fit_arrays(formula, data, schemas, family, reml,
                           chunk=(chunk_size or CHUNK) * m, threads=THREADS,
                           min_rows=[self.row_class(r) for r in range(len(self))])
        # the data columns kept for refits would hold every data set again
        return BatchFits(fits=tuple(dataclasses.replace(f, source=None) for f in fits), m=m)


@dataclass(frozen=True)
class BatchFits:
    """Per replication, the m fits of one model (see :meth:`Batch.fit`).

    Keeps the results protocol (:class:`~jaxmice._src.analysis.pool.Fits`) with a leading
    replication axis.

    Attributes:
        fits: per replication, its :class:`~jaxmice.models.MixedModels` (own ``nobs`` and
            ``dfcom``).
        m: fits per replication.
    """

    fits: tuple
    m: int

    def __len__(self) -> int:
        return len(self.fits)

    def __getitem__(self, r: int) -> Any:
        """Replication r's m fits (:class:`~jaxmice.models.MixedModel` each), as a list."""
        return list(self.fits[r])

    @property
    def names(self) -> tuple[str, ...]:
        """The fixed effects' names (every replication's model has the same)."""
        return self.fits[0].fixed_names

    @property
    def estimates(self) -> np.ndarray:
        """f[R, m, k] the fixed effects of each replication's m fits."""
        return np.stack([fits.beta for fits in self.fits])

    @property
    def covariances(self) -> np.ndarray:
        """f[R, m, k, k] their covariance matrices."""
        return np.stack([fits.vcov for fits in self.fits])

    @property
    def dfcom(self) -> tuple:
        """Each replication's complete-data df (its own rows)."""
        return tuple(fits.dfcom for fits in self.fits)

    def pool(self, dfcom: float | None = None) -> PooledBatch:
        """Rubin's rules per replication (as each replication's ``fit(...).pool()``, fixed
        effects only), with each replication's own complete-data df (:func:`jaxmice.pool`)."""
        return pool(self, dfcom=dfcom)

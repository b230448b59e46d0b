"""The chained-equations sampler: one jit-compiled iteration of a device's chains.

One iteration visits each imputed column in turn: build the design from the current completed
data, drop constant and collinear predictors, let the column's method draw, keep the draw only
in the ``where`` cells (observed cells never change), apply ``post``, recompute passive
columns. The visits are a ``lax.scan`` over a table of visits; each visit dispatches with
``lax.switch`` to its *branch*, one per distinct (method, kind, levels, options, post). So the
program holds one copy of each method, however many columns use it: 100 pmm columns compile
as fast as one. The whole iteration of a device's chains is one XLA program, compiled once per
size class (:mod:`jaxmice.sizes`) and :class:`Plan` (its static argument), reused by every
iteration and by ``Imputations.iterate``.

One engine runs single runs and batches alike: a chain kernel in blackjax's shape (start a
chain: :func:`_fill_chain` / :func:`_start_chain`; step it: :func:`_iterate_chain`, state
in, state and :class:`IterationStats` out) mapped over *lanes* (:class:`Lanes`: a chain of a
replication each) by :func:`each_lane`, :func:`lane_width` lanes at a time in a loop whose
length is data. A single run is one replication with its m chains as lanes; a chunk of a
batch is C replications with C x m lanes; on several devices each runs its own block of
lanes (:mod:`jaxmice._src.runtime.devices`). Every lane's sums are ordered as when it runs alone, so
a chain is the same, bit for bit, alone, in a batch or on any devices. Nothing leaves the
device inside an iteration.

Every visit uses the full design (all predictor columns of any target, dummy coded) and a
per-visit mask of the columns that are its predictors; that keeps shapes equal across visits.

Random keys: iteration ``t`` of chain ``c`` uses ``fold_in(fold_in(root, t), c)`` and visit
``v`` folds in ``v``, so results depend on the seed alone, not on how chains are batched.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmice._src.core.design import build_design
from jaxmice._src.core.plan import Consts, Plan
from jaxmice._src.numerics.linalg import cross_products, select_predictors
from jaxmice._src.numerics.random import random_observed_rows
from jaxmice._src.runtime.devices import Layout, copy_to, join, make_layout, split
from jaxmice._src.runtime.programs import lanes_optimized, program
from jaxmice._src.runtime.progress import show_progress
from jaxmice.methods import VisitInputs


class IterationStats(NamedTuple):
    """What one iteration reports, per chain (a leading m axis after vmap).

    Attributes:
        mean: f[t] mean of the imputed cells of each tracked column.
        var: f[t] their variance.
        ok: bool[V] whether each visit's draw was accepted.
        dropped: i[V, Q] why each design column was dropped at each visit (0 kept or not a
            predictor, 1 constant, 2 collinear).
        passive_ok: bool[k] whether each passive column stayed finite.
        fallback: i[V] clusters whose own fit failed at each visit (:attr:`Draw.fallback`).
    """

    mean: jax.Array
    var: jax.Array
    ok: jax.Array
    dropped: jax.Array
    passive_ok: jax.Array
    fallback: jax.Array


def visit_inputs(plan: Plan, data: jax.Array, consts: Consts, v: int | jax.Array
                  ) -> tuple[VisitInputs, jax.Array]:
    """Inputs of visit ``v`` for one chain's ``data: f[n, p]``, and i[Q] why each design
    column was dropped (0 kept or not a predictor, 1 constant, 2 collinear)."""
    visits = consts.visits
    j, codes = visits.column[v], visits.codes[v]
    x = build_design(data, plan.terms)
    ry = consts.observed[:, j]
    gram = cross_products(x, ry.astype(x.dtype))
    sel = select_predictors(gram, codes != 0)
    inputs = VisitInputs(y=data[:, j], ry=ry, wy=consts.where[:, j], x=x, keep=sel.keep,
                         gram=gram, codes=codes,
                         cluster=consts.clusters[:, visits.cluster_column[v]],
                         delta=consts.delta[j].astype(data.dtype), present=consts.present)
    return inputs, sel.constant.astype(jnp.int8) + 2 * sel.collinear.astype(jnp.int8)


def _write_column(data: jax.Array, j: jax.Array, rows: jax.Array, values: jax.Array
                  ) -> jax.Array:
    """``data: f[n, p]`` with ``values: f[n]`` written into column ``j: i[]`` where ``rows:
    b[n]``. A select over the whole matrix, not ``data.at[:, j].set``: with ``j`` differing
    between vmapped lanes, that scatter ran as a loop over the lanes that copied the data
    each time (a sixth of a batch's 2l.pan iteration)."""
    column = jnp.arange(data.shape[1]) == j
    return jnp.where(rows[:, None] & column[None, :], values[:, None], data)


def _apply_passives(plan: Plan, data: jax.Array, consts: Consts) -> tuple[jax.Array, jax.Array]:
    oks = [jnp.array(True)]
    for j, spec in plan.passives:
        values = spec.fn({name: data[:, k] for k, name in enumerate(plan.names)})
        values = jnp.broadcast_to(jnp.asarray(values, data.dtype), data[:, j].shape)
        wy = consts.where[:, j]
        ok = jnp.all(jnp.isfinite(values) | ~wy)
        data = _write_column(data, j, wy & ok, values)
        oks.append(ok)
    return data, jnp.stack(oks)[1:]


def _chain_stats(plan: Plan, data: jax.Array, consts: Consts) -> tuple[jax.Array, jax.Array]:
    cols = jnp.array(plan.tracked, dtype=jnp.int32)
    v, w = data[:, cols], consts.where[:, cols].astype(data.dtype)
    count = jnp.maximum(w.sum(0), 1.0)
    mean = (w * v).sum(0) / count
    var = (w * (v - mean) ** 2).sum(0) / jnp.maximum(count - 1.0, 1.0)
    return mean, var


def _branch_step(plan: Plan, b: int, key: jax.Array, slot: jax.Array, inputs: VisitInputs,
                 states: tuple) -> tuple[jax.Array, jax.Array, jax.Array, tuple]:
    """Run branch ``b``'s method; returns draws, whether they are usable, the clusters whose
    fit failed, and the states."""
    branch = plan.branches[b]
    imputer = branch.method.bind(branch.target)
    state = jax.tree.map(lambda s: s[slot], states[b])
    out = imputer.draw(key, state, inputs)
    values = out.values
    if branch.target.kind == "continuous":  # binary methods shift their linear predictor
        values = values + inputs.delta
    values = values if branch.post is None else branch.post(values)
    # a failed fit or a non-finite draw is never written: the previous values stay
    ok = out.ok & jnp.all(jnp.isfinite(values) | ~inputs.wy)
    new = jax.tree.map(partial(jnp.where, ok), out.state, state)
    branch_states = jax.tree.map(lambda s, n: s.at[slot].set(n), states[b], new)
    fallback = jnp.asarray(out.fallback, jnp.int32)
    return values, ok, fallback, states[:b] + (branch_states,) + states[b + 1:]


def _fill_chain(plan: Plan, data: jax.Array, consts: Consts, key: jax.Array
                ) -> tuple[jax.Array, tuple]:
    """Initial values for one chain (random draws from each column's observed values), then
    each method's initial state."""
    def fill(data, v):
        j = consts.visits.column[v]
        rows = random_observed_rows(jax.random.fold_in(key, v), consts.observed[:, j],
                                    data[:, 0].shape)
        return data.at[:, j].set(jnp.where(consts.where[:, j], data[rows, j], data[:, j])), None

    if plan.visit_branch:  # complete data have no visit: nothing to fill
        # a scan, not a Python loop over the visits: one copy in the program however many
        data, _ = jax.lax.scan(fill, data, jnp.arange(consts.visits.column.shape[0]))
    return _start_chain(plan, data, consts)


def _start_chain(plan: Plan, data: jax.Array, consts: Consts) -> tuple[jax.Array, tuple]:
    """Passive columns and each method's initial state for one chain's starting data."""
    data, _ = _apply_passives(plan, data, consts)
    states = []
    for b, branch in enumerate(plan.branches):
        imputer = branch.method.bind(branch.target)
        visits = [v for v, vb in enumerate(plan.visit_branch) if vb == b]
        if imputer.init is None:  # stateless: skip building inputs nobody reads
            states.append(())
            continue
        # one copy of the method's init per branch, mapped over its visits (in visit order)
        states.append(jax.lax.map(
            lambda v, init=imputer.init: init(visit_inputs(plan, data, consts, v)[0]),
            jnp.asarray(visits, jnp.int32)))
    return data, tuple(states)


def _iterate_chain(plan: Plan, data: jax.Array, states: tuple, consts: Consts, key: jax.Array
                   ) -> tuple[jax.Array, tuple, IterationStats]:
    """One chained-equations iteration of one chain: a scan over the visit table."""

    def visit(carry, v):
        data, states = carry
        inputs, why_dropped = visit_inputs(plan, data, consts, v)
        branches = [partial(_branch_step, plan, b) for b in range(len(plan.branches))]
        values, ok, fallback, states = jax.lax.switch(consts.visits.branch[v], branches,
                                            jax.random.fold_in(key, v), consts.visits.slot[v],
                                            inputs, states)
        j = consts.visits.column[v]
        values = values.astype(data.dtype)  # float32 data: draws computed wider are rounded
        data = _write_column(data, j, inputs.wy & ok, values)
        data, passive_ok = _apply_passives(plan, data, consts)
        return (data, states), (ok, why_dropped, passive_ok, fallback)

    if not plan.visit_branch:  # complete data: no visit, the chains stay as they are
        data, passive_ok = _apply_passives(plan, data, consts)
        mean, var = _chain_stats(plan, data, consts)
        design_columns = consts.visits.codes.shape[1]
        return data, states, IterationStats(
            mean=mean, var=var, ok=jnp.zeros((0,), bool),
            dropped=jnp.zeros((0, design_columns), jnp.int8), passive_ok=passive_ok,
            fallback=jnp.zeros((0,), jnp.int32))
    n_visits = consts.visits.column.shape[0]
    (data, states), (ok, dropped, passive_ok, fallback) = jax.lax.scan(
        visit, (data, states), jnp.arange(n_visits))
    mean, var = _chain_stats(plan, data, consts)
    stats = IterationStats(mean=mean, var=var, ok=ok, dropped=dropped,
                           passive_ok=jnp.all(passive_ok, axis=0), fallback=fallback)
    return data, states, stats


class Lanes(NamedTuple):
    """What each lane of a program runs: a chain of a replication.

    A single run is one replication (R = 1) with its m chains as lanes; a chunk of a batch is
    C replications with their C x m chains as lanes. Both run the same per-chain kernel
    (:func:`_fill_chain` / :func:`_start_chain` to start, :func:`_iterate_chain` to step),
    mapped over the lanes by :func:`each_lane`.

    Attributes:
        replication: i[L] the lane's replication (its data, constants and root key).
        chain: i[L] the lane's chain number (folded into the keys).
    """

    replication: jax.Array
    chain: jax.Array


#: lanes a batch's programs run at once at most (vmapped): on a 2-core CPU a chunk of 32
#: replications (50 clusters of 20 rows, m = 5, 2l.pan for two columns) runs in 0.50 s at 8
#: lanes, 0.38 s at 16, 0.33 s at 32 and 0.38 s at 64 (``benchmarks/results/sizes``)
BATCH_LANE_WIDTH = 32
#: bytes the intermediates of a batch's vmapped lanes may take together
LANE_MEMORY_BUDGET = 2**29


def lane_width(batch: bool = False, lane_bytes: float = 0.0, lanes: int | None = None) -> int:
    """Lanes a program runs at once, vmapped: ``JAXMICE_LANE_WIDTH`` if set, else 1 for a
    single run (one lane at a time in a loop: as fast on a CPU, one lane's intermediates in
    memory, each lane's sums ordered as when it runs alone) and for a batch the largest power
    of two up to :data:`BATCH_LANE_WIDTH` whose lanes' intermediates (``lane_bytes`` each)
    fit :data:`LANE_MEMORY_BUDGET`, and no more than ``lanes`` (a chunk's). A result depends
    on the width (vmap orders sums by shape), never on the lane count: at one width, a
    replication of a batch equals its single run, bit for bit."""
    import os

    given = os.environ.get("JAXMICE_LANE_WIDTH")
    if given:
        width = int(given)
        if width < 1:
            raise ValueError(f"JAXMICE_LANE_WIDTH must be >= 1, got {width}")
        return width
    if not batch:
        return 1
    width = BATCH_LANE_WIDTH
    if lane_bytes > 0:
        width = min(width, max(1, int(LANE_MEMORY_BUDGET // lane_bytes)))
    if lanes is not None:
        width = min(width, max(1, lanes))
    return 1 << (width.bit_length() - 1)


def each_lane(fn: Callable, count: jax.Array, *lanes: Any, width: int = 1,
              shared: tuple[Any, jax.Array] | None = None, grouped: bool = False) -> Any:
    """``fn`` applied to each entry of the leading (lane) axis of ``lanes``: ``width`` lanes at
    a time (vmapped), the groups one after another in a loop of ``count: i[]`` steps (the
    number of groups, passed in as data; the lane count is a multiple of ``width``).

    ``shared``: ``(tree, replication)``, a tree with a leading replication axis and ``i[L]``
    each lane's replication; ``fn`` then takes the lane's entry of ``tree`` first
    (:func:`_replication`).

    ``grouped`` (one lane at a time only): consecutive lanes of one replication run in an
    inner loop that picks its entry once, so what depends on that entry alone (a method's
    cluster counts) is computed once for them: XLA hoists it out of the inner loop (popmis's
    2l.pan iterations, m = 100: 10-15% faster). Only for programs compiled with full
    optimisation: compiled for speed (:data:`jaxmice._src.runtime.programs.FAST_COMPILE`), such a
    program rounded differently by its lane count.

    A loop whose length XLA cannot see is compiled the same way whatever the number of lanes
    (a ``lax.map`` of one step is inlined and fused with its surroundings, which reorders
    sums); and each group's sums are ordered the same way however many groups a program runs.
    So a chain is the same, bit for bit, on 1 or N devices, alone or in a batch."""
    n = jax.tree.leaves(lanes)[0].shape[0]
    tree, replication = shared if shared is not None else ((), jnp.zeros(n, jnp.int32))
    if width == 1 and grouped:
        return _each_run(fn, count, lanes, tree, replication, shared is not None)

    def per_lane(r: jax.Array, *args: Any) -> Any:
        return fn(*args) if shared is None else fn(_replication(tree, r), *args)

    step = per_lane if width == 1 else jax.vmap(per_lane)
    grouped_lanes = jax.tree.map(lambda x: x.reshape(n // width, width, *x.shape[1:]),
                                 (replication, *lanes)) if width > 1 else (replication, *lanes)
    shapes = jax.eval_shape(step, *jax.tree.map(lambda x: x[0], grouped_lanes))
    out = jax.tree.map(lambda a: jnp.zeros((n // width, *a.shape), a.dtype), shapes)

    def body(i, out):
        return _update(out, step(*_index(grouped_lanes, i)), i)

    out = jax.lax.fori_loop(0, count, body, out)
    return out if width == 1 else jax.tree.map(lambda x: x.reshape(n, *x.shape[2:]), out)


def _index(tree: Any, i: jax.Array) -> Any:
    return jax.tree.map(partial(jax.lax.dynamic_index_in_dim, index=i, keepdims=False), tree)


def _update(out: Any, result: Any, i: jax.Array) -> Any:
    return jax.tree.map(lambda o, r: jax.lax.dynamic_update_index_in_dim(o, r, i, 0), out,
                        result)


def _each_run(fn: Callable, count: jax.Array, lanes: tuple, tree: Any, replication: jax.Array,
              with_tree: bool) -> Any:
    """:func:`each_lane`, one lane at a time, grouped: an outer loop over the runs of
    consecutive lanes of one replication (found in the program: the lanes are data), an inner
    loop over a run's lanes."""
    n = replication.shape[0]
    lane = jnp.arange(n)
    first_of_run = (lane < count) & jnp.concatenate(
        [jnp.ones(1, bool), replication[1:] != replication[:-1]])
    starts = jnp.nonzero(first_of_run, size=n, fill_value=count)[0].astype(count.dtype)
    ends = jnp.concatenate([starts[1:], jnp.reshape(count, (1,))])
    first = jax.tree.map(lambda x: x[0], lanes)
    shapes = (jax.eval_shape(fn, _index(tree, 0), *first) if with_tree
              else jax.eval_shape(fn, *first))
    out = jax.tree.map(lambda a: jnp.zeros((n, *a.shape), a.dtype), shapes)

    def run(k, out):
        picked = _replication(tree, replication[starts[k]]) if with_tree else None

        def body(i, out):
            args = _index(lanes, i)
            return _update(out, fn(picked, *args) if with_tree else fn(*args), i)

        return jax.lax.fori_loop(starts[k], ends[k], body, out)

    # a lower bound XLA cannot see: from 0, it peeled the first run, whose sums were then
    # ordered otherwise (a batch's first chain differed from its single run in the last bit)
    return jax.lax.fori_loop(jnp.minimum(count, 0), first_of_run.sum().astype(count.dtype),
                             run, out)


def _replication(tree: Any, r: jax.Array) -> Any:
    """Replication ``r``'s entry of every leaf of ``tree`` (a leading R axis), materialised
    behind an optimisation barrier: XLA fuses a slice into its consumers differently by the
    lane count, which changed the last bits of their sums."""
    picked = _index(tree, r)
    return jax.lax.optimization_barrier(picked)


@program(static_argnums=(0,), static_argnames=("width", "optimized"), lanes=True)
def initialize(plan: Plan, values: jax.Array, consts: Consts, roots: jax.Array, lanes: Lanes,
               count: jax.Array, start: jax.Array | None = None, width: int = 1,
               optimized: bool = False) -> tuple[jax.Array, tuple]:
    """Initial data ``f[L, n, p]`` and method states of the lanes ``lanes`` (a chain of a
    replication each; :mod:`jaxmice._src.runtime.devices` gives a device its block of them).

    Args:
        values: f[R, n, p] each replication's incomplete data; consts: its
            :class:`Consts` (a leading R axis); roots: its root key (R x key).
        count: i[] the groups of ``width`` lanes to run, as data (:func:`each_lane`).
        optimized: whether the program is compiled with full optimisation (decided from the
            work of a replication's m chains,
            :func:`jaxmice._src.runtime.programs.lanes_optimized`); it then groups lanes by
            replication (:func:`each_lane`).
        start: f[L, n, p] each lane's starting data (R's ``data.init``, e.g. over-dispersed
            starts), or None: the imputed cells start as random draws from each column's
            observed values, drawn with the replication's root key folded with 0 and then
            the chain (iteration ``t`` folds in ``t``).
    """
    def one(picked, c, *given):
        v, k, root = picked
        if given:
            return _start_chain(plan, given[0], k)
        return _fill_chain(plan, v, k, jax.random.fold_in(jax.random.fold_in(root, 0), c))

    extra = () if start is None else (start,)
    return each_lane(one, count, lanes.chain, *extra, width=width,
                     shared=((values, consts, roots), lanes.replication), grouped=optimized)


@program(static_argnums=(0,), static_argnames=("width", "optimized"), lanes=True)
def iterate(plan: Plan, data: jax.Array, states: tuple, consts: Consts, roots: jax.Array,
            t: jax.Array, lanes: Lanes, count: jax.Array, width: int = 1,
            optimized: bool = False) -> tuple[jax.Array, tuple, IterationStats]:
    """Iteration ``t: i[]`` (1-based) of the lanes ``lanes``: ``data: f[L, n, p]`` in, the
    next ``data`` out. A lane's key is ``fold_in(root, t)`` of its replication's root, then
    its chain folded in; ``width`` lanes run at a time (:func:`each_lane`, ``count`` groups),
    so one group's intermediates are live at a time. ``optimized``: as for
    :func:`initialize`."""
    def one(picked, chain_data, chain_states, c):
        k, root = picked
        key = jax.random.fold_in(jax.random.fold_in(root, t), c)
        return _iterate_chain(plan, chain_data, chain_states, k, key)

    return each_lane(one, count, data, states, lanes.chain, width=width,
                     shared=((consts, roots), lanes.replication), grouped=optimized)


def stack(trees: list) -> Any:
    """Host trees stacked along a new leading (replication) axis."""
    return jax.tree.map(lambda *leaves: np.stack([np.asarray(a) for a in leaves]), *trees)


#: replications a program holds at least: XLA compiles a one-entry replication axis
#: differently (its index folds away), which changes the last bits of some sums
MIN_REPLICATIONS = 2


def replicate(*trees: Any) -> tuple:
    """One replication's host trees (its data, :class:`Consts`, root key) as the engine's
    replication axis: :data:`MIN_REPLICATIONS` copies."""
    return tuple(stack([tree] * MIN_REPLICATIONS) for tree in trees)


def _groups(lanes: Lanes, width: int, active: int | None) -> np.int32:
    """Groups of ``width`` lanes a program runs: all, or those holding the first ``active``
    lanes (the others are padding: their outputs stay zero and are dropped)."""
    total = np.shape(lanes.chain)[0]
    return np.int32(total // width if active is None else -(-min(active, total) // width))


def start_lanes(plan: Plan, values: Any, consts: Consts, roots: Any, lanes: Lanes,
                start: Any, width: int, chains: int, active: int | None = None
                ) -> tuple[jax.Array, tuple]:
    """:func:`initialize`, ``width`` lanes at a time (``len(lanes)`` a multiple of it), on
    the device the arrays are on; ``chains``: the run's m; ``active``: the lanes that are
    not padding, first (None: all)."""
    count = _groups(lanes, width, active)
    return initialize(plan, values, consts, roots, lanes, count, start, width=width,
                      optimized=_optimized(plan, values, chains, width))


def step_lanes(plan: Plan, data: Any, states: tuple, consts: Consts, roots: Any, t: int,
               lanes: Lanes, width: int, chains: int, active: int | None = None
               ) -> tuple[jax.Array, tuple, IterationStats]:
    """:func:`iterate` (iteration ``t``), ``width`` lanes at a time; ``chains`` and
    ``active`` as for :func:`start_lanes`."""
    count = _groups(lanes, width, active)
    return iterate(plan, data, states, consts, roots, np.int32(t), lanes, count, width=width,
                   optimized=_optimized(plan, data, chains, width))


def _optimized(plan: Plan, values: Any, chains: int, width: int) -> bool:
    """:func:`jaxmice._src.runtime.programs.lanes_optimized` for data ``values: f[..., n, p]`` and
    the plan's design columns."""
    n, p = np.shape(values)[-2:]
    q = sum(len(term.labels) for term in plan.terms)
    return lanes_optimized(n * (p + q), chains, width)


def chain_lanes(layout: Layout, k: int) -> Lanes:
    """Device ``k``'s lanes of a single run: replication 0, its block of chains."""
    chains = layout.chains(k)
    return Lanes(replication=np.zeros_like(chains), chain=chains)


def run(plan: Plan, data: Any, states: tuple, consts: Consts, root: jax.Array,
        first: int, count: int, progress: bool | None = False, layout: Layout | None = None
        ) -> tuple[Any, tuple, list[Any]]:
    """Run iterations ``first .. first + count - 1`` (1-based) of a single run's chains,
    collecting their stats.

    ``data`` and ``states`` hold all lanes (sharded over ``layout``'s devices, or on one
    device when ``layout`` is None); each iteration runs one program per device, dispatched
    without waiting (the devices run together), on this process's devices.

    Returns:
        The final data and states, and one :class:`IterationStats` per iteration (device
        arrays with all lanes).
    """
    layout = layout or make_layout(list(data.devices()), int(data.shape[0]))
    data_k, states_k = split(data, layout), split(states, layout)
    # the one replication as a batch of one (the engine's R axis)
    replicated = replicate(consts, root)
    shared = {k: copy_to(replicated, layout, k) for k in layout.local}
    lanes = {k: copy_to(chain_lanes(layout, k), layout, k) for k in layout.local}
    width = lane_width()
    bar = None
    if show_progress(progress) and count > 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=count, desc="imputing", unit="it", leave=False)
    history = []
    for t in range(first, first + count):
        stats = {}
        for k in layout.local:
            data_k[k], states_k[k], stats[k] = step_lanes(
                plan, data_k[k], states_k[k], *shared[k], t, lanes[k], width, layout.count)
        history.append(join(stats, layout))
        if bar is not None:
            jax.block_until_ready(data_k)
            bar.update(1)
    if bar is not None:
        bar.close()
    return join(data_k, layout), join(states_k, layout), history

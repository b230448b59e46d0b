"""The chains' state: what the engine holds between iterations of one imputation run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import jax
import numpy as np

from jaxmice._src.core.checks import check_count, spread_events
from jaxmice._src.core.design import design_labels
from jaxmice._src.core.passive import Passive
from jaxmice._src.core.plan import Consts, Plan, pad_rows
from jaxmice._src.core.schema import Schema
from jaxmice._src.engine import sampler
from jaxmice._src.runtime.devices import Layout, to_host
from jaxmice.methods import NO_METHOD, PASSIVE

_WHY = {1: "constant", 2: "collinear"}


@dataclass(frozen=True)
class Chains:
    """The engine's state of one run: the encoded data, the plan, the chains and their log
    (what :class:`~jaxmice.Imputations` shows the user; a batch keeps one per replication,
    before its chains start).

    Attributes:
        schema: column names, kinds, levels and dtypes.
        values: f[n, p] the incomplete data as arrays (codes for categorical columns).
        observed: bool[n, p] observed cells.
        where: bool[n, p] imputed cells.
        predictor: int[p, p] predictor codes used.
        methods: method per column (``NO_METHOD`` none, ``PASSIVE`` passive).
        passives: passive definitions by column position.
        plan: the static plan (the compiled program's identity).
        consts: device arrays fixed during the run.
        root: the root PRNG key; seed: the seed it came from.
        data: f[L, n, p] the current state of the chains (completed data), on the devices
            that ran them: the m chains, then any padding lanes
            (:mod:`jaxmice._src.runtime.devices`).
        states: the methods' states per visit.
        history: per-iteration statistics (host arrays), one entry per iteration.
        events: logged events as records.
        layout: the devices and lanes of the run (None: m chains on the default device).
        dtype: the chains' data type, ``"float64"`` or ``"float32"``.
    """

    schema: Schema
    values: np.ndarray
    observed: np.ndarray
    where: np.ndarray
    predictor: np.ndarray
    methods: tuple[str, ...]
    passives: Mapping[int, Passive]
    plan: Plan
    consts: Consts
    root: jax.Array
    seed: int
    data: jax.Array
    states: tuple
    history: list = field(default_factory=list)
    events: list = field(default_factory=list)
    layout: Layout | None = None
    dtype: str = "float64"

    @property
    def m(self) -> int:
        """Number of imputations."""
        return self.layout.count if self.layout is not None else int(self.data.shape[0])

    @property
    def devices(self) -> tuple:
        """The devices the chains ran on."""
        if self.layout is not None:
            return self.layout.devices
        if self.data is None:  # prepared, not run yet
            return (jax.devices()[0],)
        return tuple(sorted(self.data.devices(), key=lambda d: d.id))

    @property
    def n_rows(self) -> int:
        """Rows of the data set (the chains hold more: its size class's, :mod:`.sizes`)."""
        return int(self.values.shape[0])

    @property
    def chain_values(self) -> np.ndarray:
        """f[N, p] the incomplete data in the chains' dtype (what the sampler starts from),
        padded with zero rows to the size class's N rows."""
        return pad_rows(self.values.astype(self.dtype),
                        int(self.consts.present.shape[0]))

    def with_observed(self, data: np.ndarray) -> np.ndarray:
        """``data: f[k, N, p]`` chains' data as float64 ``f[k, n, p]``: the size class's
        padding rows dropped, every cell not imputed exactly as observed (float32 chains
        hold rounded copies of them)."""
        data = np.asarray(data, np.float64)[:, :self.n_rows]
        if self.dtype == "float64":
            return data
        return np.where(self.where[None], data, self.values[None])

    @property
    def filled(self) -> np.ndarray:
        """bool[n, p] the cells a completed data set holds: observed or imputed."""
        imputed = np.array([meth != NO_METHOD for meth in self.methods])
        return self.observed | (self.where & imputed[None, :])

    @property
    def iterations(self) -> int:
        """Iterations run so far."""
        return len(self.history)

    # ----- continuing the chains -------------------------------------------------------------
    def advance(self, maxit: int = 1, progress: bool | None = None) -> Chains:
        """The same chains ``maxit`` iterations further, their events logged (called in float64).

        Args:
            maxit: the number of further iterations.
            progress: a progress bar: None on a terminal or in a notebook only; True or
                False to force (:func:`jaxmice._src.runtime.progress.show_progress`).

        Returns:
            New chains; these are unchanged.
        """
        check_count("maxit", maxit, 0)
        data, states, stats = sampler.run(self.plan, self.data, self.states, self.consts,
                                          self.root, self.iterations + 1, maxit, progress,
                                          self.layout)
        stats = jax.tree.map(lambda s: s[:self.m], to_host(stats))  # padding lanes dropped
        events = list(self.events)
        for t, s in enumerate(stats, start=self.iterations + 1):
            events.extend(self.events_of(t, s))
        return dataclasses.replace(self, data=data, states=states,
                                   history=list(self.history) + list(stats), events=events)

    def events_of(self, t: int, stats: sampler.IterationStats) -> list[dict]:
        names, out = self.schema.names, []
        labels = design_labels(self.plan.terms)
        columns = np.asarray(self.consts.visits.column)
        why_all = np.asarray(stats.dropped)  # i[m, V, Q]
        for v, (j, b) in enumerate(zip(columns, self.plan.visit_branch, strict=True)):
            name, method = names[j], self.plan.branches[b].method.name
            why = why_all[:, v]
            for code, word in _WHY.items():
                hit = (why == code).any(axis=0)
                if hit.any():
                    dropped = [labels[k] for k in np.flatnonzero(hit)]
                    chains = int((why == code).any(axis=1).sum())
                    out.append(dict(iteration=t, variable=name, method=method,
                                    event=f"dropped {word} predictor(s)",
                                    detail=f"{dropped} in {chains} of {self.m} chains"))
            failed = ~np.asarray(stats.ok)[:, v]
            if failed.any():
                out.append(dict(iteration=t, variable=name, method=method,
                                event="draw failed",
                                detail=f"non-finite or failed fit in chains "
                                       f"{(np.flatnonzero(failed) + 1).tolist()}; previous "
                                       "values kept"))
            fallback = np.asarray(stats.fallback)[:, v]
            if fallback.any():
                out.append(dict(iteration=t, variable=name, method=method,
                                event="cluster fits failed",
                                detail=f"up to {int(fallback.max())} cluster(s) per chain (in "
                                       f"{int((fallback > 0).sum())} of {self.m} chains) "
                                       "could not be fitted and drew their parameters from "
                                       "the population distribution"))
        for k, (j, spec) in enumerate(self.plan.passives):
            bad = ~np.asarray(stats.passive_ok)[:, k]
            if bad.any():
                out.append(dict(iteration=t, variable=names[j], method=PASSIVE,
                                event="passive not finite",
                                detail=f"{spec.source} gave non-finite values in "
                                       f"{int(bad.sum())} chains; previous values kept"))
        out.extend(spread_events(t, self.schema, self.methods, self.values, self.observed,
                                 self.plan.tracked, stats.mean, stats.var))
        return out

"""``jm.Imputations``: the m completed data sets, their chains, and the run's log."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jax
import numpy as np

from . import sampler
from ._precision import in_float64
from .adapters import pandas as adapter
from .checks import check_count, spread_events
from .design import design_labels
from .devices import Layout, to_host
from .methods import NO_METHOD, PASSIVE
from .passive import Passive
from .plan import pad_rows
from .schema import Schema

_WHY = {1: "constant", 2: "collinear"}


def fit_arrays(formula: str, data: np.ndarray | list[np.ndarray],
                schema: Schema | list[Schema], family: str, reml: bool,
                chunk: int | None = None, threads: int = 1,
                min_rows: Sequence[int] | None = None) -> Any:
    """Fit ``formula`` to encoded data sets.

    Args:
        formula: an lme4 / R formula.
        data: ``f[B, n, p]`` one batch of data sets (one set of rows and clusters), or a
            sequence of such batches, each with its own rows and clusters (a simulation's
            replications): batches of one size class are fitted by one compiled program
            (:func:`~jaxmice.models.mixed.fit_column_sets`).
        schema: the data's schema, or one per batch.
        family, reml: the model.
        chunk, threads: for a sequence, the most data sets one program call fits and the
            calls run at once.
        min_rows: for a sequence, a larger row class to pad each batch to (a batch's merged
            class, :func:`jaxmice.sizes.merged_row_classes`).

    Returns:
        A :class:`~jaxmice.models.MixedModels`, or a list of them (one per batch).
    """
    from .models.formula import parse_formula
    from .models.glmm import FAMILIES
    from .models.mixed import fit_column_sets, fit_columns

    if family not in ("gaussian", *FAMILIES):
        raise ValueError(f"unknown family {family!r}; choose gaussian, binomial or poisson")
    parsed = parse_formula(formula)
    names = parsed.variables()
    if isinstance(data, np.ndarray):
        columns = adapter.array_columns(data, schema, names)
        return fit_columns(parsed, columns, family, reml, random_required=False)
    schemas = list(schema) if isinstance(schema, (list, tuple)) else [schema] * len(data)
    sets = [adapter.array_columns(arrays, own, names)
            for arrays, own in zip(data, schemas, strict=True)]
    return fit_column_sets(parsed, sets, family, reml, random_required=False, chunk=chunk,
                           threads=threads, min_rows=min_rows)


@dataclass(frozen=True)
class Imputations:
    """The result of :func:`jaxmice.mice` (R's ``mids``).

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
            that ran them: the m chains, then any padding lanes (:mod:`jaxmice.devices`).
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
    plan: sampler.Plan
    consts: sampler.Consts
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

    @cached_property
    def completed_arrays(self) -> np.ndarray:
        """f[m, n, p] the completed data sets as float64 host arrays (codes for categorical
        columns), fetched from the devices (gathered from every process) on first use."""
        return self.with_observed(to_host(self.data)[:self.m, :self.n_rows])

    def with_observed(self, data: np.ndarray) -> np.ndarray:
        """``data: f[k, N, p]`` chains' data as float64 ``f[k, n, p]``: the size class's
        padding rows dropped, every cell not imputed exactly as observed (float32 chains
        hold rounded copies of them)."""
        data = np.asarray(data, np.float64)[:, :self.n_rows]
        if self.dtype == "float64":
            return data
        return np.where(self.where[None], data, self.values[None])

    @property
    def iterations(self) -> int:
        """Iterations run so far."""
        return len(self.history)

    # ----- continuing the chains -------------------------------------------------------------
    @in_float64
    def iterate(self, maxit: int = 1, progress: bool | None = None) -> Imputations:
        """Continue the same chains for ``maxit`` more iterations (R's ``mice.mids``).

        ``mice(df, maxit=5).iterate(5)`` equals ``mice(df, maxit=10)`` with the same seed.

        Args:
            maxit: the number of further iterations.
            progress: a progress bar: None on a terminal or in a notebook only; True or
                False to force (:func:`jaxmice.progress.show_progress`).

        Returns:
            A new :class:`Imputations`; this one is unchanged.
        """
        check_count("maxit", maxit, 0)
        data, states, stats = sampler.run(self.plan, self.data, self.states, self.consts,
                                          self.root, self.iterations + 1, maxit, progress,
                                          self.layout)
        stats = jax.tree.map(lambda s: s[:self.m], to_host(stats))  # padding lanes dropped
        events = list(self.events)
        for t, s in enumerate(stats, start=self.iterations + 1):
            events.extend(self._events(t, s))
        return dataclasses.replace(self, data=data, states=states,
                                   history=list(self.history) + list(stats), events=events)

    def _events(self, t: int, stats: sampler.IterationStats) -> list[dict]:
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

    # ----- results ---------------------------------------------------------------------------
    @property
    def _present(self) -> np.ndarray:
        imputed = np.array([meth != NO_METHOD for meth in self.methods])
        return self.observed | (self.where & imputed[None, :])

    def _frame(self, k: int) -> Any:
        return adapter.decode(self.completed_arrays[k], self.schema, self._present)

    @in_float64
    def complete(self, action: int | str = 0, include: bool = False) -> Any:
        """Completed data.

        Args:
            action: an imputation number (0-based), ``"long"`` (all stacked with ``.imp``
                1..m and ``.id`` columns first, as R), or ``"all"`` (a list of m frames).
            include: with ``"long"``, also stack the original incomplete data as ``.imp`` 0
                (the layout R's ``as.mids()`` reads).

        Returns:
            A DataFrame, or a list of them for ``"all"``.
        """
        if isinstance(action, (int, np.integer)) and not isinstance(action, bool):
            if not 0 <= action < self.m:
                raise ValueError(f"imputation {action} does not exist: choose 0 .. {self.m - 1}")
            return self._frame(int(action))
        if action == "all":
            return [self._frame(k) for k in range(self.m)]
        if action == "long":
            frames = [self._frame(k) for k in range(self.m)]
            if include:
                original = adapter.decode(self.values, self.schema, self.observed)
                return adapter.stack_long([original] + frames, first=0)
            return adapter.stack_long(frames, first=1)
        raise ValueError(f"action must be an imputation number, 'long' or 'all', got {action!r}")

    # ----- analysis ----------------------------------------------------------------------------
    @in_float64
    def fit(self, formula: str, family: str = "gaussian", reml: bool = True) -> Any:
        """Fit a model to every completed data set at once (R: ``with(imp, lmer(...))``).

        One batched, compiled fit over the m data sets, built from the imputations' arrays
        (no m DataFrames). Formulas with random terms are mixed models (``jm.lmer`` /
        ``jm.glmer``); plain ``y ~ x`` formulas are regressions (``lm`` / ``glm``).

        Args:
            formula: an lme4 / R formula.
            family: ``"gaussian"``, ``"binomial"`` or ``"poisson"``.
            reml: REML for linear mixed models (as lmer's default).

        Returns:
            :class:`~jaxmice.models.MixedModels` (``fits[i]`` is data set i); ``.pool()``
            applies Rubin's rules.
        """
        data = np.where(self._present[None], self.completed_arrays, np.nan)
        return fit_arrays(formula, data, self.schema, family, reml)

    @in_float64
    def complete_case_fit(self, formula: str, family: str = "gaussian", reml: bool = True
                          ) -> Any:
        """The same model on the original data's rows that are complete in the model's
        variables (R: the model fitted to the incomplete data, ``na.omit``), for comparison
        with the pooled results.

        Returns:
            A single :class:`~jaxmice.models.MixedModel`.
        """
        data = np.where(self.observed, self.values, np.nan)[None]
        return fit_arrays(formula, data, self.schema, family, reml)[0]

    @in_float64
    def analyze(self, fn: Any, progress: bool | None = None) -> Any:
        """Run ``fn(completed DataFrame)`` on each data set, on the host (R: ``with(imp,
        expr)`` for any analysis).

        ``fn`` returns a statsmodels results object or ``(estimates, covariance)``.

        Returns:
            :class:`~jaxmice.analyses.Analyses`; ``.pool()`` applies Rubin's rules.
        """
        from .analyses import analyze

        return analyze([self._frame(k) for k in range(self.m)], fn, progress=progress)

    def _chain_array(self, field_name: str) -> tuple[list, np.ndarray]:
        """Tracked column names and their chain statistic ``f[variables, iterations, m]``."""
        names = [self.schema.names[j] for j in self.plan.tracked]
        if not self.history:
            arr = np.zeros((len(names), 0, self.m))
        else:
            arr = np.stack([getattr(s, field_name) for s in self.history], axis=1).transpose(
                2, 1, 0)
        return names, arr

    def _chain(self, field_name: str) -> Any:
        names, arr = self._chain_array(field_name)
        return adapter.chain_frame(arr, names)

    @property
    def chain_mean(self) -> Any:
        """Mean of the imputed cells per variable x iteration (rows) x imputation (columns).

        Categorical variables are summarised by their level codes (0-based).
        """
        return self._chain("mean")

    @property
    def chain_var(self) -> Any:
        """Variance of the imputed cells, laid out as :attr:`chain_mean`."""
        return self._chain("var")

    @property
    def logged_events(self) -> Any:
        """What happened during the run: iteration, variable, method, event, detail."""
        return adapter.records_frame(self.events,
                                     ["iteration", "variable", "method", "event", "detail"])

    @property
    def method(self) -> Any:
        """The method per column (passive columns show their expression)."""
        shown = [self.passives[j].source if meth == PASSIVE else meth
                 for j, meth in enumerate(self.methods)]
        return adapter.labelled_series(shown, self.schema.names)

    @property
    def predictor_matrix(self) -> Any:
        """The predictor matrix used."""
        return adapter.labelled_matrix(self.predictor, self.schema.names, self.schema.names)

    # ----- figures (matplotlib Figures; see jaxmice.plots) --------------------------------------
    def plot_trace(self, vars: Any = None) -> Any:
        """Chain mean and SD per iteration, one line per imputation (R: ``plot(imp)``); see
        :func:`jaxmice.plots.plot_trace`."""
        from .plots import plot_trace

        return plot_trace(self, vars)

    def plot_density(self, var: Any, cluster: Any = None) -> Any:
        """Observed (blue) vs imputed (red) densities (R: ``densityplot(imp)``); see
        :func:`jaxmice.plots.plot_density`."""
        from .plots import plot_density

        return plot_density(self, var, cluster=cluster)

    def plot_strip(self, var: Any, cluster: Any = None) -> Any:
        """Observed and imputed values by imputation number or cluster (R:
        ``stripplot(imp)``); see :func:`jaxmice.plots.plot_strip`."""
        from .plots import plot_strip

        return plot_strip(self, var, cluster=cluster)

    def to_parquet(self, path: str | Path) -> None:
        """Write the long layout, original data included as ``.imp`` 0 (R: ``as.mids()``)."""
        self.complete("long", include=True).to_parquet(path, index=False)

    def to_csv(self, path: str | Path) -> None:
        """Write the long layout as CSV, ``NA`` for missing cells (R: ``as.mids(read.csv())``)."""
        self.complete("long", include=True).to_csv(path, index=False, na_rep="NA")

    def __repr__(self) -> str:
        meth = ", ".join(f"{n}: {m}" for n, m in zip(self.schema.names, self.method, strict=True)
                         if m)
        return (f"Imputations(m={self.m}, iterations={self.iterations}, seed={self.seed}, "
                f"rows={self.schema.n_rows}, methods={{{meth}}})")

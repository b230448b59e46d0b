"""``jm.Imputations``: the m completed data sets, their chains, and the run's log."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from jaxmice._src.adapters import frames_in, frames_out
from jaxmice._src.core.schema import Schema
from jaxmice._src.engine.chains import Chains
from jaxmice._src.runtime.devices import to_host
from jaxmice._src.runtime.precision import in_float64
from jaxmice.methods import PASSIVE

_STATE = frozenset(f.name for f in dataclasses.fields(Chains)) | {
    "m", "devices", "n_rows", "chain_values", "iterations", "with_observed", "events_of", "filled"}


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
            (:func:`~jaxmice._src.analysis.mixed.fit_column_sets`).
        schema: the data's schema, or one per batch.
        family, reml: the model.
        chunk, threads: for a sequence, the most data sets one program call fits and the
            calls run at once.
        min_rows: for a sequence, a larger row class to pad each batch to (a batch's merged
            class, :func:`jaxmice.sizes.merged_row_classes`).

    Returns:
        A :class:`~jaxmice.models.MixedModels`, or a list of them (one per batch).
    """
    from jaxmice._src.analysis.formula import parse_formula
    from jaxmice._src.analysis.mixed import fit_column_sets, fit_columns
    from jaxmice._src.numerics.glmm import FAMILIES

    if family not in ("gaussian", *FAMILIES):
        raise ValueError(f"unknown family {family!r}; choose gaussian, binomial or poisson")
    parsed = parse_formula(formula)
    names = parsed.variables()
    if isinstance(data, np.ndarray):
        columns = frames_in.array_columns(data, schema, names)
        return fit_columns(parsed, columns, family, reml, random_required=False)
    schemas = list(schema) if isinstance(schema, (list, tuple)) else [schema] * len(data)
    sets = [frames_in.array_columns(arrays, own, names)
            for arrays, own in zip(data, schemas, strict=True)]
    return fit_column_sets(parsed, sets, family, reml, random_required=False, chunk=chunk,
                           threads=threads, min_rows=min_rows)


@dataclass(frozen=True)
class Imputations:
    """The result of :func:`jaxmice.mice` (R's ``mids``): the user's view of a run's chains.

    The chains' state (:class:`~jaxmice._src.engine.chains.Chains`: the schema, the encoded
    data, the plan, the chains' data and states, the history and events) is read through:
    ``imp.schema``, ``imp.where``, ``imp.m``, ``imp.seed``, ``imp.iterations`` and the rest.

    Attributes:
        chains: the engine's state.
    """

    chains: Chains

    def __getattr__(self, name: str) -> Any:
        if name in _STATE:
            return getattr(self.chains, name)
        raise AttributeError(f"'Imputations' object has no attribute {name!r}")

    @cached_property
    def completed_arrays(self) -> np.ndarray:
        """f[m, n, p] the completed data sets as float64 host arrays (codes for categorical
        columns), fetched from the devices (gathered from every process) on first use."""
        return self.with_observed(to_host(self.data)[:self.m, :self.n_rows])

    @in_float64
    def iterate(self, maxit: int = 1, progress: bool | None = None) -> Imputations:
        """Continue the same chains for ``maxit`` more iterations (R's ``mice.mids``).

        ``mice(df, maxit=5).iterate(5)`` equals ``mice(df, maxit=10)`` with the same seed.

        Args:
            maxit: the number of further iterations.
            progress: a progress bar: None on a terminal or in a notebook only; True or
                False to force (:func:`jaxmice._src.runtime.progress.show_progress`).

        Returns:
            A new :class:`Imputations`; this one is unchanged.
        """
        return Imputations(self.chains.advance(maxit, progress))

    # ----- results ---------------------------------------------------------------------------
    def _frame(self, k: int) -> Any:
        return frames_out.decode(self.completed_arrays[k], self.schema, self.filled)

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
                original = frames_out.decode(self.values, self.schema, self.observed)
                return frames_out.stack_long([original] + frames, first=0)
            return frames_out.stack_long(frames, first=1)
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
        data = np.where(self.filled[None], self.completed_arrays, np.nan)
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
            :class:`~jaxmice._src.analysis.analyses.Analyses`; ``.pool()`` applies Rubin's rules.
        """
        from jaxmice._src.analysis.analyses import analyze

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
        return frames_out.chain_frame(arr, names)

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
        return frames_out.records_frame(self.events,
                                     ["iteration", "variable", "method", "event", "detail"])

    @property
    def method(self) -> Any:
        """The method per column (passive columns show their expression)."""
        shown = [self.passives[j].source if meth == PASSIVE else meth
                 for j, meth in enumerate(self.methods)]
        return frames_out.labelled_series(shown, self.schema.names)

    @property
    def predictor_matrix(self) -> Any:
        """The predictor matrix used."""
        return frames_out.labelled_matrix(self.predictor, self.schema.names, self.schema.names)

    # ----- figures (matplotlib Figures; see jaxmice.plots) ----------------------------------
    def plot_trace(self, vars: Any = None) -> Any:
        """Chain mean and SD per iteration, one line per imputation (R: ``plot(imp)``); see
        :func:`jaxmice.plots.plot_trace`."""
        from jaxmice._src.diagnostics.plots import plot_trace

        return plot_trace(self, vars)

    def plot_density(self, var: Any, cluster: Any = None) -> Any:
        """Observed (blue) vs imputed (red) densities (R: ``densityplot(imp)``); see
        :func:`jaxmice.plots.plot_density`."""
        from jaxmice._src.diagnostics.plots import plot_density

        return plot_density(self, var, cluster=cluster)

    def plot_strip(self, var: Any, cluster: Any = None) -> Any:
        """Observed and imputed values by imputation number or cluster (R:
        ``stripplot(imp)``); see :func:`jaxmice.plots.plot_strip`."""
        from jaxmice._src.diagnostics.plots import plot_strip

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

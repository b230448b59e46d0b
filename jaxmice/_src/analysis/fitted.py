"""The results of the mixed-model fits: :class:`MixedModels` (a batch of fits, one per data
set) and :class:`MixedModel` (one of them), with lme4's names (``fixed``, ``se``, ``vcov``,
``varcomp``, ``loglik``, ``ranef``), broom.mixed's ``tidy()``, mitml's pooled extras, and the
results protocol that :func:`~jaxmice.pool` reads. :mod:`.mixed` fits them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from jaxmice._src.adapters import frames_out
from jaxmice._src.analysis.pool import pool
from jaxmice._src.numerics.structure import (
    ReStructure,
)
from jaxmice._src.runtime.precision import in_float64

# lme4's isSingular tolerance on the diagonal of the relative covariance factor
SINGULAR_TOL = 1e-4


class ModelFitError(RuntimeError):
    """A mixed-model fit that failed numerically (e.g. a non-finite criterion)."""


class ConvergenceWarning(UserWarning):
    """A fit that stopped before meeting the optimiser's convergence criterion."""


class SingularFitWarning(UserWarning):
    """A fit at the boundary: a variance component is (near) zero or correlations are +-1."""


def _unique_groups(terms) -> list[str]:
    """Group labels made unique as R's make.unique does (``g``, ``g.1``, ...)."""
    seen: dict[str, int] = {}
    out = []
    for term in terms:
        k = seen.get(term.group, 0)
        out.append(term.group if k == 0 else f"{term.group}.{k}")
        seen[term.group] = k + 1
    return out


@dataclass(frozen=True)
class MixedModels:
    """Mixed-model fits of a batch of same-shaped data sets (arrays with a leading axis B).

    Index it (``fits[i]``) for one :class:`MixedModel`. Arrays: ``theta: f[B, n_theta]``,
    ``beta: f[B, p]``, ``vcov: f[B, p, p]``, ``sigma: f[B]``, ``b: f[B, J, q_b]``,
    ``b_cov: f[B, J, q_b, q_b]``, ``deviance: f[B]`` (``-2 logLik``), ``grad``, ``n_iter``,
    ``converged: bool[B]``. ``source`` keeps the parsed formula and the data columns, for refits
    (e.g. by ML for likelihood-ratio tests).
    """

    formula: str
    family: str
    reml: bool
    fixed_names: tuple[str, ...]
    structure: ReStructure
    nobs: int
    n_omitted: int
    dropped: tuple[str, ...]
    theta: np.ndarray
    beta: np.ndarray
    vcov: np.ndarray
    sigma: np.ndarray
    b: np.ndarray
    b_cov: np.ndarray
    deviance: np.ndarray
    grad: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    extra: dict
    source: Any = None

    def __len__(self) -> int:
        return self.beta.shape[0]

    def __getitem__(self, i: int) -> MixedModel:
        if not -len(self) <= i < len(self):
            raise IndexError(f"fit {i} out of range for {len(self)} data sets")
        return MixedModel(self, i % len(self))

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def terms(self) -> tuple:
        """The random terms (none for a regression)."""
        return () if self.structure is None else self.structure.terms

    @property
    def singular(self) -> np.ndarray:
        """bool[B]: a diagonal of the relative covariance factor below lme4's 1e-4."""
        if self.structure is None:
            return np.zeros(len(self), bool)
        diag = self.theta[:, self.structure.theta_diagonal]
        return np.any(diag < SINGULAR_TOL, axis=1)

    @property
    def dfcom(self) -> float | None:
        """Complete-data degrees of freedom: ``n - p`` for a regression (R's
        ``df.residual``); None for mixed models, which have none (mitml then uses the
        large-sample df)."""
        return float(self.nobs - len(self.fixed_names)) if self.structure is None else None

    def extra_parameters(self):
        """Variance components, residual variance and ICC averaged over the data sets, named as
        mitml's ``testEstimates(extra.pars = TRUE)`` names them (``Intercept~~Intercept|school``,
        ``Intercept~~sex|school``, ``Residual~~Residual``, ``ICC|school``); the ICC of a
        grouping factor is its intercept variance over the sum of all intercept variances and
        the residual variance, computed per data set and then averaged."""
        names: list[str] = []
        table = []
        for i in range(len(self)):
            row = {}
            records = self[i]._varcomp_records()
            intercepts = {}
            for rec in records:
                if rec["group"] == "Residual":
                    row["Residual~~Residual"] = rec["vcov"]
                    continue
                # undo make.unique's suffix (g.1 for a second term of g), as mitml names them
                group = (rec["group"] if rec["group"] in self._groups()
                         else rec["group"].rsplit(".", 1)[0])
                a = _mitml_name(rec["var1"])
                b = a if rec["var2"] is None else _mitml_name(rec["var2"])
                row[f"{a}~~{b}|{group}"] = rec["vcov"]
                if rec["var1"] == "(Intercept)" and rec["var2"] is None:
                    intercepts[group] = rec["vcov"]
            if self.family == "gaussian" and intercepts:
                total = sum(intercepts.values()) + self.sigma[i] ** 2
                for group, tau2 in intercepts.items():
                    row[f"ICC|{group}"] = tau2 / total
            table.append(row)
            names = names or list(row)
        values = np.array([[row[name] for name in names] for row in table])
        return frames_out.float_series(values.mean(axis=0) if len(table) else [], names, "extra")

    @in_float64
    def refit(self, reml: bool) -> MixedModels:
        """The same model on the same data sets, fitted by REML or ML."""
        from jaxmice._src.analysis.mixed import fit_columns  # the fits make these results

        formula, columns = self.source
        return fit_columns(formula, columns, self.family, reml,
                           random_required=self.structure is not None)

    def _groups(self) -> set[str]:
        return {term.group for term in self.terms}

    def pool(self, dfcom: float | None = None):
        """Pool the fixed effects over the data sets by Rubin's rules (``mice::pool``,
        ``mitml::testEstimates``).

        Args:
            dfcom: complete-data degrees of freedom for Barnard and Rubin's df; default
                :attr:`dfcom` (``n - p`` for regressions; the large-sample df for mixed
                models, as mitml); ``float("inf")`` forces the large-sample df.

        Returns:
            A :class:`~jaxmice.Pooled` whose ``extra`` holds the pooled variance
            components and ICC (:meth:`extra_parameters`).
        """
        return pool(self, dfcom=dfcom)

    # ----- the results protocol (jaxmice._src.analysis.pool.Fits) ------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """The fixed effects' names (:attr:`fixed_names`)."""
        return self.fixed_names

    @property
    def estimates(self) -> np.ndarray:
        """f[B, k] the fixed effects (:attr:`beta`)."""
        return self.beta

    @property
    def covariances(self) -> np.ndarray:
        """f[B, k, k] their covariance matrices (:attr:`vcov`)."""
        return self.vcov

    @property
    def loglik(self) -> np.ndarray:
        """f[B] log-likelihood (REML criterion's for REML fits), as lme4's ``logLik``."""
        return -0.5 * self.deviance

    @property
    def fixed(self):
        """DataFrame [data set x term] of fixed effects."""
        return frames_out.labelled_matrix(self.beta, range(len(self)), self.fixed_names)

    @property
    def se(self):
        """DataFrame [data set x term] of standard errors."""
        se = np.sqrt(np.diagonal(self.vcov, axis1=1, axis2=2))
        return frames_out.labelled_matrix(se, range(len(self)), self.fixed_names)

    def check(self) -> None:
        """Raise on failed fits; warn (as lme4 does) on non-convergence and singular fits."""
        finite = np.isfinite(self.deviance) & np.all(np.isfinite(self.beta), axis=1)
        which = _which(~finite, len(self))
        if which is not None:
            raise ModelFitError(f"{self.formula}: the fit failed (non-finite criterion){which}; "
                                "check for separation, extreme values or too few rows per group")
        largest = np.abs(self.grad).max(axis=1, initial=0.0)
        which = _which(~self.converged, len(self))
        if which is not None:
            warnings.warn(f"{self.formula}: model failed to converge{which} after "
                          f"{int(self.n_iter.max())} Newton iterations (max|grad| = "
                          f"{largest[~self.converged].max():.3g}); the estimates are unreliable "
                          "(a common cause is separation: a fixed effect running off to "
                          f"+-infinity; largest |estimate| {np.abs(self.beta).max():.3g})",
                          ConvergenceWarning, stacklevel=4)
        which = _which(self.singular, len(self))
        if which is not None:
            warnings.warn(f"{self.formula}: boundary (singular) fit{which}: a variance "
                          "component is estimated as zero or a correlation as +-1",
                          SingularFitWarning, stacklevel=4)


def _mitml_name(name: str) -> str:
    """mitml's spelling of a random-effect column: ``(Intercept)`` -> ``Intercept``."""
    return "Intercept" if name == "(Intercept)" else name


def _which(flags: np.ndarray, total: int) -> str | None:
    """Which data sets are flagged, for a message (None when none is)."""
    idx = np.flatnonzero(flags)
    if idx.size == 0:
        return None
    if total == 1:
        return ""
    shown = ", ".join(map(str, idx[:10])) + (", ..." if idx.size > 10 else "")
    return f" in {idx.size} of {total} data sets ({shown})"


@dataclass(frozen=True)
class MixedModel:
    """One fitted mixed model (a view of one data set in a :class:`MixedModels`)."""

    batch: MixedModels
    index: int

    @property
    def formula(self) -> str:
        """The formula as given."""
        return self.batch.formula

    @property
    def family(self) -> str:
        """``"gaussian"``, ``"binomial"`` or ``"poisson"``."""
        return self.batch.family

    @property
    def reml(self) -> bool:
        """Whether the fit is REML."""
        return self.batch.reml

    @property
    def nobs(self) -> int:
        """Rows used (after leaving out rows with missing values, as R's na.omit)."""
        return self.batch.nobs

    @property
    def fixed(self):
        """Series of fixed effects by term name (``fixef``)."""
        return frames_out.float_series(self.batch.beta[self.index], self.batch.fixed_names, "fixed")

    @property
    def vcov(self):
        """DataFrame: covariance of the fixed effects (lme4's ``vcov``)."""
        names = self.batch.fixed_names
        return frames_out.labelled_matrix(self.batch.vcov[self.index], names, names)

    @property
    def se(self):
        """Series of standard errors of the fixed effects."""
        se = np.sqrt(np.diag(self.batch.vcov[self.index]))
        return frames_out.float_series(se, self.batch.fixed_names, "se")

    @property
    def sigma(self) -> float:
        """Residual standard deviation (1 for binomial and poisson)."""
        return float(self.batch.sigma[self.index])

    @property
    def theta(self) -> np.ndarray:
        """f[n_theta] relative covariance factor, ordered as lme4's ``getME(fit, "theta")``."""
        return self.batch.theta[self.index]

    @property
    def loglik(self) -> float:
        """Log-likelihood (REML criterion's for REML fits), as lme4's ``logLik``."""
        return float(self.batch.loglik[self.index])

    @property
    def deviance(self) -> float:
        """``-2 logLik`` (the REML criterion for REML fits)."""
        return float(self.batch.deviance[self.index])

    @property
    def n_params(self) -> int:
        """Parameters counted by AIC: fixed effects, theta, and sigma for gaussian fits."""
        gaussian = self.family == "gaussian"
        return len(self.batch.fixed_names) + self.batch.theta.shape[1] + int(gaussian)

    @property
    def aic(self) -> float:
        """Akaike's information criterion, as R's ``AIC``."""
        return self.deviance + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        """Bayesian information criterion, as R's ``BIC``."""
        return self.deviance + math.log(self.nobs) * self.n_params

    @property
    def converged(self) -> bool:
        """The optimiser met its convergence criterion."""
        return bool(self.batch.converged[self.index])

    @property
    def singular(self) -> bool:
        """A boundary fit, as lme4's ``isSingular``."""
        return bool(self.batch.singular[self.index])

    def _covariances(self) -> list[tuple[str, Any, np.ndarray]]:
        """(unique group label, term, covariance matrix) per random term."""
        theta, sigma = self.theta, self.sigma
        out = []
        for term, label in zip(self.batch.terms, _unique_groups(self.batch.terms), strict=True):
            lam = np.zeros((term.q, term.q))
            rows, cols = np.tril_indices(term.q)
            order = np.lexsort((rows, cols))  # column by column, as theta is stored
            lam[rows[order], cols[order]] = theta[term.theta_start:term.theta_start + term.n_theta]
            out.append((label, term, sigma**2 * lam @ lam.T))
        return out

    def _varcomp_records(self) -> list[dict]:
        """Rows of :attr:`varcomp` as records (``var1``/``var2`` None where R has NA)."""
        records = []
        for label, term, cov in self._covariances():
            sd = np.sqrt(np.diag(cov))
            for i, name in enumerate(term.names):
                records.append(dict(group=label, var1=name, var2=None, vcov=cov[i, i],
                                    sdcor=sd[i]))
            for i in range(term.q):
                for j in range(i + 1, term.q):
                    corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
                    records.append(dict(group=label, var1=term.names[i], var2=term.names[j],
                                        vcov=cov[i, j], sdcor=corr))
        if self.family == "gaussian":
            records.append(dict(group="Residual", var1=None, var2=None, vcov=self.sigma**2,
                                sdcor=self.sigma))
        return records

    @property
    def varcomp(self):
        """Variance components, as R's ``as.data.frame(VarCorr(fit))``.

        Columns ``group, var1, var2, vcov, sdcor``: a variance has ``var2`` missing and
        ``sdcor`` its standard deviation; a covariance has both names and ``sdcor`` the
        correlation. The residual (gaussian fits) is the last row, group ``"Residual"``.
        """
        return frames_out.records_frame(self._varcomp_records(),
                                     ["group", "var1", "var2", "vcov", "sdcor"])

    @property
    def ranef(self):
        """Conditional modes, as R's ``as.data.frame(ranef(fit, condVar = TRUE))``.

        Columns ``grpvar, term, grp, condval, condsd`` (one row per group level and term).
        """
        records = []
        b, b_cov = self.batch.b[self.index], self.batch.b_cov[self.index]
        blocked = self.batch.structure is not None and self.batch.structure.blocked
        for term in self.batch.terms:
            for r, name in enumerate(term.names):
                n_levels = len(term.levels)
                if blocked:
                    col = np.full(n_levels, term.offset + r)
                    blk = np.arange(n_levels)
                else:
                    col = term.offset + np.arange(n_levels) * term.q + r
                    blk = np.zeros(n_levels, int)
                val, var = b[blk, col], b_cov[blk, col, col]
                records.extend(dict(grpvar=term.group, term=name, grp=level, condval=v,
                                    condsd=math.sqrt(max(s, 0.0)))
                               for level, v, s in zip(term.levels, val, var, strict=True))
        return frames_out.records_frame(records, ["grpvar", "term", "grp", "condval", "condsd"])

    def tidy(self, conf_int: bool = True, conf_level: float = 0.95,
             exponentiate: bool = False):
        """A tidy table of the fit, as broom.mixed's ``tidy``.

        Columns ``effect, group, term, estimate, std_error, statistic, p_value, conf_low,
        conf_high``. Fixed effects get Wald statistics and intervals (p-values for glmer fits;
        as broom.mixed, none for lmer fits, whose df are not defined); random-effect parameters
        (``effect = "ran_pars"``) are standard deviations ``sd__x`` and correlations
        ``cor__x.z``, the residual ``sd__Observation``.

        Args:
            conf_int: add Wald confidence intervals.
            conf_level: their level.
            exponentiate: report ``exp`` of fixed effects and intervals (odds or rate ratios);
                standard errors then by the delta method.
        """
        from statistics import NormalDist

        z = NormalDist().inv_cdf(0.5 + conf_level / 2.0)
        est, se = self.batch.beta[self.index], np.sqrt(np.diag(self.batch.vcov[self.index]))
        stat = est / se
        p_value = (2.0 * np.array([NormalDist().cdf(-abs(s)) for s in stat])
                   if self.family != "gaussian" else np.full_like(est, np.nan))
        low, high = est - z * se, est + z * se
        if exponentiate:
            est, low, high = np.exp(est), np.exp(low), np.exp(high)
            se = se * est
        records = [dict(effect="fixed", group=None, term=t, estimate=e, std_error=s,
                        statistic=st, p_value=p, conf_low=lo, conf_high=hi)
                   for t, e, s, st, p, lo, hi in zip(self.batch.fixed_names, est, se, stat,
                                                     p_value, low, high, strict=True)]
        for row in self._varcomp_records():
            if row["group"] == "Residual":
                term = "sd__Observation"
            elif row["var2"] is None:
                term = f"sd__{row['var1']}"
            else:
                term = f"cor__{row['var1']}.{row['var2']}"
            records.append(dict(effect="ran_pars", group=row["group"], term=term,
                                estimate=row["sdcor"], std_error=np.nan, statistic=np.nan,
                                p_value=np.nan, conf_low=np.nan, conf_high=np.nan))
        columns = ["effect", "group", "term", "estimate", "std_error", "statistic", "p_value"]
        if conf_int:
            columns += ["conf_low", "conf_high"]
        return frames_out.records_frame(records, columns)

    def summary(self) -> str:
        """A short printed summary in lme4's layout."""
        if self.batch.structure is None:
            title = f"Regression ({'lm' if self.family == 'gaussian' else 'glm'}, {self.family})"
        else:
            kind = "REML" if self.reml else ("ML" if self.family == "gaussian" else "Laplace")
            title = f"Mixed model fit by {kind} ({self.family})"
        lines = [f"{title}: {self.formula}",
                 f"  nobs {self.nobs}" + (f" ({self.batch.n_omitted} rows with missing values "
                                          "omitted)" if self.batch.n_omitted else ""),
                 f"  logLik {self.loglik:.4f}   AIC {self.aic:.2f}   BIC {self.bic:.2f}",
                 "Random effects:"]
        for row in self._varcomp_records():
            if row["var2"] is None:
                name = row["var1"] if row["var1"] is not None else ""
                lines.append(f"  {row['group']:<14} {name:<16} var {row['vcov']:.5g}  "
                             f"sd {row['sdcor']:.5g}")
            else:
                lines.append(f"  {row['group']:<14} cor({row['var1']}, {row['var2']}) "
                             f"{row['sdcor']:.4f}")
        lines.append("Fixed effects:")
        for name, est, se in zip(self.batch.fixed_names, self.batch.beta[self.index],
                                 np.sqrt(np.diag(self.batch.vcov[self.index])), strict=True):
            lines.append(f"  {name:<22} {est:>12.6g} {se:>12.6g} {est / se:>9.3f}")
        if self.singular:
            lines.append("boundary (singular) fit")
        if not self.converged:
            lines.append("the optimiser did not meet its convergence criterion")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

"""Generate missing values in complete data: ``jm.ampute``, after R's ``mice::ampute``.

The multivariate amputation of Schouten, Lugtig & Vink (2018), *J. Stat. Comput. Simul.* 88:
every case is put in one pattern's candidate group (``freq``); within a group a case becomes
incomplete, with the group's pattern of missing variables, with probability ``prop`` (MCAR) or
with a logistic probability of its weighted sum score (MAR, MNAR), of ``type`` RIGHT, LEFT, MID
or TAIL, shifted so that the mean probability is ``prop``. As in mice, the shift is found for a
standard normal score (the scores are standardised within each candidate group).

Cluster extras, not in mice: a ``cluster`` column is never amputed and never scored;
``systematic`` makes a share of clusters wholly missing in a pattern's variables (systematically
missing variables, as in multilevel studies where a variable was not measured in some
clusters); ``cluster_sd`` adds a normal random intercept per cluster to the logit of
missingness, the shift recalibrated so that the expected proportion stays ``prop``.

A one-off data step on the host: numpy, ``np.random.default_rng(seed)``.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jaxmice._src.adapters import frames_in, frames_out

MECHS = ("MCAR", "MAR", "MNAR")
TYPES = ("RIGHT", "LEFT", "MID", "TAIL")


@dataclass(frozen=True, eq=False)
class Amputation:
    """The result of :func:`ampute` (R's ``mads`` object).

    Attributes:
        amp: the incomplete data (same index and column order as ``data``; integer and boolean
            columns that got missing values are float).
        data: the complete data given.
        patterns: ``k x p`` frame of 0/1 (0 = missing), rows labelled 1..k.
        freq: relative frequency of each pattern.
        prop: the proportion of incomplete cases aimed at (after ``bycases=False``'s
            conversion from cells to cases).
        weights: ``k x p`` frame of score weights (for MCAR the MAR defaults, unused).
        mech, type: the mechanism, and the logistic type per pattern.
        cand: ``int[n]``, each case's pattern group, 1..k as in mice.
        scores: per pattern, the standardised weighted sum scores of its row-level candidates
            (in row order; empty for MCAR).
        realised: per pattern, the proportion of all cases made incomplete with it.
        systematic_clusters: per pattern, the labels of the clusters wholly amputed.
        cluster, systematic, cluster_sd: the cluster options used.
    """

    amp: Any
    data: Any
    patterns: Any
    freq: tuple
    prop: float
    weights: Any
    mech: str
    type: tuple
    cand: np.ndarray
    scores: list
    realised: Any
    systematic_clusters: tuple
    cluster: Hashable | None = None
    systematic: tuple = ()
    cluster_sd: float = 0.0

    def __repr__(self) -> str:
        n, p = self.data.shape
        lines = [f"Amputation: {self.mech}, prop = {self.prop:.3g}, {len(self.freq)} pattern(s), "
                 f"n = {n}, p = {p}" + (f", cluster = {self.cluster!r}" if self.cluster else "")]
        for i, (row, f, t, r) in enumerate(zip(self.patterns.to_numpy(), self.freq, self.type,
                                               self.realised.to_numpy(), strict=True), 1):
            miss = [str(c) for c, v in zip(self.patterns.columns, row, strict=True) if v == 0]
            extra = (f", {len(self.systematic_clusters[i - 1])} cluster(s) wholly missing"
                     if self.systematic_clusters[i - 1] else "")
            lines.append(f"  pattern {i}: missing {', '.join(miss)}; freq {f:.3g}, type {t}, "
                         f"realised {r:.3f}{extra}")
        return "\n".join(lines)


def _expit(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _linear(kind: str, s: np.ndarray) -> np.ndarray:
    """The logit of missingness without the shift (R's ``ampute.continuous`` forms)."""
    c = s - s.mean() if s.size else s
    if kind == "RIGHT":
        return c
    if kind == "LEFT":
        return -c
    if kind == "MID":
        return -np.abs(c) + 0.75
    return np.abs(c) - 0.75  # TAIL


# a fine normal grid: expectations over a standard normal score (and a normal intercept)
_Z = np.linspace(-9.0, 9.0, 901)
_WZ = np.exp(-0.5 * _Z**2)
_WZ /= _WZ.sum()
_U = np.linspace(-7.0, 7.0, 141)
_WU = np.exp(-0.5 * _U**2)
_WU /= _WU.sum()


@functools.lru_cache(maxsize=256)
def _shift(kind: str | None, prop: float, cluster_sd: float) -> float:
    """The shift ``b`` with ``E expit(eta(s) + b + u) = prop``, ``s ~ N(0, 1)`` (``eta = 0``
    for MCAR), ``u ~ N(0, cluster_sd^2)``; bisection (the mean is increasing in ``b``)."""
    eta, w = (np.zeros(1), np.ones(1)) if kind is None else (_linear(kind, _Z), _WZ)
    u, wu = (_U * cluster_sd, _WU) if cluster_sd > 0 else (np.zeros(1), np.ones(1))
    x = eta[:, None] + u[None, :]
    lo, hi = -40.0, 40.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if w @ _expit(x + mid) @ wu < prop:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _per_pattern(value: Any, k: int, what: str) -> list:
    if isinstance(value, (str, int, float, np.floating, np.integer)):
        return [value] * k
    values = list(value)
    if len(values) not in (1, k):
        raise ValueError(f"{what} must be one value or one per pattern ({k}), got {len(values)}")
    return values * k if len(values) == 1 else values


def _patterns(patterns: Any, columns: tuple, amputable: list, cluster: Hashable | None,
              what: str) -> np.ndarray:
    """A ``k x p`` 0/1 matrix over all columns (the cluster column, if any, set to 1)."""
    p, q = len(columns), len(amputable)
    if patterns is None:
        pat = np.ones((q, p))
        for i, c in enumerate(amputable):
            pat[i, columns.index(c)] = 0
        return pat
    wide = frames_in.is_table(patterns) and len(patterns.columns) == p
    arr = frames_in.matrix_by_columns(patterns, columns if wide or not frames_in.is_table(patterns)
                                    else amputable, what)
    if arr.shape[1] == q and q != p:  # given over the amputable columns only: cluster observed
        full = np.ones((arr.shape[0], p))
        full[:, [columns.index(c) for c in amputable]] = arr
        arr = full
    if arr.shape[1] != p:
        raise ValueError(f"{what} has {arr.shape[1]} column(s); the data have {p} "
                         f"({list(columns)})" + (f", or {q} without the cluster column"
                                                 if q != p else ""))
    if arr.shape[0] == 0:
        raise ValueError(f"{what} has no rows")
    if not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{what} may hold only 0 (missing) and 1 (observed)")
    for i, row in enumerate(arr, 1):
        if row.all():
            raise ValueError(f"{what} row {i} is all ones: it would make no value missing")
    if cluster is not None and (arr[:, columns.index(cluster)] == 0).any():
        raise ValueError(f"{what} makes the cluster column {cluster!r} missing; the cluster "
                         "column is never amputed")
    return arr


def ampute(df: Any, prop: float = 0.5, patterns: Any = None, freq: Sequence[float] | None = None,
           mech: str = "MAR", weights: Any = None, type: str | Sequence[str] = "RIGHT",
           std: bool = True, bycases: bool = True, cluster: Hashable | None = None,
           systematic: float | Sequence[float] = 0.0, cluster_sd: float = 0.0,
           seed: int | None = None) -> Amputation:
    """Make complete data incomplete, as R's ``mice::ampute`` (continuous probabilities).

    Args:
        df: a complete DataFrame.
        prop: the proportion of incomplete cases (``bycases=True``) or of missing cells
            (``bycases=False``, converted to cases as mice's ``recalculate.prop``), in (0, 1).
        patterns: 0/1 matrix (frame, array or list of lists), one row per pattern, one column
            per data column (0 = missing); default one pattern per column, that column missing.
            With ``cluster``, it may leave the cluster column out.
        freq: relative frequency of each pattern (default equal), summing to 1.
        mech: ``"MCAR"``, ``"MAR"`` or ``"MNAR"``.
        weights: ``k x p`` score weights; default MAR 1 for a pattern's observed variables,
            MNAR 1 for its missing ones, 0 otherwise.
        type: ``"RIGHT"``, ``"LEFT"``, ``"MID"``, ``"TAIL"``, or one per pattern.
        std: standardise the variables within each candidate group before scoring.
        bycases: whether ``prop`` counts cases (True) or cells (False).
        cluster: a cluster column: never amputed, never scored.
        systematic: share of clusters (one value or one per pattern, in [0, 1)) made wholly
            missing in the pattern's variables: exactly ``round(share * G)`` clusters, at
            random, disjoint across patterns; their rows take no row-level amputation.
        cluster_sd: SD of a normal random intercept per cluster added to the logit of
            missingness (MCAR becomes logistic in it); the shift keeps the expected proportion
            at ``prop``.
        seed: for ``np.random.default_rng``.

    Returns:
        An :class:`Amputation`; ``.amp`` is the incomplete data.
    """
    columns, index = frames_in.complete_frame(df, "ampute")
    p = len(columns)
    if cluster is not None and cluster not in columns:
        frames_in.group_codes(df, cluster)  # raises, naming the column and close matches
    amputable = [c for c in columns if c != cluster]
    mech = str(mech).upper() if isinstance(mech, str) else mech
    if mech not in MECHS:
        raise ValueError(f"mech must be one of {list(MECHS)}, got {mech!r}")
    try:
        prop = float(prop)
    except (TypeError, ValueError):
        raise ValueError(f"prop must be a number in (0, 1), got {prop!r}") from None
    if not 0.0 < prop < 1.0:
        raise ValueError(f"prop must lie in (0, 1), got {prop}")
    pat = _patterns(patterns, columns, amputable, cluster, "patterns")
    k = pat.shape[0]
    if mech == "MAR" and any((pat[i, [columns.index(c) for c in amputable]] == 0).all()
                             for i in range(k)):
        raise ValueError("patterns has a row with all variables missing, which is impossible "
                         "with mech='MAR' (nothing observed to depend on)")
    freq_arr = (np.full(k, 1.0 / k) if freq is None
                else np.asarray(list(freq), dtype=np.float64).ravel())
    if freq_arr.size != k:
        raise ValueError(f"freq has {freq_arr.size} value(s); patterns has {k} row(s)")
    if (freq_arr < 0).any() or abs(freq_arr.sum() - 1.0) > 1e-8:
        raise ValueError(f"freq must be non-negative and sum to 1, got {freq_arr.tolist()} "
                         f"(sum {freq_arr.sum():.6g})")
    if not bycases:
        nmiss = (pat == 0).sum(axis=1)
        cases = float(np.sum(prop * len(amputable) * freq_arr / nmiss))
        if cases >= 1.0:
            raise ValueError(f"prop = {prop} of missing cells needs {cases:.3g} of the cases "
                             "incomplete with these patterns; lower prop (bycases=False)")
        prop = cases
    types = [str(t).upper() for t in _per_pattern(type, k, "type")]
    bad = [t for t in types if t not in TYPES]
    if bad:
        raise ValueError(f"type must be one of {list(TYPES)} (or one per pattern), got {bad[0]!r}")
    # weights
    if weights is None or mech == "MCAR":
        w = np.where(pat == 0, 1.0, 0.0) if mech == "MNAR" else np.where(pat == 0, 0.0, 1.0)
    else:
        wide = frames_in.is_table(weights) and len(weights.columns) == p
        w = frames_in.matrix_by_columns(weights, columns if wide or not frames_in.is_table(weights)
                                      else amputable, "weights")
        if w.ndim == 1:
            w = w[None, :]
        if w.ndim == 2 and w.shape == (k, len(amputable)) and len(amputable) != p:
            full = np.zeros((k, p))
            full[:, [columns.index(c) for c in amputable]] = w
            w = full
        if w.shape != (k, p):
            raise ValueError(f"weights has shape {w.shape}, expected {(k, p)} (patterns x "
                             "columns)")
        if not np.isfinite(w).all():
            raise ValueError("weights must be finite numbers")
    if cluster is not None:
        ci = columns.index(cluster)
        if weights is not None and mech != "MCAR" and (w[:, ci] != 0).any():
            raise ValueError(f"weights give the cluster column {cluster!r} a nonzero weight; "
                             "the cluster column is never scored")
        w[:, ci] = 0.0
    # cluster options
    shares = [float(s) for s in _per_pattern(systematic, k, "systematic")]
    for s in shares:
        if not 0.0 <= s < 1.0:
            raise ValueError(f"systematic must lie in [0, 1), got {s}")
    cluster_sd = float(cluster_sd)
    if not (np.isfinite(cluster_sd) and cluster_sd >= 0.0):
        raise ValueError(f"cluster_sd must be a non-negative number, got {cluster_sd}")
    if cluster is None and (any(shares) or cluster_sd > 0):
        raise ValueError("systematic and cluster_sd need cluster= (the cluster column)")
    n = len(index)
    if cluster is not None:
        codes, labels = frames_in.group_codes(df, cluster)
        n_clusters = len(labels)
    else:
        codes, labels, n_clusters = np.zeros(n, dtype=np.int64), (), 1
    counts = [int(np.floor(s * n_clusters + 0.5)) for s in shares]
    if sum(counts) > n_clusters:
        raise ValueError(f"systematic asks for {sum(counts)} wholly missing clusters in all; "
                         f"there are {n_clusters}")
    # score columns (only those with a nonzero weight; checked before any drawing)
    values = np.zeros((n, p))
    if mech != "MCAR":
        for j in np.flatnonzero((w != 0).any(axis=0)):
            values[:, j] = _score_column(df, columns[j])

    rng = np.random.default_rng(seed)
    cand = rng.choice(k, size=n, p=freq_arr) + 1
    u = rng.normal(0.0, cluster_sd, n_clusters)[codes] if cluster_sd > 0 else np.zeros(n)
    systematic_rows = np.zeros(n, dtype=bool)
    chosen: list[tuple] = []
    free = np.arange(n_clusters)
    for i in range(k):
        pick = rng.choice(free, size=counts[i], replace=False) if counts[i] else np.zeros(0, int)
        free = np.setdiff1d(free, pick)
        rows = np.isin(codes, pick) if counts[i] else np.zeros(n, dtype=bool)
        cand[rows] = i + 1
        systematic_rows |= rows
        chosen.append(tuple(labels[c] for c in np.sort(pick)))

    missing = np.zeros((n, p), dtype=bool)
    incomplete = np.zeros(n, dtype=bool)
    scores: list[np.ndarray] = []
    for i in range(k):
        group = (cand == i + 1)
        rows = np.flatnonzero(group & ~systematic_rows)
        eta, kind = np.zeros(rows.size), None
        s = np.zeros(0)
        if mech != "MCAR" and rows.size:
            used = np.flatnonzero(w[i] != 0)
            x = values[np.ix_(rows, used)]
            if std and rows.size > 1:
                sd = x.std(axis=0, ddof=1)
                if (sd > 0).all():
                    x = (x - x.mean(axis=0)) / sd
            s = x @ w[i, used]
            if s.size > 1 and np.ptp(s) > 0:
                s = (s - s.mean()) / s.std(ddof=1)
                eta, kind = _linear(types[i], s), types[i]
        if mech != "MCAR":
            scores.append(s)
        b = _shift(kind, prop, cluster_sd)
        hit = rng.random(rows.size) < _expit(eta + b + u[rows])
        amputed = np.zeros(n, dtype=bool)
        amputed[rows[hit]] = True
        amputed |= group & systematic_rows
        missing[np.ix_(amputed, pat[i] == 0)] = True
        incomplete |= amputed
    if mech == "MCAR":
        scores = [np.zeros(0) for _ in range(k)]
    realised = [float(np.sum(incomplete & (cand == i + 1)) / n) for i in range(k)]
    pattern_labels = list(range(1, k + 1))
    return Amputation(
        amp=frames_out.with_missing(df, missing), data=df,
        patterns=frames_out.labelled_matrix(pat.astype(np.int64), pattern_labels, columns),
        freq=tuple(float(f) for f in freq_arr), prop=prop,
        weights=frames_out.labelled_matrix(w, pattern_labels, columns), mech=mech,
        type=tuple(types), cand=cand, scores=scores,
        realised=frames_out.float_series(realised, pattern_labels, "realised"),
        systematic_clusters=tuple(chosen), cluster=cluster, systematic=tuple(shares),
        cluster_sd=cluster_sd)


def _score_column(df: Any, name: Any) -> np.ndarray:
    """``f[n]`` a column entering the weighted sum score (numbers and booleans only).

    Raises:
        TypeError: a column that is not numeric, named.
    """
    values = frames_in.number_column(df, name)
    if values is None:
        raise TypeError(f"ampute: column {name!r} ({df[name].dtype}) is not numeric, so it "
                        "cannot enter a weighted sum score; give it weight 0 (weights=) or use "
                        "mech='MCAR'")
    return values

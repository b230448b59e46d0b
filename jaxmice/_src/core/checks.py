"""Checks of the data and the imputations against absurd magnitudes.

- :func:`extreme_rows` finds values of a predictor that lie orders of magnitude away from the
  bulk of the column (one ``1e300`` among numbers near 1): such a value dominates every
  cross-product it enters and wrecks the fits of the columns it predicts. The adapter warns
  about them, naming the column and the rows.
- :func:`spread_events` compares the chain mean and variance of each imputed continuous
  variable with the range of its observed values; imputations that lie outside that range by
  orders of magnitude are logged per variable (``imp.logged_events``).

Pure NumPy on host arrays; nothing here touches a DataFrame.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from jaxmice._src.core.schema import Schema

#: |z| above which a value is extreme, z standardised by the median and the MAD.
EXTREME_Z = 1e6
#: Imputations further than this many observed ranges from the observed values are absurd.
ABSURD_RANGES = 1e3
#: The MAD of a normal sample is this fraction of its standard deviation.
_MAD_TO_SD = 1.4826


class DataWarning(UserWarning):
    """The data look wrong in a way jaxmice can work around but the user should fix."""


def _median(values: np.ndarray) -> float:
    """``np.median`` of finite ``values: f[k]`` (k > 0) by one partition, without its
    wrapper's overhead (a batch checks every continuous column of every data set)."""
    k = values.size // 2
    if values.size % 2:
        return float(np.partition(values, k)[k])
    low, high = np.partition(values, (k - 1, k))[k - 1:k + 1]
    return float((low + high) / 2.0)


def robust_z(values: np.ndarray) -> np.ndarray:
    """Values standardised by their median and scaled MAD (the SD where the MAD is 0).

    A robust scale: one huge value cannot hide itself by inflating the scale, as it does
    with the mean and standard deviation.

    Args:
        values: f[k] finite values.

    Returns:
        f[k] the standardised values (all 0 when the values are constant).
    """
    if values.size == 0:
        return values
    centre = _median(values)
    scale = _MAD_TO_SD * _median(np.abs(values - centre))
    if not scale > 0:
        scale = np.std(values)
    if not scale > 0:
        return np.zeros_like(values)
    return (values - centre) / scale


def extreme_rows(values: np.ndarray, observed: np.ndarray, threshold: float = EXTREME_Z
                 ) -> np.ndarray:
    """Positions of the observed values whose robust |z| exceeds ``threshold``.

    Args:
        values: f[n] a continuous column.
        observed: bool[n] its observed cells.
        threshold: the |z| above which a value is extreme.

    Returns:
        i[k] row positions, in row order.
    """
    rows = np.flatnonzero(observed)
    with np.errstate(over="ignore", invalid="ignore"):
        z = robust_z(np.asarray(values, dtype=np.float64)[rows])
    return rows[~(np.abs(z) <= threshold)]


def extreme_message(name: Hashable, labels: Sequence, values: np.ndarray) -> str:
    """The warning about extreme values of one column.

    Args:
        name: the column label.
        labels: the row labels of the extreme values (the first few are named).
        values: f[k] those values.
    """
    shown = ", ".join(f"{label!r}: {v:.3g}" for label, v in zip(labels[:5], values[:5],
                                                                   strict=False))
    return (f"column {name!r} has {len(labels)} value(s) of extreme magnitude (|z| > "
            f"{EXTREME_Z:.0e} after standardising by the median and MAD) in row(s) {{{shown}}}; "
            "as a predictor it dominates the fits of the columns it predicts and can make "
            "their imputations absurd. Check these values (a unit or a typo?), or set them "
            "to NaN")


def spread_events(iteration: int, schema: Schema, methods: Sequence[str], values: np.ndarray,
                  observed: np.ndarray, tracked: Sequence[int], mean: np.ndarray,
                  var: np.ndarray) -> list[dict]:
    """Logged events for imputations whose spread is absurd against the observed values.

    An imputed continuous variable is flagged in a chain when its chain mean lies further
    than ``ABSURD_RANGES`` observed ranges from the middle of the observed values, when its
    chain standard deviation exceeds that many observed ranges, or when either is not finite.

    Args:
        iteration: the iteration number (for the records).
        schema: the columns (names; continuous ones have no levels).
        methods: the method label per column.
        values: f[n, p] the encoded incomplete data.
        observed: bool[n, p] its observed cells.
        tracked: positions of the columns whose chain statistics are given.
        mean: f[m, t] chain mean of the imputed cells of each tracked column.
        var: f[m, t] their chain variance.

    Returns:
        One record (iteration, variable, method, event, detail) per flagged variable.
    """
    out = []
    mean, var = np.asarray(mean, dtype=np.float64), np.asarray(var, dtype=np.float64)
    for k, j in enumerate(tracked):
        seen = values[observed[:, j], j]
        if schema.columns[j].levels is not None or seen.size == 0:
            continue
        low, high = float(seen.min()), float(seen.max())
        allowed = ABSURD_RANGES * max(high - low, abs(high), abs(low), 1e-300)
        with np.errstate(invalid="ignore"):
            sd = np.sqrt(np.maximum(var[:, k], 0.0))
            absurd = ~((np.abs(mean[:, k] - 0.5 * (low + high)) <= allowed) & (sd <= allowed))
        if not absurd.any():
            continue
        chains = np.flatnonzero(absurd)
        out.append(dict(
            iteration=iteration, variable=schema.names[j], method=methods[j],
            event="imputations out of range",
            detail=f"chain mean up to {np.max(np.abs(mean[chains, k])):.3g} and SD up to "
                   f"{np.max(sd[chains]):.3g} in chains {(chains + 1).tolist()}, against "
                   f"observed values in [{low:.4g}, {high:.4g}]; check its predictors for "
                   "extreme values"))
    return out


def check_count(name: str, value: object, low: int) -> None:
    """``value`` (an argument called ``name``, such as m or maxit) is an integer >= ``low``.

    Raises:
        TypeError: not an integer (a bool is not one); ValueError: below ``low``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")

"""Generate benchmark data sets shared by the jaxmice and R mice sides.

(The known-truth designs of the validation studies live in ``studies/``.)

Run as a script to write a CSV::

    python benchmarks/generate.py --rows 20000 --cols 10 --seed 1 --out data.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def _intercept_for_rate(eta: np.ndarray, rate: float, tol: float = 1e-10) -> float:
    """Find the intercept ``a`` such that ``mean(sigmoid(a + eta)) == rate``.

    Args:
        eta: Linear predictor without intercept, one value per row.
        rate: Target mean probability, strictly between 0 and 1.
        tol: Bisection tolerance on the intercept.

    Returns:
        The intercept.
    """
    lo, hi = -50.0, 50.0
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if np.mean(1.0 / (1.0 + np.exp(-(mid + eta)))) < rate:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def make_single_level(
    rows: int,
    cols: int,
    seed: int,
    missing_prop: float = 0.3,
    rho: float = 0.5,
    slope: float = 1.0,
) -> pd.DataFrame:
    """Make correlated continuous data with MAR missingness driven by ``x1``.

    The variables ``x1..x{cols}`` are standard normal with compound-symmetric
    correlation ``rho``. ``x1`` stays fully observed; in every other column a
    row is missing with probability ``sigmoid(a_j + s_j * slope * x1)``, where
    the sign ``s_j`` alternates between columns and ``a_j`` is tuned so that on
    average ``missing_prop`` of the rows are missing in that column.

    Args:
        rows: Number of rows.
        cols: Number of variables (at least 2).
        seed: Seed for ``numpy.random.default_rng``.
        missing_prop: Expected proportion missing in each column except ``x1``.
        rho: Common pairwise correlation, in ``[0, 1)``.
        slope: Strength of the dependence of missingness on ``x1``.

    Returns:
        A DataFrame with NaN marking missing values.
    """
    if cols < 2:
        raise ValueError("cols must be at least 2")
    if not 0.0 < missing_prop < 1.0:
        raise ValueError("missing_prop must be in (0, 1)")
    rng = np.random.default_rng(seed)
    common = rng.standard_normal((rows, 1))
    unique = rng.standard_normal((rows, cols))
    x = np.sqrt(rho) * common + np.sqrt(1.0 - rho) * unique

    x1 = x[:, 0]
    for j in range(1, cols):
        eta = (slope if j % 2 else -slope) * x1
        prob = 1.0 / (1.0 + np.exp(-(_intercept_for_rate(eta, missing_prop) + eta)))
        x[rng.random(rows) < prob, j] = np.nan

    return pd.DataFrame(x, columns=[f"x{j + 1}" for j in range(cols)])


def make_multilevel(rows: int, clusters: int, seed: int) -> pd.DataFrame:
    """Make a two-level random-intercept data set (the lmer benchmark's model).

    Rows are split into ``clusters`` consecutive clusters whose sizes differ by at
    most one; the layout depends only on ``rows`` and ``clusters``, so data sets
    drawn with different seeds share their clusters (as imputed data sets do). The
    outcome is::

        y = 1 + 0.5 x1 + 0.8 x2 + 0.1 z + u_j + e,   u_j ~ N(0, 0.5),  e ~ N(0, 1)

    with 0.5 and 1 the variances, ``x1`` standard normal (level 1), ``x2``
    Bernoulli(0.5) coded 0/1 (level 1) and ``z`` standard normal per cluster
    (level 2).

    Args:
        rows: Number of rows.
        clusters: Number of clusters, at most ``rows``.
        seed: Seed for ``numpy.random.default_rng``.

    Returns:
        A DataFrame with columns ``cluster`` (int, 1..clusters), ``x1``, ``x2``
        (int 0/1), ``z`` and ``y``; no missing values.
    """
    return _two_level(rows, clusters, seed, x1_cluster_part=False)


def _two_level(rows: int, clusters: int, seed: int, x1_cluster_part: bool) -> pd.DataFrame:
    """The data of :func:`make_multilevel`, or with ``x1_cluster_part`` those of
    :func:`make_multilevel_two` (``x1 = v_j + d``)."""
    if not 1 <= clusters <= rows:
        raise ValueError("need 1 <= clusters <= rows")
    rng = np.random.default_rng(seed)
    cluster = np.arange(rows, dtype=np.int64) * clusters // rows
    z_j = rng.standard_normal(clusters)
    u_j = rng.normal(0.0, np.sqrt(0.5), clusters)
    if x1_cluster_part:
        v_j = rng.normal(0.0, np.sqrt(0.5), clusters)
        x1 = v_j[cluster] + rng.standard_normal(rows)
    else:
        x1 = rng.standard_normal(rows)
    x2 = rng.integers(0, 2, rows)
    z = z_j[cluster]
    y = 1.0 + 0.5 * x1 + 0.8 * x2 + 0.1 * z + u_j[cluster] + rng.standard_normal(rows)
    return pd.DataFrame({"cluster": cluster + 1, "x1": x1, "x2": x2, "z": z, "y": y})


def _mar_missing(df: pd.DataFrame, columns: dict[str, np.ndarray], rng: np.random.Generator,
                 missing_prop: float) -> pd.DataFrame:
    """Make each column missing with probability ``sigmoid(a + eta)``, ``a`` tuned so that
    ``missing_prop`` of it is missing on average; in the order given."""
    if not 0.0 < missing_prop < 1.0:
        raise ValueError("missing_prop must be in (0, 1)")
    for column, eta in columns.items():
        prob = 1.0 / (1.0 + np.exp(-(_intercept_for_rate(eta, missing_prop) + eta)))
        df.loc[rng.random(len(df)) < prob, column] = np.nan
    return df


def make_multilevel_missing(
    rows: int, clusters: int, seed: int, missing_prop: float = 0.3
) -> pd.DataFrame:
    """Make :func:`make_multilevel` data with MAR missingness in ``y``.

    The complete data are exactly ``make_multilevel(rows, clusters, seed)``. Then ``y``
    is missing with probability ``sigmoid(a + x2 - 0.5 z)`` (missing at random given
    the fully observed ``x2`` and ``z``), where ``a`` is tuned so that on average
    ``missing_prop`` of the rows are missing. The missingness draws use their own
    random stream (seeded by ``[seed, 1]``).

    Args:
        rows: Number of rows.
        clusters: Number of clusters, at most ``rows``.
        seed: Seed for the data and the missingness.
        missing_prop: Expected proportion of rows with ``y`` missing, in (0, 1).

    Returns:
        A DataFrame with columns ``cluster``, ``x1``, ``x2``, ``z`` and ``y``; NaN
        marks a missing ``y``.
    """
    df = make_multilevel(rows, clusters, seed)
    eta = 1.0 * df["x2"].to_numpy() - 0.5 * df["z"].to_numpy()
    return _mar_missing(df, {"y": eta}, np.random.default_rng([seed, 1]), missing_prop)


def make_multilevel_two(rows: int, clusters: int, seed: int) -> pd.DataFrame:
    """Make a two-level random-intercept data set whose ``x1`` has a cluster component.

    As :func:`make_multilevel` (same cluster layout and outcome model), except that ``x1`` is
    level 1 with a cluster part: ``x1 = v_j + d``, ``v_j ~ N(0, 0.5)``, ``d ~ N(0, 1)``
    (variances), so its intraclass correlation is 1/3. The outcome is::

        y = 1 + 0.5 x1 + 0.8 x2 + 0.1 z + u_j + e,   u_j ~ N(0, 0.5),  e ~ N(0, 1)

    with ``x2`` Bernoulli(0.5) coded 0/1 (level 1) and ``z`` standard normal per cluster
    (level 2, constant within a cluster).

    Args:
        rows: Number of rows.
        clusters: Number of clusters, at most ``rows``.
        seed: Seed for ``numpy.random.default_rng``.

    Returns:
        A DataFrame with columns ``cluster`` (int, 1..clusters), ``x1``, ``x2`` (int 0/1),
        ``z`` and ``y``; no missing values.
    """
    return _two_level(rows, clusters, seed, x1_cluster_part=True)


def make_multilevel_two_missing(
    rows: int, clusters: int, seed: int, missing_prop: float = 0.3
) -> pd.DataFrame:
    """Make :func:`make_multilevel_two` data with MAR missingness in ``y`` and ``x1``.

    The complete data are exactly ``make_multilevel_two(rows, clusters, seed)``. Then ``y``
    is missing with probability ``sigmoid(a_y + x2 - 0.5 z)`` and, independently, ``x1``
    with probability ``sigmoid(a_x - x2 + 0.5 z)`` (both missing at random given the fully
    observed ``x2`` and ``z``), with ``a_y`` and ``a_x`` tuned so that on average
    ``missing_prop`` of each column is missing. The missingness draws use their own random
    stream (seeded by ``[seed, 2]``).

    Args:
        rows: Number of rows.
        clusters: Number of clusters, at most ``rows``.
        seed: Seed for the data and the missingness.
        missing_prop: Expected proportion missing in each of ``y`` and ``x1``, in (0, 1).

    Returns:
        A DataFrame with columns ``cluster``, ``x1``, ``x2``, ``z`` and ``y``; NaN marks a
        missing ``y`` or ``x1``.
    """
    df = make_multilevel_two(rows, clusters, seed)
    base = 1.0 * df["x2"].to_numpy() - 0.5 * df["z"].to_numpy()
    return _mar_missing(df, {"y": base, "x1": -base}, np.random.default_rng([seed, 2]),
                        missing_prop)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a data set as CSV with empty fields for missing values.

    Empty fields are read as NA by R's ``read.csv`` and as NaN by pandas.

    Args:
        df: Data to write.
        path: Output file; its parent directory is created if needed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, na_rep="", float_format="%.10g")


def make_ipd_binary(rows: int, clusters: int, seed: int) -> pd.DataFrame:
    """Make IPD-like two-level data with a binary and a continuous column, complete.

    Rows are split into ``clusters`` consecutive clusters whose sizes differ by at most one
    (``g = 0 .. clusters - 1``; the layout depends only on ``rows`` and ``clusters``). With
    ``x2`` standard normal, the binary ``b`` and then the continuous ``y`` are::

        b ~ Bernoulli(sigmoid(-0.5 + 0.5 x2 + v_j)),     v_j ~ N(0, 1)
        y = 1 + 0.5 x2 + 1.0 b + u_j + e,                u_j ~ N(0, 0.5),  e ~ N(0, 1)

    (0.5 and 1 the variances), so ``y`` follows a random-intercept model on ``x2`` and
    ``b``, and ``b`` given ``y``, ``x2`` and its cluster follows a logit model with a
    random intercept and ``y`` and ``x2`` as predictors (log-odds linear in ``y``, as a
    normal ``y`` with the same variance for ``b = 0`` and ``b = 1`` implies); about 40%
    of ``b`` are ones.

    Args:
        rows: Number of rows.
        clusters: Number of clusters, at most ``rows``.
        seed: Seed for ``numpy.random.default_rng``.

    Returns:
        A DataFrame with columns ``g`` (int), ``y`` (float), ``b`` (``Int64`` 0/1) and
        ``x2`` (float); no missing values.
    """
    if not 1 <= clusters <= rows:
        raise ValueError("need 1 <= clusters <= rows")
    rng = np.random.default_rng(seed)
    g = np.arange(rows, dtype=np.int64) * clusters // rows
    v_j = rng.standard_normal(clusters)
    u_j = rng.normal(0.0, np.sqrt(0.5), clusters)
    x2 = rng.standard_normal(rows)
    b = (rng.random(rows) < 1.0 / (1.0 + np.exp(-(-0.5 + 0.5 * x2 + v_j[g])))).astype(np.int64)
    y = 1.0 + 0.5 * x2 + 1.0 * b + u_j[g] + rng.standard_normal(rows)
    return pd.DataFrame({"g": g, "y": y, "b": pd.array(b, dtype="Int64"), "x2": x2})


def make_ipd_binary_missing(rows: int, clusters: int, seed: int) -> pd.DataFrame:
    """Make :func:`make_ipd_binary` data with MAR missingness in ``y`` and ``b``.

    The complete data are exactly ``make_ipd_binary(rows, clusters, seed)``. Then ``y`` is
    missing with probability ``sigmoid(a_y + x2)`` and, independently, ``b`` with
    probability ``sigmoid(a_b - x2)`` (missing at random given the complete ``x2``), with
    ``a_y`` and ``a_b`` tuned so that on average 25% of each column is missing. The
    missingness draws use their own random stream (seeded by ``[seed, 3]``).

    Args:
        rows: Number of rows.
        clusters: Number of clusters, at most ``rows``.
        seed: Seed for the data and the missingness.

    Returns:
        A DataFrame with columns ``g`` (int, ``0 .. clusters - 1``), ``y`` (float, NaN where
        missing), ``b`` (``Int64`` 0/1, ``pd.NA`` where missing) and ``x2`` (float,
        complete).
    """
    df = make_ipd_binary(rows, clusters, seed)
    x2 = df["x2"].to_numpy()
    return _mar_missing(df, {"y": x2, "b": -x2}, np.random.default_rng([seed, 3]), 0.25)


def make_heckman_missing(clusters: int, per: int, seed: int, rho: float = 0.6) -> pd.DataFrame:
    """Two-level data with ``y`` missing not at random by a Heckman selection model.

    ``y = 1 + b_j + 0.5 x1 - 0.3 x2 + u_O`` and selected when ``0.3 + a_j + 0.4 x1 + 0.3 x2 + z
    + u_S > 0`` (about half), ``(u_S, u_O)`` standard bivariate normal with correlation
    ``rho``, random intercepts ``b_j ~ N(0, 0.3^2)``, ``a_j ~ N(0, 0.2^2)``; one cluster in ten
    (at least one) wholly missing. Columns ``g, x1, x2, z, y``.
    """
    rng = np.random.default_rng(seed)
    n = clusters * per
    g = np.repeat(np.arange(clusters), per)
    x1, x2, z = rng.normal(size=(3, n))
    u = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=n)
    y = 1.0 + rng.normal(0, 0.3, clusters)[g] + 0.5 * x1 - 0.3 * x2 + u[:, 1]
    selected = 0.3 + rng.normal(0, 0.2, clusters)[g] + 0.4 * x1 + 0.3 * x2 + z + u[:, 0] > 0
    selected[g < max(1, clusters // 10)] = False
    return pd.DataFrame({"g": g, "x1": x1, "x2": x2, "z": z, "y": np.where(selected, y, np.nan)})


def ipd_study_sizes(rows: int, studies: int, seed: int, min_size: int = 50,
                    sigma: float = 1.0) -> np.ndarray:
    """Uneven study sizes summing to ``rows``, each at least ``min_size``.

    Every study gets ``min_size`` rows; the other ``rows - studies * min_size`` are shared in
    proportion to lognormal(0, ``sigma``) weights (drawn from ``default_rng([seed, 5])``),
    rounded down, the remainder going one row each to the largest weights.

    Args:
        rows: Total rows, at least ``studies * min_size``.
        studies: Number of studies.
        seed: Seed of the weights.
        min_size: Smallest study.
        sigma: sd of the log weights (1.0: the largest of 200 studies is about 10 times the
            median).

    Returns:
        i[studies] the sizes, in a random order.
    """
    if studies < 1 or rows < studies * min_size:
        raise ValueError(f"need studies >= 1 and rows >= studies * {min_size}")
    weights = np.random.default_rng([seed, 5]).lognormal(0.0, sigma, studies)
    spare = rows - studies * min_size
    extra = np.floor(spare * weights / weights.sum()).astype(np.int64)
    extra[np.argsort(-weights)[: spare - int(extra.sum())]] += 1
    return min_size + extra


#: the method of each incomplete variable of :func:`make_ipd_large` (the ``ipd`` job's plan)
IPD_METHODS = {"y1": "2l.pan", "y2": "2l.pan", "s": "2l.pan", "b": "2l.bin", "o": "2l.polr"}


def make_ipd_large(rows: int, studies: int, seed: int, systematic_share: float = 0.2
                   ) -> tuple[pd.DataFrame, np.ndarray]:
    """Make a large IPD meta-analysis data set: uneven studies, five incomplete variables.

    The studies (``study = 0 .. studies - 1``, consecutive rows) have the sizes of
    :func:`ipd_study_sizes`. With study effects ``u_j, v_j, w_j, a_j, c_j`` (normal, sds
    below) and the complete covariates ``x1 = 0.5 g_j + N(0, 1)`` (``g_j ~ N(0, 1)``, a study
    part) and ``x2 ~ N(0, 1)``::

        b  ~ Bernoulli(sigmoid(-0.3 + 0.5 x2 + v_j)),                  v_j sd 0.8
        y1 = 1 + 0.5 x1 + 0.8 b + u_j + e,                              u_j sd 0.7
        y2 = 0.4 y1 - 0.3 x2 + c_j + e,                                 c_j sd 0.5
        o  = cut(0.5 y1 + 0.3 x1 + w_j + e, quartiles) in 4 ordered levels, w_j sd 0.5
        s  = 0.5 + 0.4 x1 + 0.3 y1 + a_j + e,                           a_j sd 0.6

    with ``e ~ N(0, 1)`` fresh each time. Missingness (its own stream, ``[seed, 6]``): ``s``
    is wholly missing in ``round(systematic_share * studies)`` random studies (systematically
    missing, observed everywhere else); ``y1``, ``y2``, ``b`` and ``o`` are missing at random
    given the complete ``x1`` and ``x2`` with probabilities ``sigmoid(a + eta)``, ``a`` tuned to
    25%, 20%, 15% and 30% missing, ``eta`` = ``x1``, ``-x2``, ``x2`` and ``-x1``.

    Args:
        rows: Number of rows (at least ``50 * studies``).
        studies: Number of studies.
        seed: Seed of the sizes, the data and the missingness.
        systematic_share: Share of studies in which ``s`` is wholly missing.

    Returns:
        ``(df, systematic)``: the DataFrame with columns ``study`` (int), ``x1``, ``x2``,
        ``y1``, ``y2``, ``s`` (float, NaN where missing), ``b`` (unordered Categorical of 0/1)
        and ``o`` (ordered Categorical ``low < mid < high < top``), and the sorted ids of the
        studies in which ``s`` is wholly missing.
    """
    sizes = ipd_study_sizes(rows, studies, seed)
    study = np.repeat(np.arange(studies, dtype=np.int64), sizes)
    rng = np.random.default_rng(seed)
    g_j, u_j, v_j, w_j, a_j, c_j = (rng.normal(0.0, sd, studies)
                                    for sd in (1.0, 0.7, 0.8, 0.5, 0.6, 0.5))
    x1 = 0.5 * g_j[study] + rng.standard_normal(rows)
    x2 = rng.standard_normal(rows)
    b = (rng.random(rows) < 1.0 / (1.0 + np.exp(-(-0.3 + 0.5 * x2 + v_j[study])))).astype(int)
    y1 = 1.0 + 0.5 * x1 + 0.8 * b + u_j[study] + rng.standard_normal(rows)
    y2 = 0.4 * y1 - 0.3 * x2 + c_j[study] + rng.standard_normal(rows)
    latent = 0.5 * y1 + 0.3 * x1 + w_j[study] + rng.standard_normal(rows)
    o = np.searchsorted(np.quantile(latent, [0.25, 0.5, 0.75]), latent)
    s = 0.5 + 0.4 * x1 + 0.3 * y1 + a_j[study] + rng.standard_normal(rows)

    miss = np.random.default_rng([seed, 6])
    systematic = np.sort(miss.choice(studies, int(round(systematic_share * studies)),
                                     replace=False))
    s[np.isin(study, systematic)] = np.nan
    df = pd.DataFrame({"study": study, "x1": x1, "x2": x2, "y1": y1, "y2": y2, "s": s,
                       "b": b.astype(float), "o": o.astype(float)})
    df = _mar_missing(df, {"y1": x1}, miss, 0.25)
    df = _mar_missing(df, {"y2": -x2}, miss, 0.20)
    df = _mar_missing(df, {"b": x2}, miss, 0.15)
    df = _mar_missing(df, {"o": -x1}, miss, 0.30)
    df["b"] = pd.Categorical(df["b"].map({0.0: "0", 1.0: "1"}), categories=["0", "1"])
    levels = ["low", "mid", "high", "top"]
    df["o"] = pd.Categorical(df["o"].map(dict(enumerate(levels))), categories=levels,
                             ordered=True)
    return df, systematic


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: write a generated data set to CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--cols", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--missing-prop", type=float, default=0.3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    df = make_single_level(args.rows, args.cols, args.seed, args.missing_prop)
    write_csv(df, args.out)


if __name__ == "__main__":
    main()

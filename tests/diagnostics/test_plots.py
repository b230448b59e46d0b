"""Diagnostics and figures (jaxmice._src.diagnostics.plots): md_pattern against R's
mice::md.pattern, and the content of every figure (axes, lines, bars, points, legend entries, tick
and cell labels)."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.core.defaults import CODE_MEANING
from jaxmice._src.diagnostics.plots import plot_density, plot_strip, plot_trace
from jaxmice._src.diagnostics.plots.correlation import pairwise_correlations
from jaxmice._src.diagnostics.plots.distributions import bandwidth, kde

# R: write.csv(mice::nhanes)
NHANES = """age,bmi,hyp,chl
1,NA,NA,NA
2,22.7,1,187
1,NA,1,187
3,NA,NA,NA
1,20.4,1,113
3,NA,NA,184
1,22.5,1,118
1,30.1,1,187
2,22,1,238
2,NA,NA,NA
1,NA,NA,NA
2,NA,NA,NA
3,21.7,1,206
2,28.7,2,204
1,29.6,1,NA
1,NA,NA,NA
3,27.2,2,284
2,26.3,2,199
1,35.3,1,218
3,25.5,2,NA
1,NA,NA,NA
1,33.2,1,229
1,27.5,1,131
3,24.9,1,NA
2,27.4,1,186
"""

# R (mice 3.15): print(md.pattern(nhanes, plot = FALSE))
#    age hyp bmi chl
# 13   1   1   1   1  0
# 3    1   1   1   0  1
# 1    1   1   0   1  1
# 1    1   0   0   1  2
# 7    1   0   0   0  3
#      0   8   9  10 27
NHANES_PATTERN = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 1], [1, 1, 0, 1, 1], [1, 0, 0, 1, 2],
                           [1, 0, 0, 0, 3], [0, 8, 9, 10, 27]])

# R: d <- data.frame(a = c(NA, 1, 1, NA, 2, 3), b = c(1, NA, 1, 1, NA, 2), c = c(1, 1, 1, 1, 2, 3),
#                    d = c(NA, NA, 1, 1, 2, NA)); print(md.pattern(d, plot = FALSE))
#   c a b d
# 1 1 1 1 1 0
# 1 1 1 1 0 1
# 1 1 1 0 1 1
# 1 1 1 0 0 2
# 1 1 0 1 1 1
# 1 1 0 1 0 2
#   0 2 2 3 7
TIES_PATTERN = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 1], [1, 1, 0, 1, 1], [1, 1, 0, 0, 2],
                         [1, 0, 1, 1, 1], [1, 0, 1, 0, 2], [0, 2, 2, 3, 7]])


def render(fig) -> bytes:
    """Draw the figure to a small PNG (also resolves every text artist)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    png = buf.getvalue()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    return png


def ticks(axis) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels()]


def secondary(ax, which: str):
    """The secondary x ("top") or y ("right") axis of ``ax``."""
    found = [c for c in ax.child_axes if getattr(c, "_orientation", None) == which]
    assert len(found) == 1
    return found[0].xaxis if which == "x" else found[0].yaxis


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n_groups, size = 15, 10
    school = np.repeat(np.arange(1, n_groups + 1), size)
    n = school.size
    x = rng.normal(size=n) + 0.2 * school
    y = 2 + x + rng.normal(size=n)
    z = pd.Categorical(rng.choice(["low", "mid", "high"], size=n),
                       categories=["low", "mid", "high"])
    b = rng.random(n) < 0.4
    df = pd.DataFrame({"school": school, "x": x, "y": y, "z": z, "b": b})
    df.loc[rng.random(n) < 0.3, "y"] = np.nan
    df.loc[rng.random(n) < 0.15, "x"] = np.nan
    df.loc[rng.random(n) < 0.15, "z"] = np.nan
    df.loc[df.school == 4, "y"] = np.nan  # systematically missing in one school
    return df


@pytest.fixture(scope="module")
def imp(data: pd.DataFrame) -> jm.Imputations:
    pred = jm.make_predictor_matrix(data)
    pred.loc[:, "school"] = 0
    return jm.mice(data, m=3, maxit=3, predictor_matrix=pred, seed=11, progress=False)


# ----- md_pattern ---------------------------------------------------------------------------
def test_md_pattern_equals_mice_on_nhanes():
    nhanes = pd.read_csv(io.StringIO(NHANES))
    pat = jm.md_pattern(nhanes)
    assert list(pat.columns) == ["age", "hyp", "bmi", "chl", ""]
    assert list(pat.index) == [13, 3, 1, 1, 7, ""]
    np.testing.assert_array_equal(pat.to_numpy(), NHANES_PATTERN)


def test_md_pattern_ties_keep_data_order_and_mice_row_order():
    d = pd.DataFrame({"a": [np.nan, 1, 1, np.nan, 2, 3], "b": [1, np.nan, 1, 1, np.nan, 2],
                      "c": [1, 1, 1, 1, 2, 3], "d": [np.nan, np.nan, 1, 1, 2, np.nan]})
    pat = jm.md_pattern(d)
    assert list(pat.columns) == ["c", "a", "b", "d", ""]
    assert list(pat.index) == [1] * 6 + [""]
    np.testing.assert_array_equal(pat.to_numpy(), TIES_PATTERN)
    # complete data: one pattern (R prints its cat and returns the same table)
    complete = jm.md_pattern(d.iloc[4:6][["a", "c"]])
    assert list(complete.index) == [2, ""]
    np.testing.assert_array_equal(complete.to_numpy(), [[1, 1, 0], [0, 0, 0]])


def test_md_pattern_hand_computed_with_any_dtypes():
    df = pd.DataFrame({
        "s": ["u", None, "v", "w", None, "u", "v"],                   # 2 missing
        "f": pd.Categorical(["a", "b", None, "a", "b", "a", "b"]),    # 1 missing
        "n": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],                     # 0 missing
        "t": pd.to_datetime(["2020-01-01", None, None, "2020-01-04", None, "2020-01-06",
                             "2020-01-07"]),                          # 3 missing
    })
    # columns by missing count: n (0), f (1), s (2), t (3)
    # rows: 0 complete; 1 s,t; 2 f,t; 3 complete; 4 s,t; 5 complete; 6 complete
    # missing strings over (n, f, s, t): 0000 x4, 0011 x2, 0101 x1 -> mice's order as listed
    pat = jm.md_pattern(df)
    assert list(pat.columns) == ["n", "f", "s", "t", ""]
    assert list(pat.index) == [4, 2, 1, ""]
    np.testing.assert_array_equal(pat.to_numpy(), [[1, 1, 1, 1, 0], [1, 1, 0, 0, 2],
                                                   [1, 0, 1, 0, 2], [0, 1, 2, 3, 6]])
    assert pat.iloc[:-1, :-1].isin([0, 1]).all().all()
    # frequency order: most frequent first, ties in mice's order
    by_freq = jm.md_pattern(df.iloc[[1, 2, 2, 4, 0]], order="frequency")
    assert list(by_freq.index) == [2, 2, 1, ""]
    np.testing.assert_array_equal(by_freq.iloc[:-1, -1], [2, 2, 0])
    with pytest.raises(ValueError, match="order"):
        jm.md_pattern(df, order="size")


# ----- plot_pattern --------------------------------------------------------------------------
def test_plot_pattern_draws_md_pattern_counts(data: pd.DataFrame):
    pat = jm.md_pattern(data, order="frequency")
    fig = jm.plot_pattern(data, rotate=True)
    render(fig)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    body = pat.iloc[:-1, :-1].to_numpy()
    assert ticks(ax.yaxis) == [str(c) for c in pat.index[:-1]]           # rows per pattern
    assert ticks(secondary(ax, "y")) == [str(k) for k in pat.iloc[:-1, -1]]  # missing vars
    assert ticks(ax.xaxis) == [str(c) for c in pat.iloc[-1, :-1]]        # missing per column
    top = secondary(ax, "x")
    assert ticks(top) == list(pat.columns[:-1])
    assert set(ticks(top)[:2]) == {"school", "b"} and ticks(top)[-1] == "y"
    assert all(t.get_rotation() == 90 for t in top.get_ticklabels())
    np.testing.assert_array_equal(ax.images[0].get_array(), body)       # 1 blue, 0 red
    assert ax.get_xlabel().endswith(f"(total {pat.iloc[-1, -1]})")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["observed", "missing"]


def test_plot_pattern_npat_summarises_the_rest(data: pd.DataFrame):
    pat = jm.md_pattern(data, order="frequency")
    k = len(pat) - 1
    fig = jm.plot_pattern(data, npat=2)
    render(fig)
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (2, 5)
    assert ticks(ax.yaxis) == [str(c) for c in pat.index[:2]]
    rest = int(sum(pat.index[2:-1]))
    assert f"{k} missingness patterns in {len(data)} rows" in ax.get_title()
    assert f"{k - 2} more ({rest} rows) left out" in ax.get_title()
    with pytest.raises(ValueError, match="npat"):
        jm.plot_pattern(data, npat=0)


def test_plot_pattern_by_cluster_shows_systematic_missingness(data: pd.DataFrame):
    fig = jm.plot_pattern(data, cluster="school")
    render(fig)
    assert len(fig.axes) == 3  # patterns, clusters x columns, colour bar
    heat = fig.axes[1]
    order = list(jm.md_pattern(data).columns[:-1])
    expected = data[order].isna().groupby(data.school).mean().to_numpy()
    np.testing.assert_allclose(heat.images[0].get_array(), expected)
    assert ticks(heat.xaxis) == order
    assert ticks(heat.yaxis) == [str(s) for s in range(1, 16)]
    assert heat.get_ylabel() == "school"
    assert "y (1)" in heat.get_xlabel() and "x (" not in heat.get_xlabel()


# ----- plot_corr ---------------------------------------------------------------------------
def test_plot_corr_annotates_pairwise_complete_correlations(data: pd.DataFrame):
    fig = jm.plot_corr(data, rotate=True)
    render(fig)
    assert len(fig.axes) == 2  # heat map and colour bar
    ax = fig.axes[0]
    names = list(data.columns)
    assert ticks(ax.xaxis) == names and ticks(ax.yaxis) == names
    assert all(t.get_rotation() == 90 for t in ax.xaxis.get_ticklabels())
    coded = data.assign(z=data.z.cat.codes.where(data.z.notna()), b=data.b.astype(float))
    r = coded.corr().to_numpy()  # pandas: pairwise complete
    cells = np.array([float(t.get_text()) for t in ax.texts]).reshape(5, 5)
    np.testing.assert_allclose(cells, np.round(r, 2), atol=1e-9)
    assert ax.images[0].get_clim() == (-1, 1)
    assert "categorical columns by their codes: z, b" in ax.get_title()


def test_pairwise_correlations_edge_cases():
    v = np.array([[1.0, 5.0, np.nan], [2.0, 5.0, 1.0], [3.0, 5.0, np.nan], [4.0, 5.0, np.nan]])
    r = pairwise_correlations(v)
    assert r[0, 0] == 1.0
    assert np.isnan(r[0, 1]) and np.isnan(r[1, 1])  # constant column
    assert np.isnan(r[0, 2])  # one row in common
    fig = jm.plot_corr(pd.DataFrame(v, columns=["a", "b", "c"]))
    render(fig)
    assert [t.get_text() for t in fig.axes[0].texts][:3] == ["1.00", "NA", "NA"]
    assert "codes" not in fig.axes[0].get_title()


# ----- plot_pred ---------------------------------------------------------------------------
def test_plot_pred_legend_codes_and_methods(data: pd.DataFrame):
    pred = jm.make_predictor_matrix(data, cluster="school")
    pred.loc["y", "x"] = 3
    pred.loc["x", "y"] = 2
    meth = pd.Series({"school": "", "x": "2l.pmm", "y": "2l.pan", "z": "polyreg",
                      "b": "logreg"})
    fig = jm.plot_pred(pred, meth)
    render(fig)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [f"{c}: {CODE_MEANING[c]}" for c in (-4, -3, -2, 0, 1, 2, 3, 4)]
    only = jm.plot_pred(pred, meth, all_codes=False)
    legend = [t.get_text() for t in only.legends[0].get_texts()]
    assert legend == [f"{c}: {CODE_MEANING[c]}" for c in (-2, 0, 1, 2, 3)]
    assert ticks(ax.xaxis) == list(data.columns) and ticks(ax.yaxis) == list(data.columns)
    assert ticks(secondary(ax, "y")) == ["", "2l.pmm", "2l.pan", "polyreg", "logreg"]
    written = sorted(int(t.get_text()) for t in ax.texts)
    nonzero = pred.to_numpy()[pred.to_numpy() != 0]
    assert written == sorted(nonzero.tolist())
    # every code has its own colour
    image = ax.images[0].get_array()
    assert not np.allclose(image[2, 1], image[1, 2])  # 3 vs 2


def test_plot_pred_from_imputation_and_bad_codes(imp: jm.Imputations):
    fig = jm.plot_pred(imp.predictor_matrix, imp.method, all_codes=False)
    render(fig)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["0: not used", "1: fixed effect"]
    assert ticks(secondary(fig.axes[0], "y")) == list(imp.method)
    fig = jm.plot_pred(np.array([[0, 1], [-3, 0]]), method={0: "pmm"}, all_codes=False)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "-3: selection equation only", "0: not used", "1: fixed effect"]
    with pytest.raises(ValueError, match="not codes"):
        jm.plot_pred(np.array([[0, 7], [1, 0]]))


# ----- chains and imputed values -----------------------------------------------------------
def test_plot_trace_m_lines_per_panel(imp: jm.Imputations):
    fig = imp.plot_trace()
    render(fig)
    imputed = ["x", "y", "z"]
    assert len(fig.axes) == 2 * len(imputed)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["x: mean", "x: sd", "y: mean", "y: sd", "z: mean (codes)",
                      "z: sd (codes)"]
    for ax in fig.axes:
        assert len(ax.lines) == imp.m
        np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    y_mean, y_sd = fig.axes[2], fig.axes[3]
    for k in range(imp.m):
        np.testing.assert_allclose(y_mean.lines[k].get_ydata(), imp.chain_mean.loc["y"][k + 1])
        np.testing.assert_allclose(y_sd.lines[k].get_ydata(),
                                   np.sqrt(imp.chain_var.loc["y"][k + 1]))
    one = plot_trace(imp, "y")
    assert len(one.axes) == 2 and one.axes[0].get_title() == "y: mean"
    with pytest.raises(ValueError, match="no chains"):
        imp.plot_trace(["b"])


def test_bandwidth_is_r_bw_nrd0_and_kde_integrates_to_one():
    # R: bw.nrd0(c(1, 2, 3, 4, 10)); bw.nrd0(c(5, 5, 5, 5, 6)); bw.nrd0(c(3, 3, 3));
    #    bw.nrd0(c(0, 0))
    assert bandwidth(np.array([1, 2, 3, 4, 10.0])) == pytest.approx(0.973584622850636, 1e-12)
    assert bandwidth(np.array([5, 5, 5, 5, 6.0])) == pytest.approx(0.291718187404697, 1e-12)
    assert bandwidth(np.array([3, 3, 3.0])) == pytest.approx(2.16740221675262, 1e-12)
    assert bandwidth(np.array([0, 0.0])) == pytest.approx(0.783495506966512, 1e-12)
    x = np.random.default_rng(0).normal(size=10_000)
    grid = np.linspace(-6, 6, 2001)
    density = kde(x, grid, bandwidth(x))
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-6)
    from scipy.stats import norm

    small = np.array([1, 2, 3, 4, 10.0])
    grid = np.linspace(-2, 14, 9)
    exact = norm.pdf((grid[:, None] - small[None, :]) / 0.7).mean(axis=1) / 0.7
    np.testing.assert_allclose(kde(small, grid, 0.7), exact, rtol=1e-12)


def test_plot_density_observed_and_m_imputed_lines(imp: jm.Imputations, data: pd.DataFrame):
    fig = imp.plot_density("y")
    render(fig)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert len(ax.lines) == 1 + imp.m
    obs, *imputed = ax.lines
    assert obs.get_linewidth() > imputed[0].get_linewidth()
    assert obs.get_color() != imputed[0].get_color()
    assert len({line.get_color() for line in imputed}) == 1
    for line in ax.lines:  # each a density
        assert np.trapezoid(line.get_ydata(), line.get_xdata()) == pytest.approx(1, abs=0.01)
    y_obs = data.y.dropna().to_numpy()
    np.testing.assert_allclose(obs.get_ydata(), kde(y_obs, obs.get_xdata(), bandwidth(y_obs)))
    missing = data.y.isna().to_numpy()
    y_imp = imp.complete(1).y.to_numpy()[missing]
    np.testing.assert_allclose(imputed[1].get_ydata(),
                               kde(y_imp, obs.get_xdata(), bandwidth(y_imp)))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["observed",
                                                                    "imputed (m = 3)"]
    with pytest.raises(ValueError, match="no imputed values"):
        imp.plot_density("b")


def test_plot_density_categorical_bars(imp: jm.Imputations, data: pd.DataFrame):
    fig = imp.plot_density("z")
    render(fig)
    ax = fig.axes[0]
    assert len(ax.lines) == 0
    assert len(ax.patches) == 3 * (1 + imp.m)  # levels x (observed + m)
    assert ticks(ax.xaxis) == ["low", "mid", "high"]
    heights = np.array([p.get_height() for p in ax.patches]).reshape(1 + imp.m, 3)
    observed = data.z.value_counts(normalize=True)[["low", "mid", "high"]].to_numpy()
    np.testing.assert_allclose(heights[0], observed)
    missing = data.z.isna().to_numpy()
    first = imp.complete(0).z[missing].value_counts(normalize=True)
    np.testing.assert_allclose(heights[1], first.reindex(["low", "mid", "high"], fill_value=0))


def test_plot_density_by_cluster_caps_panels(imp: jm.Imputations, data: pd.DataFrame):
    fig = plot_density(imp, "y", cluster="school")
    render(fig)
    with_missing = sorted(data.school[data.y.isna()].unique())
    assert len(with_missing) > 12
    assert len(fig.axes) == 12
    assert [ax.get_title() for ax in fig.axes] == [f"school = {s}" for s in with_missing[:12]]
    assert f"first 12 of the {len(with_missing)} clusters" in fig.get_suptitle()
    for ax, s in zip(fig.axes, with_missing[:12], strict=True):
        has_observed = data.y[data.school == s].notna().any()
        assert len(ax.lines) == int(has_observed) + imp.m  # school 4: imputed only
    few = plot_density(imp, "y", cluster="school", max_panels=2)
    assert len(few.axes) == 2


def test_plot_strip_points_by_imputation_and_cluster(imp: jm.Imputations, data: pd.DataFrame):
    fig = imp.plot_strip("y")
    render(fig)
    ax = fig.axes[0]
    assert len(ax.collections) == 1 + imp.m
    n_obs, n_mis = int(data.y.notna().sum()), int(data.y.isna().sum())
    sizes = [len(c.get_offsets()) for c in ax.collections]
    assert sizes == [n_obs] + [n_mis] * imp.m
    for k, c in enumerate(ax.collections):
        xy = np.asarray(c.get_offsets())
        assert np.all(np.abs(xy[:, 0] - k) <= 0.25)
    np.testing.assert_allclose(np.asarray(ax.collections[0].get_offsets())[:, 1],
                               data.y.dropna().to_numpy())
    missing = data.y.isna().to_numpy()
    np.testing.assert_allclose(np.sort(np.asarray(ax.collections[2].get_offsets())[:, 1]),
                               np.sort(imp.complete(1).y.to_numpy()[missing]))
    assert ticks(ax.xaxis) == ["0", "1", "2", "3"]
    assert ax.collections[0].get_facecolor()[0][2] > ax.collections[1].get_facecolor()[0][2]

    by = plot_strip(imp, "y", cluster="school")
    render(by)
    ax = by.axes[0]
    assert len(ax.collections) == 2
    obs_xy, imp_xy = (np.asarray(c.get_offsets()) for c in ax.collections)
    assert len(obs_xy) == n_obs and len(imp_xy) == imp.m * n_mis
    np.testing.assert_array_equal(np.round(obs_xy[:, 0]) + 1, data.school[~missing])
    assert ticks(ax.xaxis) == [str(s) for s in range(1, 16)]
    assert ax.get_xlabel() == "school"

    cat = imp.plot_strip("z")
    render(cat)
    assert ticks(cat.axes[0].yaxis) == ["low", "mid", "high"]


def test_plots_do_not_import_pandas():
    """Only the adapter imports pandas."""
    sources = sorted((Path(jm.__file__).parent / "_src" / "diagnostics" / "plots").glob("*.py"))
    assert len(sources) >= 6
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "pandas" for a in node.names), path.name
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert (node.module or "").split(".")[0] != "pandas", path.name

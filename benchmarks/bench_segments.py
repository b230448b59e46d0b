"""Per-cluster reductions: today's segment sums against deterministic alternatives.

The multilevel methods reduce rows to clusters with ``jax.ops.segment_sum(values, cluster, G)``
(``cluster_means``, the two-stage Newton steps, ``2l.norm``'s residual sums). On a GPU a float
scatter-add is made of atomics, so its result may differ bit for bit from run to run. This
micro-benchmark times the shapes the methods use, per variant, and checks each variant's
accuracy and run-to-run determinism.

Usage::

    python benchmarks/bench.py segments [--vmapped 20] [--scales ipd,sim] [--runs 7]
                                        [--out benchmarks/results/segments/<backend>.json]
                                        [--results PATH]
    python benchmarks/bench.py segments --table benchmarks/results/segments/cpu.json

Runs unchanged on CPU or GPU (whatever ``jax.devices()`` gives), in this process (no child:
it times compiled programs, not processes); results go to
``benchmarks/results/segments/<backend>.json``, a markdown table is printed, and a row per case
(``segments_<scale>_<case>``: the ``segsum`` warm seconds, every variant's warm milliseconds in
``note``) is appended to the results CSV.

Scales (clusters of lognormal size, rows in random cluster order):

- ``ipd``: n = 1,000,000 rows in G = 200 clusters;
- ``sim``: n = 1,000 rows in G = 50 clusters (the simulation study's size).

Cases: ``k1`` (f64[n, 1]), ``k8`` (f64[n, 8]) and ``outer`` (x: f64[n, 4], per-cluster sums of
``x_i x_i^T``: f64[G, 4, 4], the outer product formed inside the program as in two_stage.py).
``--vmapped C`` adds the ``k8`` case with a leading chain axis (f64[C, n, 8], ``jax.vmap``
over chains, the index arrays shared) at both scales.

Variants (each a jit-compiled program; one-off layout work is done outside, as a method would
do it once per job):

1. ``segsum``: ``jax.ops.segment_sum`` on the rows as given (unsorted codes);
2. ``segsum_sorted``: rows pre-sorted by cluster, ``indices_are_sorted=True``;
   ``segsum_sorted_gather``: the same, with the sorting gather ``values[order]`` inside the
   program (the cost when the values are not kept sorted);
3. ``padded_gather``: :func:`size_bands` buckets (the padded layout, kept in this
   script), ``values[bucket.rows] * mask`` summed over the padded axis, then a static
   gather into cluster order;
   ``padded_block``: values stored in the padded layout (each band one contiguous block,
   reshaped to ``[clusters, width, ...]``, no gather), masked and summed;
4. ``onehot``: ``onehot(cluster).T @ values`` in chunks of :data:`CHUNK` rows (a scan), so that
   the one-hot never exceeds ~26 MB;
5. ``cumsum``: cumulative sum over the sorted rows, taken at each cluster's end and differenced
   (its rounding grows with the running total: see ``max_rel_err``).

GPU only (each in try/except, recorded as unavailable elsewhere): ``segsum`` compiled with
``compiler_options={"xla_gpu_deterministic_ops": True}`` (``segsum_detops``) and with
``{"xla_gpu_exclude_nondeterministic_ops": True}`` (``segsum_exclude``). A CPU build accepts
both options (they are fields of XLA's shared debug options) and ignores them, so on a CPU these
two rows only repeat ``segsum``. ``--vmapped`` skips the one-hot at n > 100,000 on a CPU.

Recorded per variant: ``compile_s`` (lower + compile), ``warm_ms`` (median of ``--runs`` warm
runs, each ended by ``block_until_ready``), ``max_abs_err`` and ``max_rel_err`` against a
float64 ``np.add.at`` reference, and ``deterministic``: whether every run (at least 5) gave a
result bitwise equal to the first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

from dataclasses import dataclass  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from harness import RESULTS, append_result  # noqa: E402

from jaxmice._src.core.clusters import ClusterIndex, build_cluster_index  # noqa: E402

CHUNK = 16384  # rows per one-hot chunk: 16384 x 200 x 8 B = 26 MB
SCALES = {"ipd": (1_000_000, 200), "sim": (1_000, 50)}
OUT = Path(__file__).resolve().parent / "results" / "segments"
GPU_FLAGS = {
    "segsum_detops": {"xla_gpu_deterministic_ops": True},
    "segsum_exclude": {"xla_gpu_exclude_nondeterministic_ops": True},
}


# The padded cluster layout, kept here for the comparison (the library uses segment sums).
@dataclass(frozen=True)
class Bucket:
    """Clusters of similar size, padded to a common width.

    Attributes:
        clusters: i[c] cluster codes held by this bucket.
        rows: i[c, s] row indices of each cluster's members, padded with 0.
        mask: bool[c, s] True where ``rows`` holds a real member.
    """

    clusters: np.ndarray
    rows: np.ndarray
    mask: np.ndarray


def size_bands(index: ClusterIndex, band: float = 2.0) -> tuple[Bucket, ...]:
    """Padded ``[clusters, size]`` row indices, clusters bucketed by size.

    Costs an argsort over all rows: build it where a method pads clusters, not per call.

    Args:
        index: the clusters.
        band: clusters whose sizes differ by less than this factor may share a bucket.

    Returns:
        Buckets covering every non-empty cluster once; within a cluster, rows keep their
        order and real members come before the padding.
    """
    codes, sizes = index.row_cluster, index.sizes
    order = np.argsort(codes, kind="stable")  # rows grouped by cluster, original order within
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    band_of = np.floor(np.log(np.maximum(sizes, 1)) / np.log(band)).astype(np.int64)
    buckets = []
    for b in np.unique(band_of[sizes > 0]):
        members = np.flatnonzero((band_of == b) & (sizes > 0))
        width = int(sizes[members].max())
        offsets = np.arange(width)
        mask = offsets[None, :] < sizes[members, None]
        positions = np.where(mask, starts[members, None] + offsets[None, :], 0)
        rows = np.where(mask, order[positions], 0)
        buckets.append(Bucket(clusters=members, rows=rows, mask=mask))
    return tuple(buckets)


def padded_cells(buckets: tuple[Bucket, ...]) -> int:
    """Cells held by the padded arrays (real members plus padding)."""
    return int(sum(b.rows.size for b in buckets))


def padding_ratio(buckets: tuple[Bucket, ...], sizes: np.ndarray) -> float:
    """Padded cells / real cells (1.0 means no padding at all).

    Args:
        buckets: from :func:`size_bands`.
        sizes: i[G] rows per cluster.
    """
    return padded_cells(buckets) / max(int(np.sum(sizes)), 1)


def lognormal_sizes(rng: np.random.Generator, n: int, g: int, sigma: float = 1.0) -> np.ndarray:
    """``g`` cluster sizes of lognormal spread summing to ``n`` (each at least 2)."""
    raw = rng.lognormal(0.0, sigma, g)
    sizes = np.floor(raw / raw.sum() * (n - 2 * g)).astype(np.int64) + 2
    extra = n - sizes.sum()
    np.add.at(sizes, rng.choice(g, size=extra, replace=True), 1)
    assert sizes.sum() == n
    return sizes


def identity(x):
    return x


def outer(x):
    """Row-wise ``x x^T`` flattened: f[..., p] -> f[..., p * p]."""
    p = x.shape[-1]
    return (x[..., :, None] * x[..., None, :]).reshape(x.shape[:-1] + (p * p,))


def outer_np(x: np.ndarray) -> np.ndarray:
    p = x.shape[-1]
    return (x[..., :, None] * x[..., None, :]).reshape(x.shape[:-1] + (p * p,))


class Layout:
    """The one-off index work of every variant for one cluster assignment."""

    def __init__(self, codes: np.ndarray, g: int):
        self.codes, self.g, self.n = codes, g, len(codes)
        index = build_cluster_index("cluster", codes, tuple(range(g)))
        self.sizes = index.sizes
        self.order = np.argsort(codes, kind="stable")
        self.sorted_codes = codes[self.order]
        self.ends = np.cumsum(self.sizes) - 1
        self.buckets = size_bands(index)
        # cluster g's position in the concatenated bucket results (G = a zero row for empties)
        held = np.concatenate([b.clusters for b in self.buckets])
        where = np.full(g, len(held), dtype=np.int64)
        where[held] = np.arange(len(held))
        self.where = where
        self.block_rows = np.concatenate([b.rows.ravel() for b in self.buckets])
        self.block_mask = np.concatenate([b.mask.ravel() for b in self.buckets])
        self.shapes = [b.rows.shape for b in self.buckets]
        self.padded = int(self.block_rows.size)

    def describe(self) -> dict:
        return {
            "n": self.n,
            "G": self.g,
            "size_min": int(self.sizes.min()),
            "size_median": float(np.median(self.sizes)),
            "size_max": int(self.sizes.max()),
            "buckets": [list(s) for s in self.shapes],
            "padding_ratio": self.padded / self.n,
        }


def variants(lay: Layout, rowfn) -> dict:
    """name -> (prepare: host values -> device values, fn(values, *args), args)."""
    g = lay.g
    codes = jnp.asarray(lay.codes)
    sorted_codes = jnp.asarray(lay.sorted_codes)
    order = jnp.asarray(lay.order)
    where = jnp.asarray(lay.where)
    ends = jnp.asarray(lay.ends)
    rows = [jnp.asarray(b.rows) for b in lay.buckets]
    masks = [jnp.asarray(b.mask) for b in lay.buckets]
    block_mask = jnp.asarray(lay.block_mask)
    shapes = lay.shapes

    def as_is(v):
        return jnp.asarray(v)

    def sort_rows(v):
        return jnp.asarray(np.take(v, lay.order, axis=-2))

    def pad_rows(v):
        out = np.take(v, lay.block_rows, axis=-2)
        out[..., ~lay.block_mask, :] = 0.0
        return jnp.asarray(out)

    def segsum(v, c):
        return jax.ops.segment_sum(rowfn(v), c, g)

    def segsum_sorted(v, c):
        return jax.ops.segment_sum(rowfn(v), c, g, indices_are_sorted=True)

    def segsum_sorted_gather(v, o, c):
        return jax.ops.segment_sum(rowfn(v[o]), c, g, indices_are_sorted=True)

    def scatter_back(parts):
        stacked = jnp.concatenate(parts + [jnp.zeros_like(parts[0][:1])], axis=0)
        return stacked[where]

    def padded_gather(v, rows, masks):
        parts = [(rowfn(v[r]) * m[..., None]).sum(axis=1) for r, m in zip(rows, masks, strict=True)]
        return scatter_back(parts)

    def padded_block(v, mask):
        parts, start = [], 0
        for c, w in shapes:
            block = rowfn(v[start : start + c * w].reshape(c, w, v.shape[-1]))
            m = mask[start : start + c * w].reshape(c, w, 1)
            parts.append((block * m).sum(axis=1))
            start += c * w
        return scatter_back(parts)

    def onehot(v, c):
        n = v.shape[0]
        full = n // CHUNK * CHUNK
        classes = jnp.arange(g)

        def chunk_sum(vc, cc):
            hot = (cc[:, None] == classes[None, :]).astype(v.dtype)
            return hot.T @ rowfn(vc)

        total = 0.0
        if full:
            vs = v[:full].reshape(full // CHUNK, CHUNK, v.shape[-1])
            cs = c[:full].reshape(full // CHUNK, CHUNK)
            m = rowfn(v[:1]).shape[-1]

            def step(acc, xs):
                return acc + chunk_sum(*xs), None

            total, _ = jax.lax.scan(step, jnp.zeros((g, m), v.dtype), (vs, cs))
        if full < n:
            total = total + chunk_sum(v[full:], c[full:])
        return total

    def cumsum(v, e):
        run = jnp.cumsum(rowfn(v), axis=0)[e]
        return jnp.diff(run, axis=0, prepend=jnp.zeros_like(run[:1]))

    return {
        "segsum": (as_is, segsum, (codes,)),
        "segsum_sorted": (sort_rows, segsum_sorted, (sorted_codes,)),
        "segsum_sorted_gather": (as_is, segsum_sorted_gather, (order, sorted_codes)),
        "padded_gather": (as_is, padded_gather, (rows, masks)),
        "padded_block": (pad_rows, padded_block, (block_mask,)),
        "onehot": (as_is, onehot, (codes,)),
        "cumsum": (sort_rows, cumsum, (ends,)),
    }


def reference(x: np.ndarray, codes: np.ndarray, g: int, rowfn_np) -> np.ndarray:
    """float64 np.add.at per-cluster sums; a leading chain axis is looped over."""
    if x.ndim == 3:
        return np.stack([reference(xc, codes, g, rowfn_np) for xc in x])
    vals = rowfn_np(x.astype(np.float64))
    out = np.zeros((g, vals.shape[-1]))
    np.add.at(out, codes, vals)
    return out


def measure(fn, args, ref, runs: int, compiler_options=None) -> dict:
    t0 = time.perf_counter()
    lowered = jax.jit(fn).lower(*args)
    if compiler_options is None:
        compiled = lowered.compile()
    else:
        compiled = lowered.compile(compiler_options=compiler_options)
    compile_s = time.perf_counter() - t0
    first = np.asarray(jax.block_until_ready(compiled(*args)))  # warm-up run
    times, same = [], True
    for _ in range(max(runs, 5)):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t0)
        host = np.asarray(out)
        same &= bool(np.array_equal(host.view(np.uint64), first.view(np.uint64)))
    diff = np.abs(first.reshape(ref.shape) - ref)
    return {
        "compile_s": compile_s,
        "warm_ms": 1e3 * float(np.median(times)),
        "warm_ms_min": 1e3 * float(np.min(times)),
        "runs": len(times),
        "max_abs_err": float(diff.max()),
        "max_rel_err": float((diff / np.maximum(np.abs(ref), 1e-300)).max()),
        "deterministic": same,
    }


def run_case(lay: Layout, x: np.ndarray, rowfn, rowfn_np, runs: int, chains: int | None):
    ref = reference(x, lay.codes, lay.g, rowfn_np)
    results = {}
    for name, (prepare, fn, args) in variants(lay, rowfn).items():
        if name == "onehot" and chains and jax.default_backend() == "cpu" and lay.n > 100_000:
            results[name] = {"skipped": "one-hot over chains at this n: minutes on a CPU"}
            print(f"    {name:22s} skipped", flush=True)
            continue
        v = prepare(x)
        f = fn
        if chains:
            f = jax.vmap(fn, in_axes=(0,) + (None,) * len(args))
        try:
            results[name] = measure(f, (v, *args), ref, runs)
        except Exception as err:  # record and go on (e.g. out of memory)
            results[name] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
        if name == "segsum":
            for flag, options in GPU_FLAGS.items():
                try:
                    results[flag] = measure(f, (v, *args), ref, runs, options)
                    if jax.default_backend() != "gpu":
                        results[flag]["note"] = "option accepted but GPU-only: same program"
                except Exception as err:  # the option exists on GPU only
                    results[flag] = {"unavailable": f"{type(err).__name__}: {str(err)[:200]}"}
        del v
        report(results, name)
    return results


def report(results: dict, name: str) -> None:
    r = results[name]
    if "warm_ms" in r:
        print(
            f"    {name:22s} warm {r['warm_ms']:10.3f} ms  compile {r['compile_s']:6.2f} s  "
            f"abs {r['max_abs_err']:.1e}  rel {r['max_rel_err']:.1e}  "
            f"det {r['deterministic']}",
            flush=True,
        )
    else:
        print(f"    {name:22s} {r}", flush=True)


def markdown(doc: dict, with_flags: bool = False) -> str:
    """The results as a markdown table (GPU-flag rows that only repeat ``segsum`` left out)."""
    lines = [
        "| scale | case | variant | warm ms | compile s | max abs err | max rel err | "
        "deterministic |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for key, case in doc["cases"].items():
        scale, label = key.split("/", 1)
        for name, r in case["variants"].items():
            if "warm_ms" not in r or ("note" in r and not with_flags):
                continue
            lines.append(
                f"| {scale} | {label} | {name} | {r['warm_ms']:.3f} | {r['compile_s']:.2f} | "
                f"{r['max_abs_err']:.1e} | {r['max_rel_err']:.1e} | "
                f"{'yes' if r['deterministic'] else '**no**'} |"
            )
    return "\n".join(lines)


def record(doc: dict, path: Path) -> None:
    """A row per case: ``segsum``'s warm seconds; every variant's warm ms in the note."""
    for key, case in doc["cases"].items():
        shape = case["shape"]
        warm = {name: r["warm_ms"] for name, r in case["variants"].items() if "warm_ms" in r}
        nondet = [name for name, r in case["variants"].items()
                  if "warm_ms" in r and not r["deterministic"]]
        note = ["warm ms " + ", ".join(f"{name} {ms:.3f}" for name, ms in warm.items())]
        note.append(f"not deterministic: {', '.join(nondet) or 'none'}")
        note.append(f"{doc['layouts'][key.split('/')[0]]['G']} clusters; {doc['device_kind']}")
        append_result(dict(benchmark="segments_" + key.replace("/", "_"), rows=shape[-2],
                           cols=shape[-1], m=shape[0] if len(shape) == 3 else "", maxit="",
                           r_seconds="", ratio="",
                           jaxmice_seconds=(f"{warm['segsum'] / 1e3:.6f}" if "segsum" in warm
                                            else ""),
                           jax_backend=doc["backend"], note="; ".join(note)), path)
    print(f"appended {len(doc['cases'])} rows to {path}")


def main(argv: list[str] | None = None) -> None:
    """Time every variant of every case; write the JSON, print the table, record the rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", default="ipd,sim", help="comma list of: ipd, sim")
    parser.add_argument("--cases", default="k1,k8,outer", help="comma list of: k1, k8, outer")
    parser.add_argument("--vmapped", type=int, default=0, metavar="C", help="chains (k8 case)")
    parser.add_argument("--runs", type=int, default=7, help="warm runs per variant (>= 5)")
    parser.add_argument("--runs-small", type=int, default=51, help="warm runs at n <= 10,000")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--table", type=Path, default=None, help="print a results JSON's table")
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    opts = parser.parse_args(argv)
    if opts.table:
        print(markdown(json.loads(opts.table.read_text())))
        return

    backend = jax.default_backend()
    print(f"jax {jax.__version__}  backend {backend}  devices {jax.devices()}", flush=True)
    doc = {
        "backend": backend,
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "jax": jax.__version__,
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "runs": opts.runs,
        "runs_small": opts.runs_small,
        "chunk": CHUNK,
        "layouts": {},
        "cases": {},
    }
    cases = {
        "k1": (1, identity, lambda a: a),
        "k8": (8, identity, lambda a: a),
        "outer": (4, outer, outer_np),
    }
    for scale in opts.scales.split(","):
        n, g = SCALES[scale]
        rng = np.random.default_rng(opts.seed)
        sizes = lognormal_sizes(rng, n, g)
        codes = rng.permutation(np.repeat(np.arange(g), sizes))
        lay = Layout(codes, g)
        doc["layouts"][scale] = lay.describe()
        print(f"{scale}: {lay.describe()}", flush=True)
        runs = opts.runs_small if n <= 10_000 else opts.runs
        todo = [(c, None) for c in opts.cases.split(",")]
        if opts.vmapped:
            todo.append(("k8", opts.vmapped))
        for label, chains in todo:
            k, rowfn, rowfn_np = cases[label]
            shape = (chains, n, k) if chains else (n, k)
            x = rng.normal(1.0, 1.0, size=shape)  # mean 1: sums away from 0, rel err readable
            key = f"{scale}/{label}" + (f"/vmap{chains}" if chains else "")
            print(f"  {key}: values f64{list(shape)}", flush=True)
            doc["cases"][key] = {
                "shape": list(shape),
                "variants": run_case(lay, x, rowfn, rowfn_np, runs, chains),
            }
            del x
    out = opts.out or OUT / f"{backend}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"\nwrote {out}\n")
    print(markdown(doc))
    record(doc, opts.results)


if __name__ == "__main__":
    main()

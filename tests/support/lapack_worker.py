"""Runs jaxmice's batched programs at the benchmarks' batch shapes and prints, as JSON, every
LAPACK call of the compiled programs that takes more than one matrix (run by
``tests/runtime/test_lapack_audit.py`` in a subprocess under a timeout: a deadlock fails the
test)."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("JAXMICE_COMPILATION_CACHE", "0")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "runtime"))  # test_sizes

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from test_sizes import CASES, _frame, _impute  # noqa: E402

import jaxmice as jm  # noqa: E402
from jaxmice._src.engine import batch
from jaxmice._src.runtime import programs


def batched_calls() -> list[dict]:
    """The LAPACK calls of the programs in memory that take a batch of matrices."""
    return [{"program": name, **call._asdict()} for name, compiled in programs.compiled_programs()
            for call in programs.lapack_calls(compiled) if call.batch > 1]


def impute_batch(method: str, clusters: int) -> list[dict]:
    """A full chunk (batch.CHUNK replications, m = 5: 160 lanes, 8 vmapped at a time) of
    ``method`` on frames of ``clusters`` clusters, one iteration."""
    programs.clear_compiled()
    case = next(c for c in CASES if c[0] == method)
    captured: list = []
    real = jm.mice
    jm.mice = lambda data, **kw: captured.append((data, kw))
    try:
        for seed in range(batch.CHUNK):
            _impute(_frame(seed, clusters), *case[:1], *case[1:])
    finally:
        jm.mice = real
    kwargs = {**captured[0][1], "m": 5, "maxit": 1}
    jm.mice([data for data, _ in captured], **kwargs)
    return batched_calls()


def fit_batch(replications: int) -> list[dict]:
    """``lmer`` and ``glmer`` with 8 fixed effects (past the unrolled sizes) on a batch."""
    programs.clear_compiled()
    frames = []
    for seed in range(replications):
        rng = np.random.default_rng(seed)
        g = np.repeat(np.arange(30), 8)
        x = rng.normal(size=(g.size, 7))
        eta = x @ np.linspace(0.1, 0.7, 7) + rng.normal(0, 0.5, 30)[g]
        frame = pd.DataFrame(x, columns=[f"x{k}" for k in range(7)]).assign(
            g=g, y=eta + rng.normal(size=g.size),
            b=(rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float))
        frames.append(frame)
    rhs = " + ".join(f"x{k}" for k in range(7))
    jm.lmer(f"y ~ {rhs} + (1 + x0 | g)", frames)
    jm.glmer(f"b ~ {rhs} + (1 | g)", frames)
    return batched_calls()


if __name__ == "__main__":
    methods = sys.argv[1].split(",") if len(sys.argv) > 1 and sys.argv[1] else []
    clusters = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    replications = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    report = {method: impute_batch(method, clusters) for method in methods}
    if replications:
        report["fits"] = fit_batch(replications)
    print(json.dumps(report))

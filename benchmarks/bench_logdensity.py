"""NumPyro's log densities against the same densities written in jnp, inside a vectorised
Metropolis step (a question of issue 26: the model-based sampler's likelihoods).

Usage::

    python benchmarks/bench.py logdensity [--rows 20000] [--lanes 5] [--steps 20]
                                          [--out benchmarks/results/logdensity/<backend>.json]
                                          [--results PATH]

One program per variant (``jax.jit`` of a ``lax.scan`` of random-walk Metropolis steps, vmapped
over ``--lanes`` chains), for one incomplete covariate x with a normal covariate model, a
normal outcome model linear in x and z, and a logistic model of a binary z given x. The
variants differ only in how the log density is written: ``numpyro`` with
``numpyro.distributions`` (Normal, Bernoulli) ``log_prob``, ``jnp`` by hand. Prints and writes
the trace-and-lower seconds, the XLA compile seconds, the warm run seconds (mean of 3), the
fusions and HLO lines of the optimised program, and the mean acceptance rate (the same draws:
both variants must agree); appends a row per variant (``logdensity_<variant>``) to the results
CSV. In process (it times compiled programs, not processes).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from harness import RESULTS, append_result

HERE = Path(__file__).resolve().parent


def logp_numpyro(x, y, z, beta, sigma):
    """log p(y | x, z) + log p(x) + log p(z | x), by NumPyro's distributions."""
    eta = beta[0] + beta[1] * x + beta[2] * z
    return (dist.Normal(eta, sigma).log_prob(y) + dist.Normal(0.0, 1.0).log_prob(x)
            + dist.Bernoulli(logits=0.3 * x).log_prob(z))


def logp_jnp(x, y, z, beta, sigma):
    """The same density written in jnp."""
    eta = beta[0] + beta[1] * x + beta[2] * z
    r = (y - eta) / sigma
    lz = 0.3 * x
    return (-0.5 * r**2 - jnp.log(sigma) - 0.5 * jnp.log(2 * jnp.pi) - 0.5 * x**2
            - 0.5 * jnp.log(2 * jnp.pi) + z * lz - jnp.logaddexp(0.0, lz))


def metropolis(logp, steps: int):
    """``steps`` random-walk Metropolis steps of every cell of x at once, vmapped over chains."""
    def chain(key, x, y, z, beta, sigma, scale):
        def step(carry, k):
            x, accepted = carry
            k_move, k_accept = jax.random.split(k)
            proposal = x + scale * jax.random.normal(k_move, x.shape)
            log_ratio = logp(proposal, y, z, beta, sigma) - logp(x, y, z, beta, sigma)
            accept = jnp.log(jax.random.uniform(k_accept, x.shape)) < log_ratio
            return (jnp.where(accept, proposal, x), accepted + accept.mean()), None

        (x, accepted), _ = jax.lax.scan(step, (x, 0.0), jax.random.split(key, steps))
        return x, accepted / steps

    return jax.jit(jax.vmap(chain, in_axes=(0, 0, None, None, None, None, None)))


def main(argv: list[str] | None = None) -> None:
    """Time both variants; print and write the JSON; record the rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--lanes", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--results", type=Path, default=RESULTS, help="CSV to append to")
    opts = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)  # a benchmark process of its own
    key = jax.random.PRNGKey(0)
    x = jax.random.normal(key, (opts.lanes, opts.rows))
    y = jax.random.normal(jax.random.fold_in(key, 1), (opts.rows,))
    z = (y > 0).astype(y.dtype)
    beta, keys = jnp.array([0.1, 0.5, 0.2]), jax.random.split(key, opts.lanes)
    args = (keys, x, y, z, beta, 1.0, 0.5)
    doc = {"backend": jax.default_backend(), "jax": jax.__version__, "rows": opts.rows,
           "lanes": opts.lanes, "steps": opts.steps, "variants": {}}
    for name, logp in (("numpyro", logp_numpyro), ("jnp", logp_jnp)):
        program = metropolis(logp, opts.steps)
        t0 = time.perf_counter()
        lowered = program.lower(*args)
        t1 = time.perf_counter()
        compiled = lowered.compile()
        t2 = time.perf_counter()
        _, acceptance = jax.block_until_ready(compiled(*args))
        t3 = time.perf_counter()
        for _ in range(3):
            jax.block_until_ready(compiled(*args))
        run = (time.perf_counter() - t3) / 3
        hlo = compiled.as_text()
        doc["variants"][name] = dict(
            trace_lower_s=round(t1 - t0, 3), compile_s=round(t2 - t1, 3), run_s=round(run, 4),
            fusions=hlo.count(" fusion("), hlo_lines=hlo.count("\n"),
            acceptance=round(float(acceptance.mean()), 6))
        append_result(dict(
            benchmark=f"logdensity_{name}", rows=opts.rows, m=opts.lanes,
            jaxmice_seconds=f"{t2 - t1:.3f}", jax_backend=doc["backend"],
            note=f"compile s; run {run:.4f} s, {doc['variants'][name]['fusions']} fusions, "
                 f"{opts.steps} Metropolis steps"), opts.results)
    print(json.dumps(doc, indent=1))
    out = opts.out or HERE / "results" / "logdensity" / f"{doc['backend']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()

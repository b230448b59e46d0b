"""Importing jaxmice changes nothing in the user's own JAX program.

float64 is scoped to jaxmice's calls (``jaxmice._src.runtime.precision.in_float64``) and the
compilation cache folder is set at the first jaxmice call, only when the user has set none. The test
process itself runs with ``jax_enable_x64`` on (see conftest.py), so each check runs in a fresh
Python process that starts from JAX's defaults.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jaxmice as jm

REPO = Path(__file__).resolve().parents[2]
# settings of the parent process that must not leak into the fresh ones
JAX_VARIABLES = ("JAX_ENABLE_X64", "JAX_COMPILATION_CACHE_DIR", "JAXMICE_COMPILATION_CACHE",
                 "XDG_CACHE_HOME")

# observed values with digits that float32 cannot hold (spacing 2**-13 near 1000)
PRECISE_FRAME = """
rng = np.random.default_rng(5)
g = np.repeat(np.arange(8), 6)
x = rng.normal(size=48)
y = 1000.0 + 0.5 * x + rng.normal(size=8)[g] + rng.normal(size=48) + 1.234567e-6
y[::5] = np.nan
frame = pd.DataFrame({"g": g, "x": x, "y": y})
"""

USER_PROGRAM = """
import json, sys
import jax, jax.numpy as jnp, numpy as np

def user_function(a):
    return jnp.tanh(a @ a.T).sum(axis=0) / 3.0 + jnp.float32(1e-3) * jnp.arange(a.shape[0])

a = jnp.linspace(0.0, 1.0, 12, dtype=jnp.float32).reshape(3, 4)
compiled = jax.jit(user_function)

def user_snapshot():
    jitted, eager = compiled(a), user_function(a)
    return dict(x64=bool(jax.config.jax_enable_x64),
                cache_dir=jax.config.jax_compilation_cache_dir,
                dtypes=[str(jitted.dtype), str(eager.dtype), str(jnp.asarray(0.1).dtype),
                        str(jnp.arange(3).dtype), str(jnp.zeros(2).dtype)],
                values=np.asarray(jitted).tolist() + np.asarray(eager).tolist())

report = {"before import": user_snapshot()}
"""

SCOPING_SCRIPT = USER_PROGRAM + """
import pandas as pd
import jaxmice as jm
report["after import"] = user_snapshot()
""" + PRECISE_FRAME + """
pred = jm.make_predictor_matrix(frame, cluster="g")
imp = jm.mice(frame, m=2, maxit=2, method={"y": "2l.pan"}, predictor_matrix=pred, seed=3,
              progress=False)
report["after mice"] = user_snapshot()
fit = jm.lmer("y ~ x + (1 | g)", frame)
report["after lmer"] = user_snapshot()
# made under jaxmice's float64 scope, continued later from the user's float32 program
more = imp.iterate(1)
report["after iterate"] = user_snapshot()
completed = more.complete(0)
observed = ~np.isnan(frame["y"].to_numpy())
report["dtypes inside"] = [str(imp.data.dtype), str(more.data.dtype),
                           str(completed["y"].dtype)]
report["observed kept exactly"] = bool(
    (completed["y"].to_numpy()[observed] == frame["y"].to_numpy()[observed]).all())
report["imputed y"] = completed["y"].to_numpy()[~observed].tolist()
report["pooled"] = more.fit("y ~ x + (1 | g)").pool().qbar.tolist()
report["lmer fixed"] = np.asarray(fit.fixed, float).tolist()
report["lmer sigma"] = float(fit.sigma)
print(json.dumps(report))
"""

CACHE_SCRIPT = """
import json, sys
import jax
mode, folder = sys.argv[1], sys.argv[2]
if mode == "config":
    jax.config.update("jax_compilation_cache_dir", folder)
min_seconds = jax.config.jax_persistent_cache_min_compile_time_secs
import numpy as np
import jaxmice as jm
report = {"after import": jax.config.jax_compilation_cache_dir}
import pandas as pd
frame = pd.DataFrame({"g": np.repeat(np.arange(4), 5), "x": np.arange(20.0),
                      "y": np.r_[np.nan, np.arange(19.0) % 7]})
jm.mice(frame, m=2, maxit=1, method={"y": "norm"}, seed=1, progress=False)  # compiles
report["after a call"] = jax.config.jax_compilation_cache_dir
report["min compile seconds"] = [min_seconds,
                                 jax.config.jax_persistent_cache_min_compile_time_secs]
print(json.dumps(report))
"""


def fresh_process(script: str, *args: str, env: dict[str, str] | None = None) -> dict:
    """Run ``script`` in a new Python process from JAX's defaults; return the JSON it printed."""
    clean = {k: v for k, v in os.environ.items() if k not in JAX_VARIABLES}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), clean.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, cwd=REPO, env=clean | (env or {}),
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def scoping_report() -> dict:
    return fresh_process(SCOPING_SCRIPT, env={"JAXMICE_COMPILATION_CACHE": "0"})


def test_user_float32_program_unchanged_by_import_and_calls(scoping_report):
    before = scoping_report["before import"]
    assert before["x64"] is False
    assert before["dtypes"] == ["float32", "float32", "float32", "int32", "float32"]
    for moment in ["after import", "after mice", "after lmer", "after iterate"]:
        assert scoping_report[moment] == before, moment  # dtypes, values and flags, exactly


def test_results_stay_float64_after_the_call(scoping_report):
    assert scoping_report["dtypes inside"] == ["float64", "float64", "float64"]
    # float32 would round 1000.xxxxxx1234567 to a multiple of 2**-13
    assert scoping_report["observed kept exactly"] is True


def test_fresh_process_matches_float64_process(scoping_report):
    """The same calls under a process-wide float64 (this test process) give the same numbers."""
    namespace = {"np": np, "pd": pd}
    exec(PRECISE_FRAME, namespace)
    frame = namespace["frame"]
    pred = jm.make_predictor_matrix(frame, cluster="g")
    imp = jm.mice(frame, m=2, maxit=2, method={"y": "2l.pan"}, predictor_matrix=pred, seed=3,
                  progress=False).iterate(1)
    observed = ~np.isnan(frame["y"].to_numpy())
    imputed = imp.complete(0)["y"].to_numpy()[~observed]
    np.testing.assert_allclose(scoping_report["imputed y"], imputed, rtol=1e-12)
    np.testing.assert_allclose(scoping_report["pooled"],
                               imp.fit("y ~ x + (1 | g)").pool().qbar, rtol=1e-10)
    fit = jm.lmer("y ~ x + (1 | g)", frame)
    np.testing.assert_allclose(scoping_report["lmer fixed"], np.asarray(fit.fixed, float),
                               rtol=1e-12)
    np.testing.assert_allclose(scoping_report["lmer sigma"], fit.sigma, rtol=1e-10)


def test_jax_cache_never_set_programs_kept_in_jaxmices_folder(tmp_path):
    report = fresh_process(CACHE_SCRIPT, "none", "", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert report["after import"] is None  # importing sets nothing
    assert report["after a call"] is None  # nor does calling: JAX's cache is the user's
    before, after = report["min compile seconds"]
    assert after == before
    assert len(list((tmp_path / "jaxmice" / "programs").glob("*.bin"))) == 2  # init, iterate


@pytest.mark.parametrize("mode", ["config", "environment"])
def test_cache_folder_set_by_the_user_is_kept(tmp_path, mode):
    folder = str(tmp_path / "users_cache")
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    if mode == "environment":
        env["JAX_COMPILATION_CACHE_DIR"] = folder
    report = fresh_process(CACHE_SCRIPT, mode, folder, env=env)
    assert report["after import"] == folder
    assert report["after a call"] == folder
    before, after = report["min compile seconds"]
    assert after == before  # the user's cache settings are left as they were


def test_cache_switched_off(tmp_path):
    report = fresh_process(CACHE_SCRIPT, "none", "", env={"XDG_CACHE_HOME": str(tmp_path),
                                                          "JAXMICE_COMPILATION_CACHE": "0"})
    assert report["after import"] is None
    assert report["after a call"] is None
    assert not (tmp_path / "jaxmice").exists()

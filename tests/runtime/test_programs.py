"""Compiled programs kept on disk (issue 12): fingerprints, the round trip through the folder,
damaged files, the size bound and the compile options; in memory, the bound on executables
and the memory they free; the compile and load counters; kernel counts."""

from __future__ import annotations

import functools
import gc
import logging
import os

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxmice as jm
from jaxmice._src.runtime import programs


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 60
    g = np.repeat(np.arange(6), 10)
    x = rng.normal(size=n)
    y = x + rng.normal(size=6)[g] + rng.normal(size=n)
    y[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame({"g": g, "x": x, "y": y})


@pytest.fixture
def program_folder(tmp_path, monkeypatch):
    """jaxmice's program folder in ``tmp_path``."""
    monkeypatch.setenv("JAXMICE_COMPILATION_CACHE", "1")
    monkeypatch.setenv("JAXMICE_CACHE_DIR", str(tmp_path))
    programs.clear_compiled()
    yield tmp_path / "programs"
    programs.clear_compiled()


def _impute(seed: int = 1):
    df = _frame()
    pred = jm.make_predictor_matrix(df, cluster="g")
    return jm.mice(df, m=2, maxit=2, method={"y": "2l.pan"}, predictor_matrix=pred, seed=seed,
                   progress=False)


def test_fingerprint_is_by_value():
    assert programs.fingerprint((1, "a", 2.5, None)) == programs.fingerprint((1, "a", 2.5, None))
    assert programs.fingerprint((1,)) != programs.fingerprint((1.0,))
    assert programs.fingerprint(np.arange(3)) != programs.fingerprint(np.arange(1, 4))
    assert programs.fingerprint({"b": 1, "a": 2}) == programs.fingerprint({"a": 2, "b": 1})


def _jaxmice_closure(value):
    def inner(x):
        return x + value

    inner.__module__ = "jaxmice.example"  # as if defined in the package
    return inner


def test_fingerprint_of_jaxmice_functions_includes_their_closures():
    assert programs.fingerprint(jm.squeeze(0, 1)) == programs.fingerprint(jm.squeeze(0, 1))
    assert programs.fingerprint(jm.squeeze(0, 1)) != programs.fingerprint(jm.squeeze(0, 2))
    assert programs.fingerprint(_jaxmice_closure(1)) == programs.fingerprint(_jaxmice_closure(1))
    assert programs.fingerprint(_jaxmice_closure(1)) != programs.fingerprint(_jaxmice_closure(2))
    part = functools.partial(_jaxmice_closure(0), 1)
    assert programs.fingerprint(part) != programs.fingerprint(
        functools.partial(_jaxmice_closure(0), 2))


def test_fingerprint_refuses_functions_from_outside_jaxmice():
    with pytest.raises(programs.Unfingerprintable):
        programs.fingerprint(lambda x: x)
    with pytest.raises(programs.Unfingerprintable):
        programs.fingerprint((1, object()))


def test_plans_of_equal_specifications_have_equal_fingerprints():
    first, second = _impute().plan, _impute(seed=2).plan
    assert programs.fingerprint(first) == programs.fingerprint(second)
    df = _frame()
    other = jm.mice(df, m=2, maxit=1, method={"y": "2l.pan"}, seed=1, progress=False,
                    predictor_matrix=jm.make_predictor_matrix(df, cluster="g"),
                    method_options={"y": {"sweeps": 2}}).plan
    assert programs.fingerprint(other) != programs.fingerprint(first)


def _by_name(counts: dict[str, int]) -> dict[str, int]:
    return {name.rsplit(".", 1)[-1]: n for name, n in counts.items()}


def test_programs_come_back_from_disk_with_the_same_draws(program_folder):
    programs.reset_counts()
    first = _impute()
    stored = sorted(program_folder.glob("*.bin"))
    assert len(stored) == 2  # initialize and iterate
    assert _by_name(programs.compile_counts()) == {"initialize": 1, "iterate": 1}
    assert programs.load_counts() == {}
    programs.clear_compiled()
    programs.reset_counts()
    again = _impute()
    assert sorted(program_folder.glob("*.bin")) == stored  # read back, nothing new written
    assert programs.compile_counts() == {}
    assert _by_name(programs.load_counts()) == {"initialize": 1, "iterate": 1}
    np.testing.assert_array_equal(np.asarray(again.data), np.asarray(first.data))


def test_a_damaged_program_file_is_compiled_anew(program_folder, caplog):
    first = _impute()
    for path in program_folder.glob("*.bin"):
        path.write_bytes(b"not a program")
    programs.clear_compiled()
    programs.reset_counts()
    with caplog.at_level(logging.WARNING, logger="jaxmice"):
        again = _impute()
    np.testing.assert_array_equal(np.asarray(again.data), np.asarray(first.data))
    assert all(path.stat().st_size > 100 for path in program_folder.glob("*.bin"))
    assert _by_name(programs.compile_counts()) == {"initialize": 1, "iterate": 1}
    assert sum("could not be loaded" in r.getMessage() for r in caplog.records) == 2


def test_a_stored_program_failing_its_first_call_is_compiled_anew(program_folder, caplog):
    first = _impute()
    one, other = sorted(program_folder.glob("*.bin"))
    blobs = one.read_bytes(), other.read_bytes()
    one.write_bytes(blobs[1])  # each file now holds the other program: it loads, then fails
    other.write_bytes(blobs[0])
    programs.clear_compiled()
    programs.reset_counts()
    with caplog.at_level(logging.WARNING, logger="jaxmice"):
        again = _impute()
    np.testing.assert_array_equal(np.asarray(again.data), np.asarray(first.data))
    assert programs.load_counts() == {}
    assert _by_name(programs.compile_counts()) == {"initialize": 1, "iterate": 1}
    assert sum("failed on its first call" in r.getMessage() for r in caplog.records) == 2
    assert (one.read_bytes(), other.read_bytes()) == blobs  # each its own program again


def test_the_folder_is_bounded_least_recently_used_first(tmp_path, monkeypatch):
    monkeypatch.setattr(programs, "MAX_CACHE_BYTES", 2500)
    for age, name in enumerate(["old", "mid", "new"]):
        path = tmp_path / f"{name}.bin"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    programs._prune(tmp_path)
    assert sorted(p.stem for p in tmp_path.glob("*.bin")) == ["mid", "new"]


def test_switched_off_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXMICE_COMPILATION_CACHE", "0")
    monkeypatch.setenv("JAXMICE_CACHE_DIR", str(tmp_path))
    assert programs.program_folder() is None
    _impute()
    assert list(tmp_path.rglob("*.bin")) == []


def test_compile_options_follow_the_work(monkeypatch):
    monkeypatch.delenv("JAXMICE_COMPILE", raising=False)
    small, large = programs.FAST_COMPILE_BYTES / 2, programs.FAST_COMPILE_BYTES * 2
    assert programs.compile_options(small) == programs.FAST_COMPILE
    assert programs.compile_options(large) == programs.CPU_COMPILE
    monkeypatch.setenv("JAXMICE_COMPILE", "optimized")
    assert programs.compile_options(small) == programs.CPU_COMPILE
    monkeypatch.setenv("JAXMICE_COMPILE", "fast")
    assert programs.compile_options(large) == programs.FAST_COMPILE


def test_lane_programs_are_optimised_by_the_work_of_a_replications_chains(monkeypatch):
    """popmis's 2l.pan (2,048 rows, 5 columns and 4 design columns): compiled for speed at
    the demo's m = 20, optimised at m = 100 (compiled for speed there, its iterations ran 3x
    slower); 2l.pan at 20,480 rows, 5 + 3 columns, m = 5: optimised. The lanes a program
    runs never enter: a batch's vmapped lanes are always optimised."""
    monkeypatch.delenv("JAXMICE_COMPILE", raising=False)
    popmis = 2048 * (5 + 4)
    assert not programs.lanes_optimized(popmis, chains=20, width=1)
    assert programs.lanes_optimized(popmis, chains=100, width=1)
    assert programs.lanes_optimized(20480 * (5 + 3), chains=5, width=1)
    assert programs.lanes_optimized(100, chains=1, width=8)
    monkeypatch.setenv("JAXMICE_COMPILE", "fast")
    assert not programs.lanes_optimized(popmis, chains=100, width=8)
    monkeypatch.setenv("JAXMICE_COMPILE", "optimized")
    assert programs.lanes_optimized(100, chains=1, width=1)


def test_gpu_programs_ask_for_deterministic_scatter(monkeypatch):
    import jax

    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.delenv("JAXMICE_DETERMINISTIC", raising=False)
    assert programs.compile_options(1.0) == {"xla_gpu_deterministic_ops": True}
    monkeypatch.setenv("JAXMICE_DETERMINISTIC", "0")
    assert programs.compile_options(1.0) is None


def test_written_bytes_counts_outputs_and_loop_bodies_once():
    import jax

    def f(x):  # x: f32[10]; two elementwise results of 40 bytes
        return (x + 1.0) * 2.0

    def looped(x):
        return jax.lax.fori_loop(0, 100, lambda i, v: v * 2.0, x)

    x = jnp.ones(10, jnp.float32)
    assert programs.written_bytes(jax.make_jaxpr(f)(x).jaxpr) == 80
    # the loop: its body's multiply once (40), the loop's own outputs (index 4 + array 40 ...)
    body_once = programs.written_bytes(jax.make_jaxpr(looped)(x).jaxpr)
    assert 80 <= body_once < 40 * 100


def test_a_program_equals_jit():
    prog = programs.Program(lambda x, n: x * n + 1.0, static_argnums=(1,))
    x = jnp.arange(3.0)
    np.testing.assert_array_equal(np.asarray(prog(x, 2)), [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(np.asarray(prog(x, 3)), [1.0, 4.0, 7.0])
    assert prog._cache_size() == 2
    prog(x + 1.0, 2)
    assert prog._cache_size() == 2  # same shapes and statics: no new program


def test_the_store_is_bounded_least_recently_used_first(monkeypatch):
    monkeypatch.setenv("JAXMICE_MAX_PROGRAMS", "2")
    programs.clear_compiled()
    programs.reset_counts()
    prog = programs.Program(lambda x, n: x * n, static_argnums=(1,))
    x = jnp.arange(3.0)
    for n in (1, 2, 1, 3):  # 1 used again before 3 comes: 2 is the least recently used
        prog(x, n)
    assert prog._cache_size() == 2
    assert programs.compile_counts() == {prog.name: 3}
    prog(x, 1)  # kept
    assert programs.compile_counts() == {prog.name: 3}
    np.testing.assert_array_equal(np.asarray(prog(x, 2)), [0.0, 2.0, 4.0])  # compiled again
    assert programs.compile_counts() == {prog.name: 4}
    programs.reset_counts()
    assert programs.compile_counts() == {} and programs.load_counts() == {}


def test_the_store_is_bounded_by_the_programs_estimated_memory(program_folder, monkeypatch):
    from jax.experimental import serialize_executable

    prog = programs.Program(_jaxmice_closure(2.0))
    prog(jnp.ones(3))
    [(_, compiled)] = programs.compiled_programs()
    size = len(serialize_executable.serialize(compiled)[0])
    compiled_weight = size * programs.HELD_PER_SERIALIZED_BYTE["compiled"]
    assert programs.held_bytes() == compiled_weight
    # room for one program: a second shape drops the first, which comes back from the folder
    monkeypatch.setenv("JAXMICE_MAX_PROGRAM_BYTES", str(int(1.5 * compiled_weight)))
    programs.reset_counts()
    prog(jnp.ones(4))
    assert prog._cache_size() == 1
    np.testing.assert_array_equal(np.asarray(prog(jnp.ones(3))), [3.0, 3.0, 3.0])
    assert programs.load_counts() == {prog.name: 1} and prog._cache_size() == 1
    assert programs.held_bytes() == size * programs.HELD_PER_SERIALIZED_BYTE["loaded"]
    monkeypatch.delenv("JAXMICE_MAX_PROGRAM_BYTES")
    prog(jnp.ones(4))  # loaded back too: both fit under the default bound
    assert prog._cache_size() == 2 and programs.compile_counts() == {prog.name: 1}


def _maps() -> int:
    with open("/proc/self/maps") as fh:
        return sum(1 for _ in fh)


def _maps_grown_by_compiling(monkeypatch, bound: int, first: int) -> int:
    """Memory maps added by 12 new programs (distinct static arguments and shapes)."""
    import jax

    monkeypatch.setenv("JAXMICE_MAX_PROGRAMS", str(bound))

    def work(x, k):
        def sweep(_, v):
            return jnp.linalg.cholesky(v @ v.T + k * jnp.eye(v.shape[0])) + jnp.tanh(v)

        return jax.lax.fori_loop(0, 2, sweep, x)

    prog = programs.Program(work, static_argnums=(1,))
    prog(jnp.eye(4), float(first))
    gc.collect()
    before = _maps()
    for k in range(first + 1, first + 13):
        prog(jnp.eye(4 + k % 5), float(k))
    gc.collect()
    return _maps() - before


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="Linux's memory maps")
def test_dropped_programs_free_their_memory(monkeypatch):
    """XLA:CPU maps each compiled kernel into memory: a dropped program gives its maps back,
    nothing of it kept by JAX's caches (the process dies at 65,530 maps)."""
    programs.clear_compiled()
    unbounded = _maps_grown_by_compiling(monkeypatch, 10**6, first=0)
    programs.clear_compiled()
    bounded = _maps_grown_by_compiling(monkeypatch, 1, first=100)
    assert unbounded > 100  # 12 programs of several kernels each
    assert bounded < unbounded / 4


def test_kernel_counts_skip_fused_computations_and_count_loop_bodies_once():
    hlo = """HloModule jit_f
%fused_computation (param_0: f32[8]) -> f32[8] {
  %param_0 = f32[8]{0} parameter(0)
  %inner = f32[8]{0} fusion(%param_0), kind=kLoop, calls=%fused_inner
  ROOT %tanh.1 = f32[8]{0} tanh(%inner)
}
%fused_inner (p: f32[8]) -> f32[8] {
  ROOT %p = f32[8]{0} parameter(0)
}
%body (arg: (s32[], f32[8])) -> (s32[], f32[8]) {
  %arg = (s32[], f32[8]{0}) parameter(0)
  %v = f32[8]{0} get-tuple-element(%arg), index=1
  %loop_fusion = f32[8]{0} fusion(%v), kind=kLoop, calls=%fused_computation
  %chol = (f32[8]{0}, s32[]) custom-call(%loop_fusion), custom_call_target="lapack_spotrf_ffi"
  ROOT %t = (s32[], f32[8]{0}) tuple(%arg, %loop_fusion)
}
ENTRY %main (x: f32[8]) -> f32[8] {
  %x = f32[8]{0} parameter(0), metadata={op_name="jit(f)/fusion(x)"}
  %w = (s32[], f32[8]{0}) while(%x), condition=%cond, body=%body
  ROOT %out = f32[8]{0} fusion(%x), kind=kLoop, calls=%fused_computation
}
"""
    assert programs.kernel_counts(hlo) == {"fusions": 2, "custom_calls": 1}


def test_kernel_counts_of_a_compiled_program():
    import jax

    def f(a):
        return jnp.linalg.cholesky(a @ a.T + jnp.eye(4)).sum()

    compiled = jax.jit(f).lower(jnp.ones((4, 4))).compile()
    counts = programs.kernel_counts(compiled)
    assert counts["custom_calls"] == 1  # LAPACK's potrf
    assert counts["fusions"] >= 1


def test_a_program_inside_a_transformation_is_plain_jit():
    import jax

    prog = programs.Program(lambda x, n: x * n, static_argnums=(1,))
    np.testing.assert_array_equal(np.asarray(jax.vmap(lambda x: prog(x, 2))(jnp.ones(3))),
                                  [2.0, 2.0, 2.0])
    assert prog._cache_size() == 0  # nothing compiled outside the transformation

"""Compiled programs stored on disk and loaded again on several devices (:mod:`jaxmice.programs`).

One program folder, fresh processes (the device count is fixed when JAX starts): one CPU
device, then 4 forced CPU devices twice (the second loads every per-device program from the
folder), then a damaged file and files swapped between programs. Every run imputes the same
data the same way: all answers are bit for bit the first one's.

Run as a script, this file is the worker: ``python test_program_cache_devices.py OUT.npz``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve()


def impute() -> dict:
    """m = 8 chains of 2l.pan on all devices, with this process's compile and load counts."""
    import pandas as pd

    import jaxmice as jm
    from jaxmice._src.runtime import programs

    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(6), 10)
    x = rng.normal(size=60)
    y = x + rng.normal(size=6)[g] + rng.normal(size=60)
    y[rng.random(60) < 0.3] = np.nan
    df = pd.DataFrame({"g": g, "x": x, "y": y})
    imp = jm.mice(df, m=8, maxit=2, method={"y": "2l.pan"}, seed=1, progress=False,
                  predictor_matrix=jm.make_predictor_matrix(df, cluster="g"), devices=None)
    return {"completed": np.asarray(imp.completed_arrays),
            "chain_mean": imp.chain_mean.to_numpy(),
            "devices": json.dumps([d.id for d in imp.devices]),
            "compiles": json.dumps(programs.compile_counts()),
            "loads": json.dumps(programs.load_counts())}


def _run(devices: int, folder: Path, out: Path) -> tuple[dict, str]:
    """The worker in a fresh process on ``devices`` CPU devices: its answer and its stderr."""
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAXMICE_COMPILATION_CACHE="1", JAXMICE_CACHE_DIR=str(folder),
               PYTHONPATH=os.pathsep.join([str(HERE.parents[2]),
                                           os.environ.get("PYTHONPATH", "")]))
    for name in ("JAXMICE_COMPILE", "JAXMICE_MAX_PROGRAMS"):
        env.pop(name, None)
    proc = subprocess.run([sys.executable, str(HERE), str(out)], env=env, timeout=600,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = dict(np.load(out))
    for field in ("devices", "compiles", "loads"):
        result[field] = json.loads(str(result[field]))
    return result, proc.stderr


def _total(counts: dict) -> dict[str, int]:
    """Counts by the program's own name (``iterate``, not
    ``jaxmice._src.engine.sampler.iterate``)."""
    return {name.rsplit(".", 1)[-1]: n for name, n in counts.items()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """The five runs in order, sharing one folder; the files tampered with in between."""
    tmp = tmp_path_factory.mktemp("programs")
    folder, programs = tmp / "cache", tmp / "cache" / "programs"
    done: dict = {}

    def files() -> set[Path]:
        return set(programs.glob("*.bin"))

    done["one"] = _run(1, folder, tmp / "one.npz")
    done["one_files"] = sorted(files())
    done["four"] = _run(4, folder, tmp / "four.npz")
    done["four_files"] = sorted(files() - set(done["one_files"]))
    done["four_again"] = _run(4, folder, tmp / "four_again.npz")
    damaged = done["four_files"][0]
    damaged.write_bytes(b"not a program")
    done["damaged"] = damaged
    done["four_damaged"] = _run(4, folder, tmp / "four_damaged.npz")
    # each one-device program's file holds another program: it loads, and fails when called
    first, second = done["one_files"]
    swapped = {first: second.read_bytes(), second: first.read_bytes()}
    for path, blob in swapped.items():
        path.write_bytes(blob)
    done["swapped"] = swapped
    done["one_swapped"] = _run(1, folder, tmp / "one_swapped.npz")
    return done


def _assert_same(result: dict, reference: dict) -> None:
    for field in ("completed", "chain_mean"):
        assert result[field].shape == reference[field].shape, field
        assert np.array_equal(result[field], reference[field]), field


def test_four_devices_load_their_programs_and_equal_one_bit_for_bit(runs):
    one, _ = runs["one"]
    four, _ = runs["four"]
    again, log = runs["four_again"]
    assert len(runs["one_files"]) == 2 and len(runs["four_files"]) == 8
    assert _total(one["compiles"]) == {"initialize": 1, "iterate": 1}
    assert four["devices"] == [0, 1, 2, 3]
    assert _total(four["compiles"]) == {"initialize": 4, "iterate": 4}  # one per device
    assert again["compiles"] == {} and _total(again["loads"]) == {"initialize": 4, "iterate": 4}
    assert "compiling it anew" not in log
    _assert_same(four, one)
    _assert_same(again, one)


def test_a_damaged_file_is_compiled_anew_with_a_warning(runs):
    result, log = runs["four_damaged"]
    _assert_same(result, runs["one"][0])
    assert sum(result["compiles"].values()) == 1 and sum(result["loads"].values()) == 7
    assert log.count("could not be loaded, compiling it anew") == 1
    assert runs["damaged"].stat().st_size > 1000  # stored again, whole


def test_a_file_failing_its_first_call_is_compiled_anew_with_a_warning(runs):
    result, log = runs["one_swapped"]
    _assert_same(result, runs["one"][0])
    assert _total(result["compiles"]) == {"initialize": 1, "iterate": 1}
    assert result["loads"] == {}
    assert log.count("failed on its first call, compiling it anew") == 2
    for path, swapped in runs["swapped"].items():  # each replaced by its own program
        assert path.read_bytes() != swapped


if __name__ == "__main__":
    np.savez(sys.argv[1], **impute())

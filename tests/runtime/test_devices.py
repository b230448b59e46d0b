"""Chains and replications spread over devices and processes: the same imputations, bit for
bit, as on one device (:mod:`jaxmice._src.runtime.devices`).

The multi-device runs are fresh processes (``tests/support/devices_worker.py``): the device count is
fixed when a process starts JAX, 4 forced CPU devices in one, or 2 processes x 2 devices
joined by ``jax.distributed`` over a loopback coordinator.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from devices_worker import impute

import jaxmice as jm
from jaxmice._src.runtime.devices import choose_devices, make_layout

WORKER = Path(__file__).parents[1] / "support" / "devices_worker.py"
FIELDS = ("single", "single_chain_mean", "batch", "batch_chain_mean")


@pytest.fixture(scope="module")
def one_device() -> dict:
    return impute(1)


def _env(devices: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAXMICE_COMPILATION_CACHE="0")
    env["PYTHONPATH"] = os.pathsep.join([str(WORKER.parents[2]),
                                         env.get("PYTHONPATH", "")])
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_same(result: dict, reference: dict) -> None:
    for field in FIELDS:
        assert result[field].shape == reference[field].shape, field
        assert np.array_equal(result[field], reference[field]), field


def test_four_devices_equal_one_bit_for_bit(one_device, tmp_path):
    out = tmp_path / "four.npz"
    subprocess.run([sys.executable, str(WORKER), str(out)], env=_env(4), check=True,
                   timeout=600, capture_output=True)
    result = dict(np.load(out))
    assert json.loads(str(result["devices"])) == [0, 1, 2, 3]
    assert json.loads(str(result["batch_devices"])) == [0, 1, 2, 3]
    _assert_same(result, one_device)


def test_two_processes_equal_one_device_bit_for_bit(one_device, tmp_path):
    port = _free_port()
    procs, outs = [], []
    for i in range(2):
        outs.append(tmp_path / f"process{i}.npz")
        procs.append(subprocess.Popen(
            [sys.executable, str(WORKER), str(outs[-1]), "--process", str(i), "--processes",
             "2", "--port", str(port)], env=_env(2), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT))
    for proc in procs:
        log, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, log.decode()[-3000:]
    for out in outs:  # every process holds the whole answer
        result = dict(np.load(out))
        assert len(json.loads(str(result["devices"]))) == 4
        _assert_same(result, one_device)


def test_layout_pads_lanes_and_keeps_two_per_device():
    assert (make_layout(1, 5).per_device, make_layout(1, 5).lanes) == (5, 5)
    assert make_layout(1, 1).lanes == 1
    devices = jax.devices()
    layout = make_layout(devices[:1], 8)
    assert layout.devices == (devices[0],) and layout.local == (0,)
    assert layout.chains(0).tolist() == list(range(8))


def test_bad_device_choices_are_named():
    with pytest.raises(ValueError, match="devices=0"):
        choose_devices(0)
    with pytest.raises(ValueError, match="devices is empty"):
        choose_devices([])
    with pytest.raises(TypeError, match="not a jax.Device"):
        choose_devices(["cpu"])
    with pytest.raises(ValueError, match="repeats"):
        choose_devices([jax.devices()[0]] * 2)


def test_imputations_report_their_devices():
    df = jm.datasets.load_popmis()
    imp = jm.mice(df[["school", "popular", "sex"]], m=2, maxit=1, seed=1, progress=False,
                  devices=1)
    assert imp.devices == (jax.devices()[0],)
    assert imp.completed_arrays.shape == (2, len(df), 3)

"""Run by tests/runtime/test_devices.py in a fresh process: impute one data set (m = 8) and a batch
of 8 replications on the devices this process sees (all of them, or those of every process after
``jax.distributed.initialize``), and save the completed data.

Usage::

    python tests/support/devices_worker.py OUT.npz [--devices K]
        [--process I --processes P --port N]
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def impute(devices: int | None) -> dict:
    """The single data set's and the batch's completed data and chain means."""
    import jaxmice as jm
    from jaxmice.case_studies import simulation

    frame = simulation.replication(1, n_clusters=12, per=10)
    options = dict(method={"y": "2l.pan", "x1": "2l.pan"},
                   predictor_matrix=simulation.predictors(frame, True), progress=False)
    imp = jm.mice(frame, m=8, maxit=3, seed=11, devices=devices, **options)
    frames = [simulation.replication(r, n_clusters=6, per=8) for r in range(8)]
    batch = jm.mice(frames, m=2, maxit=2, seed=5, chunk_size=2, devices=devices, **options)
    return {
        "single": imp.completed_arrays,
        "single_chain_mean": imp.chain_mean.to_numpy(),
        "batch": np.stack([np.asarray(a) for a in batch.data]),
        "batch_chain_mean": np.stack([batch[r].chain_mean.to_numpy() for r in range(8)]),
        "devices": json.dumps([d.id for d in imp.devices]),
        "batch_devices": json.dumps([d.id for d in batch.devices]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--process", type=int, default=None)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.process is not None:
        import jax

        jax.distributed.initialize(coordinator_address=f"127.0.0.1:{args.port}",
                                   num_processes=args.processes, process_id=args.process)
    np.savez(args.out, **impute(args.devices))


if __name__ == "__main__":
    main()

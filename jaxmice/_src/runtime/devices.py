"""Where the chains run: the lanes (chains, or chunks of replications) spread over devices.

:class:`Layout` says which devices a run uses and how its lanes map onto them: each device
runs a contiguous block of ``per_device`` lanes with its own copy of the run's program (the
same program on every device: no SPMD partitioning, no communication inside the chain). A
lane count not divisible by the device count is padded with extra chains (chain numbers m,
m + 1, ...) whose draws are thrown away; the keys depend on the chain number only, so
padding never changes a real chain.

After ``jax.distributed.initialize(...)``, ``jax.devices()`` lists the devices of every
process and the same layout spans them all: each process runs its own devices' blocks, the
blocks form one global array sharded over the lanes (:func:`join`), and :func:`to_host`
gathers it (a collective every process joins) when the user asks for frames.

Bit for bit, the answer does not depend on the layout: each device runs the same per-chain
program in a loop over its lanes whose length is data
(:func:`jaxmice._src.engine.sampler.each_lane`), so the order of every sum is the one the chain has
alone. (XLA compiles an array of one lane differently, so a device gets at least two lanes when
there are two.) A partitioned (SPMD) program was tried first: XLA's partitioner changes the rounding
of a few sums (1e-15).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

#: the mesh axis the lanes (chains, or chunks of replications) are spread over
LANES = "lanes"


@dataclass(frozen=True)
class Layout:
    """The devices of a run and its lanes.

    Attributes:
        devices: the devices used, in lane order (device k runs lanes
            ``k * per_device .. (k + 1) * per_device - 1``).
        count: real lanes (chains, or chunks for a batch).
        per_device: lanes each device runs.
    """

    devices: tuple
    count: int
    per_device: int

    @property
    def lanes(self) -> int:
        """Lanes run: ``count`` padded to ``per_device`` x the device count."""
        return self.per_device * len(self.devices)

    @property
    def local(self) -> tuple[int, ...]:
        """Positions (in :attr:`devices`) of this process's devices."""
        me = jax.process_index()
        return tuple(k for k, d in enumerate(self.devices) if d.process_index == me)

    def chains(self, k: int) -> np.ndarray:
        """``i[per_device]`` the lane (chain) numbers device ``k`` runs."""
        return np.arange(k * self.per_device, (k + 1) * self.per_device, dtype=np.int32)

    @property
    def mesh(self) -> Mesh:
        """A one-axis mesh over :attr:`devices` (axis :data:`LANES`)."""
        return Mesh(np.array(self.devices), (LANES,))


def choose_devices(devices: Any = None) -> tuple:
    """The devices to use: all of them (every process's, after ``jax.distributed``), the first
    ``devices`` of them for an integer, or the given sequence of :class:`jax.Device`.

    Raises:
        ValueError: an empty or repeated choice, or more devices than there are.
        TypeError: something that is not a device.
    """
    every = jax.devices()
    if devices is None:
        return tuple(every)
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(every):
            raise ValueError(f"devices={devices}: choose 1 .. {len(every)}, the number of "
                             "devices there are")
        return tuple(every[:int(devices)])
    if isinstance(devices, jax.Device):
        devices = [devices]
    if not isinstance(devices, Sequence) or isinstance(devices, str):
        raise TypeError("devices must be None (all), an integer count, or a list of "
                        f"jax.Device, got {devices!r}")
    chosen = tuple(devices)
    if not chosen:
        raise ValueError("devices is empty: give None (all devices), a count, or devices")
    for d in chosen:
        if not isinstance(d, jax.Device):
            raise TypeError(f"devices holds {d!r}, not a jax.Device")
    if len({d.id for d in chosen}) != len(chosen):
        raise ValueError(f"devices repeats a device: {list(chosen)}")
    return chosen


def make_layout(devices: Any, count: int, multiple: int = 1) -> Layout:
    """The :class:`Layout` of ``count`` lanes over :func:`choose_devices` ``(devices)``: at
    least two lanes per device (one if there is one lane in all), so that no layout runs a
    one-lane program another layout does not, and a multiple of ``multiple`` (the lanes a
    program runs at once, :func:`jaxmice._src.engine.sampler.lane_width`)."""
    chosen = choose_devices(devices)
    per_device = max(math.ceil(count / len(chosen)), min(count, 2))
    per_device = math.ceil(per_device / multiple) * multiple
    return Layout(devices=chosen, count=count, per_device=per_device)


def pad_lanes(x: Any, lanes: int) -> np.ndarray:
    """``x: [k, ...]`` padded to ``[lanes, ...]`` by repeating its last entry."""
    x = np.asarray(x)
    if x.shape[0] == lanes:
        return x
    return np.concatenate([x, np.repeat(x[-1:], lanes - x.shape[0], axis=0)])


def block(tree: Any, layout: Layout, k: int) -> Any:
    """Device ``k``'s lanes of host arrays ``[lanes, ...]``, placed on that device."""
    lo, hi = k * layout.per_device, (k + 1) * layout.per_device
    return jax.device_put(jax.tree.map(lambda x: np.asarray(x)[lo:hi], tree),
                          layout.devices[k])


def copy_to(tree: Any, layout: Layout, k: int) -> Any:
    """Arrays every lane reads (the data, its masks, the keys), placed on device ``k``."""
    return jax.device_put(tree, layout.devices[k])


def join(blocks: dict[int, Any], layout: Layout) -> Any:
    """One array per leaf with all lanes, from this process's blocks ``{k: tree}`` (device
    k's lanes on device k): sharded over the lanes, nothing copied."""
    if len(layout.devices) == 1:
        return blocks[0]
    sharding = NamedSharding(layout.mesh, PartitionSpec(LANES))
    trees = [blocks[k] for k in layout.local]
    structure = jax.tree.structure(trees[0])
    leaves = [jax.tree.leaves(t) for t in trees]
    joined = [jax.make_array_from_single_device_arrays(
        (layout.lanes, *parts[0].shape[1:]), sharding, list(parts))
        for parts in zip(*leaves, strict=True)]
    return jax.tree.unflatten(structure, joined)


def split(tree: Any, layout: Layout) -> dict[int, Any]:
    """The inverse of :func:`join`: this process's blocks ``{k: tree}``."""
    if len(layout.devices) == 1:
        return {0: tree}
    leaves, structure = jax.tree.flatten(tree)
    out: dict[int, list] = {k: [] for k in layout.local}
    for leaf in leaves:
        by_device = {shard.device: shard.data for shard in leaf.addressable_shards}
        for k in layout.local:
            out[k].append(by_device[layout.devices[k]])
    return {k: jax.tree.unflatten(structure, v) for k, v in out.items()}


def to_host(tree: Any) -> Any:
    """Device arrays as numpy arrays; arrays spread over several processes are gathered
    (every process must call this, in the same order)."""
    def fetch(x: Any) -> Any:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(fetch, tree)

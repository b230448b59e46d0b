"""Size classes: every shape a compiled program sees is padded up a ladder of sizes.

A program compiled for an exact row or cluster count serves one data set. Padded up a ladder
(with masks, so that padding changes nothing), one program serves every data set of its
*size class*: a loop over data sets of varying size, or a batch with random cluster sizes,
compiles once per class.

Rows climb a ladder of four steps per doubling: ``k * 2**e`` with ``k`` in 4..7 (64, 80, 96, 112,
128, 160, ...). A size is padded by less than one step, so by less than 1/4: at most 25% extra
rows, 9.6% on average over the loop benchmark's data sets (plain powers of two would waste up
to 100%: 20,000 rows would become 32,768; they become 20,480 here). Eight steps per doubling
(at most 12.5%, 4.7% on average) gave that loop 22 classes instead of 13, 5 of them first met
after its 100th data set: 66 compiles instead of 39, and about 37 MiB of programs a class,
so the process grew for as long as new classes came (``benchmarks/results/sizes/``).

Clusters climb a ladder of two steps per doubling (8, 12, 16, 24, 32, 48, 64, 96, ...): at most
50% extra clusters. A padded cluster has no rows, so it costs a few flops of q x q algebra, while
every class costs a compile: over 1,000 data sets of 30-80 clusters of 10-30 rows
(``benchmarks/jm_sizes_loop.py``), eight cluster steps per doubling gave 44 (rows, clusters)
classes, two 22 (with eight row steps per doubling).

Below :data:`MIN_ROWS` rows and :data:`MIN_CLUSTERS` clusters everything shares one class.

A batch of data sets merges its row classes where a compile costs more than the padding
(:func:`merged_row_classes`): a class holding few of its data sets runs at the next larger
class of the batch.

``JAXMICE_SIZE_CLASSES=exact`` turns padding off (every size its own class), to compare.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence

import numpy as np

#: smallest row class: tiny data sets share one program (padding there costs nothing)
MIN_ROWS = 64
#: smallest cluster class
MIN_CLUSTERS = 8
#: steps per doubling of the rows' ladder (a power of two): the waste is below 1 / ROW_STEPS
ROW_STEPS = 4
#: steps per doubling of the clusters' ladder
CLUSTER_STEPS = 2
#: padded row-iterations of a chain that cost about what compiling a size class's programs
#: costs (the sampler's two and the fit's): on a 2-core CPU, 2l.pan for two columns runs a
#: chain's iteration at about 3.8e-7 s a row, and a class of 1,280 rows compiles in about
#: 5.5 s (``benchmarks/jm_sizes_batch.py``)
MERGE_ROW_ITERATIONS = 1.5e7


def padding_enabled() -> bool:
    """Whether sizes are padded to their class (``JAXMICE_SIZE_CLASSES`` is not ``exact``)."""
    return os.environ.get("JAXMICE_SIZE_CLASSES", "ladder") != "exact"


def ladder(size: int, minimum: int = 1, steps: int = ROW_STEPS) -> int:
    """The smallest rung ``k * 2**e`` (``k`` in steps..2*steps-1) at least ``size`` and
    ``minimum``.

    Args:
        size: the exact size (rows, clusters, ...), >= 0.
        minimum: the smallest size returned.
        steps: rungs per doubling, a power of two.
    """
    size = max(int(size), int(minimum), 1)
    if size <= 2 * steps:
        return size
    shift = size.bit_length() - steps.bit_length()  # so that size >> shift is in steps..2*steps-1
    step = 1 << shift
    return -(-size // step) * step


def row_class(n: int) -> int:
    """Rows a program for ``n`` rows is compiled for (``n`` itself with padding off)."""
    return ladder(n, MIN_ROWS) if padding_enabled() else int(n)


def rows_at(n: int, min_rows: int = 0) -> int:
    """Rows ``n`` rows run at: their class, or ``min_rows`` where a batch runs them at a
    larger one (:func:`merged_row_classes`)."""
    return max(row_class(n), int(min_rows))


def cluster_class(count: int) -> int:
    """Clusters a program for ``count`` clusters is compiled for (0 stays 0: no clusters)."""
    if count == 0 or not padding_enabled():
        return int(count)
    return ladder(count, MIN_CLUSTERS, CLUSTER_STEPS)


def waste(size: int, padded: int) -> float:
    """Share of a padded size that is padding: ``(padded - size) / size``."""
    return (padded - size) / max(size, 1)


def merged_row_classes(rows: Sequence[int], chain_iterations: int) -> dict[int, int]:
    """The row class a batch runs each of its row classes at: from the smallest up, a class
    (with the data sets merged into it) is merged into the batch's next larger class while
    the padding that adds, data sets x extra rows x ``chain_iterations``, stays below
    :data:`MERGE_ROW_ITERATIONS` (a compile saved).

    Args:
        rows: the row count of each data set of the batch.
        chain_iterations: m x maxit, the chain iterations a data set runs.

    Returns:
        ``{row class: the class it runs at}`` for each row class of ``rows``.
    """
    counts = Counter(row_class(n) for n in rows)
    classes = sorted(counts)
    target = {c: c for c in classes}
    if not padding_enabled():  # exact sizes: nothing is padded
        return target
    held = 0
    for low, high in zip(classes, classes[1:], strict=False):
        held += counts[low]
        if held * (high - low) * chain_iterations >= MERGE_ROW_ITERATIONS:
            held = 0
            continue
        for c, t in target.items():
            if t == low:
                target[c] = high
    return target


def chunk_size(most: int, budget: float, per_item: float) -> int:
    """Items one program call takes: ``most``, or fewer where they would hold more than
    ``budget`` bytes at ``per_item`` each (at least one)."""
    return int(max(1, min(most, budget // per_item)))


def padded_positions(count: int, size: int) -> np.ndarray:
    """``i[size]`` the positions ``0 .. count - 1`` and then the last again up to ``size``:
    a chunk padded with copies of its last item, so that every chunk has one shape (one
    program) and the padding's results are simply dropped."""
    return np.minimum(np.arange(max(size, count)), count - 1)

"""Batches of data sets (``jm.mice(frames)``): the public names of
:mod:`jaxmice.batch`. ``MEMORY_BUDGET`` (bytes) caps a chunk's memory; set it on
:mod:`jaxmice.batch` to change it."""

from jaxmice._src.engine.batch import CHUNK, MEMORY_BUDGET, Batch, BatchFits, PooledBatch

__all__ = ["CHUNK", "MEMORY_BUDGET", "Batch", "BatchFits", "PooledBatch"]

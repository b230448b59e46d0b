"""jaxmice's compiled programs and their cache: the public names of
:mod:`jaxmice.programs` (counts, memory held, the program folder)."""

from jaxmice._src.runtime.programs import (
    cache_switched_off,
    compile_counts,
    held_bytes,
    lapack_calls,
    load_counts,
    program_folder,
)

__all__ = ["cache_switched_off", "compile_counts", "held_bytes", "lapack_calls", "load_counts",
           "program_folder"]

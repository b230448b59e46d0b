"""jaxmice's compiled programs: each top-level function compiled once per data shape, kept in
memory and on disk, so that a second process neither traces, lowers nor compiles it again.

JAX's persistent compilation cache saves the XLA compile only: every new process still traces
and lowers each program, which on a small job costs more than running it. A :class:`Program`
instead keeps the whole compiled executable (``jax.experimental.serialize_executable``) under a
fingerprint of everything that determines it:

- the function (module and name) and the source of the jaxmice package (a hash of its files),
  JAX's and jaxlib's versions, the backend and its devices, the 64-bit switch;
- the static arguments (e.g. the sampler's :class:`~jaxmice._src.engine.sampler.Plan`),
  fingerprinted by value: numbers, strings, tuples, dataclasses, arrays, and jaxmice's own functions
  by module, name and closure. An argument that cannot be fingerprinted that way (a user's own
  method or passive function) keeps the program in memory only;
- the shapes and dtypes of the array arguments, and the compile options.

Compile options (CPU only): every program is compiled with XLA's classic loop emitters at
LLVM's -O2 (:data:`CPU_COMPILE`), which compile twice as fast as XLA's defaults (the newer
fusion emitters, -O3) at equal run time. A program whose operations write few bytes
(:func:`written_bytes`: it runs in milliseconds, while the optimising passes take seconds)
also skips LLVM's optimisation (:data:`FAST_COMPILE`): another 2x faster to compile, up to 2x
slower to run.
``JAXMICE_COMPILE=fast|optimized|auto`` (default ``auto``) overrides the choice.

The folder is ``$XDG_CACHE_HOME/jaxmice/programs`` (``~/.cache/jaxmice/programs``), or
``JAXMICE_CACHE_DIR/programs``; ``JAXMICE_COMPILATION_CACHE=0`` keeps programs in memory only.
It is bounded: beyond :data:`MAX_CACHE_BYTES` the least recently used files are removed.
A file keeps the ids of the devices its executable was compiled for, and is loaded onto those
(a program is compiled per device, :mod:`jaxmice._src.runtime.devices`). A file that fails to load,
or whose program fails on its first call, is removed and the program compiled anew, with a warning
on the ``jaxmice`` logger. After ``jax.distributed.initialize`` (more than one process) the folder
is neither read nor written: each process compiles its own programs and keeps them in memory.

In memory, the executables of all programs together are bounded too, by count
(:data:`MAX_PROGRAMS`, ``JAXMICE_MAX_PROGRAMS``) and by their estimated memory
(:data:`MAX_PROGRAM_BYTES`, ``JAXMICE_MAX_PROGRAM_BYTES``; :func:`held_bytes`): beyond either
the least recently used are dropped, and their memory (XLA:CPU maps each compiled kernel into
memory) freed; a dropped program that is needed again is read back from the folder. Each
compilation traces a fresh ``jax.jit`` of the function, so that nothing of it stays in JAX's
own caches once it is dropped. A process that imputes thousands of data sets of different
shapes therefore keeps a flat footprint (``benchmarks/bench_program_memory.py``,
``benchmarks/jm_sizes_loop.py``).

Counters, per process and program name (``module.qualname``), for tests and benchmarks:
:func:`compile_counts` (programs compiled), :func:`load_counts` (programs read from the folder
and run), :func:`reset_counts`. :func:`kernel_counts` counts a compiled program's kernels.

Nothing here touches the user's JAX settings or JAX's caches (no ``jax.clear_caches``).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import dataclasses
import enum
import functools
import hashlib
import inspect
import logging
import os
import pickle
import re
import threading
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

#: the bytes a CPU program's operations write (:func:`written_bytes`, loops counted once) below
#: which it is compiled for speed (:data:`FAST_COMPILE`): about 10 ms of running on a 2-core
#: CPU. popmis's iterations (pmm 7e7 bytes, 9 ms a run; 2l.pan 3e7, 5 ms) compile 2-3x faster
#: that way and run up to 2x slower, a good trade for programs run a few dozen times; the
#: fixed-dummies pmm iteration (4e8, 75 ms) and 2l.pan at 20,000 rows (1e8, 18 ms) are
#: optimised.
FAST_COMPILE_BYTES = 8e7
#: bytes a lane's iteration writes per cell of its data and design, n x (p + q), one visit
#: counted (:func:`written_bytes` of the sampler's lane loop body): 151 for popmis's 2l.pan,
#: 206 for its pmm, 178 for 2l.pan at 20,480 rows, 170 for pmm at 20,480 rows x 20 columns
#: (560 at 128 rows, where fixed costs weigh). So popmis's 2l.pan compiles for speed at the
#: demo's m = 20 and is optimised at m = 100; 2l.pan at 20,000 rows is optimised at m = 5.
LANE_BYTES_PER_CELL = 160
#: XLA options of every CPU program: XLA's classic loop emitters instead of its newer fusion
#: emitters, and LLVM's -O2 instead of -O3, compile twice as fast at equal run time (2-core CPU:
#: the fixed-dummies pmm iteration 3.1 s -> 1.7 s, 76 -> 78 ms a run; 2l.pan at 20,000 rows
#: 6.3 s -> 3.1 s, 19 -> 18 ms)
CPU_COMPILE = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 2}
#: and of a small CPU program, whose run takes milliseconds: no LLVM optimisation either
#: (popmis's 2l.pan iteration 2.9 s -> 1.5 s, 7 -> 10 ms a run)
FAST_COMPILE = {**CPU_COMPILE, "xla_backend_optimization_level": 0}
#: XLA options of every GPU program: a GPU's scatter-add (the methods' per-cluster segment sums)
#: adds with atomics in whatever order the threads come, so the last bits of a sum change from
#: run to run; XLA's deterministic mode orders them (same seed, same result on a GPU too).
#: ``benchmarks/bench_segments.py`` measures its cost against the padded cluster layout.
GPU_COMPILE = {"xla_gpu_deterministic_ops": True}
#: most bytes kept in the program folder before the least recently used files go
MAX_CACHE_BYTES = 512 * 2**20
#: most executables kept in memory, all programs together, before the least recently used is
#: dropped (``JAXMICE_MAX_PROGRAMS`` overrides). XLA:CPU maps every kernel into memory: a
#: small 2l.pan job's two programs hold about 300 maps and 20 MiB each (64 held: 19,300 maps,
#: 1.5 GiB, ``benchmarks/bench_program_memory.py --mice``), and Linux allows 65,530 maps a
#: process. 96 holds the working set of a loop over data sets of 30-80 clusters of 10-30 rows
#: (22 size classes x initialize, iterate and the lmer fit: ``benchmarks/jm_sizes_loop.py``)
#: at about 30,000 maps. A run uses two per device (initialize and iterate), so a run on more
#: than 48 devices needs a larger bound.
MAX_PROGRAMS = 96
#: most bytes the executables in memory may take together (estimated, see
#: :data:`HELD_PER_SERIALIZED_BYTE`) before the least recently used are dropped
#: (``JAXMICE_MAX_PROGRAM_BYTES`` overrides). A process that loops over data sets of many
#: size classes then levels off at about this much for its programs. The loop benchmark's
#: programs take about 37 MiB a size class compiled and 67 MiB loaded from the folder
#: (initialize, iterate and the lmer fit), so 1 GiB holds its 13 classes either way; with 512
#: MiB a second process (programs loaded) dropped and reloaded them on every other call. The
#: README demo's 9 programs take 79 MiB.
MAX_PROGRAM_BYTES = 2**30
#: memory an executable holds per byte of its serialized form, measured on this 2-core CPU
#: (jaxlib 0.10: 2l.pan's initialize, iterate and the lmer fit): about 10 for one compiled in
#: the process, about 18 for one loaded from the folder (the load keeps a second copy of the
#: module and its buffer assignment; freed with it)
HELD_PER_SERIALIZED_BYTE = {"compiled": 10, "loaded": 18}
#: the estimate for a program that cannot be serialized
UNSERIALIZED_PROGRAM_BYTES = 16 * 2**20

_log = logging.getLogger("jaxmice")

_PACKAGE = Path(__file__).resolve().parents[2]  # jaxmice/


class Unfingerprintable(TypeError):
    """A static argument whose identity across processes cannot be established."""


@functools.cache
def source_hash() -> str:
    """sha256 of the jaxmice package's Python files (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _function_fingerprint(fn: Any) -> tuple:
    module = getattr(fn, "__module__", None) or ""
    if not (module == "jaxmice" or module.startswith("jaxmice.")):
        raise Unfingerprintable(f"{fn!r} is not jaxmice's own")
    closure = tuple(cell.cell_contents for cell in (getattr(fn, "__closure__", None) or ()))
    defaults = (getattr(fn, "__defaults__", None), getattr(fn, "__kwdefaults__", None))
    return ("fn", module, fn.__qualname__, fingerprint(closure), fingerprint(defaults))


def fingerprint(value: Any) -> Any:
    """A nested tuple of plain values that identifies ``value`` across processes.

    Raises:
        Unfingerprintable: ``value`` holds something whose identity is not its value (e.g. a
            function from outside jaxmice).
    """
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return (type(value).__name__, value)
    if isinstance(value, enum.Enum):
        return ("enum", type(value).__qualname__, value.name)
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        return ("array", str(arr.dtype), arr.shape, hashlib.sha256(arr.tobytes()).hexdigest())
    if isinstance(value, (jax.Array,)):
        return fingerprint(np.asarray(value))
    if isinstance(value, np.dtype):
        return ("dtype", str(value))
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # NamedTuple
        return ("namedtuple", type(value).__qualname__,
                tuple(fingerprint(v) for v in value))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(fingerprint(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted(repr(fingerprint(v)) for v in value)))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((repr(fingerprint(k)), fingerprint(v))
                                     for k, v in value.items())))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return ("dataclass", type(value).__module__, type(value).__qualname__,
                tuple((f.name, fingerprint(getattr(value, f.name)))
                      for f in dataclasses.fields(value)))
    if isinstance(value, functools.partial):
        return ("partial", fingerprint(value.func), fingerprint(value.args),
                fingerprint(value.keywords))
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        return _function_fingerprint(value)
    if isinstance(value, type):
        return ("type", value.__module__, value.__qualname__)
    raise Unfingerprintable(f"cannot fingerprint a {type(value).__name__}")


def cache_switched_off() -> bool:
    """Whether ``JAXMICE_COMPILATION_CACHE=0`` asks jaxmice to keep no programs on disk."""
    return os.environ.get("JAXMICE_COMPILATION_CACHE", "1") == "0"


def program_folder() -> Path | None:
    """The folder of jaxmice's compiled programs, or None when the cache is switched off."""
    if cache_switched_off():
        return None
    root = os.environ.get("JAXMICE_CACHE_DIR")
    if root is None:
        cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        root = os.path.join(cache_home, "jaxmice")
    return Path(root) / "programs"


def _environment() -> tuple:
    import jaxlib

    return (source_hash(), jax.__version__, getattr(jaxlib, "__version__", ""),
            jax.default_backend(), tuple(d.device_kind for d in jax.devices()),
            bool(jax.config.jax_enable_x64))


def _aval(leaf: Any) -> tuple:
    if isinstance(leaf, jax.Array) or isinstance(leaf, np.ndarray):
        dtype = leaf.dtype
        return (tuple(leaf.shape), str(dtype), bool(getattr(leaf, "weak_type", False)))
    return (type(leaf).__name__,)


def placement(leaves: list) -> tuple:
    """The platforms and ids of the devices the array arguments are on (a program is compiled
    per device: :mod:`jaxmice._src.runtime.devices` runs one copy of it on each); ids repeat across
    platforms (a GPU's and the CPU's device 0)."""
    devices = set()
    for leaf in leaves:
        if isinstance(leaf, jax.Array):  # called outside any trace: no tracers here
            devices |= {(d.platform, d.id) for d in leaf.devices()}
    return tuple(sorted(devices))


def _aval_bytes(aval: Any) -> int:
    dtype = getattr(aval, "dtype", None)
    if dtype is None or not hasattr(dtype, "itemsize"):
        return 0
    return int(np.prod(aval.shape)) * dtype.itemsize


def _sub_jaxprs(eqn: Any) -> list:
    subs = []
    for param in eqn.params.values():
        for sub in param if isinstance(param, (tuple, list)) else (param,):
            inner = getattr(sub, "jaxpr", sub)
            if hasattr(inner, "eqns"):
                subs.append(inner)
    return subs


def written_bytes(jaxpr: Any) -> int:
    """Bytes the operations of ``jaxpr`` write, the bodies of loops and branches counted once:
    a cheap measure of a program's work (XLA's own cost analysis costs 0.1 s a program). An
    update of a slice writes the slice."""
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dynamic_update_slice":
            total += _aval_bytes(eqn.invars[1].aval)
        elif eqn.primitive.name not in _CALL_PRIMITIVES:  # a call's outputs are its body's
            total += sum(_aval_bytes(var.aval) for var in eqn.outvars)
        total += sum(written_bytes(inner) for inner in _sub_jaxprs(eqn))
    return total


#: primitives that call a jaxpr (a nested ``jit``, a custom derivative)
_CALL_PRIMITIVES = frozenset({"pjit", "jit", "closed_call", "core_call", "custom_jvp_call",
                              "custom_vjp_call", "custom_vjp_call_jaxpr", "remat",
                              "checkpoint"})


def lanes_optimized(cells: int, chains: int, width: int) -> bool:
    """Whether the sampler's programs (a lane program: :func:`program`'s ``lanes``) for
    ``chains`` chains of a replication with ``cells`` = n x (p + q) cells of data and design,
    ``width`` lanes a step, are compiled with full optimisation (:data:`CPU_COMPILE`) rather
    than for speed (:data:`FAST_COMPILE`). Decided before tracing, from the shape: a
    program is traced once (0.2 s for popmis's 2l.pan), in the form its options suit
    (:func:`jaxmice._src.engine.sampler.each_lane`).

    Their work is taken as :data:`LANE_BYTES_PER_CELL` x ``cells`` x ``chains``, against
    :data:`FAST_COMPILE_BYTES`: it may depend on m, which a chain's single run and its batch
    share, but not on the lanes a program runs (a batch chunk's C x m, a device's block), so
    a chain is the same, bit for bit, alone, in a batch and on N devices. A program that
    vmaps lanes (``width`` > 1, a batch's) runs many replications and is always optimised.
    ``JAXMICE_COMPILE`` decides instead when set; on other backends, True.

    (A fixed 20 lanes, as in the one engine's first two sessions, compiled popmis's 2l.pan
    at m = 100 for speed and ran its iterations 3x slower: 0.69 s -> 2.42 s warm, m = 100,
    maxit = 20.)"""
    choice = os.environ.get("JAXMICE_COMPILE", "auto")
    if jax.default_backend() != "cpu" or choice == "optimized":
        return True
    if choice == "fast":
        return False
    return width > 1 or LANE_BYTES_PER_CELL * cells * chains >= FAST_COMPILE_BYTES


def compile_options(work: float) -> dict[str, Any] | None:
    """XLA options for a program that writes ``work`` bytes (:func:`written_bytes`), on a CPU:
    :data:`FAST_COMPILE` below :data:`FAST_COMPILE_BYTES`, else :data:`CPU_COMPILE`;
    ``JAXMICE_COMPILE=fast`` or ``optimized`` decides instead. None (XLA's defaults) on other
    backends; on a GPU, :data:`GPU_COMPILE` (``JAXMICE_DETERMINISTIC=0``: XLA's defaults)."""
    choice = os.environ.get("JAXMICE_COMPILE", "auto")
    if jax.default_backend() == "gpu":
        return dict(GPU_COMPILE) if os.environ.get("JAXMICE_DETERMINISTIC", "1") != "0" else None
    if jax.default_backend() != "cpu":
        return None
    if choice == "fast" or (choice != "optimized" and work < FAST_COMPILE_BYTES):
        return dict(FAST_COMPILE)
    return dict(CPU_COMPILE)


_persistent_cache_hits = [0]


@functools.cache
def _count_persistent_cache_hits() -> None:
    """Count JAX's persistent-cache hits: an executable JAX loaded from its own cache cannot be
    serialised again (its kernels are missing from the copy), so it is not stored here."""
    def listen(event: str, **kwargs: Any) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            _persistent_cache_hits[0] += 1

    jax.monitoring.register_event_listener(listen)


@functools.cache
def _prepare_custom_calls() -> None:
    """Bind jaxlib's LAPACK kernels, which JAX otherwise binds while lowering a program that
    uses them: a loaded program calls them without having been lowered here."""
    try:
        from jaxlib import lapack

        lapack._lapack.initialize()
    except Exception:  # another jaxlib layout: its kernels are bound some other way
        return


def _prune(folder: Path) -> None:
    """Remove the least recently used files beyond :data:`MAX_CACHE_BYTES`."""
    files = [(p.stat(), p) for p in folder.glob("*.bin")]
    total = sum(s.st_size for s, _ in files)
    for stat, path in sorted(files, key=lambda sp: sp[0].st_mtime):
        if total <= MAX_CACHE_BYTES:
            break
        path.unlink(missing_ok=True)
        total -= stat.st_size


# ----- counters -------------------------------------------------------------------------------
_compiles: collections.Counter[str] = collections.Counter()
_loads: collections.Counter[str] = collections.Counter()


def compile_counts() -> dict[str, int]:
    """Programs compiled in this process so far, by program name (``module.qualname``)."""
    return dict(_compiles)


def load_counts() -> dict[str, int]:
    """Programs read from the folder and run in this process so far, by program name (a file
    that failed to load or on its first call is not counted: its program was compiled)."""
    return dict(_loads)


def reset_counts() -> None:
    """Set :func:`compile_counts` and :func:`load_counts` back to nothing."""
    _compiles.clear()
    _loads.clear()


# ----- the executables in memory: one bound over all programs ----------------------------------
_store: collections.OrderedDict[tuple, tuple[Any, int]] = collections.OrderedDict()
_store_lock = threading.Lock()


def max_program_bytes() -> int:
    """The bound on the executables' estimated memory: ``JAXMICE_MAX_PROGRAM_BYTES``, else
    :data:`MAX_PROGRAM_BYTES`."""
    value = os.environ.get("JAXMICE_MAX_PROGRAM_BYTES")
    return int(float(value)) if value else MAX_PROGRAM_BYTES


def held_bytes() -> int:
    """The estimated memory of the executables held now (bytes)."""
    with _store_lock:
        return sum(weight for _, weight in _store.values())


def max_programs() -> int:
    """The bound on executables in memory: ``JAXMICE_MAX_PROGRAMS``, else
    :data:`MAX_PROGRAMS` (at least 1)."""
    value = os.environ.get("JAXMICE_MAX_PROGRAMS")
    return max(1, int(value) if value else MAX_PROGRAMS)


def _recall(key: tuple) -> Any | None:
    """The executable under ``key``, now the most recently used, or None."""
    with _store_lock:
        entry = _store.get(key)
        if entry is None:
            return None
        _store.move_to_end(key)
        return entry[0]


def _remember(key: tuple, compiled: Any, weight: int) -> None:
    """Keep ``compiled`` (estimated to hold ``weight`` bytes) under ``key``; drop the least
    recently used beyond either bound (the newest always stays)."""
    with _store_lock:
        _store[key] = (compiled, weight)
        _store.move_to_end(key)
        count, budget = max_programs(), max_program_bytes()
        total = sum(w for _, w in _store.values())
        dropped = False
        while len(_store) > 1 and (len(_store) > count or total > budget):
            _, (_, w) = _store.popitem(last=False)  # its last reference: XLA frees it
            total -= w
            dropped = True
    if dropped:
        _return_freed_memory()


def _return_freed_memory() -> None:
    """Hand the heap pages freed by a dropped executable back to the system (glibc's
    ``malloc_trim``), so that the resident memory follows what the store holds rather than
    the allocator's fragmented high-water mark. Elsewhere nothing happens."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None


def clear_compiled() -> None:
    """Forget every program compiled in this process (the files on disk stay)."""
    with _store_lock:
        _store.clear()


# ----- kernels of a compiled program -----------------------------------------------------------
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%?([\w.\-]+)\s*\(.*->.*\{\s*$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(.*)$")
_OPCODE = re.compile(r"(?:^|\s)([a-z][\w\-]*)\(")
_CALLS = re.compile(r"\bcalls=%?([\w.\-]+)")


def _computations(hlo: str) -> dict[str, list[tuple[str, str]]]:
    """``{computation: [(opcode, instruction text)]}`` of an HLO module's text."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in hlo.splitlines():
        header = _COMPUTATION.match(line)
        if header:
            current = found.setdefault(header.group(1), [])
            continue
        instruction = _INSTRUCTION.match(line)
        if current is not None and instruction:
            opcode = _OPCODE.search(instruction.group(1))
            if opcode:
                current.append((opcode.group(1), instruction.group(1)))
    return found


def kernel_counts(compiled: Any) -> dict[str, int]:
    """The kernels of a compiled program, from its optimised HLO (``compiled.as_text()``).

    Counted once however often a loop runs them, in every computation the program runs (the
    entry, loop bodies and conditions, branches) but not inside a fusion's own computation:

    - ``fusions``: ``fusion`` instructions, each one kernel (loop fusions and library
      fusions such as XLA:CPU's dot fusions);
    - ``custom_calls``: ``custom-call`` instructions (LAPACK and other library kernels).

    Unfused single operations (on a CPU, a lone ``tanh``) are kernels too but not counted.

    Args:
        compiled: a ``jax.stages.Compiled``, or the HLO text itself.

    Returns:
        ``{"fusions": int, "custom_calls": int}``.
    """
    hlo = compiled if isinstance(compiled, str) else compiled.as_text()
    computations = _computations(hlo)
    fused = {called.group(1) for body in computations.values() for opcode, text in body
             if opcode == "fusion" for called in [_CALLS.search(text)] if called}
    opcodes = [opcode for name, body in computations.items() if name not in fused
               for opcode, _ in body]
    return {"fusions": opcodes.count("fusion"), "custom_calls": opcodes.count("custom-call")}


#: batch x d^3 above which jaxlib 0.10's CPU LAPACK kernels split a batch over XLA's intra-op
#: thread pool and block a pool thread until the pieces finish; two such calls at once on a pool
#: of two threads deadlock (:mod:`jaxmice._src.numerics.linalg`). No program may hold one.
LAPACK_SPLIT_FLOPS = 2e5
_TARGET = re.compile(r'custom_call_target="([^"]+)"')
_RESULT_SHAPE = re.compile(r"^\(?\s*[a-z]\w*\[([\d,]*)\]")


class LapackCall(NamedTuple):
    """One LAPACK or BLAS custom call of a compiled program."""

    target: str  #: e.g. ``lapack_dpotrf_ffi``
    batch: int  #: matrices per call (the product of the leading dimensions)
    size: int  #: the larger of the two matrix dimensions
    flops: float  #: ``batch * size**3``, the measure jaxlib splits on


def lapack_calls(compiled: Any) -> list[LapackCall]:
    """The LAPACK and BLAS custom calls of a compiled program, from its optimised HLO, with the
    shape of their first result (the factor or solution: ``f[*batch, rows, cols]``).

    A call whose ``flops`` exceed :data:`LAPACK_SPLIT_FLOPS` can deadlock jaxlib 0.10's CPU
    runtime; ``tests/runtime/test_lapack_audit.py`` asserts that the programs have none.

    Args:
        compiled: a ``jax.stages.Compiled``, or the HLO text itself.
    """
    hlo = compiled if isinstance(compiled, str) else compiled.as_text()
    calls = []
    for body in _computations(hlo).values():
        for opcode, text in body:
            target = _TARGET.search(text) if opcode == "custom-call" else None
            if target is None or not re.search(r"lapack|blas", target.group(1)):
                continue
            shape = _RESULT_SHAPE.match(text)
            dims = [int(d) for d in shape.group(1).split(",") if d] if shape else []
            matrix = dims[-2:] if len(dims) >= 2 else [max(dims, default=1)]
            batch = int(np.prod(dims[:-2])) if len(dims) > 2 else 1
            size = max(matrix)
            calls.append(LapackCall(target.group(1), batch, size, float(batch) * size**3))
    return calls


def compiled_programs() -> list[tuple[str, Any]]:
    """``(name, executable)`` of every program held in memory now (tests and audits)."""
    with _store_lock:
        return [(key[0].name, compiled) for key, (compiled, _) in _store.items()]


# ----- programs ----------------------------------------------------------------------------------
def _device_ids(compiled: Any) -> list[tuple[str, int]]:
    """``(platform, id)`` of the devices ``compiled`` runs on, in its own order."""
    return [(d.platform, d.id) for d in compiled.runtime_executable().local_devices()]


def _devices(ids: list[tuple[str, int]]) -> list[Any]:
    """This process's devices of ``ids`` (KeyError for one it does not have)."""
    by_id = {(d.platform, d.id): d for platform in {p for p, _ in ids}
             for d in jax.local_devices(backend=platform)}
    return [by_id[tuple(i)] for i in ids]


def _discard(name: str, path: Path, what: str, err: BaseException) -> None:
    """Remove a stored program that failed, and say so once."""
    reason = (str(err).strip().splitlines() or [""])[0][:200]
    _log.warning("jaxmice: stored program %s (%s) %s, compiling it anew: %s: %s", name,
                 path.name, what, type(err).__name__, reason)
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


class Program:
    """A jaxmice entry point compiled once per data shape, in memory and on disk.

    Call it as the function itself; static arguments are named by position and keyword as
    for ``jax.jit``.
    """

    def __init__(self, fn: Callable, static_argnums: Sequence[int] = (),
                 static_argnames: Sequence[str] = (), lanes: bool = False) -> None:
        self.fn = fn
        self.name = f"{fn.__module__}.{fn.__qualname__}"
        self.lanes = lanes
        params = list(inspect.signature(fn).parameters)
        # a static argument may come by position or by keyword, whichever way it was declared
        self.static_argnums = tuple(sorted(set(static_argnums) | {
            i for i, name in enumerate(params) if name in static_argnames}))
        self.static_argnames = tuple(set(static_argnames) | {
            params[i] for i in static_argnums if i < len(params)})
        # for calls inside a transformation only: there JAX's caches are the caller's
        self.jitted = self._jit()
        self._recent: tuple[tuple, Any] | None = None  # (shapes, the jit compiling them)
        functools.update_wrapper(self, fn)

    def _jit(self) -> Any:
        """``jax.jit`` of a new function object calling ``fn``: JAX keeps a function's traces
        and lowerings in caches keyed weakly on the function and strongly on the static
        arguments, so a new one per compilation lets them all go with it."""
        fn = self.fn

        @functools.wraps(fn)  # its signature (static argument names) and name stay fn's
        def fresh(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return jax.jit(fresh, static_argnums=self.static_argnums,
                       static_argnames=self.static_argnames)

    def _jit_for(self, shapes: tuple) -> Any:
        """The jit to compile ``shapes`` (the key without the placement) with: the last one
        again for the same shapes, whose copies for the other devices then reuse its trace;
        else a new one (:meth:`_jit`), and the last one's caches go."""
        if self._recent is None or self._recent[0] != shapes:
            self._recent = (shapes, self._jit())
        return self._recent[1]

    def _split(self, args: tuple, kwargs: dict) -> tuple[tuple, tuple, dict]:
        static = tuple(args[i] for i in self.static_argnums if i < len(args)) + tuple(
            sorted((k, v) for k, v in kwargs.items() if k in self.static_argnames))
        dyn_args = tuple(a for i, a in enumerate(args) if i not in self.static_argnums)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        return static, dyn_args, dyn_kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        static, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, tree = jax.tree.flatten((dyn_args, dyn_kwargs))
        if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
            return self.jitted(*args, **kwargs)  # called inside a transformation: plain jit
        x64 = bool(jax.config.jax_enable_x64)
        key = (self, static, tree, tuple(_aval(leaf) for leaf in leaves), x64,
               placement(leaves))
        compiled = _recall(key)
        if compiled is not None:
            return compiled(*dyn_args, **dyn_kwargs)
        path = self._path(static, tree, leaves)
        loaded = self._load(path)
        if loaded is not None:
            compiled, size = loaded
            try:  # a file stored under the wrong key or devices fails here, not later
                out = compiled(*dyn_args, **dyn_kwargs)
            except Exception as err:
                _discard(self.name, path, "failed on its first call", err)
            else:
                _loads[self.name] += 1
                _remember(key, compiled, size * HELD_PER_SERIALIZED_BYTE["loaded"])
                return out
        compiled, weight = self._compile(self._jit_for(key[1:-1]), args, kwargs, path)
        _remember(key, compiled, weight)
        return compiled(*dyn_args, **dyn_kwargs)

    def _cache_size(self) -> int:
        """Programs of this function held in memory (as ``jax.jit``'s ``_cache_size``)."""
        with _store_lock:
            return sum(key[0] is self for key in _store)

    def _load(self, path: Path | None) -> tuple[Any, int] | None:
        """The program stored at ``path``, loaded onto the devices it was compiled for, and
        the size of its serialized form; None when there is none, or it cannot be loaded (the
        file is then removed)."""
        if path is None or not path.exists():
            return None
        try:
            from jax.experimental import serialize_executable

            with path.open("rb") as fh:
                payload, in_tree, out_tree, ids = pickle.load(fh)
            devices = _devices(ids)
            _prepare_custom_calls()
            # without execution_devices the executable would be loaded onto every device of
            # the backend, and expect one shard of each argument per device
            compiled = serialize_executable.deserialize_and_load(
                payload, in_tree, out_tree, backend=devices[0].client,
                execution_devices=devices)
        except Exception as err:  # a damaged or incompatible file is compiled anew
            _discard(self.name, path, "could not be loaded", err)
            return None
        with contextlib.suppress(OSError):  # a read-only folder is only read
            os.utime(path)  # recently used
        return compiled, len(payload)

    def _compile(self, jitted: Any, args: tuple, kwargs: dict, path: Path | None
                 ) -> tuple[Any, int]:
        """Trace (with ``jitted``), lower and compile for these arguments; store the program
        at ``path``. Returns the program and its estimated memory (bytes)."""
        _count_persistent_cache_hits()
        hits = _persistent_cache_hits[0]
        traced = jitted.trace(*args, **kwargs)
        jaxpr = traced.jaxpr.jaxpr
        if self.lanes:  # decided by the caller (lanes_optimized), in its key
            work = float("inf") if kwargs.get("optimized") else 0.0
        else:
            work = written_bytes(jaxpr)
        options = compile_options(work)
        lowered = traced.lower()
        try:
            compiled = lowered.compile(compiler_options=options)
        except Exception:  # an XLA without these options: its defaults
            if not options:
                raise
            compiled = lowered.compile()
        _compiles[self.name] += 1
        blob, size = self._serialize(compiled)
        if blob is not None and path is not None and _persistent_cache_hits[0] == hits:
            self._write(path, blob)
        weight = (UNSERIALIZED_PROGRAM_BYTES if blob is None
                  else size * HELD_PER_SERIALIZED_BYTE["compiled"])
        return compiled, weight

    def _path(self, static: tuple, tree: Any, leaves: list) -> Path | None:
        folder = program_folder()
        if folder is None or jax.process_count() > 1:  # one process's devices are not all
            return None
        try:
            ident = fingerprint(static)
        except (Unfingerprintable, RecursionError):
            return None
        text = repr((self.fn.__module__, self.fn.__qualname__, _environment(), ident,
                     str(tree), tuple(_aval(leaf) for leaf in leaves), placement(leaves),
                     os.environ.get("JAXMICE_COMPILE", "auto"),
                     os.environ.get("JAXMICE_DETERMINISTIC", "1")))
        return folder / f"{hashlib.sha256(text.encode()).hexdigest()}.bin"

    @staticmethod
    def _serialize(compiled: Any) -> tuple[bytes | None, int]:
        """The file's contents for ``compiled`` and the size of its serialized executable;
        ``(None, 0)`` when it cannot be serialized."""
        try:
            from jax.experimental import serialize_executable

            payload, in_tree, out_tree = serialize_executable.serialize(compiled)
            return pickle.dumps((payload, in_tree, out_tree, _device_ids(compiled))), len(
                payload)
        except Exception:  # a program that cannot be stored is simply compiled next time
            return None, 0

    @staticmethod
    def _write(path: Path, blob: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial_path = path.with_suffix(f".{os.getpid()}.tmp")
            partial_path.write_bytes(blob)
            partial_path.replace(path)  # atomic: a reader never sees half a file
            _prune(path.parent)
        except Exception:  # a folder that cannot be written is simply not used
            return


def program(static_argnums: Sequence[int] = (), static_argnames: Sequence[str] = (),
            lanes: bool = False) -> Callable[[Callable], Program]:
    """Decorator for an entry point, in place of ``partial(jax.jit, static_argnums=...)``.

    ``lanes``: a loop inside the program runs over lanes (the sampler's chains). Its static
    keyword ``optimized`` (:func:`lanes_optimized`, decided by the caller) picks its compile
    options, and the program takes the form those suit."""
    return lambda fn: Program(fn, static_argnums, static_argnames, lanes)

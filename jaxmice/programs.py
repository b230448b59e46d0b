"""jaxmice's compiled programs: each top-level function compiled once per data shape, kept in
memory and on disk, so that a second process neither traces, lowers nor compiles it again.

JAX's persistent compilation cache saves the XLA compile only: every new process still traces
and lowers each program, which on a small job costs more than running it. A :class:`Program`
instead keeps the whole compiled executable (``jax.experimental.serialize_executable``) under a
fingerprint of everything that determines it:

- the function (module and name) and the source of the jaxmice package (a hash of its files),
  JAX's and jaxlib's versions, the backend and its devices, the 64-bit switch;
- the static arguments (e.g. the sampler's :class:`~jaxmice.sampler.Plan`), fingerprinted by
  value: numbers, strings, tuples, dataclasses, arrays, and jaxmice's own functions by module,
  name and closure. An argument that cannot be fingerprinted that way (a user's own method or
  passive function) keeps the program in memory only;
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
Nothing here touches the user's JAX settings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import hashlib
import inspect
import os
import pickle
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from ._compilation_cache import program_folder as cache_folder

#: the bytes a CPU program's operations write (:func:`written_bytes`, loops counted once) below
#: which it is compiled for speed (:data:`FAST_COMPILE`): about 10 ms of running on a 2-core
#: CPU. popmis's iterations (pmm 7e7 bytes, 9 ms a run; 2l.pan 3e7, 5 ms) compile 2-3x faster
#: that way and run up to 2x slower, a good trade for programs run a few dozen times; the
#: fixed-dummies pmm iteration (4e8, 75 ms) and 2l.pan at 20,000 rows (1e8, 18 ms) are
#: optimised.
FAST_COMPILE_BYTES = 8e7
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

_PACKAGE = Path(__file__).resolve().parent


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
    """The ids of the devices the array arguments are on (a program is compiled per device:
    :mod:`jaxmice.devices` runs one copy of it on each)."""
    devices = set()
    for leaf in leaves:
        if isinstance(leaf, jax.Array):  # called outside any trace: no tracers here
            devices |= {d.id for d in leaf.devices()}
    return tuple(sorted(devices))


def written_bytes(jaxpr: Any) -> int:
    """Bytes the operations of ``jaxpr`` write, the bodies of loops and branches counted once:
    a cheap measure of a program's work (XLA's own cost analysis costs 0.1 s a program)."""
    total = 0
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            aval = var.aval
            dtype = getattr(aval, "dtype", None)
            if dtype is not None and hasattr(dtype, "itemsize"):
                total += int(np.prod(aval.shape)) * dtype.itemsize
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    total += written_bytes(inner)
    return total


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


_PROGRAMS: list[Program] = []


def clear_compiled() -> None:
    """Forget every program compiled in this process (the files on disk stay)."""
    for prog in _PROGRAMS:
        prog.compiled.clear()


class Program:
    """A jaxmice entry point compiled once per data shape, in memory and on disk.

    Call it as the function itself; static arguments are named by position and keyword as
    for ``jax.jit``.
    """

    def __init__(self, fn: Callable, static_argnums: Sequence[int] = (),
                 static_argnames: Sequence[str] = (), lanes_argnum: int | None = None) -> None:
        self.fn = fn
        self.lanes_argnum = lanes_argnum
        params = list(inspect.signature(fn).parameters)
        # a static argument may come by position or by keyword, whichever way it was declared
        self.static_argnums = tuple(sorted(set(static_argnums) | {
            i for i, name in enumerate(params) if name in static_argnames}))
        self.static_argnames = tuple(set(static_argnames) | {
            params[i] for i in static_argnums if i < len(params)})
        self.jitted = jax.jit(fn, static_argnums=self.static_argnums,
                              static_argnames=self.static_argnames)
        self.compiled: dict[Any, Any] = {}
        functools.update_wrapper(self, fn)
        _PROGRAMS.append(self)

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
        key = (static, tree, tuple(_aval(leaf) for leaf in leaves), x64, placement(leaves))
        compiled = self.compiled.get(key)
        if compiled is None:
            compiled = self._load_or_compile(args, kwargs, static, tree, leaves)
            self.compiled[key] = compiled
        return compiled(*dyn_args, **dyn_kwargs)

    def _cache_size(self) -> int:
        """Programs compiled or loaded in this process (as ``jax.jit``'s ``_cache_size``)."""
        return len(self.compiled)

    def _load_or_compile(self, args: tuple, kwargs: dict, static: tuple, tree: Any,
                         leaves: list) -> Any:
        path = self._path(static, tree, leaves)
        if path is not None and path.exists():
            try:
                from jax.experimental import serialize_executable

                with path.open("rb") as fh:
                    payload, in_tree, out_tree = pickle.load(fh)
                _prepare_custom_calls()
                compiled = serialize_executable.deserialize_and_load(payload, in_tree,
                                                                     out_tree)
            except Exception:  # a damaged or incompatible file is compiled anew
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
            else:
                with contextlib.suppress(OSError):  # a read-only folder is only read
                    os.utime(path)  # recently used
                return compiled
        _count_persistent_cache_hits()
        hits = _persistent_cache_hits[0]
        traced = self.jitted.trace(*args, **kwargs)
        lanes = 1 if self.lanes_argnum is None else int(np.shape(args[self.lanes_argnum])[0])
        options = compile_options(written_bytes(traced.jaxpr.jaxpr) * lanes)
        lowered = traced.lower()
        try:
            compiled = lowered.compile(compiler_options=options)
        except Exception:  # an XLA without these options: its defaults
            if not options:
                raise
            compiled = lowered.compile()
        if path is not None and _persistent_cache_hits[0] == hits:
            self._store(path, compiled)
        return compiled

    def _path(self, static: tuple, tree: Any, leaves: list) -> Path | None:
        folder = cache_folder()
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
    def _store(path: Path, compiled: Any) -> None:
        try:
            from jax.experimental import serialize_executable

            blob = pickle.dumps(serialize_executable.serialize(compiled))
            path.parent.mkdir(parents=True, exist_ok=True)
            partial_path = path.with_suffix(f".{os.getpid()}.tmp")
            partial_path.write_bytes(blob)
            partial_path.replace(path)  # atomic: a reader never sees half a file
            _prune(path.parent)
        except Exception:  # a program that cannot be stored is simply compiled next time
            return


def program(static_argnums: Sequence[int] = (), static_argnames: Sequence[str] = (),
            lanes_argnum: int | None = None) -> Callable[[Callable], Program]:
    """Decorator for an entry point, in place of ``partial(jax.jit, static_argnums=...)``.

    ``lanes_argnum``: the positional argument whose leading axis a loop inside the program
    runs over (the sampler's chains): its length multiplies the work :func:`written_bytes`
    counts once, for :func:`compile_options`."""
    return lambda fn: Program(fn, static_argnums, static_argnames, lanes_argnum)

"""The house rules, checked on the package's source: the layers (issue 25), pandas at the
edges, compilation through one door, and no batching in the glue (issue 11)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jaxmice"
SOURCES = sorted(PACKAGE.rglob("*.py"))
# glue: the specification, pooling, tests of models, imputations, adapters and plots
GLUE = ("_src/engine/mice.py", "_src/core/specification.py", "_src/core/plan.py",
        "_src/core/defaults.py", "_src/analysis/pool.py", "_src/analysis/pooled_tests.py",
        "_src/imputations.py", "_src/adapters/", "_src/diagnostics/plots/")

# The layers, bottom first: a module imports only from its own layer and those below it, so
# data flow one way (frame -> arrays and schema -> specification -> plan -> engine -> results
# -> frames). The first layer whose prefix matches a file is its layer.
LAYERS = (
    ("runtime", ("_src/runtime/",)),            # programs and their cache, sizes, devices
    ("numerics", ("_src/numerics/",)),          # linear algebra, optimisation, draws, kernels
    ("data", ("_src/core/schema.py", "_src/core/clusters.py", "_src/core/checks.py",
              "_src/core/expressions.py", "_src/core/evaluate.py",
              "_src/core/correlation.py")),     # the schema and R's expressions
    ("adapters", ("_src/adapters/",)),          # frames in, frames out
    ("methods", ("methods/",)),                 # the registry and the imputation methods
    ("specification", ("_src/core/",)),         # defaults, specification, passive, design, plan
    ("engine", ("_src/engine/sampler.py", "_src/engine/chains.py",
                "_src/engine/preparation.py")),  # the compiled chains and their state
    ("analysis", ("_src/analysis/",)),          # fits, pooling, D1-D4
    ("diagnostics", ("_src/diagnostics/",)),    # convergence, figures
    ("results", ("_src/imputations.py",)),      # the user's view of the chains
    ("drivers", ("_src/engine/",)),             # mice, batch
    ("simulate", ("_src/simulate/",)),          # ampute, score
    ("api", ("",)),                             # jaxmice/__init__ and the public modules
)


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """Lines of code (not comments; docstrings are kept out by requiring code-like text)."""
    return [(i, line) for i, line in enumerate(path.read_text().splitlines(), 1)
            if not line.lstrip().startswith("#")]


def _offending(pattern: str, allowed) -> list[str]:
    regex = re.compile(pattern)
    return [f"{_relative(p)}:{i}: {line.strip()}" for p in SOURCES if not allowed(_relative(p))
            for i, line in _code_lines(p) if regex.search(line)]


def _layer(relative: str) -> int:
    return next(i for i, (_, prefixes) in enumerate(LAYERS)
                if any(relative.startswith(p) for p in prefixes))


def _module_file(module: str) -> str | None:
    """The package file of a dotted ``jaxmice...`` module, or None (not a module)."""
    path = PACKAGE.joinpath(*module.split(".")[1:])
    if path.is_dir():
        return _relative(path / "__init__.py")
    return _relative(path.with_suffix(".py")) if path.with_suffix(".py").exists() else None


def _imported_files(node: ast.AST) -> list[str]:
    """The package files an import statement reads (``from a import b``: b where b is a
    module, else a)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names if a.name.split(".")[0] == "jaxmice"]
    elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "jaxmice":
        submodules = [f"{node.module}.{a.name}" for a in node.names]
        names = [m for m in submodules if _module_file(m)]
        if len(names) < len(submodules):
            names.append(node.module)
    else:
        return []
    return [f for f in map(_module_file, names) if f]


def test_the_layers_cover_the_package():
    assert {_layer(_relative(p)) for p in SOURCES} == set(range(len(LAYERS)))


def test_no_import_from_a_higher_layer():
    """Imports inside functions count too: a deferred import is still a dependency."""
    upward = [f"{_relative(p)}:{node.lineno} ({LAYERS[_layer(_relative(p))][0]}) imports {f} "
              f"({LAYERS[_layer(f)][0]})"
              for p in SOURCES for node in ast.walk(ast.parse(p.read_text()))
              for f in _imported_files(node) if _layer(f) > _layer(_relative(p))]
    assert upward == []


def test_implementation_modules_are_private():
    """Public modules: the package, the registry and its methods, the facades over
    ``_src`` and the case studies; everything else lives under ``_src/``."""
    public = {_relative(p) for p in SOURCES if not _relative(p).startswith("_src/")}
    facades = {"__init__.py", "batch.py", "cli.py", "meta.py", "models/__init__.py", "plots.py",
               "programs.py", "sizes.py", "testing.py", "datasets/__init__.py"}
    assert sorted(public - facades) == sorted(
        r for r in public if r.startswith(("methods/", "case_studies/")))


def test_pandas_is_imported_only_by_the_adapters():
    """And by ``testing.py``, which builds its contract data as a user builds a frame."""
    assert _offending(r"^\s*(import pandas|from pandas)",
                      lambda r: r.startswith("_src/adapters/") or r == "testing.py") == []


def test_no_method_name_prefix_tests_outside_methods():
    assert _offending(r"startswith\(\s*['\"]2l", lambda r: r.startswith("methods/")) == []


def test_jit_only_through_programs():
    """Entry points are compiled by :mod:`jaxmice.programs` (cached on disk), and only the
    sampler's and the models' (issue 12), the meta-analysis being one (issue 24), and the
    method contract's direct calls (``testing.py``)."""
    assert _offending(r"\bjax\.jit\b|@jit\b", lambda r: r == "_src/runtime/programs.py") == []
    assert _offending(r"@program\(", lambda r: r in (
        "_src/engine/sampler.py", "_src/numerics/meta.py", "_src/analysis/mixed.py",
        "testing.py")) == []


@pytest.mark.parametrize("glue", GLUE)
def test_no_vmap_in_glue(glue):
    assert _offending(r"\bvmap\(", lambda r: not r.startswith(glue)) == []


def test_tests_mirror_the_rooms():
    """A room's tests live in the folder of its name (helpers in tests/support)."""
    tests = Path(__file__).resolve().parent
    rooms = {d.name for d in (PACKAGE / "_src").iterdir()
             if d.is_dir() and not d.name.startswith("_")} | {"methods"}
    folders = {d.name for d in tests.iterdir() if d.is_dir() and not d.name.startswith((".", "_"))}
    assert folders - {"support", "data", "r"} == rooms


def test_the_public_modules_reexport_the_implementation():
    """Names the README points users to keep working through the public modules."""
    import jaxmice as jm
    from jaxmice import batch, meta, models, plots, programs, sizes
    from jaxmice._src.analysis import fitted, mixed
    from jaxmice._src.diagnostics import plots as plots_room
    from jaxmice._src.engine import batch as batch_room
    from jaxmice._src.numerics import meta as meta_room
    from jaxmice._src.runtime import programs as programs_room
    from jaxmice._src.runtime import sizes as sizes_room

    assert batch.MEMORY_BUDGET == batch_room.MEMORY_BUDGET and batch.Batch is batch_room.Batch
    assert programs.compile_counts is programs_room.compile_counts
    assert sizes.row_class is sizes_room.row_class and sizes.row_class(1_234) == 1_280
    assert plots.md_pattern is plots_room.md_pattern is jm.md_pattern
    assert meta.meta_analysis is meta_room.meta_analysis
    assert models.lmer is mixed.lmer is jm.lmer and models.MixedModels is fitted.MixedModels
    assert jm.register_method is jm.methods.register_method

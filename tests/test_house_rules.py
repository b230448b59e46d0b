"""The house rules of the redesign, checked on the package's source (issue 11)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jaxmice"
SOURCES = sorted(PACKAGE.rglob("*.py"))
# glue: the specification, pooling, tests of models, imputations, adapters and plots
GLUE = ("mice.py", "specification.py", "plan.py", "defaults.py", "pool.py", "compare.py",
        "imputations.py", "adapters/", "plots/")


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


def test_pandas_is_imported_only_by_the_adapters():
    """And by ``testing.py``, which builds its contract data as a user builds a frame."""
    assert _offending(r"^\s*(import pandas|from pandas)",
                      lambda r: r.startswith("adapters/") or r == "testing.py") == []


def test_no_method_name_prefix_tests_outside_methods():
    assert _offending(r"startswith\(\s*['\"]2l", lambda r: r.startswith("methods/")) == []


def test_jit_only_through_programs():
    """Entry points are compiled by :mod:`jaxmice.programs` (cached on disk), and only the
    sampler's and the models' (issue 12), the meta-analysis being one (issue 24), and the
    method contract's direct calls (``testing.py``)."""
    assert _offending(r"\bjax\.jit\b|@jit\b", lambda r: r == "programs.py") == []
    assert _offending(r"@program\(", lambda r: r in ("sampler.py", "meta.py", "testing.py")
                      or r.startswith("models/")) == []


@pytest.mark.parametrize("glue", GLUE)
def test_no_vmap_in_glue(glue):
    assert _offending(r"\bvmap\(", lambda r: not r.startswith(glue)) == []

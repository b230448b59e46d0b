"""The method registry: names -> :class:`~jaxmice.methods.base.MethodInfo`.

Adding a built-in method is one file (exposing ``METHOD``), one line in ``_BUILTIN`` and one test
file.
Users register their own from outside the package with :func:`register_method`.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator

from jaxmice.methods.base import NO_METHOD, PASSIVE, Draw, Imputer, MethodInfo, Target, VisitInputs

#: the built-in methods' modules, each exposing ``METHOD`` (and any ``ALIASES``), in the order
#: ``jm.available_methods()`` lists them: adding a built-in method is one line here
_BUILTIN = (
    "pmm", "norm", "norm_nob", "norm_predict", "mean", "sample", "logreg", "polyreg", "polr",
    "l2_pan", "l2_norm", "l2_lmer", "l2_pmm", "l2only_mean", "l2only_norm", "l2only_pmm",
    "l2_bin", "l2_polyreg", "l2_polr", "l2_pois", "l2only_polyreg",
    "l2_2stage_norm", "l2_2stage_bin", "l2_2stage_pois", "l2_2stage_pmm", "l2_heckman",
)

_REGISTRY: dict[str, MethodInfo] = {}


def register_method(info: MethodInfo, overwrite: bool = False) -> MethodInfo:
    """Make a method available to ``jm.mice`` and ``jm.make_method`` under ``info.name``.

    Args:
        info: the method's metadata and factory.
        overwrite: replace an existing method of the same name.

    Returns:
        ``info`` (so it can be used as a one-liner at module level).

    Raises:
        ValueError: the name is taken and ``overwrite`` is False, or the kinds are unknown.
    """
    from jaxmice._src.core.schema import KINDS

    if not isinstance(info, MethodInfo):
        raise TypeError(f"register_method expects a MethodInfo, got {type(info).__name__}")
    bad = set(info.kinds) - set(KINDS)
    if bad:
        raise ValueError(f"method {info.name!r} declares unknown kind(s) {sorted(bad)}")
    if info.name in _REGISTRY and not overwrite:
        raise ValueError(f"a method named {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


@contextlib.contextmanager
def registered(info: MethodInfo) -> Iterator[MethodInfo]:
    """``info`` registered for the block's length: the registry is restored afterwards
    (whatever held the name before, or nothing)."""
    before = _REGISTRY.get(info.name)
    register_method(info, overwrite=True)
    try:
        yield info
    finally:
        if before is None:
            _REGISTRY.pop(info.name, None)
        else:
            _REGISTRY[info.name] = before


def get_method(name: str) -> MethodInfo:
    """The registered method ``name``.

    Raises:
        ValueError: no such method (the message lists the known ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; known methods: {', '.join(sorted(_REGISTRY))}"
        ) from None


def available_methods() -> dict[str, MethodInfo]:
    """All registered methods by name."""
    return dict(_REGISTRY)


for _name in _BUILTIN:
    _module = importlib.import_module(f"{__name__}.{_name}")
    for _info in (_module.METHOD, *getattr(_module, "ALIASES", ())):
        register_method(_info)

__all__ = [
    "Draw", "Imputer", "MethodInfo", "Target", "VisitInputs", "NO_METHOD", "PASSIVE",
    "register_method", "get_method", "available_methods",
]

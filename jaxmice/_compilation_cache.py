"""JAX's persistent compilation cache for jaxmice, set up at the first jaxmice call.

JAX keeps one cache folder per process. A folder the user has set (JAX config
``jax_compilation_cache_dir`` or the environment variable ``JAX_COMPILATION_CACHE_DIR``) is kept;
only when none is set does jaxmice set ``$XDG_CACHE_HOME/jaxmice/xla`` (``~/.cache/jaxmice/xla``),
which then serves the rest of the process too. ``JAXMICE_COMPILATION_CACHE=0`` leaves the cache
off. Importing jaxmice sets nothing.
"""

from __future__ import annotations

import os

import jax

# below this many seconds of compilation a program is not written to the cache
MIN_COMPILE_SECONDS = 0.2

_settled = False


def user_cache_dir() -> str | None:
    """The cache folder the user has set (JAX config first, then the environment), or None."""
    return jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR") \
        or None


def cache_switched_off() -> bool:
    """Whether ``JAXMICE_COMPILATION_CACHE=0`` asks jaxmice not to set a cache folder."""
    return os.environ.get("JAXMICE_COMPILATION_CACHE", "1") == "0"


def default_cache_dir() -> str:
    """jaxmice's own folder: ``$XDG_CACHE_HOME/jaxmice/xla`` (``~/.cache`` by default)."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(cache_home, "jaxmice", "xla")


def ensure_compilation_cache() -> None:
    """Set jaxmice's cache folder once per process, unless the user set one or switched it off.

    Decided at the first call, not on import, so that importing jaxmice changes nothing.
    """
    global _settled
    if _settled:
        return
    _settled = True
    if cache_switched_off() or user_cache_dir() is not None:
        return
    jax.config.update("jax_compilation_cache_dir", default_cache_dir())
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)

"""Where jaxmice keeps its compiled programs (:mod:`jaxmice.programs`), and the switch.

jaxmice sets nothing in JAX's configuration: not JAX's persistent compilation cache either
(a folder you set there is yours and serves your programs; jaxmice's own programs are kept
whole, traced and lowered, in its own folder). The folder is ``$JAXMICE_CACHE_DIR/programs``,
else ``$XDG_CACHE_HOME/jaxmice/programs`` (``~/.cache/jaxmice/programs``);
``JAXMICE_COMPILATION_CACHE=0`` keeps programs in memory only.
"""

from __future__ import annotations

import os
from pathlib import Path


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

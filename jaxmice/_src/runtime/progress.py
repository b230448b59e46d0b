"""Whether to show progress bars: on a terminal or in a notebook, not in logs.

``progress=None`` (the default of every call that can show one) asks :func:`show_progress`;
``True`` and ``False`` force it. A loop of many calls writing to a file or a CI log then gets no
carriage-return spam, and an interactive session still sees its bars.
"""

from __future__ import annotations

import sys


def in_notebook() -> bool:
    """True inside a Jupyter (IPython kernel) session."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython() if hasattr(shell, "get_ipython") else None
    return ipython is not None and "IPKernelApp" in getattr(ipython, "config", {})


def show_progress(progress: bool | None) -> bool:
    """``progress`` itself when given; otherwise whether stderr is a terminal or a notebook's.

    Args:
        progress: True or False to force; None to decide from where the output goes.
    """
    if progress is not None:
        return bool(progress)
    stream = sys.stderr
    return in_notebook() or bool(getattr(stream, "isatty", lambda: False)())

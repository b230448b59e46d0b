"""Figures (matplotlib, imported on first use): the public names of
:mod:`jaxmice.plots`."""

from jaxmice._src.diagnostics.plots import *  # noqa: F403
from jaxmice._src.diagnostics.plots import __all__  # noqa: F401

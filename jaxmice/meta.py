"""Multivariate random-effects meta-analysis (R's mixmeta / metafor): the public names of
:mod:`jaxmice.meta`."""

from jaxmice._src.numerics.meta import MetaResult, draw_parameters, meta_analysis, univariate

__all__ = ["MetaResult", "draw_parameters", "meta_analysis", "univariate"]

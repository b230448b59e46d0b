"""Size classes: the ladder rows and clusters are padded up so that data sets of varying size
share compiled programs. The public names of :mod:`jaxmice.sizes`."""

from jaxmice._src.runtime.sizes import cluster_class, merged_row_classes, row_class

__all__ = ["cluster_class", "merged_row_classes", "row_class"]

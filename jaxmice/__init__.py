"""jaxmice: multiple imputation of incomplete multilevel data by chained equations, in JAX.

``import jaxmice as jm``; names mirror R's mice / miceadds / micemd / mitml. Computation runs in
float64: jaxmice turns on ``jax_enable_x64`` when imported (variance components and
near-collinear designs need the precision).
"""

import jax

jax.config.update("jax_enable_x64", True)

from . import datasets  # noqa: E402
from .clusters import ClusterIndex  # noqa: E402
from .imputations import Imputations  # noqa: E402
from .methods import MethodInfo, Target, available_methods, register_method  # noqa: E402
from .mice import mice  # noqa: E402
from .passive import passive, squeeze  # noqa: E402
from .spec import make_method, make_predictor_matrix, quickpred  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ClusterIndex", "Imputations", "MethodInfo", "Target", "available_methods", "datasets",
    "make_method", "make_predictor_matrix", "mice", "passive", "quickpred", "register_method",
    "squeeze",
]

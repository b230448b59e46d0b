"""jaxmice: multiple imputation of incomplete multilevel data by chained equations, in JAX.

``import jaxmice as jm``; names mirror R's mice / miceadds / micemd / mitml. Importing jaxmice
changes nothing in your own JAX program: jaxmice's calls compute in float64 (variance components
and near-collinear designs need the precision) inside ``jax.enable_x64(True)``, scoped to each
call, so ``jax_enable_x64`` stays as you set it, and no other JAX setting is touched. jaxmice's
compiled programs are kept whole in ``~/.cache/jaxmice/programs`` (:mod:`jaxmice.programs`;
``JAXMICE_CACHE_DIR``, ``JAXMICE_COMPILATION_CACHE=0``): a new process then neither traces nor
compiles a data shape it has seen before.
"""

from jaxmice import datasets, meta, models  # noqa: E402
from jaxmice._src.analysis.icc import icc  # noqa: E402
from jaxmice._src.analysis.pool import Pooled, pool  # noqa: E402
from jaxmice._src.analysis.pooled_tests import D1, D2, D3, D4  # noqa: E402
from jaxmice._src.core.clusters import ClusterIndex  # noqa: E402
from jaxmice._src.core.defaults import make_method, make_predictor_matrix, quickpred  # noqa: E402
from jaxmice._src.core.passive import passive, squeeze  # noqa: E402
from jaxmice._src.diagnostics.convergence import convergence, convergence_summary  # noqa: E402
from jaxmice._src.engine.batch import Batch, PooledBatch  # noqa: E402
from jaxmice._src.engine.mice import mice  # noqa: E402
from jaxmice._src.imputations import Imputations  # noqa: E402
from jaxmice._src.simulate.ampute import Amputation, ampute  # noqa: E402
from jaxmice._src.simulate.score import score  # noqa: E402
from jaxmice.methods import MethodInfo, Target, available_methods, register_method  # noqa: E402
from jaxmice.models import glm, glmer, lmer  # noqa: E402
from jaxmice.plots import md_pattern, plot_corr, plot_pattern, plot_pred  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ampute", "Amputation", "available_methods", "Batch", "ClusterIndex", "convergence",
    "convergence_summary", "D1", "D2", "D3", "D4", "datasets", "glm", "glmer", "icc", "Imputations",
    "lmer", "make_method",
    "make_predictor_matrix", "md_pattern", "meta", "MethodInfo", "mice", "models", "passive",
    "plot_corr", "plot_pattern", "plot_pred", "pool", "Pooled", "PooledBatch", "quickpred",
    "register_method", "score", "squeeze", "Target",
]

"""Mixed models for analysis and imputation: lme4 formulas, LMM by REML/ML, GLMM by Laplace.

``jm.lmer`` and ``jm.glmer`` fit one data set or a batch of same-shaped data sets (one compiled,
vmapped program); the pure-JAX fits underneath (``jaxmice._src.numerics.lmm``, ``glmm``) take row
weights, so imputation methods can call them inside the chained-equations loop.
"""

from jaxmice._src.analysis.fitted import (
    ConvergenceWarning,
    MixedModel,
    MixedModels,
    ModelFitError,
    SingularFitWarning,
)
from jaxmice._src.analysis.formula import parse_formula
from jaxmice._src.analysis.mixed import glm, glmer, lmer
from jaxmice._src.core.expressions import FormulaError

__all__ = [
    "ConvergenceWarning", "FormulaError", "MixedModel", "MixedModels", "ModelFitError",
    "SingularFitWarning", "glm", "glmer", "lmer", "parse_formula",
]

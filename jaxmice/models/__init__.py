"""Mixed models for analysis and imputation: lme4 formulas, LMM by REML/ML, GLMM by Laplace.

``jm.lmer`` and ``jm.glmer`` fit one data set or a batch of same-shaped data sets (one compiled,
vmapped program); the pure-JAX fits underneath (:mod:`.lmm`, :mod:`.glmm`) take row weights, so
imputation methods can call them inside the chained-equations loop.
"""

from .formula import FormulaError, parse_formula
from .mixed import (
    ConvergenceWarning,
    MixedModel,
    MixedModels,
    ModelFitError,
    SingularFitWarning,
    glm,
    glmer,
    lmer,
)

__all__ = [
    "ConvergenceWarning", "FormulaError", "MixedModel", "MixedModels", "ModelFitError",
    "SingularFitWarning", "glm", "glmer", "lmer", "parse_formula",
]

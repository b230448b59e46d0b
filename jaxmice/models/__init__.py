"""Mixed models for analysis and imputation: lme4 formulas, LMM by REML/ML, GLMM by Laplace."""

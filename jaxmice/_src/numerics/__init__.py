"""Pure-JAX numerics: small linear algebra (linalg), optimisation (optimize), random draws
(random), and the model kernels the methods and the fits share: linear and generalised mixed
models (lmm, glmm, glm, structure) and the multivariate meta-analysis (meta)."""

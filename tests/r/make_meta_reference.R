# Reference values for tests/numerics/test_meta.py: random-effects meta-analyses fitted by metafor.
# Run from the repository root: Rscript tests/r/make_meta_reference.R
# Writes tests/data/meta_reference.json with the inputs and metafor's outputs, so the tests
# need no R.
suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

univariate_fit <- function(yi, vi, method) {
  fit <- rma(yi, vi, method = method,
             control = list(threshold = 1e-12, maxiter = 100000, stepadj = 0.5))
  list(estimate = unname(coef(fit)), se = fit$se, tau2 = fit$tau2,
       loglik = if (method == "DL") NA else as.numeric(logLik(fit)))
}

univariate_case <- function(yi, vi) {
  list(yi = as.numeric(yi), vi = as.numeric(vi),
       reml = univariate_fit(yi, vi, "REML"), ml = univariate_fit(yi, vi, "ML"),
       dl = univariate_fit(yi, vi, "DL"))
}

# dat.bcg log risk ratios: clear heterogeneity
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
# a small handmade set whose between-study variance is at the boundary 0 under every method
handmade_y <- c(0.10, 0.13, 0.08, 0.11, 0.12, 0.095)
handmade_v <- c(0.010, 0.020, 0.015, 0.012, 0.030, 0.008)

# dat.berkey1998: bivariate (Nelder-Mead with a tight tolerance reaches the optimum closest:
# its log-likelihood is the highest of metafor's optimizers, nlminb stops short by 1e-8) (PD, AL) with within-trial covariance blocks
berkey <- dat.berkey1998
berkey$outcome <- factor(berkey$outcome, levels = c("PD", "AL"))
berkey <- berkey[order(berkey$trial, berkey$outcome), ]
blocks <- lapply(split(berkey[, c("v1i", "v2i")], berkey$trial), as.matrix)
V <- bldiag(blocks)
y <- matrix(berkey$yi, ncol = 2, byrow = TRUE)

bivariate_fit <- function(method) {
  fit <- rma.mv(yi, V, mods = ~ outcome - 1, random = ~ outcome | trial, struct = "UN",
                data = berkey, method = method,
                control = list(optimizer = "optim", optmethod = "Nelder-Mead", reltol = 1e-15,
                               maxit = 100000))
  list(estimate = unname(coef(fit)), se = fit$se, vcov = unname(vcov(fit)),
       psi = unname(fit$G), loglik = as.numeric(logLik(fit)))
}

reference <- list(
  metafor_version = as.character(packageVersion("metafor")),
  bcg = univariate_case(bcg$yi, bcg$vi),
  handmade = univariate_case(handmade_y, handmade_v),
  berkey = list(
    y = unname(y),
    v = unname(lapply(blocks, function(b) unname(b))),
    reml = bivariate_fit("REML"),
    ml = bivariate_fit("ML")
  )
)
dir.create("tests/data", showWarnings = FALSE)
write_json(reference, "tests/data/meta_reference.json", digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null")

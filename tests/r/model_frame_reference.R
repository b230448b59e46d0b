# Golden values for tests/analysis/test_model_frame.py: R's model.matrix and lme4's lFormula / findbars
# on a small data set. Run from the repository root:
#   Rscript tests/r/model_frame_reference.R
# Writes tests/data/model_frame_reference.json. R 4.2, lme4 1.1-31, jsonlite.
suppressMessages({library(lme4); library(jsonlite)})
options(contrasts = c("contr.treatment", "contr.treatment"))  # treatment for ordered too

d <- data.frame(
  y = c(1.5, -0.3, 2.2, 0.8, 1.1, -1.4, 0.6, 2.9, -0.5, 1.7, 0.2, 1.0),
  x = c(-1.2, 0.5, 2.1, 0.0, 1.3, -0.7, 0.9, 1.8, -2.0, 0.4, 1.1, -0.3),
  z = c(0.5, 1.2, 3.4, 2.2, 0.8, 1.9, 4.1, 2.7, 0.3, 1.5, 2.9, 3.6),
  f = c("c", "a", "b", "a", "c", "b", "b", "a", "c", "a", "b", "c"),
  h = factor(c("mid", "lo", "hi", "hi", "lo", "mid", "lo", "mid", "hi", "lo", "hi", "mid"),
             levels = c("lo", "mid", "hi"), ordered = TRUE),
  b = c(TRUE, FALSE, FALSE, TRUE, TRUE, FALSE, TRUE, FALSE, TRUE, TRUE, FALSE, FALSE),
  g = c(2, 2, 2, 10, 10, 10, 1, 1, 1, 3, 3, 3),
  g1 = c("a", "a", "a", "a", "a", "a", "b", "b", "b", "b", "b", "b"),
  g2 = c(1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3),
  stringsAsFactors = FALSE
)

fixed <- c(
  "y ~ x*f", "y ~ f*x", "y ~ 0 + f", "y ~ x:f", "y ~ x + x:f", "y ~ f:h",
  "y ~ log(z) + I(x^2) + scale(x) + sqrt(z)", "y ~ b", "y ~ x + f - 1", "y ~ f + h + b",
  "y ~ 0 + x + f:h", "y ~ x*z + I(x * 2) + I((x + 1)^2) + exp(x) + abs(x) + log10(z)",
  "y ~ h*b", "y ~ f/x", "y ~ x:f + f", "y ~ b:x + h", "y ~ 0 + b + f", "y ~ 1", "y ~ f + x:z"
)
model_matrices <- lapply(fixed, function(text) {
  mm <- model.matrix(as.formula(text), d)
  lf <- suppressMessages(lFormula(as.formula(paste(text, "+ (1 | g)")), d))
  list(formula = text, names = I(colnames(mm)), matrix = unname(mm),
       lme4_names = I(colnames(lf$X)))
})

random_case <- function(text, data = d) {
  f <- as.formula(text)
  control <- lmerControl(check.nobs.vs.nRE = "ignore", check.nlev.gtr.1 = "ignore")
  lf <- lFormula(f, data, control = control)
  bars <- vapply(findbars(f), function(b) paste(deparse(b), collapse = ""), "")
  zt <- lapply(lf$reTrms$Ztlist, function(m) unname(as.matrix(t(m))))
  list(formula = text, findbars = I(bars),
       flist = lapply(lf$reTrms$flist, function(g) I(levels(g))),
       cnms = lapply(unname(lf$reTrms$cnms), I), cnms_groups = I(names(lf$reTrms$cnms)),
       ztlist_names = I(names(lf$reTrms$Ztlist)), z = unname(zt),
       rows = I(as.integer(rownames(lf$fr))), x = unname(lf$X), x_names = I(colnames(lf$X)))
}
random <- list(
  random_case("y ~ x + (1 + x | g)"),
  random_case("y ~ x + (0 + f | g)"),
  random_case("y ~ x + (1 | g1/g2)"),
  random_case("y ~ x + (x || g1)"),
  random_case("y ~ x + (1 | g1:g2)"),
  random_case("y ~ b + (1 + h | g)")
)

# VarCorr group names of a || fit (needs a fit; data simulated)
set.seed(1)
n <- 200
s <- data.frame(g = rep(1:20, each = 10), x = rnorm(n))
s$y <- rnorm(n) + rnorm(20)[s$g] + s$x * (1 + rnorm(20, sd = 0.5)[s$g])
vc <- as.data.frame(VarCorr(lmer(y ~ x + (x || g), s)))
s$g1 <- rep(c("a", "b", "c", "d"), each = 50)
s$g2 <- rep(rep(1:5, each = 10), 4)
vc_nested <- as.data.frame(VarCorr(lmer(y ~ x + (1 | g1/g2), s)))

# na.omit: missing x, f and y; scale(x) is computed before rows are dropped
dn <- d
dn$x[3] <- NA; dn$f[5] <- NA; dn$y[7] <- NA; dn$z[9] <- NA  # z unused: row 9 stays
na_case <- random_case("y ~ scale(x) + f + (1 | g)", dn)

out <- list(data = d, model_matrices = model_matrices, random = random,
            varcorr_double_vert = I(vc$grp), varcorr_nested = I(vc_nested$grp), na = na_case,
            lme4_version = as.character(packageVersion("lme4")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = FALSE, na = "null"),
           "tests/data/model_frame_reference.json")

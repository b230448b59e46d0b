# Golden reference values for jaxmice._src.analysis.pool (Rubin's rules, D1, D2), kept as data for the
# Python tests, which need neither R nor an imputation run.
#
# Run from the repository root:
#     Rscript tests/r/make_pool_reference.R
#
# For each case it multiply imputes a small data set shipped with mice (fixed seed), fits the
# analysis model on every completed data set, and writes to tests/data/pool_reference.json:
#   - the per-imputation estimates f[m, k] and covariance matrices f[m, k, k] (17 significant
#     digits, so Python reads exactly the doubles R pooled),
#   - mitml::testEstimates without and with df.com,
#   - mice::pool (its default dfcom, and an explicit dfcom) with summary(conf.int = TRUE),
#     and summary(exponentiate = TRUE),
#   - mitml::testModels D1 (without and with df.com) and D2 (use = "wald").
#
# Cases:
#   lm_nhanes2:   mice(nhanes2, m = 5), lm(chl ~ age + bmi + hyp); tests: age (k = 2), bmi (k = 1)
#   lmer_popmis:  mice(popmis, schools 1-30, m = 20), lmer(popular ~ sex + texp + (1 | school));
#                 tests: sex + texp (k = 2), texp (k = 1)

suppressPackageStartupMessages({
  library(mice)
  library(mitml)
  library(lme4)
  library(broom.mixed)  # tidy() and glance() for lmer fits, used by mice::pool
  library(jsonlite)
})

out_json <- "tests/data/pool_reference.json"
if (!dir.exists("jaxmice")) stop("run this script from the repository root")

# ---------------------------------------------------------------------------
# JSON with full double precision (jsonlite stops at 15 significant digits)
# ---------------------------------------------------------------------------

fmt <- function(v) {
  s <- sprintf("%.17g", v)
  s[is.nan(v)] <- "NaN"
  s[is.na(v) & !is.nan(v)] <- "NaN"
  s[!is.na(v) & v == Inf] <- "Infinity"
  s[!is.na(v) & v == -Inf] <- "-Infinity"
  s
}
jvec <- function(x) structure(paste0("[", paste(fmt(as.numeric(x)), collapse = ","), "]"),
                              class = "json")
jmat <- function(x) structure(
  paste0("[", paste(apply(x, 1, function(r) paste0("[", paste(fmt(r), collapse = ","), "]")),
                    collapse = ","), "]"),
  class = "json")
jnum <- function(x) structure(fmt(x), class = "json")
# an R array [k, k, m] (mitml's layout) as a JSON array [m][k][k]
jcov <- function(u) structure(
  paste0("[", paste(vapply(seq_len(dim(u)[3]), function(i) unclass(jmat(u[, , i])), ""),
                    collapse = ","), "]"),
  class = "json")

# columns of a data frame as JSON vectors (numbers at full precision)
jframe <- function(d) {
  out <- list()
  for (v in names(d)) {
    x <- d[[v]]
    out[[v]] <- if (is.numeric(x)) jvec(x) else as.character(x)
  }
  out
}

# ---------------------------------------------------------------------------
# one case
# ---------------------------------------------------------------------------

estimates_of <- function(fits) {
  q <- t(sapply(fits, function(f) if (inherits(f, "merMod")) fixef(f) else coef(f)))
  u <- simplify2array(lapply(fits, function(f) as.matrix(vcov(f))))
  list(q = q, u = u)
}

test_row <- function(tm) {
  x <- tm$test
  list(F = jnum(x[1, "F.value"]), df1 = jnum(x[1, "df1"]), df2 = jnum(x[1, "df2"]),
       p_value = jnum(x[1, "P(>F)"]), riv = jnum(x[1, "RIV"]))
}

mitml_estimates <- function(te) {
  e <- te$estimates
  list(estimate = jvec(e[, "Estimate"]), std_error = jvec(e[, "Std.Error"]),
       statistic = jvec(e[, "t.value"]), df = jvec(e[, "df"]), p_value = jvec(e[, "P(>|t|)"]),
       riv = jvec(e[, "RIV"]), fmi = jvec(e[, "FMI"]), t = jmat(attr(e, "T")))
}

mice_pool <- function(fits, dfcom = NULL) {
  mipo <- if (is.null(dfcom)) pool(fits) else pool(fits, dfcom = dfcom)
  p <- mipo$pooled
  p <- p[!is.na(p$ubar), ]  # lmer: drop the variance components (no std.error in tidy())
  s <- summary(mipo, conf.int = TRUE)
  s <- s[s$term %in% p$term, ]
  se <- summary(mipo, conf.int = TRUE, exponentiate = TRUE)
  se <- se[se$term %in% p$term, ]
  list(
    term = I(as.character(p$term)), dfcom = jnum(p$dfcom[1]),
    qbar = jvec(p$estimate), ubar = jvec(p$ubar), b = jvec(p$b), t = jvec(p$t),
    df = jvec(p$df), riv = jvec(p$riv), lambda = jvec(p$lambda), fmi = jvec(p$fmi),
    std_error = jvec(s$std.error), statistic = jvec(s$statistic), p_value = jvec(s$p.value),
    conf_low = jvec(s[["2.5 %"]]), conf_high = jvec(s[["97.5 %"]]),
    exp_estimate = jvec(se$estimate), exp_std_error = jvec(se$std.error),
    exp_conf_low = jvec(se[["2.5 %"]]), exp_conf_high = jvec(se[["97.5 %"]])
  )
}

# fit `fun(formula, data = d)` on every completed data set, as a mice "mira" object
fit_all <- function(imp, fun, formula) {
  as.mira(lapply(seq_len(imp$m), function(i) fun(formula, data = complete(imp, i))))
}

make_case <- function(imp, fun, formula, null_formulas, df_com, mice_dfcom) {
  fits <- fit_all(imp, fun, formula)
  models <- fits$analyses
  est <- estimates_of(models)
  out <- list(
    m = jnum(length(models)), names = I(colnames(est$q)),
    estimates = jmat(est$q), covariances = jcov(est$u), df_com = jnum(df_com),
    testEstimates = mitml_estimates(testEstimates(models)),
    testEstimates_dfcom = mitml_estimates(testEstimates(models, df.com = df_com)),
    mice_pool_default = mice_pool(fits),
    mice_pool_dfcom = mice_pool(fits, dfcom = mice_dfcom),
    mice_pool_dfcom_value = jnum(mice_dfcom),
    tests = list()
  )
  for (label in names(null_formulas)) {
    null_models <- fit_all(imp, fun, null_formulas[[label]])$analyses
    en <- estimates_of(null_models)
    tested <- setdiff(colnames(est$q), colnames(en$q))
    d1_dfcom <- withCallingHandlers(
      testModels(models, null_models, method = "D1", df.com = df_com),
      warning = function(w) {
        cat(sprintf("  [%s] WARNING: %s\n", label, conditionMessage(w)))
        invokeRestart("muffleWarning")
      })
    out$tests[[label]] <- list(
      tested = I(tested),
      test_index = jvec(match(tested, colnames(est$q)) - 1L),  # 0-based, for Python
      D1 = test_row(testModels(models, null_models, method = "D1")),
      D1_dfcom = test_row(d1_dfcom),
      D2 = test_row(testModels(models, null_models, method = "D2", use = "wald"))
    )
  }
  out
}

# ---------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------

cases <- list()

cat("lm_nhanes2\n")
imp <- mice(nhanes2, m = 5, seed = 20240611, printFlag = FALSE)
cases$lm_nhanes2 <- make_case(
  imp, lm, chl ~ age + bmi + hyp,
  list(age = chl ~ bmi + hyp, bmi = chl ~ age + hyp),
  df_com = 20, mice_dfcom = 15
)
cases$lm_nhanes2$description <- paste(
  "mice(nhanes2, m = 5, seed = 20240611); lm(chl ~ age + bmi + hyp); df.com = 20",
  "(the residual df); mice_pool_default uses mice's own dfcom (df.residual), mice_pool_dfcom",
  "passes dfcom = 15")

cat("lmer_popmis\n")
pop <- popmis[popmis$school <= 30, c("school", "popular", "sex", "texp")]
pred <- make.predictorMatrix(pop)
pred[, "school"] <- 0
imp <- mice(pop, m = 20, seed = 20240612, predictorMatrix = pred, printFlag = FALSE)
cases$lmer_popmis <- make_case(
  imp, lmer, popular ~ sex + texp + (1 | school),
  list(sex_texp = popular ~ 1 + (1 | school), texp = popular ~ sex + (1 | school)),
  df_com = 27, mice_dfcom = 27
)
cases$lmer_popmis$mice_default_dfcom_note <- paste(
  "mice::pool on lmer fits takes dfcom = broom.mixed::glance()$df.residual =",
  "nobs - (fixed effects + variance parameters)")
cases$lmer_popmis$nobs <- jnum(nrow(pop))
cases$lmer_popmis$description <- paste(
  "popmis schools 1-30, mice(m = 20, pmm, school not a predictor, seed = 20240612);",
  "lmer(popular ~ sex + texp + (1 | school)) (REML); df.com = 27 (30 schools - 3)")

meta <- list(
  generated_by = "tests/r/make_pool_reference.R",
  R = R.version.string,
  mice = as.character(packageVersion("mice")),
  mitml = as.character(packageVersion("mitml")),
  lme4 = as.character(packageVersion("lme4"))
)

writeLines(toJSON(list(meta = meta, cases = cases), json_verbatim = TRUE, auto_unbox = TRUE,
                  pretty = TRUE), out_json)
cat("wrote", out_json, "\n")

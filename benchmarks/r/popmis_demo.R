# R side of the README's main job: what `jaxmice demo popmis --out DIR` does, done in R.
#
# Usage: Rscript benchmarks/r/popmis_demo.R popmis.csv OUTDIR [M MAXIT SEED]
#
# popmis.csv is the copy shipped with jaxmice (jaxmice/datasets/data/popmis.csv). The steps
# follow jaxmice/case_studies/popmis.py (defaults m = 20, maxit = 10, seed = 1):
#
#   - md.pattern of school, popular, sex, texp (printed, and its plot to a png), the ICC of
#     popular on the observed rows (lmer popular ~ 1 + (1 | school)), a correlation plot
#     (lattice levelplot of the pairwise correlations);
#   - three imputations of popular: "ignore cluster" (pmm, school not a predictor), "fixed
#     dummies" (pmm, school a factor predictor), "multilevel" (2l.pan, school -2); each
#     followed by with(imp, lmer(popular ~ 1 + sex + texp + (1 | school))) and mitml's
#     testEstimates(as.mitml.result(fits), extra.pars = TRUE), and a trace plot (plot(imp));
#   - for the multilevel one also a predictor-matrix plot (levelplot) and densityplot(imp);
#   - the complete-case lmer, and the pooled table written to OUTDIR/popmis_pooled.csv.
#
# So it writes the same 7 figures as jaxmice (lattice/base graphics to png, 110 dpi). It does
# not compute jaxmice's R-hat of the multilevel chains (mice has no such function).
# Prints one line of JSON to stdout: the phase times in seconds and, per strategy, the pooled
# fixed effects (estimate, se) and extra parameters; the harness times the whole process.

args <- commandArgs(trailingOnly = TRUE)
if (!length(args) %in% c(2L, 5L)) {
  stop("usage: Rscript popmis_demo.R popmis.csv outdir [m maxit seed]")
}
csv <- args[[1L]]
out <- args[[2L]]
m <- if (length(args) == 5L) as.integer(args[[3L]]) else 20L
maxit <- if (length(args) == 5L) as.integer(args[[4L]]) else 10L
seed <- if (length(args) == 5L) as.integer(args[[5L]]) else 1L

now <- function() proc.time()[["elapsed"]]
times <- list()
tick <- function(name, start) times[[name]] <<- round(now() - start, 3)

t0 <- now()
suppressPackageStartupMessages({
  library(mice)
  library(lme4)
  library(mitml)
  library(lattice)
  library(jsonlite)
})
tick("library", t0)

t0 <- now()
df <- read.csv(csv)[, c("school", "popular", "sex", "texp")]
df$school <- as.integer(df$school)
tick("read", t0)
dir.create(out, showWarnings = FALSE, recursive = TRUE)

to_stderr <- function(x) message(paste(capture.output(print(x)), collapse = "\n"))

save_png <- function(name, draw) {
  png(file.path(out, name), width = 770, height = 660, res = 110)
  on.exit(dev.off())
  draw()
}

# ----- look at the data ------------------------------------------------------------------------
t0 <- now()
cat(sprintf("popmis: %d pupils in %d schools; popular missing in %d rows\n",
            nrow(df), length(unique(df$school)), sum(is.na(df$popular))), file = stderr())
save_png("popmis_pattern.png", function() to_stderr(md.pattern(df, plot = TRUE)))
null_fit <- lmer(popular ~ 1 + (1 | school), data = df, REML = TRUE)
vc <- as.data.frame(VarCorr(null_fit))$vcov
icc_observed <- vc[[1L]] / sum(vc)
save_png("popmis_correlations.png", function() {
  print(levelplot(cor(df, use = "pairwise.complete.obs"), at = seq(-1, 1, 0.1),
                  xlab = "", ylab = "", main = "correlations"))
})
tick("explore", t0)

# ----- the three strategies --------------------------------------------------------------------
analysis <- popular ~ 1 + sex + texp + (1 | school)

strategy_specs <- function(df) {
  ignore <- make.predictorMatrix(df)
  ignore[, "school"] <- 0L
  dummies <- df
  dummies$school <- factor(dummies$school)
  multilevel <- make.predictorMatrix(df)
  multilevel["popular", "school"] <- -2L
  list(
    "ignore cluster (pmm)" = list(data = df, method = "pmm", pred = ignore, slug = "ignore_cluster"),
    "fixed dummies (pmm)" = list(data = dummies, method = "pmm",
                                 pred = make.predictorMatrix(dummies), slug = "fixed_dummies"),
    "multilevel (2l.pan)" = list(data = df, method = "2l.pan", pred = multilevel,
                                 slug = "multilevel")
  )
}

impute <- function(spec) {
  meth <- make.method(spec$data)
  meth[] <- ""
  meth[["popular"]] <- spec$method
  mice(spec$data, m = m, maxit = maxit, method = meth, predictorMatrix = spec$pred,
       seed = seed, printFlag = FALSE)
}

pooled_list <- function(est) {
  fixed <- est$estimates
  list(
    fixed = lapply(setNames(seq_len(nrow(fixed)), rownames(fixed)), function(i) {
      list(estimate = fixed[i, "Estimate"], se = fixed[i, "Std.Error"])
    }),
    extra = as.list(setNames(est$extra.pars[, "Estimate"], rownames(est$extra.pars)))
  )
}

pooled <- list()
strategy_times <- list()
for (name in names(specs <- strategy_specs(df))) {
  spec <- specs[[name]]
  t0 <- now()
  imp <- impute(spec)
  t1 <- now()
  fits <- with(imp, lmer(popular ~ 1 + sex + texp + (1 | school)))
  est <- testEstimates(as.mitml.result(fits), extra.pars = TRUE)
  t2 <- now()
  save_png(sprintf("popmis_trace_%s.png", spec$slug), function() print(plot(imp)))
  if (spec$method == "2l.pan") {
    save_png("popmis_predictor_matrix.png", function() {
      print(levelplot(t(spec$pred[rev(rownames(spec$pred)), ]), xlab = "predictor",
                      ylab = "imputed", main = "predictor matrix"))
    })
    save_png("popmis_density.png", function() print(densityplot(imp, ~popular)))
  }
  t3 <- now()
  strategy_times[[name]] <- list(mice = round(t1 - t0, 3), fit_pool = round(t2 - t1, 3),
                                 figures = round(t3 - t2, 3))
  pooled[[name]] <- pooled_list(est)
}

# ----- complete cases and the table ------------------------------------------------------------
t0 <- now()
cc <- lmer(analysis, data = df, REML = TRUE)
cc_fixed <- summary(cc)$coefficients
cc_vc <- as.data.frame(VarCorr(cc))$vcov
pooled[["complete cases"]] <- list(
  fixed = lapply(setNames(seq_len(nrow(cc_fixed)), rownames(cc_fixed)), function(i) {
    list(estimate = cc_fixed[i, "Estimate"], se = cc_fixed[i, "Std. Error"])
  }),
  extra = list("Intercept~~Intercept|school" = cc_vc[[1L]], "Residual~~Residual" = cc_vc[[2L]],
               "ICC|school" = cc_vc[[1L]] / sum(cc_vc))
)
cells <- lapply(pooled, function(p) {
  c(vapply(p$fixed, function(f) sprintf("%.4f (%.4f)", f$estimate, f$se), ""),
    vapply(p$extra, function(v) sprintf("%.4f", v), ""))
})
table <- do.call(cbind, cells)
write.csv(data.frame(parameter = rownames(table), table, check.names = FALSE, row.names = NULL),
          file.path(out, "popmis_pooled.csv"), row.names = FALSE)
tick("complete_cases_table", t0)
to_stderr(noquote(table))

cat(toJSON(list(m = m, maxit = maxit, seed = seed, icc_observed = icc_observed,
                times = times, strategies = strategy_times, pooled = pooled),
           auto_unbox = TRUE, digits = NA), "\n")

# R mice 2l.bin against known truth: one row of pooled estimates per replication.
#
# Usage: Rscript studies/r/mice_2lbin_reps.R DIR OUT.csv [FIRST [LAST]]
#
# DIR holds rep_XXX.csv files written by studies/write_bin2l_reps.py (columns g, y, x with
# empty fields where x is missing, and x_full, the complete x). For each file (or the reps
# FIRST..LAST, by number) x (a factor) is imputed by
#
#   mice(df, m = 5, maxit = 5, method = c(g = "", y = "", x = "2l.bin"), predictorMatrix = pred)
#
# with pred's row x: y = 1, g = -2 (and nothing else imputed), seed 1000 + rep. The
# analysis model glmer(x ~ y + (1 | g), family = binomial) is fitted on each completed set
# and its fixed effects pooled by mice::pool (Rubin's rules); the random-intercept variance
# is averaged over the imputations. The complete-data fit (x_full) is recorded as well.
# Appends one row per replication to OUT.csv (its header is written when it is new); reps
# already in OUT.csv are skipped, so an interrupted run resumes. Truth: intercept -0.5,
# slope 0.8, random-intercept variance 1.0.

args <- commandArgs(trailingOnly = TRUE)
if (!length(args) %in% 2:4) stop("usage: Rscript mice_2lbin_reps.R DIR OUT.csv [FIRST [LAST]]")
dir <- args[[1L]]
out <- args[[2L]]
first <- if (length(args) >= 3L) as.integer(args[[3L]]) else 0L
last <- if (length(args) >= 4L) as.integer(args[[4L]]) else .Machine$integer.max
m <- 5L
maxit <- 5L

suppressPackageStartupMessages({
  library(mice)
  library(lme4)
  library(broom.mixed)  # tidy() for merMod, used by mice::pool
})

files <- sort(list.files(dir, pattern = "^rep_[0-9]+\\.csv$", full.names = TRUE))
reps <- as.integer(sub("^rep_([0-9]+)\\.csv$", "\\1", basename(files)))
keep <- reps >= first & reps <= last
files <- files[keep]
reps <- reps[keep]
done <- if (file.exists(out) && file.size(out) > 0) read.csv(out)$rep else integer()

analysis <- x ~ y + (1 | g)
n_warnings <- 0L
quiet <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    n_warnings <<- n_warnings + 1L
    invokeRestart("muffleWarning")
  })
}
ri_variance <- function(fit) as.numeric(VarCorr(fit)$g[1, 1])

for (k in seq_along(files)) {
  rep <- reps[[k]]
  if (rep %in% done) next
  n_warnings <- 0L
  start <- proc.time()[["elapsed"]]
  raw <- read.csv(files[[k]])
  df <- data.frame(
    g = as.integer(raw$g),
    y = raw$y,
    x = factor(raw$x, levels = c(0, 1))
  )
  pred <- make.predictorMatrix(df)
  pred[, ] <- 0L
  pred["x", c("y", "g")] <- c(1L, -2L)
  method <- c(g = "", y = "", x = "2l.bin")
  imp <- quiet(mice(df, m = m, maxit = maxit, method = method, predictorMatrix = pred,
                    seed = 1000L + rep, printFlag = FALSE))
  fits <- quiet(with(imp, glmer(x ~ y + (1 | g), family = binomial)))
  pooled <- summary(quiet(pool(fits)))  # dfcom unknown for glmer: large-sample df
  ri <- vapply(fits$analyses, ri_variance, 0)
  seconds <- proc.time()[["elapsed"]] - start

  full <- data.frame(g = df$g, y = df$y, x = raw$x_full)
  cfit <- quiet(glmer(analysis, data = full, family = binomial))
  cc <- summary(cfit)$coefficients
  term <- function(name) which(as.character(pooled$term) == name)
  row <- data.frame(
    rep = rep,
    n = nrow(df),
    n_missing = sum(is.na(df$x)),
    est_intercept = pooled$estimate[term("(Intercept)")],
    se_intercept = pooled$std.error[term("(Intercept)")],
    df_intercept = pooled$df[term("(Intercept)")],
    est_slope = pooled$estimate[term("y")],
    se_slope = pooled$std.error[term("y")],
    df_slope = pooled$df[term("y")],
    ri_variance = mean(ri),
    full_intercept = cc["(Intercept)", "Estimate"],
    full_se_intercept = cc["(Intercept)", "Std. Error"],
    full_slope = cc["y", "Estimate"],
    full_se_slope = cc["y", "Std. Error"],
    full_ri_variance = ri_variance(cfit),
    warnings = n_warnings,
    seconds = seconds
  )
  new <- !file.exists(out) || file.size(out) == 0
  write.table(row, out, sep = ",", row.names = FALSE, col.names = new, append = !new)
  cat(sprintf("rep %d: %.2fs (slope %.3f, variance %.3f)\n", rep, seconds, row$est_slope,
              row$ri_variance))
  flush(stdout())
}

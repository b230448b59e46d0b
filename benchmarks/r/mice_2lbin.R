# R mice side of the multilevel binary (2l.bin + 2l.pan) benchmark.
#
# Usage: Rscript benchmarks/r/mice_2lbin.R data.csv M MAXIT SEED
#
# Reads the CSV written by benchmarks/bench_2lbin.py (columns g, y, b, x2; empty fields are
# missing; see generate.make_ipd_binary_missing) and imputes b (a factor) by 2l.bin and y by
# 2l.pan, each with the other and x2 as fixed effects (1) and g (-2) as the cluster with a
# random intercept; g and x2 are complete and not imputed. Prints one line of JSON to stdout
# with the phase times in seconds (library load, CSV read, mice) and the mean of the imputed
# values of y and of b (the share of ones), over the m imputations (a sanity check against
# jaxmice); the harness times the whole process.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 4L) {
  stop("usage: Rscript mice_2lbin.R data.csv m maxit seed")
}
csv <- args[[1L]]
m <- as.integer(args[[2L]])
maxit <- as.integer(args[[3L]])
seed <- as.integer(args[[4L]])

now <- function() proc.time()[["elapsed"]]

t0 <- now()
suppressPackageStartupMessages({
  library(mice)
  library(pan)
  library(lme4)
})
t1 <- now()
df <- read.csv(csv)
df$g <- as.integer(df$g)
df$b <- factor(df$b, levels = c(0, 1))
t2 <- now()

pred <- make.predictorMatrix(df)
pred[, ] <- 0L
pred["b", c("y", "x2")] <- 1L
pred["y", c("b", "x2")] <- 1L
pred[c("b", "y"), "g"] <- -2L
method <- make.method(df)
method[] <- ""
method[c("b", "y")] <- c("2l.bin", "2l.pan")
# glmer's convergence warnings inside 2l.bin are counted, not printed
n_warnings <- 0L
imp <- withCallingHandlers(
  mice(df, m = m, maxit = maxit, method = method, predictorMatrix = pred,
       seed = seed, printFlag = FALSE),
  warning = function(w) {
    n_warnings <<- n_warnings + 1L
    invokeRestart("muffleWarning")
  }
)
t3 <- now()

imputed_y <- unlist(imp$imp$y, use.names = FALSE)
imputed_b <- unlist(lapply(imp$imp$b, function(v) as.integer(as.character(v))), use.names = FALSE)
stopifnot(
  length(imputed_y) == m * sum(is.na(df$y)), !anyNA(imputed_y),
  length(imputed_b) == m * sum(is.na(df$b)), !anyNA(imputed_b)
)
cat(sprintf(
  paste0('{"rows": %d, "clusters": %d, "n_missing": %d, "m": %d, "maxit": %d, ',
         '"library": %.3f, "read": %.3f, "mice": %.3f, "warnings": %d, ',
         '"mean_imputed_y": %.17g, "mean_imputed_b": %.17g}\n'),
  nrow(df), length(unique(df$g)), sum(is.na(df[c("b", "y")])), m, maxit,
  t1 - t0, t2 - t1, t3 - t2, n_warnings, mean(imputed_y), mean(imputed_b)
))

# R mice side of the simulation-study benchmark (benchmarks/bench_simulation.py).
#
# Usage: Rscript benchmarks/r/mice_simulation.R folder M MAXIT SEED
#
# Reads every rep_*.csv in folder (columns g, x1, x2, y; empty fields missing), and for each:
# mice with 2l.pan for y and x1 (g = -2, the other columns 1), lmer(y ~ x1 + x2 + (1 | g)) on
# each completed data set, pooled by mitml::testEstimates. Prints one JSON line: the seconds
# per replication (impute, analyse + pool) and the pooled estimates.

args <- commandArgs(trailingOnly = TRUE)
folder <- args[[1L]]; m <- as.integer(args[[2L]]); maxit <- as.integer(args[[3L]])
seed <- as.integer(args[[4L]])
suppressPackageStartupMessages({
  library(mice); library(pan); library(lme4); library(mitml); library(jsonlite)
})
files <- sort(list.files(folder, pattern = "^rep_.*\\.csv$", full.names = TRUE))
impute <- 0; analyse <- 0; est <- list()
for (k in seq_along(files)) {
  d <- read.csv(files[[k]])
  d$g <- as.integer(d$g)
  pred <- make.predictorMatrix(d)
  pred[, "g"] <- 0L
  pred[c("y", "x1"), "g"] <- -2L
  meth <- make.method(d); meth[] <- ""; meth[c("y", "x1")] <- "2l.pan"
  t0 <- proc.time()[["elapsed"]]
  imp <- mice(d, m = m, maxit = maxit, method = meth, predictorMatrix = pred,
              seed = seed + k, printFlag = FALSE)
  t1 <- proc.time()[["elapsed"]]
  fits <- lapply(seq_len(m), function(i) lmer(y ~ x1 + x2 + (1 | g), data = complete(imp, i)))
  pooled <- testEstimates(as.mitml.result(fits))
  t2 <- proc.time()[["elapsed"]]
  impute <- impute + (t1 - t0); analyse <- analyse + (t2 - t1)
  est[[k]] <- unname(pooled$estimates[, 1])
}
n <- length(files)
cat(toJSON(list(reps = n, impute_per_rep = impute / n, analyse_per_rep = analyse / n,
                estimates = est), auto_unbox = TRUE, digits = 10), "\n")

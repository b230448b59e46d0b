# R mice side of the single-level benchmark.
#
# Usage: Rscript benchmarks/r/mice_single.R data.csv M MAXIT SEED
#
# Reads the CSV written by benchmarks/generate.py (empty fields are missing),
# runs mice() with predictive mean matching on every incomplete column and
# exits. Phase times go to stderr; the harness times the whole process.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 4L) {
  stop("usage: Rscript mice_single.R data.csv m maxit seed")
}
csv <- args[[1L]]
m <- as.integer(args[[2L]])
maxit <- as.integer(args[[3L]])
seed <- as.integer(args[[4L]])

t0 <- proc.time()[["elapsed"]]
suppressPackageStartupMessages(library(mice))
t1 <- proc.time()[["elapsed"]]
df <- read.csv(csv)
t2 <- proc.time()[["elapsed"]]
imp <- mice(df, m = m, maxit = maxit, method = "pmm", seed = seed, printFlag = FALSE)
done <- complete(imp, 1L)
t3 <- proc.time()[["elapsed"]]
stopifnot(!anyNA(done))

message(sprintf("library: %.3fs  read: %.3fs  mice: %.3fs", t1 - t0, t2 - t1, t3 - t2))

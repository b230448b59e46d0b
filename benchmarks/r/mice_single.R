# R mice side of the single-level benchmark.
#
# Usage: Rscript benchmarks/r/mice_single.R data.csv M MAXIT SEED
#
# Reads the CSV written by benchmarks/generate.py (empty fields are missing),
# runs mice() with predictive mean matching on every incomplete column and
# exits. Prints one line of JSON to stdout with the phase times in seconds (library
# load, CSV read, mice; the harness's child protocol); the harness times the whole
# process.

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

cat(sprintf(
  '{"rows": %d, "cols": %d, "m": %d, "maxit": %d, "library": %.3f, "read": %.3f, "mice": %.3f}\n',
  nrow(df), ncol(df), m, maxit, t1 - t0, t2 - t1, t3 - t2
))

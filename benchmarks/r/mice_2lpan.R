# R mice side of the multilevel (2l.pan) benchmark.
#
# Usage: Rscript benchmarks/r/mice_2lpan.R data.csv M MAXIT SEED
#
# Reads the CSV written by benchmarks/bench_2lpan.py (columns cluster, x1, x2, z, y;
# empty fields in y are missing) and imputes y with 2l.pan: x1, x2 and z are fixed
# effects, cluster (-2) gives a random intercept, and no other column is imputed or
# uses cluster. Prints one line of JSON to stdout with the phase times in seconds
# (library load, CSV read, mice) and the mean of all imputed y values over the m
# imputations (a sanity check against jaxmice); the harness times the whole process.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 4L) {
  stop("usage: Rscript mice_2lpan.R data.csv m maxit seed")
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
})
t1 <- now()
df <- read.csv(csv)
df$cluster <- as.integer(df$cluster)
t2 <- now()

pred <- make.predictorMatrix(df)
pred[, "cluster"] <- 0L
pred["y", "cluster"] <- -2L
method <- make.method(df)
method[] <- ""
method[["y"]] <- "2l.pan"
imp <- mice(df, m = m, maxit = maxit, method = method, predictorMatrix = pred,
            seed = seed, printFlag = FALSE)
t3 <- now()

imputed <- unlist(imp$imp$y, use.names = FALSE)
stopifnot(length(imputed) == m * sum(is.na(df$y)), !anyNA(imputed))
cat(sprintf(
  paste0('{"rows": %d, "clusters": %d, "n_missing": %d, "m": %d, "maxit": %d, ',
         '"library": %.3f, "read": %.3f, "mice": %.3f, "mean_imputed_y": %.17g}\n'),
  nrow(df), length(unique(df$cluster)), sum(is.na(df$y)), m, maxit,
  t1 - t0, t2 - t1, t3 - t2, mean(imputed)
))

# R mice side of the multilevel (2l.pan) benchmark.
#
# Usage: Rscript benchmarks/r/mice_2lpan.R data.csv M MAXIT SEED [TARGETS]
#
# Reads the CSV written by benchmarks/bench_2lpan.py (columns cluster, x1, x2, z, y;
# empty fields are missing) and imputes each column of TARGETS (comma-separated, default
# "y"; "y,x1" for the two-variable design) with 2l.pan: every other data column is a
# fixed effect (1), cluster (-2) gives a random intercept, and no other column is imputed
# or uses cluster. Prints one line of JSON to stdout with the phase times in seconds
# (library load, CSV read, mice) and, per imputed column, the mean of all its imputed
# values over the m imputations (mean_imputed_y, ...: a sanity check against jaxmice);
# the harness times the whole process.

args <- commandArgs(trailingOnly = TRUE)
if (!length(args) %in% c(4L, 5L)) {
  stop("usage: Rscript mice_2lpan.R data.csv m maxit seed [targets]")
}
csv <- args[[1L]]
m <- as.integer(args[[2L]])
maxit <- as.integer(args[[3L]])
seed <- as.integer(args[[4L]])
targets <- if (length(args) == 5L) strsplit(args[[5L]], ",", fixed = TRUE)[[1L]] else "y"

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
pred[targets, "cluster"] <- -2L
method <- make.method(df)
method[] <- ""
method[targets] <- "2l.pan"
imp <- mice(df, m = m, maxit = maxit, method = method, predictorMatrix = pred,
            seed = seed, printFlag = FALSE)
t3 <- now()

mean_imputed <- function(target) {
  imputed <- unlist(imp$imp[[target]], use.names = FALSE)
  stopifnot(length(imputed) == m * sum(is.na(df[[target]])), !anyNA(imputed))
  sprintf('"mean_imputed_%s": %.17g', target, mean(imputed))
}
cat(sprintf(
  paste0('{"rows": %d, "clusters": %d, "n_missing": %d, "m": %d, "maxit": %d, ',
         '"library": %.3f, "read": %.3f, "mice": %.3f, %s}\n'),
  nrow(df), length(unique(df$cluster)), sum(is.na(df[targets])), m, maxit,
  t1 - t0, t2 - t1, t3 - t2, paste(vapply(targets, mean_imputed, ""), collapse = ", ")
))

# lme4 side of the lmer benchmark.
#
# Usage:
#   Rscript benchmarks/r/lmer_bench.R batch long.csv   # one fit per value of .imp
#   Rscript benchmarks/r/lmer_bench.R single big.csv   # one fit on the whole file
#
# Fits lmer(y ~ x1 + x2 + z + (1 | cluster)) (REML, lme4's defaults) on the CSV
# written by benchmarks/bench_lmer.py. Prints one line of JSON to stdout with the
# phase times in seconds (library load, CSV read, split by .imp, fit) and the
# fixed effects of the first fit; the harness times the whole process.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 2L || !args[[1L]] %in% c("batch", "single")) {
  stop("usage: Rscript lmer_bench.R batch|single data.csv")
}
mode <- args[[1L]]
csv <- args[[2L]]
form <- y ~ x1 + x2 + z + (1 | cluster)

now <- function() proc.time()[["elapsed"]]

t0 <- now()
suppressPackageStartupMessages(library(lme4))
t1 <- now()
have_fread <- requireNamespace("data.table", quietly = TRUE)
if (have_fread) {
  df <- data.table::fread(csv, data.table = FALSE, showProgress = FALSE)
} else {
  df <- read.csv(csv)
}
t2 <- now()
if (mode == "batch") {
  sets <- split(df, df[[".imp"]])
} else {
  sets <- list(df)
}
t3 <- now()
fits <- lapply(sets, function(d) lmer(form, data = d))
t4 <- now()

beta <- fixef(fits[[1L]])
json_num <- function(x) sprintf("%.17g", x)
json_sec <- function(x) sprintf("%.3f", x)
fixed <- paste0('"', names(beta), '": ', json_num(beta), collapse = ", ")
cat(sprintf(
  paste0('{"mode": "%s", "reader": "%s", "n_fits": %d, "rows": %d, "library": %s, ',
         '"read": %s, "split": %s, "fit": %s, "fixed": {%s}}\n'),
  mode, if (have_fread) "data.table::fread" else "read.csv", length(fits),
  nrow(sets[[1L]]), json_sec(t1 - t0), json_sec(t2 - t1), json_sec(t3 - t2),
  json_sec(t4 - t3), fixed
))

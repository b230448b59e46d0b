# R mice reference timings for the random-size designs of benchmarks/sizes_data.py.
#
# Usage: Rscript benchmarks/r/mice_sizes.R FOLDER DESIGN OUT_JSON [M MAXIT SEED]
#
#   FOLDER  rep_*.csv files written by `python benchmarks/sizes_data.py DESIGN SEED0 COUNT FOLDER`
#   DESIGN  loop  (columns g, x1, x2, z, y; lmer(y ~ x1 + x2 + z + (1 | g)))
#           batch (columns g, x1, x2, y;    lmer(y ~ x1 + x2 + (1 | g)))
#   M, MAXIT, SEED  default 5, 10, 1; data set k (1-based) is imputed with seed SEED + k.
#
# For each data set, as benchmarks/r/mice_simulation.R does: mice with 2l.pan for y and x1
# (g coded -2, the other columns 1; g an integer column), lmer on each completed data set,
# pooled by mitml::testEstimates(as.mitml.result(fits), extra.pars = TRUE). The time of
# impute + fit + pool is measured inside R by system.time (R's start-up and the reading of the
# CSV are not counted): elapsed seconds, and CPU seconds (user + system) as a check on a busy
# machine. Writes OUT_JSON (per-data-set seconds, their median, pooled estimates
# with 95% intervals, variance components, versions) and prints a one-line JSON summary.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3L) stop("usage: mice_sizes.R FOLDER DESIGN OUT_JSON [M MAXIT SEED]")
folder <- args[[1L]]; design <- args[[2L]]; out <- args[[3L]]
m <- if (length(args) >= 4L) as.integer(args[[4L]]) else 5L
maxit <- if (length(args) >= 5L) as.integer(args[[5L]]) else 10L
seed <- if (length(args) >= 6L) as.integer(args[[6L]]) else 1L
# unevaluated, so that with(imp, lmer(...)) builds each formula among the completed data
formulas <- list(loop = quote(y ~ x1 + x2 + z + (1 | g)), batch = quote(y ~ x1 + x2 + (1 | g)))
if (!design %in% names(formulas)) stop("DESIGN must be 'loop' or 'batch'")
model <- formulas[[design]]

suppressPackageStartupMessages({
  library(mice); library(pan); library(lme4); library(mitml); library(jsonlite)
})

files <- sort(list.files(folder, pattern = "^rep_.*\\.csv$", full.names = TRUE))
if (!length(files)) stop("no rep_*.csv in ", folder)

one <- function(d, k) {
  d$g <- as.integer(d$g)
  pred <- make.predictorMatrix(d)
  pred[, "g"] <- 0L
  pred[c("y", "x1"), "g"] <- -2L
  meth <- make.method(d); meth[] <- ""; meth[c("y", "x1")] <- "2l.pan"
  t_impute <- NA_real_
  st <- system.time({
    t0 <- proc.time()[["elapsed"]]
    imp <- mice(d, m = m, maxit = maxit, method = meth, predictorMatrix = pred,
                seed = seed + k, printFlag = FALSE)
    t_impute <- proc.time()[["elapsed"]] - t0
    fits <- eval(bquote(with(imp, lmer(.(model)))))
    pooled <- testEstimates(as.mitml.result(fits), extra.pars = TRUE)
  })
  elapsed <- st[["elapsed"]]
  cpu <- st[["user.self"]] + st[["sys.self"]]
  est <- pooled$estimates
  half <- qt(0.975, est[, "df"]) * est[, "Std.Error"]
  fixed <- lapply(rownames(est), function(term) {
    list(term = term, estimate = est[term, "Estimate"], se = est[term, "Std.Error"],
         df = est[term, "df"], lower = est[term, "Estimate"] - half[[term]],
         upper = est[term, "Estimate"] + half[[term]], riv = est[term, "RIV"],
         fmi = est[term, "FMI"])
  })
  extra <- pooled$extra.pars
  list(file = basename(files[[k]]), rows = nrow(d), clusters = length(unique(d$g)),
       missing = list(y = sum(is.na(d$y)), x1 = sum(is.na(d$x1))),
       seconds = elapsed, cpu_seconds = cpu, impute_seconds = t_impute,
       analyse_pool_seconds = elapsed - t_impute,
       fixed = fixed,
       extra = setNames(as.list(extra[, 1]), rownames(extra)))
}

results <- vector("list", length(files))
for (k in seq_along(files)) {
  d <- read.csv(files[[k]])
  results[[k]] <- one(d, k)
  r <- results[[k]]
  message(sprintf("  %s: %d rows, %d clusters: %.2f s elapsed (impute %.2f s), %.2f s CPU",
                  r$file, r$rows, r$clusters, r$seconds, r$impute_seconds, r$cpu_seconds))
}
seconds <- vapply(results, function(r) r$seconds, numeric(1))
cpu_seconds <- vapply(results, function(r) r$cpu_seconds, numeric(1))
ver <- function(p) as.character(utils::packageVersion(p))
report <- list(
  design = design, formula = paste(deparse(model), collapse = ""), m = m, maxit = maxit,
  seed = seed, folder = normalizePath(folder), n_datasets = length(files),
  seconds = seconds, median_seconds = median(seconds), mean_seconds = mean(seconds),
  cpu_seconds = cpu_seconds, median_cpu_seconds = median(cpu_seconds),
  timing = "system.time elapsed around mice + lmer on each completed set + testEstimates",
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."), mice = ver("mice"),
                  lme4 = ver("lme4"), mitml = ver("mitml"), pan = ver("pan"),
                  Matrix = ver("Matrix")),
  blas = tryCatch(sessionInfo()$BLAS, error = function(e) NA_character_),
  machine = list(sysname = Sys.info()[["sysname"]], release = Sys.info()[["release"]],
                 cores = parallel::detectCores()),
  date = format(Sys.time(), "%Y-%m-%dT%H:%M:%S%z"),
  datasets = results)
write_json(report, out, auto_unbox = TRUE, digits = 10, pretty = TRUE)
cat(toJSON(list(design = design, n = length(files), seconds = seconds,
                median_seconds = median(seconds), median_cpu_seconds = median(cpu_seconds)),
            auto_unbox = TRUE, digits = 6), "\n")

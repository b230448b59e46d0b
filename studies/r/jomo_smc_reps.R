# R jomo's substantive-model-compatible imputation on the known-truth designs of issue 26.
#
# Usage: Rscript studies/r/jomo_smc_reps.R IN.csv OUT.csv [NBURN [NBETWEEN [NIMP [CHAINS_OUT.csv [K]]]]]
#
# IN.csv (written by studies/jomo_reference.py from tests/support/smcfcs_designs.py) holds many
# replications, one row per data row, with columns design ("a30", "a100" or "c"), rep, seed,
# g, y, x, w (design a) or z (design c; 0/1), empty where missing, and y_full, x_full, z_full
# (the complete, pre-amputation values). (design, rep) pairs are processed in the order they
# first appear. For each one, set.seed(seed) and then
#
#   design a: jomo.lmer(y ~ x * w + (1 + x | g), data.frame(y, x, w, g),
#                       level = c(1, 1, 2, 1), nburn, nbetween, nimp, output = 0)
#   design c: jomo.glmer(y ~ x + z + (1 | g), data.frame(y, x, z = factor(z), g),
#                        level = c(1, 1, 1, 1), nburn, nbetween, nimp, output = 0,
#                        family = "binomial")
#
# (defaults nburn 1000, nbetween 100, nimp 5; jomo's other arguments at their defaults:
# meth = "common", identity priors and starts). The analysis model, lmer(y ~ x * w + (1 + x | g))
# or glmer(y ~ x + z + (1 | g), binomial), is fitted to each imputed data set and pooled by
# mitml::testEstimates (Rubin's rules, classic Rubin df; variance components as the mean over
# imputations, extra.pars = TRUE); the same model is fitted to the complete data. Appends to
# OUT.csv one row per (design, rep, param): est, se, df, lo, hi (95 % t interval), full_est,
# full_se, full_lo, full_hi (complete data, Wald z interval), seconds (the jomo call's
# elapsed seconds), n, n_miss_y, n_miss_x, n_miss_z, warnings (analysis-model warnings over
# the m fits). param: fixed-effect names and var_u0, var_u1, cor_u0_u1, sigma2 (a) or var_u0
# (c). Pairs already in OUT.csv are skipped, so an interrupted run resumes.
#
# With CHAINS_OUT.csv, additionally for the first K (default 2) replications of each design:
# two chains of jomo.lmer.MCMCchain / jomo.glmer.MCMCchain (nburn each, seeds seed + 1 and
# seed + 2), written as the Gelman-Rubin R-hat (second halves) of each substantive-model
# parameter per (design, rep, param): the fixed effects (collectbetaY, in fixef order), the
# random-effect variances (diagonal of collectcovuY) and, for (a), the residual variance
# (collectvarY), with the iterations per chain and both chains' seconds.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 2L) stop("usage: Rscript jomo_smc_reps.R IN.csv OUT.csv [NBURN [NBETWEEN [NIMP [CHAINS_OUT.csv [K]]]]]")
infile <- args[[1L]]
out <- args[[2L]]
nburn <- if (length(args) >= 3L) as.integer(args[[3L]]) else 1000L
nbetween <- if (length(args) >= 4L) as.integer(args[[4L]]) else 100L
nimp <- if (length(args) >= 5L) as.integer(args[[5L]]) else 5L
chains_out <- if (length(args) >= 6L) args[[6L]] else NA_character_
k_chains <- if (length(args) >= 7L) as.integer(args[[7L]]) else 2L

suppressPackageStartupMessages({
  library(jomo)
  library(lme4)
  library(mitml)
})

raw <- read.csv(infile)
key <- paste(raw$design, raw$rep)
keys <- unique(key)
done <- if (file.exists(out) && file.size(out) > 0) {
  d <- read.csv(out)
  unique(paste(d$design, d$rep))
} else character()

f_a <- y ~ x * w + (1 + x | g)
f_c <- y ~ x + z + (1 | g)

n_warnings <- 0L
quiet <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    n_warnings <<- n_warnings + 1L
    invokeRestart("muffleWarning")
  }, message = function(m) invokeRestart("muffleMessage"))
}
silent <- function(expr) {  # jomo prints its progress dots and notes with cat()
  sink(nullfile())
  on.exit(sink())
  quiet(expr)
}

varcomp <- function(fit, design) {
  vc <- VarCorr(fit)$g
  if (design == "c") return(c(var_u0 = vc[1, 1]))
  sds <- attr(vc, "stddev")
  c(var_u0 = vc[1, 1], var_u1 = vc[2, 2], cor_u0_u1 = vc[1, 2] / prod(sds),
    sigma2 = sigma(fit)^2)
}

fit_one <- function(df, design) {
  if (design == "c") {
    glmer(f_c, data = df, family = binomial)
  } else {
    lmer(f_a, data = df)
  }
}

make_frame <- function(d, design, full = FALSE) {
  sfx <- if (full) "_full" else ""
  if (design == "c") {
    data.frame(y = d[[paste0("y", sfx)]], x = d[[paste0("x", sfx)]],
               z = factor(d[[paste0("z", sfx)]], levels = c(0, 1)), g = d$g)
  } else {
    data.frame(y = d[[paste0("y", sfx)]], x = d[[paste0("x", sfx)]], w = d$w, g = d$g)
  }
}

run_jomo <- function(df, design) {
  if (design == "c") {
    jomo.glmer(f_c, df, level = c(1, 1, 1, 1), nburn = nburn, nbetween = nbetween,
               nimp = nimp, output = 0, family = "binomial")
  } else {
    jomo.lmer(f_a, df, level = c(1, 1, 2, 1), nburn = nburn, nbetween = nbetween,
              nimp = nimp, output = 0)
  }
}

run_chain <- function(df, design) {
  if (design == "c") {
    jomo.glmer.MCMCchain(f_c, df, level = c(1, 1, 1, 1), nburn = nburn, output = 0,
                         family = "binomial")
  } else {
    jomo.lmer.MCMCchain(f_a, df, level = c(1, 1, 2, 1), nburn = nburn, output = 0)
  }
}

rhat <- function(c1, c2) {  # Gelman-Rubin on the second halves of two chains
  h <- floor(length(c1) / 2)
  a <- c1[(length(c1) - h + 1):length(c1)]
  b <- c2[(length(c2) - h + 1):length(c2)]
  n <- h
  w <- (var(a) + var(b)) / 2
  bb <- n * var(c(mean(a), mean(b)))
  sqrt(((n - 1) / n * w + bb / n) / w)
}

append_rows <- function(rows, path) {
  new <- !file.exists(path) || file.size(path) == 0
  write.table(rows, path, sep = ",", row.names = FALSE, col.names = new, append = !new,
              quote = TRUE)
}

chain_count <- list()
for (kk in keys) {
  d <- raw[key == kk, ]
  design <- d$design[[1L]]
  rep <- d$rep[[1L]]
  seed <- d$seed[[1L]]
  dd <- if (startsWith(design, "a")) "a" else "c"
  df <- make_frame(d, dd)
  full <- make_frame(d, dd, full = TRUE)

  if (!is.na(chains_out)) {
    cnt <- if (is.null(chain_count[[design]])) 0L else chain_count[[design]]
    chain_count[[design]] <- cnt + 1L
    cdone <- if (file.exists(chains_out) && file.size(chains_out) > 0) {
      cd <- read.csv(chains_out)
      unique(paste(cd$design, cd$rep))
    } else character()
    if (cnt < k_chains && !(kk %in% cdone)) {
      t0 <- proc.time()[["elapsed"]]
      set.seed(seed + 1L)
      r1 <- silent(run_chain(df, dd))
      set.seed(seed + 2L)
      r2 <- silent(run_chain(df, dd))
      secs <- proc.time()[["elapsed"]] - t0
      draws <- function(r) {  # collectbetaY is [1, p, iterations]; covuY [q, q, iterations]
        b <- matrix(r$collectbetaY[1, , ], ncol = dim(r$collectbetaY)[3])
        q <- dim(r$collectcovuY)[1]
        v <- t(sapply(seq_len(q), function(i) r$collectcovuY[i, i, ]))
        rownames(v) <- c("var_u0", "var_u1")[seq_len(q)]
        out <- rbind(b, v)
        if (!is.null(r$collectvarY) && dd == "a") out <- rbind(out, sigma2 = r$collectvarY)
        out
      }
      ch1 <- draws(r1)
      ch2 <- draws(r2)
      cc <- stats::complete.cases(df)
      fnames <- names(fixef(quiet(fit_one(df[cc, ], dd))))
      rownames(ch1)[seq_along(fnames)] <- fnames
      rh <- sapply(seq_len(nrow(ch1)), function(i) rhat(ch1[i, ], ch2[i, ]))
      pn <- sub("^z1$", "z", rownames(ch1))
      append_rows(data.frame(design = design, rep = rep, param = pn, rhat = rh,
                             iterations = ncol(ch1), seconds = secs), chains_out)
      cat(sprintf("%s rep %d chains: max R-hat %.3f, %.1f s\n", design, rep, max(rh), secs))
    }
  }
  if (kk %in% done) next

  set.seed(seed)
  t0 <- proc.time()[["elapsed"]]
  imp <- silent(run_jomo(df, dd))
  secs <- proc.time()[["elapsed"]] - t0

  n_warnings <- 0L
  imps <- split(imp, imp$Imputation)
  imps <- imps[names(imps) != "0"]
  fits <- lapply(imps, function(s) {
    s <- s[, c("y", "x", if (dd == "c") "z" else "w", "clus")]
    names(s)[4] <- "g"
    quiet(fit_one(s, dd))
  })
  warn_imp <- n_warnings
  pooled <- quiet(testEstimates(unname(fits), extra.pars = TRUE))
  est <- pooled$estimates
  fixed <- rownames(est)
  rownames(est) <- sub("^z1$", "z", fixed)  # the factor z's coefficient, "z" in the output
  vcs <- sapply(fits, varcomp, design = dd)
  vcs <- if (is.matrix(vcs)) rowMeans(vcs) else c(var_u0 = mean(vcs))

  n_warnings <- 0L
  ffit <- quiet(fit_one(full, dd))
  fcoef <- summary(ffit)$coefficients
  fvc <- varcomp(ffit, dd)

  q <- qt(0.975, est[, "df"])
  rows <- data.frame(
    design = design, rep = rep, param = c(rownames(est), names(vcs)),
    est = c(est[, "Estimate"], vcs),
    se = c(est[, "Std.Error"], rep(NA, length(vcs))),
    df = c(est[, "df"], rep(NA, length(vcs))),
    lo = c(est[, "Estimate"] - q * est[, "Std.Error"], rep(NA, length(vcs))),
    hi = c(est[, "Estimate"] + q * est[, "Std.Error"], rep(NA, length(vcs))),
    full_est = c(fcoef[fixed, "Estimate"], fvc[names(vcs)]),
    full_se = c(fcoef[fixed, "Std. Error"], rep(NA, length(vcs))),
    full_lo = c(fcoef[fixed, "Estimate"] - qnorm(0.975) * fcoef[fixed, "Std. Error"],
                rep(NA, length(vcs))),
    full_hi = c(fcoef[fixed, "Estimate"] + qnorm(0.975) * fcoef[fixed, "Std. Error"],
                rep(NA, length(vcs))),
    seconds = secs, n = nrow(df), n_miss_y = sum(is.na(df$y)), n_miss_x = sum(is.na(df$x)),
    n_miss_z = if (dd == "c") sum(is.na(df$z)) else 0L, warnings = warn_imp,
    full_warnings = n_warnings
  )
  append_rows(rows, out)
  cat(sprintf("%s rep %d: %.1f s, x%s = %.3f\n", design, rep, secs,
              if (dd == "a") ":w" else "", est[if (dd == "a") "x:w" else "x", "Estimate"]))
}

# Golden reference values for jaxmice._src.diagnostics.convergence (R-hat and autocorrelation of the chains),
# computed by mice's own mice:::convergence (which calls rstan::Rhat) on fixed traces.
#
# Run from the repository root:
#     Rscript tests/r/make_convergence_reference.R
#
# Each case is a set of traces chainMean / chainVar f[variables, iterations, m] (R's mids
# layout) and mice::convergence(., parameter = "mean") and (., parameter = "sd") on them.
# Written to tests/data/convergence_reference.json with 17 significant digits, so Python
# reads exactly the doubles R used.
#
# Cases:
#   synthetic:  m = 5, T = 20; traces made here: iid normal chains (well mixed), AR(1) chains
#               (rho 0.8) from over-dispersed starts, values rounded to one decimal (ties for the
#               ranks), and a constant trace (R-hat undefined, ac 0).
#   odd_m2:     m = 2, T = 9 (odd T: the split drops the middle iteration; m = 2: correlations
#               across chains are +-1).
#   nhanes:     a real run: mice(nhanes, m = 5, maxit = 12, seed = 123); its chainMean and
#               chainVar (age is complete, so its traces are NA).
#
# The traces of the synthetic cases are rounded to 12 significant digits before use.
# A traces' case goes through mice::convergence as a minimal "mids" object (data, m, iteration,
# chainMean, chainVar), the fields mice::convergence reads.

suppressPackageStartupMessages({
  library(mice)
  library(jsonlite)
})

out_json <- "tests/data/convergence_reference.json"
if (!dir.exists("jaxmice")) stop("run this script from the repository root")

fmt <- function(v) {
  s <- sprintf("%.17g", v)
  s[is.na(v)] <- "NaN"
  s[!is.na(v) & v == Inf] <- "Infinity"
  s[!is.na(v) & v == -Inf] <- "-Infinity"
  s
}
jvec <- function(x) structure(paste0("[", paste(fmt(as.numeric(x)), collapse = ","), "]"),
                              class = "json")
# an R array [v, t, m] as JSON [v][t][m]
jarr <- function(a) structure(
  paste0("[", paste(vapply(seq_len(dim(a)[1]), function(i) {
    rows <- apply(a[i, , , drop = FALSE][1, , ], 1, function(r)
      paste0("[", paste(fmt(r), collapse = ","), "]"))
    paste0("[", paste(rows, collapse = ","), "]")
  }, ""), collapse = ","), "]"),
  class = "json")

fake_mids <- function(mean, var) {
  vrbs <- dimnames(mean)[[1]]
  data <- as.data.frame(setNames(replicate(length(vrbs), c(1, NA), simplify = FALSE), vrbs))
  structure(list(data = data, m = dim(mean)[3], iteration = dim(mean)[2],
                 chainMean = mean, chainVar = var), class = "mids")
}

run_case <- function(obj) {
  res <- list()
  for (parameter in c("mean", "sd")) {
    conv <- mice::convergence(obj, parameter = parameter)
    res[[parameter]] <- list(variable = as.character(conv$vrb), iteration = conv$.it,
                             ac = jvec(conv$ac), rhat = jvec(conv$psrf))
  }
  list(variables = dimnames(obj$chainMean)[[1]], m = obj$m, iterations = obj$iteration,
       chain_mean = jarr(obj$chainMean), chain_var = jarr(obj$chainVar), results = res)
}

traces <- function(vrbs, t, m) {
  array(NA_real_, dim = c(length(vrbs), t, m),
        dimnames = list(vrbs, as.character(seq_len(t)), paste("Chain", seq_len(m))))
}
ar1 <- function(t, start, rho, sd) {
  x <- numeric(t)
  x[1] <- start
  for (i in 2:t) x[i] <- rho * x[i - 1] + rnorm(1, sd = sd)
  x
}

cases <- list()

# ----- synthetic: m = 5, T = 20 ----------------------------------------------------------------
set.seed(20240517)
t <- 20; m <- 5
vrbs <- c("iid", "sticky", "ties", "constant")
mean <- traces(vrbs, t, m)
var <- traces(vrbs, t, m)
starts <- c(-4, -2, 0, 2, 4)
for (k in seq_len(m)) {
  mean["iid", , k] <- rnorm(t, 3, 0.2)
  mean["sticky", , k] <- 10 + ar1(t, starts[k], 0.8, 0.3)
  mean["ties", , k] <- round(rnorm(t, 1, 0.15), 1)
  mean["constant", , k] <- 2.5
  var["iid", , k] <- rchisq(t, 50) / 50
  var["sticky", , k] <- exp(ar1(t, starts[k] / 4, 0.8, 0.1))
  var["ties", , k] <- round(rchisq(t, 30) / 30, 1)
  var["constant", , k] <- 0.5
}
mean <- signif(mean, 12)
var <- signif(var, 12)
cases$synthetic <- run_case(fake_mids(mean, var))

# ----- odd T, m = 2 --------------------------------------------------------------------------
set.seed(7)
t <- 9; m <- 2
vrbs <- c("a", "b")
mean <- traces(vrbs, t, m)
var <- traces(vrbs, t, m)
for (k in seq_len(m)) {
  mean["a", , k] <- rnorm(t)
  mean["b", , k] <- ar1(t, c(-3, 3)[k], 0.7, 0.5)
  var["a", , k] <- rchisq(t, 10) / 10
  var["b", , k] <- exp(ar1(t, c(-1, 1)[k], 0.7, 0.2))
}
mean <- signif(mean, 12)
var <- signif(var, 12)
cases$odd_m2 <- run_case(fake_mids(mean, var))

# ----- a real mice run -----------------------------------------------------------------------
imp <- mice(nhanes, m = 5, maxit = 12, seed = 123, printFlag = FALSE)
cases$nhanes <- run_case(imp)

meta <- list(
  generated_by = "tests/r/make_convergence_reference.R",
  R = R.version.string,
  mice = as.character(packageVersion("mice")),
  rstan = as.character(packageVersion("rstan"))
)

writeLines(toJSON(list(meta = meta, cases = cases), json_verbatim = TRUE, auto_unbox = TRUE,
                  pretty = TRUE), out_json)
cat("wrote", out_json, "\n")

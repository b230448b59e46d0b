# Reference for tests/simulate/test_ampute.py: mice::ampute on fixed data, 200 repetitions per setting.
# Rscript tests/r/make_ampute_reference.R   (writes tests/data/ampute_reference.json, ~1 min)
suppressMessages({library(mice); library(jsonlite)})
set.seed(20260512)
n <- 1000; p <- 4; reps <- 200
S <- matrix(0.5, p, p); diag(S) <- 1
X <- matrix(rnorm(n * p), n, p) %*% chol(S)
data <- as.data.frame(X); names(data) <- paste0("x", 1:p)
pat3 <- matrix(c(0, 0, 1, 1,
                 1, 1, 0, 1,
                 0, 1, 1, 0), 3, byrow = TRUE)
settings <- list(
  MCAR = list(mech = "MCAR", type = "RIGHT", patterns = NULL, freq = NULL),
  MAR_RIGHT = list(mech = "MAR", type = "RIGHT", patterns = NULL, freq = NULL),
  MAR_LEFT = list(mech = "MAR", type = "LEFT", patterns = NULL, freq = NULL),
  MAR_MID = list(mech = "MAR", type = "MID", patterns = NULL, freq = NULL),
  MAR_TAIL = list(mech = "MAR", type = "TAIL", patterns = NULL, freq = NULL),
  MNAR_RIGHT = list(mech = "MNAR", type = "RIGHT", patterns = NULL, freq = NULL),
  MAR_3PATTERNS = list(mech = "MAR", type = "RIGHT", patterns = pat3, freq = c(0.5, 0.3, 0.2))
)
# decile of the score within pattern 1's candidates: ceiling(10 * rank / m) (no ties)
decile_rates <- function(amp) {
  s <- as.numeric(amp$scores[[1]])
  inc <- !complete.cases(amp$amp[amp$cand == 1, ])
  d <- ceiling(10 * rank(s) / length(s))
  vapply(1:10, function(k) mean(inc[d == k]), numeric(1))
}
out <- list(data = as.list(data), n = n, reps = reps, patterns3 = pat3, settings = list())
for (name in names(settings)) {
  st <- settings[[name]]
  k <- if (is.null(st$patterns)) p else nrow(st$patterns)
  real <- matrix(NA, reps, k); dec <- matrix(NA, reps, 10)
  for (r in 1:reps) {
    args <- list(data = data, prop = 0.5, mech = st$mech, type = st$type)
    if (!is.null(st$patterns)) { args$patterns <- st$patterns; args$freq <- st$freq }
    amp <- suppressWarnings(do.call(ampute, args))
    inc <- !complete.cases(amp$amp)
    real[r, ] <- vapply(1:k, function(i) sum(inc & amp$cand == i) / n, numeric(1))
    if (st$mech == "MAR") dec[r, ] <- decile_rates(amp)
  }
  res <- list(mech = st$mech, type = st$type, freq = st$freq,
              realised_mean = colMeans(real), realised_sd = apply(real, 2, sd))
  if (st$mech == "MAR") {
    res$decile_mean <- colMeans(dec); res$decile_sd <- apply(dec, 2, sd)
  }
  out$settings[[name]] <- res
}
out$mice_version <- as.character(packageVersion("mice"))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = FALSE),
           "tests/data/ampute_reference.json")

# Golden reference values from lme4, kept as data for the Python tests.
#
# Run from the repository root:
#     Rscript tests/r/make_lme4_reference.R
#
# It (a) simulates small data sets with fixed seeds and writes them to
# tests/data/lme4/*.csv, (b) reads every data set back from its CSV (so the
# CSV text plus the level orders recorded in the JSON fully determine the data
# each model was fitted on), fits lme4 models with default settings, and
# (c) writes all results to tests/data/lme4_reference.json.
# See tests/data/lme4/README.md for the list of cases.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

data_dir <- "tests/data/lme4"
out_json <- "tests/data/lme4_reference.json"
if (!dir.exists("jaxmice/datasets/data")) stop("run this script from the repository root")
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

# Levels of a grouping code, as the strings written in the CSV, in numeric order.
int_levels <- function(x) as.character(sort(unique(as.integer(x))))

# Write a simulated data set (numeric columns rounded to 6 decimals so the CSV
# text is exact) and return its path.
write_data <- function(d, file) {
  num <- vapply(d, is.double, logical(1))
  d[num] <- lapply(d[num], round, digits = 6)
  path <- file.path(data_dir, file)
  write.csv(d, path, row.names = FALSE)
  path
}

# Read a CSV back and turn the columns named in `levels` into factors with
# exactly that level order (ordered = TRUE for the names in `ordered`).
read_data <- function(path, levels, ordered = character()) {
  d <- read.csv(path, na.strings = "NA", stringsAsFactors = FALSE)
  for (v in names(levels)) {
    x <- as.character(d[[v]])
    stopifnot(all(x %in% levels[[v]]))
    d[[v]] <- factor(x, levels = levels[[v]], ordered = v %in% ordered)
  }
  d
}

# Fit a model, echoing and collecting every warning and message it emits.
capture_fit <- function(name, expr) {
  warns <- character()
  msgs <- character()
  fit <- withCallingHandlers(
    expr,
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      cat(sprintf("  [%s] WARNING: %s\n", name, conditionMessage(w)))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      msgs <<- c(msgs, trimws(conditionMessage(m)))
      cat(sprintf("  [%s] message: %s", name, conditionMessage(m)))
      invokeRestart("muffleMessage")
    }
  )
  list(fit = fit, warnings = warns, messages = msgs)
}

named_list <- function(x) as.list(setNames(as.numeric(x), names(x)))

# Turn a fitted merMod into the record stored in the JSON.
fit_record <- function(res, data_path, formula, family, call, levels, what) {
  fit <- res$fit
  is_glmm <- family != "gaussian"
  reml <- !is_glmm && isREML(fit)
  se <- sqrt(diag(as.matrix(vcov(fit))))
  vc <- as.data.frame(VarCorr(fit))
  varcomp <- lapply(seq_len(nrow(vc)), function(i) list(
    grp = vc$grp[i],
    var1 = if (is.na(vc$var1[i])) NA else vc$var1[i],
    var2 = if (is.na(vc$var2[i])) NA else vc$var2[i],
    vcov = vc$vcov[i],
    sdcor = vc$sdcor[i]
  ))
  n_re <- length(getME(fit, "b"))
  ranef_rec <- NULL
  if (n_re <= 300) {
    re <- as.data.frame(ranef(fit, condVar = TRUE))
    ranef_rec <- data.frame(
      grpvar = as.character(re$grpvar), term = as.character(re$term),
      grp = as.character(re$grp), condval = re$condval, condsd = re$condsd,
      stringsAsFactors = FALSE
    )
  }
  dropped <- names(attr(getME(fit, "X"), "col.dropped"))
  conv <- fit@optinfo$conv$lme4$messages
  out <- list(
    data = data_path,
    formula = formula,
    family = family,
    reml = reml,
    r_call = call,
    what = what,
    fixed = named_list(fixef(fit)),
    se = named_list(se),
    varcomp = varcomp,
    loglik = as.numeric(logLik(fit)),
    deviance_or_reml = if (is_glmm) -2 * as.numeric(logLik(fit))
                       else if (reml) REMLcrit(fit) else deviance(fit),
    nobs = nobs(fit),
    singular = isSingular(fit),
    theta = named_list(getME(fit, "theta")),
    n_random_effects = n_re,
    ranef = ranef_rec,
    dropped = I(if (is.null(dropped)) character() else dropped),
    levels = lapply(levels, I),
    warnings = I(res$warnings),
    messages = I(res$messages),
    conv_messages = I(if (is.null(conv)) character() else as.character(conv))
  )
  if (is_glmm) {
    # default vcov for glmer uses the finite-difference Hessian (use.hessian = TRUE);
    # se_rx is the RX-based (penalised least squares) version for comparison.
    # vcov(use.hessian = FALSE) warns when the two differ by > 1e-4; keep that text.
    rx_warn <- character()
    v_rx <- withCallingHandlers(
      vcov(fit, use.hessian = FALSE),
      warning = function(w) {
        rx_warn <<- c(rx_warn, conditionMessage(w))
        invokeRestart("muffleWarning")
      }
    )
    out$se_rx <- named_list(sqrt(diag(as.matrix(v_rx))))
    out$se_rx_warnings <- I(rx_warn)
  }
  out
}

cases <- list()

# Tightened refits, stored under "tight" next to each default fit. lme4's
# defaults stop early: for lmer the optimizer tolerance leaves theta off by up
# to ~1e-5; for glmer the inner PIRLS tolerance (tolPwrss = 1e-7) makes the
# Laplace deviance itself inaccurate by ~1e-3, which moves the estimates by up
# to ~1e-3 (binomial_rs). The tight values are the optimum to high accuracy.
tight_lmer <- lmerControl(optimizer = "nloptwrap", optCtrl = list(
  xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, ftol_rel = 1e-15, maxeval = 1e5))
tight_glmer <- glmerControl(optimizer = "bobyqa", tolPwrss = 1e-12,
                            optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
tight_text <- list(
  gaussian = paste("lmerControl(optimizer = 'nloptwrap', optCtrl = list(xtol_abs = 1e-12,",
                   "ftol_abs = 1e-14, xtol_rel = 1e-12, ftol_rel = 1e-15, maxeval = 1e5))"),
  glmm = paste("glmerControl(optimizer = 'bobyqa', tolPwrss = 1e-12,",
               "optCtrl = list(rhoend = 1e-10, maxfun = 1e5))")
)
tight_fields <- c("fixed", "se", "se_rx", "varcomp", "loglik", "deviance_or_reml", "singular",
                  "theta", "ranef", "warnings", "messages", "conv_messages")

# Fit one case: `formula` is a string; `fitter` is lmer or glmer; extra
# arguments (REML, family, contrasts ...) go through `args`.
run_case <- function(name, data, data_path, formula, levels, what,
                     family = "gaussian", REML = TRUE, args = list()) {
  cat(sprintf("== %s: %s (%s%s)\n", name, formula, family,
              if (family == "gaussian") sprintf(", REML = %s", REML) else ""))
  if (family == "gaussian") {
    call_args <- c(list(formula = as.formula(formula), data = data, REML = REML), args)
    call <- sprintf("lmer(%s, data%s)", formula, if (REML) "" else ", REML = FALSE")
    res <- capture_fit(name, do.call(lmer, call_args))
    res_tight <- capture_fit(paste(name, "tight"),
                             do.call(lmer, c(call_args, list(control = tight_lmer))))
  } else {
    fam <- get(family)()
    call_args <- c(list(formula = as.formula(formula), data = data, family = fam), args)
    call <- sprintf("glmer(%s, data, family = %s)", formula, family)
    res <- capture_fit(name, do.call(glmer, call_args))
    res_tight <- capture_fit(paste(name, "tight"),
                             do.call(glmer, c(call_args, list(control = tight_glmer))))
  }
  rec <- fit_record(res, data_path, formula, family, call, levels, what)
  tight <- fit_record(res_tight, data_path, formula, family, call, levels, what)
  tight <- tight[intersect(tight_fields, names(tight))]
  if (family == "gaussian") tight$ranef <- NULL  # differs from the default by < 1e-4
  rec$tight <- c(list(control = tight_text[[if (family == "gaussian") "gaussian" else "glmm"]]),
                 tight)
  cat(sprintf("  nobs = %d, singular = %s, theta = %s\n", rec$nobs, rec$singular,
              paste(format(unlist(rec$theta), digits = 6), collapse = ", ")))
  cases[[name]] <<- rec
  invisible(res$fit)
}

# ---------------------------------------------------------------------------
# shipped data sets
# ---------------------------------------------------------------------------

popmis_path <- "jaxmice/datasets/data/popmis_completed.csv"
pop_raw <- read.csv(popmis_path)
pop_levels <- list(school = int_levels(pop_raw$school))
pop <- read_data(popmis_path, pop_levels)

run_case("popmis_ri", pop, popmis_path, "popular ~ 1 + sex + texp + (1 | school)",
         pop_levels, "random-intercept LMM (REML); mainly ranef condval/condsd")
run_case("popmis_rs_ml", pop, popmis_path, "popular ~ 1 + sex + texp + (1 + sex | school)",
         pop_levels, "correlated random slope, ML", REML = FALSE)

impact_path <- "jaxmice/datasets/data/impact.csv"
imp_raw <- read.csv(impact_path, na.strings = "NA", stringsAsFactors = FALSE)
imp_levels <- list(
  name = sort(unique(imp_raw$name), method = "radix"),  # C-locale order
  type = c("OBS", "RCT"),
  motor_score = c("1/2", "3", "4", "5/6"),
  pupil = c("Both", "One", "None"),  # "None" is a real level, not missing
  ct = c("I/II", "III", "IV/V")
)
imp <- read_data(impact_path, imp_levels)

# ---------------------------------------------------------------------------
# simulated data sets
# ---------------------------------------------------------------------------

# crossed: 800 rows, g1 40 levels (var 0.5), g2 25 levels (var 0.3), residual var 1
set.seed(101)
n <- 800
g1 <- sample(40, n, replace = TRUE)
g2 <- sample(25, n, replace = TRUE)
x <- rnorm(n)
y <- 1 + 0.5 * x + rnorm(40, sd = sqrt(0.5))[g1] + rnorm(25, sd = sqrt(0.3))[g2] + rnorm(n)
p <- write_data(data.frame(y, x, g1, g2), "crossed.csv")
lv <- list(g1 = int_levels(g1), g2 = int_levels(g2))
d <- read_data(p, lv)
run_case("crossed", d, p, "y ~ x + (1 | g1) + (1 | g2)", lv, "crossed random intercepts, REML")
run_case("crossed_ml", d, p, "y ~ x + (1 | g1) + (1 | g2)", lv, "crossed random intercepts, ML",
         REML = FALSE)

# nested: g1 12 levels, g2 coded 1..6 inside each g1 (so g2 alone is not the cluster)
set.seed(102)
n <- 700
g1 <- sample(12, n, replace = TRUE)
g2 <- sample(6, n, replace = TRUE)
x <- rnorm(n)
u1 <- rnorm(12, sd = sqrt(0.6))
u12 <- matrix(rnorm(12 * 6, sd = sqrt(0.4)), 12, 6)
y <- 2 - 0.3 * x + u1[g1] + u12[cbind(g1, g2)] + rnorm(n)
p <- write_data(data.frame(y, x, g1, g2), "nested.csv")
lv <- list(g1 = int_levels(g1), g2 = int_levels(g2))
d <- read_data(p, lv)
run_case("nested", d, p, "y ~ x + (1 | g1/g2)", lv,
         "nested random intercepts g1/g2 = (1|g1) + (1|g1:g2), REML")

# uncorrelated: g 40 levels, independent random intercept (sd 1) and slope (sd 0.5)
set.seed(103)
n <- 800
g <- rep(1:40, each = 20)
x <- rnorm(n)
y <- 1 + 0.5 * x + rnorm(40, sd = 1)[g] + rnorm(40, sd = 0.5)[g] * x + rnorm(n)
p <- write_data(data.frame(y, x, g), "uncorrelated.csv")
lv <- list(g = int_levels(g))
d <- read_data(p, lv)
run_case("uncorrelated", d, p, "y ~ x + (x || g)", lv,
         "double-bar: uncorrelated random intercept and slope, REML")
run_case("uncorrelated_ml", d, p, "y ~ x + (x || g)", lv,
         "double-bar: uncorrelated random intercept and slope, ML", REML = FALSE)

# rs_factor: correlated random slope plus a 3-level string factor
set.seed(104)
n <- 600
g <- sample(30, n, replace = TRUE)
x <- rnorm(n)
f <- sample(c("a", "b", "c"), n, replace = TRUE)
L <- t(chol(matrix(c(0.64, 0.3 * 0.8 * 0.4, 0.3 * 0.8 * 0.4, 0.16), 2)))
u <- t(L %*% matrix(rnorm(60), 2))
y <- 1 + 0.7 * x + c(a = 0, b = 0.5, c = -0.4)[f] + u[g, 1] + u[g, 2] * x + rnorm(n)
p <- write_data(data.frame(y, x, f, g), "rs_factor.csv")
lv <- list(f = c("a", "b", "c"), g = int_levels(g))
d <- read_data(p, lv)
run_case("rs_factor", d, p, "y ~ x + f + (1 + x | g)", lv,
         "correlated random slope with a string factor fixed effect, REML")

# singular: true group variance 0 -> boundary fit with theta = 0
set.seed(105)
n <- 300
g <- rep(1:30, each = 10)
x <- rnorm(n)
y <- 0.5 + 0.8 * x + rnorm(n)
p <- write_data(data.frame(y, x, g), "singular.csv")
lv <- list(g = int_levels(g))
d <- read_data(p, lv)
fit <- run_case("singular", d, p, "y ~ x + (1 | g)", lv,
                "random intercept with zero true variance: singular fit, theta = 0")
stopifnot(isSingular(fit), getME(fit, "theta") == 0)

# rankdef: x2 = 2 * x exactly; lme4 drops x2
set.seed(106)
n <- 400
g <- sample(20, n, replace = TRUE)
x <- round(rnorm(n), 6)
x2 <- 2 * x
f <- sample(c("a", "b", "c"), n, replace = TRUE)
y <- 1 + 0.4 * x + c(a = 0, b = 0.3, c = 0.6)[f] + rnorm(20, sd = 0.7)[g] + rnorm(n)
p <- write_data(data.frame(y, x, x2, f, g), "rankdef.csv")
lv <- list(f = c("a", "b", "c"), g = int_levels(g))
d <- read_data(p, lv)
stopifnot(all(d$x2 == 2 * d$x))
run_case("rankdef", d, p, "y ~ x + x2 + f + (1 | g)", lv,
         "rank-deficient fixed effects: x2 = 2 * x is dropped")

# fixed_terms: interactions, transforms, scale() and an ordered factor
set.seed(107)
n <- 600
g <- sample(25, n, replace = TRUE)
x <- rnorm(n)
f <- sample(c("a", "b", "c"), n, replace = TRUE)
z <- exp(rnorm(n, 0, 0.5))
w <- rnorm(n, 10, 3)
h <- sample(c("low", "mid", "high"), n, replace = TRUE)
y <- 1 + 0.5 * x + c(a = 0, b = 0.4, c = -0.3)[f] + c(a = 0, b = 0.3, c = -0.2)[f] * x +
  0.6 * log(z) - 0.2 * x^2 + 0.05 * w + c(low = 0, mid = 0.2, high = 0.5)[h] +
  rnorm(25, sd = 0.6)[g] + rnorm(n)
p <- write_data(data.frame(y, x, f, z, w, h, g), "fixed_terms.csv")
lv <- list(f = c("a", "b", "c"), h = c("low", "mid", "high"), g = int_levels(g))
d <- read_data(p, lv, ordered = "h")
stopifnot(is.ordered(d$h), !is.ordered(d$f))
# Ordered factors get treatment contrasts (instead of R's default contr.poly)
# via options(contrasts = ...) for this fit only.
old_opt <- options(contrasts = c("contr.treatment", "contr.treatment"))
run_case("fixed_terms", d, p,
         "y ~ x * f + log(z) + I(x^2) + scale(w) + h + (1 | g)", lv,
         paste("formula terms: interaction, log(), I(x^2), scale() (sd with n-1),",
               "ordered factor h with treatment contrasts"))
options(old_opt)
cases$fixed_terms$ordered <- I("h")
cases$fixed_terms$contrasts <- "options(contrasts = c('contr.treatment', 'contr.treatment'))"

# poisson: 1000 rows, g 50 levels, random intercept sd 0.4
set.seed(108)
n <- 1000
g <- sample(50, n, replace = TRUE)
x <- rnorm(n)
f <- sample(c("a", "b", "c"), n, replace = TRUE)
eta <- 0.5 + 0.3 * x + c(a = 0, b = 0.4, c = -0.3)[f] + rnorm(50, sd = 0.4)[g]
count <- rpois(n, exp(eta))
p <- write_data(data.frame(count, x, f, g), "poisson.csv")
lv <- list(f = c("a", "b", "c"), g = int_levels(g))
d <- read_data(p, lv)
run_case("poisson", d, p, "count ~ x + f + (1 | g)", lv, "Poisson GLMM (Laplace)",
         family = "poisson")

# poisson_crossed: 800 rows, g1 30 levels (sd 0.4), g2 20 levels (sd 0.3)
set.seed(109)
n <- 800
g1 <- sample(30, n, replace = TRUE)
g2 <- sample(20, n, replace = TRUE)
x <- rnorm(n)
eta <- 0.8 - 0.4 * x + rnorm(30, sd = 0.4)[g1] + rnorm(20, sd = 0.3)[g2]
count <- rpois(n, exp(eta))
p <- write_data(data.frame(count, x, g1, g2), "poisson_crossed.csv")
lv <- list(g1 = int_levels(g1), g2 = int_levels(g2))
d <- read_data(p, lv)
run_case("poisson_crossed", d, p, "count ~ x + (1 | g1) + (1 | g2)", lv,
         "Poisson GLMM with crossed random intercepts (Laplace)", family = "poisson")

# binomial_rs: 1500 rows, g 60 levels, correlated random intercept and slope
set.seed(110)
n <- 1500
g <- sample(60, n, replace = TRUE)
x <- rnorm(n)
L <- t(chol(matrix(c(0.5, 0.1, 0.1, 0.2), 2)))
u <- t(L %*% matrix(rnorm(120), 2))
yb <- rbinom(n, 1, plogis(-0.3 + 0.8 * x + u[g, 1] + u[g, 2] * x))
p <- write_data(data.frame(yb, x, g), "binomial_rs.csv")
lv <- list(g = int_levels(g))
d <- read_data(p, lv)
run_case("binomial_rs", d, p, "yb ~ x + (1 + x | g)", lv,
         "binomial GLMM with correlated random slope (Laplace)", family = "binomial")

# binomial_impact_ml: shipped IMPACT data
run_case("binomial_impact_ml", imp, impact_path,
         "mort ~ type + age + motor_score + pupil + ct + (1 | name)", imp_levels,
         "binomial GLMM on impact.csv (Laplace); se (Hessian) vs se_rx (RX)",
         family = "binomial")

# glmm_singular: binomial random intercept with zero true variance
set.seed(111)
n <- 600
g <- rep(1:30, each = 20)
x <- rnorm(n)
yb <- rbinom(n, 1, plogis(-0.2 + 0.6 * x))
p <- write_data(data.frame(yb, x, g), "glmm_singular.csv")
lv <- list(g = int_levels(g))
d <- read_data(p, lv)
fit <- run_case("glmm_singular", d, p, "yb ~ x + (1 | g)", lv,
                "binomial random intercept with zero true variance: singular fit",
                family = "binomial")
stopifnot(isSingular(fit))

# ---------------------------------------------------------------------------
# write the JSON
# ---------------------------------------------------------------------------

meta <- list(
  generated_by = "tests/r/make_lme4_reference.R",
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  Matrix = as.character(packageVersion("Matrix")),
  jsonlite = as.character(packageVersion("jsonlite")),
  platform = R.version$platform,
  note = paste("numbers written with jsonlite digits = NA (15 significant digits);",
               "null var2 = variance row; levels are the CSV strings in factor order")
)
out <- c(list(`_meta` = meta), cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null",
                  na = "null"), out_json)
cat(sprintf("wrote %s (%d cases)\n", out_json, length(cases)))

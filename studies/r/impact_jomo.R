# R reference for multilevel categorical imputation: mitml::jomoImpute on the IMPACT data.
#
# Usage: Rscript studies/r/impact_jomo.R [CSV [OUT.json [N_BURN [N_ITER [M [SEED]]]]]]
#
# Defaults: CSV jaxmice/datasets/data/impact_incomplete.csv (the shipped incomplete IMPACT
# data), OUT studies/results/impact_jomo.json, N_BURN 1000, N_ITER 100, M 10, SEED 1.
#
# ("NA" or empty fields are missing; "None" is a level of pupil, not a missing value).
#
# Imputation model (joint latent-normal model of jomo, via mitml): the incomplete
# pupil, ct, hypots, tsah and edh, all as factors (categorical), on the fixed predictors
# mort, type, age and motor_score with a random intercept per study (name); hypox is
# dropped, as in the IMPACT tutorial. Analysis model on each completed set:
#
#   glmer(mort ~ type + age + motor_score + pupil + ct + (1 | name), family = binomial)
#
# pooled by mitml::testEstimates(fits, extra.pars = TRUE) (Rubin's rules for the fixed
# effects; the random-intercept variance is averaged over the imputations). The
# complete-case fit of the same model (rows complete on its variables) is recorded too.
# Writes the JSON to OUT and prints it.

args <- commandArgs(trailingOnly = TRUE)
arg <- function(i, default) if (length(args) >= i) args[[i]] else default
csv <- arg(1L, "jaxmice/datasets/data/impact_incomplete.csv")
out <- arg(2L, "studies/results/impact_jomo.json")
n_burn <- as.integer(arg(3L, "1000"))
n_iter <- as.integer(arg(4L, "100"))
m <- as.integer(arg(5L, "10"))
seed <- as.integer(arg(6L, "1"))

now <- function() proc.time()[["elapsed"]]
t_start <- now()
suppressPackageStartupMessages({
  library(mitml)
  library(lme4)
  library(jsonlite)
})

df <- read.csv(csv, na.strings = c("NA", ""), stringsAsFactors = FALSE)
stopifnot(!anyNA(df$pupil) || all(df$pupil[!is.na(df$pupil)] %in% c("Both", "One", "None")))
levels_of <- list(
  type = c("OBS", "RCT"),
  motor_score = c("1/2", "3", "4", "5/6"),
  pupil = c("Both", "One", "None"),
  ct = c("I/II", "III", "IV/V")
)
for (v in names(levels_of)) {
  bad <- setdiff(unique(df[[v]][!is.na(df[[v]])]), levels_of[[v]])
  if (length(bad)) stop("unexpected levels in ", v, ": ", paste(bad, collapse = ", "))
  df[[v]] <- factor(df[[v]], levels = levels_of[[v]])
}
for (v in c("hypots", "tsah", "edh")) df[[v]] <- factor(df[[v]], levels = c(0, 1))
df$name <- factor(df$name, levels = unique(df$name))
df$hypox <- NULL

missing_rates <- vapply(df, function(x) mean(is.na(x)), 0)

fml <- pupil + ct + hypots + tsah + edh ~ 1 + mort + type + age + motor_score + (1 | name)

t_imp <- now()
imp <- jomoImpute(data = df, formula = fml, n.burn = n_burn, n.iter = n_iter, m = m,
                  seed = seed, silent = TRUE)
jomo_seconds <- now() - t_imp
# Gelman-Rubin potential scale reduction of every model parameter over the burn-in (mitml)
conv <- suppressWarnings(summary(imp)$conv)
max_rhat <- max(unlist(lapply(conv, function(x) x[, "Rhat"])), na.rm = TRUE)

analysis <- mort ~ type + age + motor_score + pupil + ct + (1 | name)
warnings_seen <- character()
fit_glmer <- function(data) {
  withCallingHandlers(
    glmer(analysis, data = data, family = binomial),
    warning = function(w) {
      warnings_seen <<- c(warnings_seen, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
}

t_fit <- now()
completed <- mitmlComplete(imp, print = "all")
fits <- with(completed, fit_glmer(data.frame(mget(all.vars(analysis)))))
pooled <- testEstimates(fits, extra.pars = TRUE)
fit_seconds <- now() - t_fit

est <- pooled$estimates
extra <- pooled$extra.pars
ri_row <- grep("Intercept~~Intercept", rownames(extra), fixed = TRUE)
col_or_na <- function(mat, name) if (name %in% colnames(mat)) unname(mat[, name]) else NA

cc_data <- df[complete.cases(df[all.vars(analysis)]), all.vars(analysis)]
cc <- fit_glmer(cc_data)
cc_coef <- summary(cc)$coefficients

result <- list(
  data = csv,
  rows = nrow(df),
  clusters = nlevels(df$name),
  missing_rates = as.list(round(missing_rates, 5)),
  imputation = list(
    call = "mitml::jomoImpute",
    formula = paste(deparse(fml, width.cutoff = 500L), collapse = ""),
    n_burn = n_burn, n_iter = n_iter, m = m, seed = seed,
    max_rhat = max_rhat
  ),
  analysis = paste(deparse(analysis, width.cutoff = 500L), collapse = ""),
  pooled = list(
    terms = rownames(est),
    estimate = unname(est[, "Estimate"]),
    se = unname(est[, "Std.Error"]),
    df = col_or_na(est, "df"),
    riv = col_or_na(est, "RIV"),
    fmi = col_or_na(est, "FMI"),
    random_intercept_variance = unname(extra[ri_row, "Estimate"]),
    extra_pars = setNames(as.list(unname(extra[, "Estimate"])), rownames(extra))
  ),
  per_imputation_random_intercept_variance = vapply(
    fits, function(f) as.numeric(VarCorr(f)$name[1, 1]), 0
  ),
  complete_case = list(
    rows = nrow(cc_data),
    terms = rownames(cc_coef),
    estimate = unname(cc_coef[, "Estimate"]),
    se = unname(cc_coef[, "Std. Error"]),
    random_intercept_variance = as.numeric(VarCorr(cc)$name[1, 1])
  ),
  glmer_warnings = unique(warnings_seen),
  seconds = list(
    jomoImpute = jomo_seconds,
    fits_and_pooling = fit_seconds,
    script = now() - t_start
  ),
  versions = list(
    R = paste(R.version$major, R.version$minor, sep = "."),
    mitml = as.character(packageVersion("mitml")),
    jomo = as.character(packageVersion("jomo")),
    lme4 = as.character(packageVersion("lme4"))
  )
)
json <- toJSON(result, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
dir.create(dirname(out), showWarnings = FALSE, recursive = TRUE)
writeLines(json, out)
cat(json, "\n")

# Golden values for D4 (Chan and Meng 2019): mitml::testModels(method = "D4") with each ariv
# option, on lmer and lm fits of the completed popmis data of tests/data/models_test_long.csv.
# Run from the repository root: Rscript tests/r/make_d4_reference.R
suppressPackageStartupMessages({
  library(lme4); library(mitml); library(jsonlite)
})
long <- read.csv("tests/data/models_test_long.csv")
sets <- lapply(split(long, long$.imp), function(d) d[, c("school", "popular", "sex", "texp")])
implist <- as.mitml.list(sets)
full <- with(implist, lmer(popular ~ 1 + sex + texp + (1 | school)))
null <- with(implist, lmer(popular ~ 1 + sex + (1 | school)))
lm_full <- with(implist, lm(popular ~ sex + texp))
lm_null <- with(implist, lm(popular ~ sex))
test_of <- function(t) as.list(t$test[1, ])
out <- list(
  `_meta` = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                 mitml = as.character(packageVersion("mitml")),
                 data = "tests/data/models_test_long.csv"),
  lmer_D4 = test_of(testModels(full, null, method = "D4")),
  lmer_D4_positive = test_of(testModels(full, null, method = "D4", ariv = "positive")),
  lmer_D4_robust = test_of(testModels(full, null, method = "D4", ariv = "robust")),
  lm_D4 = test_of(testModels(lm_full, lm_null, method = "D4")),
  lm_D4_robust = test_of(testModels(lm_full, lm_null, method = "D4", ariv = "robust"))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(17), pretty = TRUE),
           "tests/data/d4_reference.json")

# Golden values for model-level pooling and tests: mitml::testEstimates (extra.pars) and
# mitml::testModels (D1, D2, D3) on lmer and lm fits of popmis (schools 1-30) imputed by mice.
# Run from the repository root: Rscript tests/r/make_models_test_reference.R
suppressPackageStartupMessages({
  library(mice); library(lme4); library(mitml); library(jsonlite)
})
d <- read.csv("jaxmice/datasets/data/popmis.csv")[, c("school", "popular", "sex", "texp")]
d <- d[d$school <= 30, ]
pred <- make.predictorMatrix(d)
pred[, "school"] <- 0
meth <- make.method(d)
imp <- mice(d, m = 5, maxit = 5, method = meth, predictorMatrix = pred, seed = 123,
            printFlag = FALSE)
long <- complete(imp, "long")
write.csv(long[, c(".imp", ".id", "school", "popular", "sex", "texp")],
          "tests/data/models_test_long.csv", row.names = FALSE)

table_of <- function(x) {
  out <- lapply(seq_len(nrow(x)), function(i) as.list(x[i, ]))
  names(out) <- rownames(x)
  out
}
test_of <- function(t) as.list(t$test[1, ])

full <- as.mitml.result(with(imp, lmer(popular ~ 1 + sex + texp + (1 | school))))
null <- as.mitml.result(with(imp, lmer(popular ~ 1 + sex + (1 | school))))
slope <- as.mitml.result(with(imp, lmer(popular ~ 1 + sex + texp + (1 + sex | school))))
lm_full <- as.mitml.result(with(imp, lm(popular ~ sex + texp)))
lm_null <- as.mitml.result(with(imp, lm(popular ~ sex)))

te <- testEstimates(full, extra.pars = TRUE)
te_slope <- testEstimates(slope, extra.pars = TRUE)
out <- list(
  `_meta` = list(R = R.version.string, mice = as.character(packageVersion("mice")),
                 lme4 = as.character(packageVersion("lme4")),
                 mitml = as.character(packageVersion("mitml")),
                 data = "tests/data/models_test_long.csv (complete(imp, 'long'))"),
  lmer_estimates = table_of(te$estimates),
  lmer_extra = as.list(setNames(te$extra.pars[, 1], rownames(te$extra.pars))),
  slope_estimates = table_of(te_slope$estimates),
  slope_extra = as.list(setNames(te_slope$extra.pars[, 1], rownames(te_slope$extra.pars))),
  lmer_D1 = test_of(testModels(full, null, method = "D1")),
  lmer_D2 = test_of(testModels(full, null, method = "D2")),
  lmer_D3 = test_of(testModels(full, null, method = "D3")),
  lm_D1 = test_of(testModels(lm_full, lm_null, method = "D1")),
  lm_D1_dfcom = test_of(testModels(lm_full, lm_null, method = "D1", df.com = 597)),
  lm_D3 = test_of(testModels(lm_full, lm_null, method = "D3")),
  lm_estimates_dfcom = table_of(testEstimates(lm_full, df.com = 597)$estimates)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = I(17), pretty = TRUE),
           "tests/data/models_test_reference.json")

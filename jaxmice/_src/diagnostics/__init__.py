"""Is the imputation sound: convergence statistics and the figures (plots)."""

"""The chains: preparation (encode, specify, plan), the compiled sampler, the chains' state,
and the drivers that run one data set (mice) or a batch of them (batch)."""

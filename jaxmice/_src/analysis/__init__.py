"""Analysing completed data: lme4 formulas, model frames, mixed-model fits, pooling (Rubin's
rules), the pooled tests D1-D4, ICCs and host-side analyses."""

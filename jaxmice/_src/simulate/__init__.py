"""Simulation studies: amputing complete data (ampute) and scoring estimates (score)."""

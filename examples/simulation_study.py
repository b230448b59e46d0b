"""Simulation study: ``python examples/simulation_study.py [--reps R] [--quick] [--out figures/]``.

A random-intercept design (Grund, Luedtke and Robitzsch 2018) imputed by 2l.pan and by pmm
ignoring the clusters, R replications as one batched program each, scored by ``jm.score``;
see :mod:`jaxmice.case_studies.simulation`.
"""

from jaxmice.case_studies import run_example

if __name__ == "__main__":
    run_example("simulation")

"""Case study impact: ``python examples/impact.py [--quick] [--out figures/] [--seed N]``.

Options as ``jaxmice demo impact`` (one command line); see :mod:`jaxmice.case_studies.impact`.
"""

from jaxmice.case_studies import run_example

if __name__ == "__main__":
    run_example("impact")

"""Case study impact: ``python examples/impact.py [--quick] [--out figures/]``.

The steps are in :mod:`jaxmice.case_studies.impact`.
"""

from jaxmice.case_studies import run_example

if __name__ == "__main__":
    run_example("impact")

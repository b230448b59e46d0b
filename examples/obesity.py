"""Case study obesity: ``python examples/obesity.py [--quick] [--out figures/]``.

The steps are in :mod:`jaxmice.case_studies.obesity`.
"""

from jaxmice.case_studies import run_example

if __name__ == "__main__":
    run_example("obesity")

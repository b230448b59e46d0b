"""Case study obesity: ``python examples/obesity.py [--quick] [--out figures/] [--seed N]``.

Options as ``jaxmice demo obesity`` (one command line); see :mod:`jaxmice.case_studies.obesity`.
"""

from jaxmice.case_studies import run_example

if __name__ == "__main__":
    run_example("obesity")

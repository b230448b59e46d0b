"""Case study popmis: ``python examples/popmis.py [--quick] [--out figures/] [--seed N]``.

Options as ``jaxmice demo popmis`` (one command line); see :mod:`jaxmice.case_studies.popmis`.
"""

from jaxmice.case_studies import run_example

if __name__ == "__main__":
    run_example("popmis")

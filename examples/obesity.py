"""Case study obesity: ``python examples/obesity.py [--quick] [--out figures/]``.

The steps are in :mod:`jaxmice.case_studies.obesity`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxmice.case_studies import obesity


def main(argv: list[str] | None = None) -> None:
    """Run the case study; ``--quick`` is the small run the tests use."""
    parser = argparse.ArgumentParser(description=obesity.__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("figures"))
    parser.add_argument("--quick", action="store_true", help="m = 3, maxit = 3 (a smoke run)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    kwargs = dict(m=3, maxit=3) if args.quick else {}
    obesity.run(args.out, seed=args.seed, progress=not args.quick, **kwargs)


if __name__ == "__main__":
    main()

"""The ``jaxmice`` console command: ``jaxmice demo popmis --out figures/``."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``jaxmice`` command."""
    parser = argparse.ArgumentParser(prog="jaxmice", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a case study on a built-in data set")
    demo.add_argument("case", choices=["popmis"])
    demo.add_argument("--out", type=Path, default=Path("figures"))
    demo.add_argument("--m", type=int, default=20, help="imputations (default 20)")
    demo.add_argument("--maxit", type=int, default=10, help="iterations (default 10)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--quick", action="store_true", help="m = 3, maxit = 3: a smoke run")
    demo.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "demo" and args.case == "popmis":
        from .case_studies import popmis

        m, maxit = (3, 3) if args.quick else (args.m, args.maxit)
        popmis.run(args.out, m=m, maxit=maxit, seed=args.seed, progress=not args.no_progress)


if __name__ == "__main__":
    main()

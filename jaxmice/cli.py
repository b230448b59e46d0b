"""The ``jaxmice`` console command: ``jaxmice demo popmis --out figures/``.

``jaxmice demo NAME`` runs a case study (popmis, impact, obesity) with the options of
:func:`jaxmice.case_studies.add_case_study_options`; ``python examples/NAME.py`` is the same
command line.
"""

from __future__ import annotations

import argparse

from jaxmice.case_studies import CASE_STUDIES, add_case_study_options, run_case_study


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``jaxmice`` command."""
    parser = argparse.ArgumentParser(prog="jaxmice", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a case study on a built-in data set")
    demo.add_argument("case", choices=CASE_STUDIES)
    add_case_study_options(demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``jaxmice`` command."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        run_case_study(args.case, args)


if __name__ == "__main__":
    main()

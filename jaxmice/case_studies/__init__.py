"""The tutorial's case studies, runnable end to end, with one command line.

``jaxmice demo NAME [--out DIR] [--quick] [--m M] [--maxit T] [--seed N] [--no-progress]``
(:mod:`jaxmice.cli`) and ``python examples/NAME.py [same options]`` (:func:`run_example`) parse
the same options (:func:`add_case_study_options`) and run :func:`run_case_study`.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

CASE_STUDIES = ("popmis", "impact", "obesity", "simulation")

# what ``--quick`` changes per case study (small runs, as the tests make them)
QUICK = {"popmis": dict(m=3, maxit=3), "impact": dict(m=3, maxit=3, rows=150),
         "obesity": dict(m=3, maxit=3, deltas=(0.0, 5.0)),
         "simulation": dict(m=2, maxit=2, reps=8)}


def add_case_study_options(parser: argparse.ArgumentParser) -> None:
    """The options every case study takes (``--out --quick --m --maxit --seed --no-progress``)."""
    parser.add_argument("--out", type=Path, default=Path("figures"),
                        help="folder for the figures and tables (default figures/)")
    parser.add_argument("--quick", action="store_true",
                        help="a small smoke run (m = 3, maxit = 3; impact: 150 rows per study; "
                        "obesity: deltas 0 and 5)")
    parser.add_argument("--m", type=int, default=None,
                        help="imputations (default: the case study's, 20 for popmis, else 10)")
    parser.add_argument("--maxit", type=int, default=None, help="iterations (default 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (--quick shows none either)")


def case_study_kwargs(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of ``case_studies.<name>.run`` from the parsed options."""
    kwargs: dict[str, Any] = dict(QUICK[name]) if args.quick else {}
    kwargs.update({key: value for key, value in (("m", args.m), ("maxit", args.maxit))
                   if value is not None})
    if getattr(args, "reps", None) is not None:
        kwargs["reps"] = args.reps
    quiet = args.quick or args.no_progress
    return dict(kwargs, seed=args.seed, progress=False if quiet else None)


def run_case_study(name: str, args: argparse.Namespace) -> dict:
    """Run case study ``name`` with the parsed options; return what its ``run`` returns."""
    if name not in CASE_STUDIES:
        raise ValueError(f"unknown case study {name!r}: choose one of {', '.join(CASE_STUDIES)}")
    study = importlib.import_module(f"{__name__}.{name}")
    return study.run(args.out, **case_study_kwargs(name, args))


def run_example(name: str, argv: list[str] | None = None) -> dict:
    """Command line of ``examples/<name>.py``: the options of ``jaxmice demo <name>``."""
    study = importlib.import_module(f"{__name__}.{name}")
    parser = argparse.ArgumentParser(prog=f"examples/{name}.py",
                                     description=study.__doc__.splitlines()[0])
    add_case_study_options(parser)
    if hasattr(study, "add_options"):  # a case study's own options (simulation: --reps)
        study.add_options(parser)
    return run_case_study(name, parser.parse_args(argv))

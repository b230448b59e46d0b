"""The tutorial's case studies, runnable end to end (``jaxmice demo popmis``, ``examples/``)."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

# what ``--quick`` changes per case study (small runs, as the tests make them)
QUICK = {"popmis": dict(m=3, maxit=3), "impact": dict(m=3, maxit=3, rows=150),
         "obesity": dict(m=3, maxit=3)}


def run_example(name: str, argv: list[str] | None = None) -> dict:
    """Command line of ``examples/<name>.py``: ``[--quick] [--out DIR] [--seed N]``."""
    study = importlib.import_module(f"{__name__}.{name}")
    parser = argparse.ArgumentParser(description=study.__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("figures"))
    parser.add_argument("--quick", action="store_true", help="a small smoke run: "
                        + ", ".join(f"{k} = {v}" for k, v in QUICK[name].items()))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    kwargs = QUICK[name] if args.quick else {}
    return study.run(args.out, seed=args.seed, progress=not args.quick, **kwargs)

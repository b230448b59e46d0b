"""Example multilevel data sets with missing values, shipped with jaxmice.

Every loader reads a CSV file from ``jaxmice/datasets/data`` through the pandas adapter
(:func:`jaxmice._src.adapters.frames_in.read_csv`), declaring its columns' types: only the token
``NA`` marks a missing value, so IMPACT's pupil level ``"None"`` stays a string. See
``data/SOURCES.md`` for the origin of each file and ``data/LICENSE-DATA.md`` for the licences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any

from jaxmice._src.adapters import frames_in

__all__ = [
    "load_chem97",
    "load_impact",
    "load_ipdna",
    "load_obesity",
    "load_popmis",
    "load_popmis_completed",
]

#: Factor levels of the IMPACT data; the first level is the reference level (as in R).
IMPACT_TYPE_LEVELS = ("OBS", "RCT")
IMPACT_MOTOR_SCORE_LEVELS = ("1/2", "3", "4", "5/6")
IMPACT_PUPIL_LEVELS = ("Both", "One", "None")
IMPACT_CT_LEVELS = ("I/II", "III", "IV/V")


def _read(name: str, categories: Mapping[str, Sequence[str] | str | None] | None = None,
          integers: Sequence[str] = (), floats: Sequence[str] | str = ()) -> Any:
    """The data file ``name`` as a DataFrame, columns typed as declared (see
    :func:`jaxmice._src.adapters.frames_in.read_csv`)."""
    path = files("jaxmice.datasets") / "data" / name
    with path.open("rb") as fh:
        return frames_in.read_csv(fh, categories=categories, integers=integers, floats=floats)


def load_popmis() -> Any:
    """Load the ``popmis`` data: pupil popularity with missing values.

    2,000 pupils in 100 schools. Columns ``pupil``, ``school`` (cluster id), ``popular``
    (popularity score, missing at random in 848 rows), ``sex`` (0/1), ``texp`` (teacher
    experience), ``const`` (a column of ones) and ``teachpop`` (teacher-rated popularity).
    All columns but ``popular`` are int64; ``popular`` is float64.

    Origin: R package ``mice``, data set ``popmis`` (GPL-2 | GPL-3).

    Returns:
        A 2000 x 7 DataFrame.
    """
    return _read("popmis.csv")


def load_popmis_completed() -> Any:
    """Load ``popmis`` with ``popular`` filled in by one draw of R ``mice`` (2l.pan).

    2,000 pupils in 100 schools. Columns ``school`` (cluster id), ``popular`` (float64, no
    missing values), ``sex`` (0/1) and ``texp`` (teacher experience). Used to check the
    mixed-model fits against lme4.

    Origin: made from R package ``mice``'s ``popmis`` (GPL-2 | GPL-3).

    Returns:
        A 2000 x 4 DataFrame.
    """
    return _read("popmis_completed.csv")


def load_impact(incomplete: bool = False) -> Any:
    """Load the IMPACT traumatic brain injury data.

    11,022 patients in 15 studies (cluster id ``name``). Columns:

    - ``name``: study, unordered categorical, levels in order of first appearance in the file.
    - ``type``: categorical with levels ``["OBS", "RCT"]`` (reference ``OBS``, so R names the
      coefficient ``typeRCT``).
    - ``age``: age in years.
    - ``motor_score``: categorical, levels ``["1/2", "3", "4", "5/6"]``.
    - ``pupil``: pupil reactivity, categorical, levels ``["Both", "One", "None"]``; ``"None"`` is
      a level, not a missing value.
    - ``ct``: CT classification, categorical, levels ``["I/II", "III", "IV/V"]``.
    - ``hypox``, ``hypots``, ``tsah``, ``edh``: 0/1 indicators (int64 when complete, nullable
      ``Int64`` with ``<NA>`` when missing, so both versions are binary to jaxmice).
    - ``mort``: 6-month mortality, 0/1.

    Origin: R package ``metamisc``, data set ``impact`` (GPL-3).

    Args:
        incomplete: If True, load ``impact_incomplete.csv`` instead: the same data with
            missingness induced in ``ct``, ``pupil``, ``hypox``, ``hypots``, ``tsah`` and ``edh``,
            sporadic (MAR on ``mort``, ``motor_score``, ``age``) and systematic (``ct`` absent in
            studies SKB and NABIS, ``pupil`` in HIT I, ``tsah`` and ``edh`` in SLIN).

    Returns:
        An 11022 x 11 DataFrame.
    """
    return _read("impact_incomplete.csv" if incomplete else "impact.csv",
                 categories={"name": frames_in.FIRST_APPEARANCE, "type": IMPACT_TYPE_LEVELS,
                             "motor_score": IMPACT_MOTOR_SCORE_LEVELS,
                             "pupil": IMPACT_PUPIL_LEVELS, "ct": IMPACT_CT_LEVELS},
                 integers=("hypox", "hypots", "tsah", "edh", "mort"))


def load_obesity() -> Any:
    """Load the ``Obesity`` data: body weight missing not at random.

    2,111 people in 5 regions (cluster id ``Cluster``, int64). ``Gender`` is categorical
    (``"Female"``, ``"Male"``), ``FamOb`` (family history of obesity) categorical (``"no"``,
    ``"yes"``); ``Time``, ``Height``, ``Age``, ``Weight`` and ``BMI`` are float64. ``Weight`` is
    MNAR (Heckman selection model with ``Time`` as exclusion restriction) and wholly missing in
    cluster 3; ``BMI = Weight / Height**2`` is missing with ``Weight``.

    Origin: R package ``micemd``, data set ``Obesity`` (formerly ``data_heckman``)
    (GPL-2 | GPL-3).

    Returns:
        A 2111 x 8 DataFrame.
    """
    return _read("Obesity.csv", categories={"Gender": None, "FamOb": None},
                 integers=("Cluster",), floats="rest")


def load_ipdna() -> Any:
    """Load the ``IPDNa`` heart-failure individual participant data.

    11,685 patients in 28 centres (cluster id ``centre``, int64). ``gender`` and ``afib``
    (atrial fibrillation) are categorical with levels ``"0"``, ``"1"``; ``bmi``, ``age``,
    ``sbp``, ``dbp``, ``hr``, ``lvef`` and ``bnp`` are float64. Missingness is sporadic and
    systematic (some variables absent in whole centres, e.g. ``bnp``).

    Origin: R package ``micemd``, data set ``IPDNa`` (GPL-2 | GPL-3).

    Returns:
        An 11685 x 10 DataFrame.
    """
    return _read("IPDNa.csv", categories={"gender": None, "afib": None},
                 integers=("centre",), floats="rest")


def load_chem97() -> Any:
    """Load the ``CHEM97Na`` A-level chemistry data.

    1,681 pupils in 18 schools (cluster id ``School``, int64). ``Sex`` is categorical (``"F"``,
    ``"M"``); ``Age``, ``GSCE`` (average GCSE score) and ``Score`` (A-level chemistry score) are
    float64. ``Sex``, ``Age`` and ``GSCE`` have missing values.

    Origin: R package ``micemd``, data set ``CHEM97Na`` (GPL-2 | GPL-3).

    Returns:
        A 1681 x 5 DataFrame.
    """
    return _read("CHEM97Na.csv", categories={"Sex": None}, integers=("School",),
                 floats="rest")


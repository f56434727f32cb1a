"""Paired statistics shared by the claims audit (:mod:`mmar.report.claims`) and the notebooks' paired
comparisons (:mod:`mmar.studies.grid_tables`, :mod:`mmar.studies.difficulty`): one rule set, one place.

Two training variants of the same trial share its split and seed, so they are compared by their
per-trial differences; the mean difference gets a two-sided t-interval, and no verdict is drawn from
fewer than :data:`MIN_TRIALS` trials. "Near chance" means at most :data:`NEAR_CHANCE_FRACTION` of the
way from chance to 100 % accuracy.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

#: Confidence of the intervals.
CONFIDENCE = 0.95
#: Fewest paired trials for a verdict.
MIN_TRIALS = 5
#: "Near chance": within this share of the way from chance to 100 %.
NEAR_CHANCE_FRACTION = 0.1


def t_interval(diffs: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high): the two-sided t-interval of the mean of ``diffs`` (needs at least 2 values)."""
    d = np.asarray(diffs, dtype=float)
    if len(d) < 2:
        raise ValueError("a t-interval needs at least 2 values")
    mean = float(d.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
    return mean, mean - half, mean + half

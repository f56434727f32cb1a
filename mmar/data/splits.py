"""Zero-shot class splits (paper §4.2): K classes withheld, 10 trials of different random sets.

Piergiovanni & Ryoo withhold K in {5, 10, 20, 50} ActivityNet classes (all their videos and
sentences) from training and report accuracy averaged over 10 trials, each with a different random
set of unseen classes. Which sets they drew is not published; ours are fixed by a seed.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np

PAPER_UNSEEN_COUNTS = (5, 10, 20, 50)
PAPER_N_TRIALS = 10


def make_splits(classes: Sequence[str], unseen_counts: Sequence[int] = PAPER_UNSEEN_COUNTS,
                n_trials: int = PAPER_N_TRIALS, seed: int = 0, *,
                unseen_pool: Sequence[str] | None = None, pool_name: str = "the unseen pool"
                ) -> dict[int, list[list[str]]]:
    """Unseen-class sets: ``{K: [trial_1, ..., trial_n]}``, each trial K class names in ``classes`` order.

    Deterministic from ``seed``; each K draws from its own stream (``default_rng([seed, K])``) so
    adding or removing a K leaves the others unchanged. The trials of one K are pairwise different
    sets. K >= len(classes) leaves no seen class, so that K is skipped with a warning; when fewer
    than ``n_trials`` different sets exist, all of them are returned (with a warning).

    ``unseen_pool`` restricts the unseen classes to these classes of ``classes`` (e.g.
    :func:`mmar.data.kinetics.kinetics_disjoint`); the seen classes are still all the others. K
    larger than the pool is skipped with a warning that calls the pool ``pool_name``. ``None`` and a
    pool of all classes give the same splits (the same random draws).
    """
    names = list(classes)
    if len(set(names)) != len(names):
        raise ValueError("make_splits: class names are not unique")
    if n_trials < 1:
        raise ValueError(f"make_splits: n_trials must be >= 1, got {n_trials}")
    if unseen_pool is None:
        pool = list(range(len(names)))
    else:
        unknown = sorted(set(unseen_pool) - set(names))
        if unknown:
            raise ValueError(f"make_splits: unseen_pool classes not in the class list: {unknown}")
        pool = sorted(names.index(c) for c in set(unseen_pool))  # in classes order, whatever the pool's
    splits: dict[int, list[list[str]]] = {}
    for k in sorted(set(int(k) for k in unseen_counts)):
        if k < 1:
            raise ValueError(f"make_splits: unseen counts must be >= 1, got {k}")
        if k >= len(names):
            warnings.warn(f"make_splits: skipping K={k} unseen classes: only {len(names)} classes, so no seen "
                          f"class would be left for training", stacklevel=2)
            continue
        if k > len(pool):
            warnings.warn(f"make_splits: skipping K={k} unseen classes: {pool_name} has only {len(pool)} "
                          f"classes", stacklevel=2)
            continue
        possible = math.comb(len(pool), k)
        wanted = n_trials
        if possible < n_trials:
            warnings.warn(f"make_splits: only {possible} different sets of {k} of {len(pool)} classes; "
                          f"using {possible} trials instead of {n_trials}", stacklevel=2)
            wanted = possible
        rng = np.random.default_rng([int(seed), k])
        seen_sets: set[tuple[int, ...]] = set()
        trials: list[list[str]] = []
        while len(trials) < wanted:
            chosen = tuple(sorted(pool[int(i)] for i in rng.choice(len(pool), size=k, replace=False)))
            if chosen in seen_sets:
                continue
            seen_sets.add(chosen)
            trials.append([names[i] for i in chosen])
        splits[k] = trials
    return splits


def seen_classes(classes: Sequence[str], unseen: Sequence[str]) -> list[str]:
    """The classes of ``classes`` not in ``unseen``, in order."""
    excluded = set(unseen)
    unknown = excluded - set(classes)
    if unknown:
        raise ValueError(f"unseen classes not in the class list: {sorted(unknown)}")
    return [c for c in classes if c not in excluded]

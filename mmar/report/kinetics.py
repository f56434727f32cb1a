"""The report's section on the Kinetics-400 overlap of the unseen classes.

The paper's video features come from I3D trained on Kinetics-400, and its zero-shot protocol draws
the unseen classes from all ActivityNet classes, so a trial's "unseen" classes may include classes
the feature extractor was trained on (TruZe, Gowda et al., GCPR 2021). This section counts them,
at build time, from the run's ``data/dataset.json`` (classes, ``unseen_pool``) and
``data/splits.json``, with the name matching of :mod:`mmar.data.kinetics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mmar.data.kinetics import counterpart_pair, default_matches, kinetics_counts, unseen_counterparts
from mmar.report.claims import unseen_k_of
from mmar.report.rundata import RunData


@dataclass
class KineticsSection:
    """What the section shows.

    ``counts``: :func:`~mmar.data.kinetics.kinetics_counts` of the run's classes; ``pairs``: the
    :func:`~mmar.data.kinetics.counterpart_pair` text of each class with a counterpart, in class
    order; ``trials``: :func:`~mmar.data.kinetics.unseen_counterparts` of the trials shown, one row per
    (K, trial); ``per_k``: per K of ``trials``, ``unseen_k``, ``n_trials`` and ``mean_counterpart``
    (mean unseen classes with a counterpart per trial); ``of_table1``: whether ``trials`` are Table 1's
    (else every split of the run, as it has no Table 1 rows); ``unseen_pool``: where the run drew its
    unseen classes; ``video_is_generated``: the run's features are generated, not I3D's."""

    counts: dict[str, int]
    pairs: list[str]
    trials: pd.DataFrame
    per_k: pd.DataFrame
    of_table1: bool
    unseen_pool: str
    video_is_generated: bool


def table1_trials(run: RunData) -> dict[int, int]:
    """``{K: trials}`` of the report's run's Table 1 result rows: K of their "K unseen" column, trials the
    most any of its rows has (the grid runs trials 0, 1, ... of ``data/splits.json``, in order)."""
    rows = run.results[(run.results["paper_table"] == "Table 1") & (run.results["run"] == run.runs[0])]
    trials: dict[int, int] = {}
    for column, n_trials in zip(rows["paper_column"], rows["n_trials"]):
        k = unseen_k_of(column)
        if k is not None:
            trials[k] = max(trials.get(k, 0), int(n_trials))
    return trials


def kinetics_section(run: RunData) -> KineticsSection | None:
    """The section's content, or None when the run has no prepared dataset with classes and splits."""
    meta = run.dataset_meta or {}
    if not meta.get("classes") or run.splits is None:
        return None
    matches = default_matches(classes=meta["classes"])
    in_table1 = table1_trials(run)
    splits = ({k: run.splits[k][:n] for k, n in in_table1.items() if k in run.splits} if in_table1 else run.splits)
    trials = unseen_counterparts(splits, matches)
    per_k = (trials.groupby("unseen_k")["n_counterpart"].agg(n_trials="size", mean_counterpart="mean")
             .reset_index())
    return KineticsSection(
        counts=kinetics_counts(matches),
        pairs=[counterpart_pair(match) for _, match in matches[matches["counterpart"]].iterrows()],
        trials=trials, per_k=per_k, of_table1=bool(in_table1),
        unseen_pool=meta.get("unseen_pool", "all"),  # datasets prepared before the option drew from all classes
        video_is_generated=bool(meta.get("video_is_generated", True)))

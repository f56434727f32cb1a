"""Tidy result files: every number the report shows comes from one of these rows.

A result file is a CSV under ``<run_dir>/results/`` (read back by :mod:`mmar.report.rundata`) with one row per (experiment, metric), columns
:data:`RESULT_COLUMNS`. Rows say which table/row/column of the paper they correspond to (empty when
the experiment is ours, beyond the paper), which data they were computed on, with which profile,
config and seeds, and which run folder and run (``run_id``, see :mod:`mmar.provenance`) produced them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from mmar.provenance import current_run_id

#: Data-source labels. Never present a number computed on a stand-in as a reproduction.
STANDIN = "stand-in"
ANET_TEXT_STANDIN_VIDEO = "anet-text + stand-in video"
ACTIVITYNET = "activitynet"
#: Statistics of the real ActivityNet Captions annotation files alone (no video features involved).
ACTIVITYNET_ANNOTATIONS = "activitynet annotations"
#: Real-looking features whose store records neither a generator nor a match with the annotations in use.
UNKNOWN_FEATURES = "unknown features"
#: Real sample clips (bikes.mp4, the cricket GIF) run through the real I3D: sanity checks, no paper table.
SAMPLE_CLIP = "real sample clip"
DATA_SOURCES = (STANDIN, ANET_TEXT_STANDIN_VIDEO, ACTIVITYNET, UNKNOWN_FEATURES, ACTIVITYNET_ANNOTATIONS, SAMPLE_CLIP)

RESULT_COLUMNS = [
    "experiment",      # e.g. "zero_shot", "discovery", "captioning", "retrieval", "ablation_pooling"
    "paper_table",     # e.g. "Table 1" ("" when not in the paper)
    "paper_row",       # the row label exactly as in report/paper_results.csv
    "paper_column",    # the column label exactly as in report/paper_results.csv
    "metric",          # e.g. "accuracy", "meteor", "recall@5"
    "unit",            # "%" for accuracies (0-100, like the paper), "" otherwise
    "mean",
    "std",
    "n_trials",
    "values",          # JSON list of the per-trial values
    "chance",          # chance level in the same unit, NaN when not meaningful
    "data_source",     # one of DATA_SOURCES
    "profile",
    "config",          # JSON of the settings that produced it
    "seeds",           # JSON list of seeds / trial ids
    "run_path",        # the run folder that produced it
    "run_id",          # the `mmar run` that produced it ("" outside one, e.g. under nbval)
    "notes",
]


@dataclass
class ResultRow:
    """One tidy result: a metric aggregated over trials."""

    experiment: str
    metric: str
    values: Sequence[float]
    data_source: str
    profile: str
    run_path: str
    paper_table: str = ""
    paper_row: str = ""
    paper_column: str = ""
    unit: str = ""
    chance: float = math.nan
    config: dict[str, Any] = field(default_factory=dict)
    seeds: Sequence[int] = ()
    notes: str = ""
    run_id: str = ""  # "" -> filled by to_record from $MMAR_RUN_ID, set by the runner (mmar.provenance)

    def to_record(self) -> dict[str, Any]:
        if self.data_source not in DATA_SOURCES:
            raise ValueError(f"unknown data source {self.data_source!r}; expected one of {DATA_SOURCES}")
        values = [float(v) for v in self.values]
        if not values:
            raise ValueError(f"result {self.experiment}/{self.metric} has no values")
        record = asdict(self)
        record["values"] = json.dumps(values)
        record["mean"] = float(np.mean(values))
        record["std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        record["n_trials"] = len(values)
        record["config"] = json.dumps(self.config, sort_keys=True, default=str)
        record["seeds"] = json.dumps([int(s) for s in self.seeds])
        record["run_id"] = self.run_id or current_run_id()
        return {column: record[column] for column in RESULT_COLUMNS}


def write_results(rows: Iterable[ResultRow], path: str | Path) -> pd.DataFrame:
    """Write rows to ``path`` (CSV), replacing the file. Returns the table written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame([row.to_record() for row in rows], columns=RESULT_COLUMNS)
    tmp = path.with_suffix(".tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(path)
    return table

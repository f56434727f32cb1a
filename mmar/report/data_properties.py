"""The report's section on what the data are like (notebook 01's diagnostics) and the difficulty sweep
(notebook 07), computed at build time from the run's result rows, never typed by hand.

The diagnostics are method-independent properties of the run's data (:mod:`mmar.data.diagnostics`),
set beside the real ActivityNet Captions annotations' text values (when notebook 01 had the files)
and the paper's "Baseline I3D features" discovery rows (Tables 3-4: real I3D features, other
datasets, K = their class counts). The sweep's per-claim verdicts are recomputed from the per-trial
differences (:func:`mmar.studies.difficulty.table_from_result_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import nan

import pandas as pd

from mmar.data.diagnostics import DIAGNOSTIC_LABELS
from mmar.report.figures import png_data_uri
from mmar.report.rundata import RunData
from mmar.results import ACTIVITYNET_ANNOTATIONS
from mmar.studies import difficulty

SWEEP_FIGURE = "07_difficulty_sweep.png"


@dataclass
class DataPropertiesSection:
    """``diagnostics``: one row per diagnostic (index: label) with columns ``this run`` (its data source's
    value), ``no-information level`` (shuffled-label floor / chance) and ``real annotations`` (text rows);
    ``baseline_i3d``: the paper's "Baseline I3D features" rows (table, column, value); ``sweep``: the
    sweep's table (:data:`mmar.studies.difficulty.SWEEP_COLUMNS`, empty when not run); ``sentences``: one
    per claim; ``figure``: the sweep figure as a data URI ("" when absent); ``generator``: the stand-in
    generator of the run's data ("" for other data)."""

    data_source: str
    diagnostics: pd.DataFrame
    baseline_i3d: list[tuple[str, str, str]]
    sweep: pd.DataFrame
    sentences: list[str]
    figure: str
    generator: str


def data_properties_section(run: RunData, paper: pd.DataFrame) -> DataPropertiesSection | None:
    """The section's content, or None when the run has no diagnostics rows (notebook 01 not run, or older)."""
    ours = run.results[(run.results["experiment"] == "data_diagnostics") & (run.results["run"] == run.runs[0])]
    if ours.empty:
        return None
    source = (run.dataset_meta or {}).get("data_source", ours["data_source"].iloc[0])
    own = ours[ours["data_source"] != ACTIVITYNET_ANNOTATIONS].set_index("metric")
    real = ours[ours["data_source"] == ACTIVITYNET_ANNOTATIONS].set_index("metric")
    table = pd.DataFrame(
        [(label, own["mean"].get(metric, nan), own["chance"].get(metric, nan), real["mean"].get(metric, nan))
         for metric, label in DIAGNOSTIC_LABELS.items() if metric in own.index],
        columns=["diagnostic", "this run", "no-information level", "real annotations"]).set_index("diagnostic")
    baseline = paper[paper["row"] == "Baseline I3D features"]
    sweep = difficulty.table_from_result_rows(run.results[run.results["run"] == run.runs[0]])
    figure = next((p for p in run.figures if p.name == SWEEP_FIGURE), None)
    return DataPropertiesSection(
        data_source=source, diagnostics=table,
        baseline_i3d=list(zip(baseline["table"], baseline["column"], baseline["value"])),
        sweep=sweep, sentences=difficulty.verdict_sentences(sweep) if not sweep.empty else [],
        figure=png_data_uri(figure.read_bytes()) if figure is not None else "",
        generator=str((run.dataset_meta or {}).get("standin", {}).get("generator_name", "")))

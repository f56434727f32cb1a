"""Everything the report reads from a run folder.

A run folder (written by ``python -m mmar run``) holds::

    run.json             profile, overrides, notebooks, python, platform, start time
    timings.json         per notebook: seconds, peak_rss_mb, status, parameters
    results/*.csv        tidy result rows (mmar.results.RESULT_COLUMNS); results/not_run.csv lists
                         experiments that were not run, with the reason
    data/dataset.json    the prepared dataset's meta (data source, description, counts)
    figures/*.png        figures saved by the notebooks
    logs/*.csv           loss histories
    notebooks/*.ipynb    the executed notebooks
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from mmar.results import DATA_SOURCES, RESULT_COLUMNS

NOT_RUN_EXPERIMENT = "not_run"
NOT_RUN_FILE = "not_run.csv"


@dataclass
class NotRun:
    """An experiment of the paper not run here, and why."""

    what: str
    reason: str
    source: str  # the file that says so, relative to the run folder, or "report" for the built-in list


@dataclass
class RunData:
    """A run folder, loaded. ``results`` has RESULT_COLUMNS plus ``file`` (relative path) and ``file_row``
    (0-based data row within that file); not-run entries are split off into ``not_run``."""

    run_dir: Path
    run_info: dict[str, Any]
    timings: dict[str, Any]
    results: pd.DataFrame
    not_run: list[NotRun]
    ignored_files: list[str]
    dataset_meta: dict[str, Any] | None
    figures: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    notebooks: list[Path] = field(default_factory=list)

    @property
    def data_sources(self) -> list[str]:
        """Data sources with at least one result row, in the order of mmar.results.DATA_SOURCES."""
        present = set(self.results["data_source"])
        return [s for s in DATA_SOURCES if s in present]

    @property
    def paper_sources(self) -> list[str]:
        """Data sources with at least one row that names a table of the paper (what the claims audit can use)."""
        present = set(self.results.loc[self.results["paper_table"] != "", "data_source"])
        return [s for s in DATA_SOURCES if s in present]

    def source_counts(self) -> dict[str, tuple[int, int]]:
        """Per data source: (result rows, rows naming a table of the paper)."""
        counts = {}
        for source in DATA_SOURCES:
            rows = self.results[self.results["data_source"] == source]
            counts[source] = (len(rows), int((rows["paper_table"] != "").sum()))
        return counts


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _not_run_entries(frame: pd.DataFrame, run_dir: Path) -> list[NotRun]:
    entries = []
    for _, row in frame.iterrows():
        parts = [_text(row.get(c)) or _text(row.get(c.removeprefix("paper_")))
                 for c in ("paper_table", "paper_row", "paper_column")]
        where = " / ".join(p for p in parts if p) or _text(row.get("what"))
        experiment = _text(row.get("experiment"))
        experiment = "" if experiment == NOT_RUN_EXPERIMENT else experiment
        what = " — ".join(p for p in (experiment, where) if p) or "(unnamed experiment)"
        reason = _text(row.get("reason")) or _text(row.get("notes")) or "no reason given"
        entries.append(NotRun(what, reason, str(Path(row["file"]).relative_to(run_dir))))
    return entries


def _read_result_files(run_dir: Path) -> tuple[pd.DataFrame, list[NotRun], list[str]]:
    """(result rows with ``file``/``file_row``, not-run entries, ignored files with the reason)."""
    frames, not_run, ignored = [], [], []
    for csv in sorted((run_dir / "results").glob("*.csv")):
        rel = str(csv.relative_to(run_dir))
        try:
            frame = pd.read_csv(csv, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            ignored.append(f"{rel}: unreadable ({type(error).__name__})")
            continue
        frame["file"] = str(csv)
        frame["file_row"] = range(len(frame))
        flagged = frame["experiment"].eq(NOT_RUN_EXPERIMENT) if "experiment" in frame else pd.Series(False, frame.index)
        if csv.name == NOT_RUN_FILE:
            flagged[:] = True
        not_run += _not_run_entries(frame[flagged], run_dir)
        frame = frame[~flagged]
        if frame.empty:
            continue
        missing = [c for c in RESULT_COLUMNS if c not in frame.columns]
        if missing:
            ignored.append(f"{rel}: not a result file (lacks {', '.join(missing)})")
            continue
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=RESULT_COLUMNS + ["file", "file_row"]), not_run, ignored
    return pd.concat(frames, ignore_index=True), not_run, ignored


def load_run(run_dir: str | Path, extra_runs: Sequence[str | Path] = ()) -> RunData:
    """Load a run folder; raise FileNotFoundError naming it when it does not exist.

    ``extra_runs``: other run folders whose result rows are shown beside this run's (e.g. the
    ``activitynet`` run beside the ``default`` one, to get a column per data source); their files are
    named relative to ``run_dir``.
    """
    run_dir = Path(run_dir).resolve()
    for folder in (run_dir, *map(Path, extra_runs)):
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: no such run folder (run `python -m mmar run --profile smoke` first)")
    results, not_run, ignored = _read_result_files(run_dir)
    for extra in extra_runs:
        extra_results, _, _ = _read_result_files(Path(extra).resolve())
        results = pd.concat([results, extra_results], ignore_index=True)
    bad = results[~results["data_source"].isin(DATA_SOURCES)]
    if len(bad):
        row = bad.iloc[0]
        raise ValueError(f"{row['file']}, row {row['file_row']}: unknown data source {row['data_source']!r}; "
                         f"expected one of {DATA_SOURCES}")
    for text_column in ("paper_table", "paper_row", "paper_column", "notes", "unit", "profile", "experiment", "metric"):
        results[text_column] = results[text_column].map(_text)
    results["file"] = results["file"].map(lambda f: os.path.relpath(f, run_dir))
    return RunData(
        run_dir=run_dir,
        run_info=_read_json(run_dir / "run.json"),
        timings=_read_json(run_dir / "timings.json"),
        results=results.reset_index(drop=True),
        not_run=not_run,
        ignored_files=ignored,
        dataset_meta=_read_json(run_dir / "data" / "dataset.json") or None,
        figures=sorted((run_dir / "figures").glob("*.png")),
        logs=sorted((run_dir / "logs").glob("*.csv")),
        notebooks=sorted((run_dir / "notebooks").glob("*.ipynb")),
    )

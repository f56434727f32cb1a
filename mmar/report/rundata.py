"""Everything the report reads from a run folder.

A run folder (written by ``python -m mmar run``) holds::

    run.json             profile, overrides, notebooks, python, platform; run id, commit, dirty flag,
                         code fingerprint, start time (mmar.provenance)
    timings.json         per notebook: seconds, peak_rss_mb (largest process), peak_all_mb (all its
                         processes together), status, overrides, settings
    results/*.csv        tidy result rows (mmar.results.RESULT_COLUMNS); results/not_run.csv lists
                         experiments that were not run, with the reason
    data/dataset.json    the prepared dataset's meta (data source, description, counts)
    data/splits.json     the zero-shot splits (unseen classes per K and trial)
    figures/*.png        figures saved by the notebooks
    logs/*.csv           loss histories
    notebooks/*.ipynb    the executed notebooks

Only rows of the run that ``run.json`` names are used: rows with another run id, and files written
before the run started that record no run id, are set aside and listed (``RunData.set_aside``).
A folder without a run id in ``run.json`` (notebooks executed by nbval or by hand) uses every row.

With other runs (``--with``), each (run, data source) is a :class:`Column` of its own.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from mmar.data.prepared import read_splits
from mmar.results import DATA_SOURCES, RESULT_COLUMNS

NOT_RUN_EXPERIMENT = "not_run"
NOT_RUN_FILE = "not_run.csv"


@dataclass(frozen=True)
class Column:
    """One column of our numbers: the rows of one run on one data source. ``run`` is "" when the report
    shows a single run, else the run's name (its folder name)."""

    source: str
    run: str = ""

    @property
    def label(self) -> str:
        return f"{self.source} · run {self.run}" if self.run else self.source

    def __str__(self) -> str:
        return self.label


@dataclass
class NotRun:
    """An experiment of the paper not run here, and why."""

    what: str
    reason: str
    source: str  # the file that says so, relative to the run folder, or "report" for the built-in list
    run: str = ""  # the run's name when the report shows several runs


@dataclass
class RunData:
    """A run folder, loaded. ``results`` has RESULT_COLUMNS plus ``file`` (relative path), ``file_row``
    (0-based data row within that file), ``run`` (the run's name, "" for a single-run report) and
    ``column`` (a :class:`Column`); not-run entries are split off into ``not_run``."""

    run_dir: Path
    run_info: dict[str, Any]
    timings: dict[str, Any]
    results: pd.DataFrame
    not_run: list[NotRun]
    ignored_files: list[str]
    dataset_meta: dict[str, Any] | None
    splits: dict[int, list[list[str]]] | None  # data/splits.json: {K: [[unseen classes of trial 0], ...]}
    figures: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    notebooks: list[Path] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)  # rows of other runs not shown, per file, with why
    runs: list[str] = field(default_factory=list)       # run names in column order ([""] for a single run)

    @property
    def data_sources(self) -> list[str]:
        """Data sources with at least one result row, in the order of mmar.results.DATA_SOURCES."""
        present = set(self.results["data_source"])
        return [s for s in DATA_SOURCES if s in present]

    @property
    def columns(self) -> list[Column]:
        """Every (run, data source) with at least one result row, runs in order, sources as DATA_SOURCES."""
        return ordered_columns(self.results)

    @property
    def paper_columns(self) -> list[Column]:
        """Columns with at least one row that names a table of the paper (what the claims audit can use)."""
        return ordered_columns(self.results[self.results["paper_table"] != ""])

    def text_decoder_metrics(self, metrics: Sequence[str]) -> dict[int, dict[str, float]]:
        """Notebook 04's text autoencoders of this run (the first run of a multi-run book): per number of decoder
        filters N (its rows' notes start "text decoder N = <N>;"), the mean of each of ``metrics`` it has."""
        rows = self.results[(self.results["experiment"] == "text_autoencoder") & (self.results["run"] == self.runs[0])
                            ] if self.runs else self.results[self.results["experiment"] == "text_autoencoder"]
        found: dict[int, dict[str, float]] = {}
        for _, row in rows[rows["metric"].isin(metrics)].iterrows():
            match = re.match(r"text decoder N = (\d+);", str(row["notes"]))
            if match:
                found.setdefault(int(match.group(1)), {})[row["metric"]] = float(row["mean"])
        return dict(sorted(found.items()))

    def source_counts(self) -> dict[str, tuple[int, int]]:
        """Per data source: (result rows, rows naming a table of the paper)."""
        counts = {}
        for source in DATA_SOURCES:
            rows = self.results[self.results["data_source"] == source]
            counts[source] = (len(rows), int((rows["paper_table"] != "").sum()))
        return counts


def ordered_columns(results: pd.DataFrame) -> list[Column]:
    """The distinct ``column`` values of ``results``: runs in order of first appearance, then sources in the
    order of mmar.results.DATA_SOURCES."""
    if results.empty:
        return []
    present = list(results["column"]) if "column" in results else [Column(s) for s in results["data_source"]]
    runs = list(dict.fromkeys(c.run for c in present))
    return [Column(s, r) for r in runs for s in DATA_SOURCES if Column(s, r) in set(present)]


def read_json_object(path: Path) -> dict[str, Any]:
    """A run record such as ``run.json``: {} when the file is absent, ValueError naming it when it is not a JSON object."""
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


def _not_run_entries(frame: pd.DataFrame, run_dir: Path, run: str = "") -> list[NotRun]:
    entries = []
    for _, row in frame.iterrows():
        parts = [_text(row.get(c)) or _text(row.get(c.removeprefix("paper_")))
                 for c in ("paper_table", "paper_row", "paper_column")]
        where = " / ".join(p for p in parts if p) or _text(row.get("what"))
        experiment = _text(row.get("experiment"))
        experiment = "" if experiment == NOT_RUN_EXPERIMENT else experiment
        what = " — ".join(p for p in (experiment, where) if p) or "(unnamed experiment)"
        reason = _text(row.get("reason")) or _text(row.get("notes")) or "no reason given"
        entries.append(NotRun(what, reason, str(Path(row["file"]).relative_to(run_dir)), run))
    return entries


def _stale_file(csv: Path, frame: pd.DataFrame, run_info: dict[str, Any]) -> bool:
    """A file without run ids, written before this run started: left over from an earlier run."""
    started = run_info.get("started_unix")
    return "run_id" not in frame.columns and started is not None and csv.stat().st_mtime < float(started)


def _read_result_files(run_dir: Path, run_info: dict[str, Any], run: str = ""
                       ) -> tuple[pd.DataFrame, list[NotRun], list[str], list[str]]:
    """(rows of this run with ``file``/``file_row``, not-run entries, ignored files with the reason,
    set-aside rows of other runs with the reason)."""
    frames, not_run, ignored, set_aside = [], [], [], []
    run_id = str(run_info.get("run_id") or "")
    for csv in sorted((run_dir / "results").glob("*.csv")):
        rel = str(csv.relative_to(run_dir))
        try:
            frame = pd.read_csv(csv, keep_default_na=False, na_values=[""], dtype={"run_id": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            ignored.append(f"{rel}: unreadable ({type(error).__name__})")
            continue
        frame["file"] = str(csv)
        frame["file_row"] = range(len(frame))
        if run_id and _stale_file(csv, frame, run_info):
            set_aside.append(f"{rel}: {len(frame)} rows written before this run started "
                             f"({run_info.get('started')}) and recording no run id")
            continue
        if run_id and "run_id" in frame.columns:
            other = frame["run_id"].fillna("").astype(str) != run_id
            for old_id, rows in frame[other].groupby(frame.loc[other, "run_id"].fillna("").astype(str)):
                set_aside.append(f"{rel}: {len(rows)} rows of run {old_id or '(no run id)'}, not of this run "
                                 f"({run_id})")
            frame = frame[~other]
        flagged = frame["experiment"].eq(NOT_RUN_EXPERIMENT) if "experiment" in frame else pd.Series(False, frame.index)
        if csv.name == NOT_RUN_FILE:
            flagged[:] = True
        not_run += _not_run_entries(frame[flagged], run_dir, run)
        frame = frame[~flagged]
        if frame.empty:
            continue
        if "run_id" not in frame.columns:  # result files written before rows recorded their run
            frame["run_id"] = ""
        missing = [c for c in RESULT_COLUMNS if c not in frame.columns]
        if missing:
            ignored.append(f"{rel}: not a result file (lacks {', '.join(missing)})")
            continue
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=RESULT_COLUMNS + ["file", "file_row"]), not_run, ignored, set_aside
    return pd.concat(frames, ignore_index=True), not_run, ignored, set_aside


_OPENING, _CLOSING = "([{", ")]}"


@functools.lru_cache(maxsize=4096)
def _parsed_json_object(text: str) -> dict[str, Any]:
    try:
        config = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return config if isinstance(config, dict) else {}


def parsed_config(text: Any) -> dict[str, Any]:
    """A result row's ``config`` cell as a dict ({} when absent or unreadable); parsed once per distinct text
    (read only)."""
    return _parsed_json_object(text) if isinstance(text, str) and text else {}


def row_config(row: pd.Series) -> dict[str, Any]:
    """A result row's ``config`` JSON as a dict ({} when absent or unreadable)."""
    return parsed_config(row["config"])


def named_list(names: Sequence[str], singular: str, plural: str) -> str:
    """``"Table 2"`` or ``"Tables 2, 3 and 9"``."""
    return f"{singular} {names[0]}" if len(names) == 1 else f"{plural} {', '.join(names[:-1])} and {names[-1]}"


def first_clause(text: str) -> str:
    """``text`` up to its first ``;`` outside brackets: "a (b; c); d" gives "a (b; c)". Where the brackets do
    not balance, the first ``;`` anywhere ends it."""
    if sum(map(text.count, _OPENING)) != sum(map(text.count, _CLOSING)):
        return text.split(";")[0].strip()
    depth = 0
    for i, char in enumerate(text):
        if char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth -= 1
        elif char == ";" and depth == 0:
            return text[:i].strip()
    return text.strip()


def run_names(run_dirs: Sequence[Path]) -> list[str]:
    """A short distinct name per run folder: its folder name, with the parent's when two share one."""
    names = [p.name for p in run_dirs]
    return [f"{p.parent.name}/{p.name}" if names.count(p.name) > 1 else p.name for p in run_dirs]


def load_run(run_dir: str | Path, extra_runs: Sequence[str | Path] = ()) -> RunData:
    """Load a run folder; raise FileNotFoundError naming it when it does not exist.

    ``extra_runs``: other run folders whose result rows are shown beside this run's (e.g. the
    ``activitynet`` run beside the ``default`` one): every (run, data source) gets a column of its own,
    and every run's not-run entries are kept. Their files are named relative to ``run_dir``.
    """
    run_dir = Path(run_dir).resolve()
    folders = [run_dir, *(Path(p).resolve() for p in extra_runs)]
    for folder in folders:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such run folder (run `python -m mmar run --profile smoke` first)")
    names = run_names(folders) if extra_runs else [""]
    run_info = read_json_object(run_dir / "run.json")
    split_file = run_dir / "data" / "splits.json"
    parts, not_run, ignored, set_aside = [], [], [], []
    for folder, name in zip(folders, names if extra_runs else [""]):
        info = run_info if folder == run_dir else read_json_object(folder / "run.json")
        rows, entries, bad_files, aside = _read_result_files(folder, info, name)
        prefix = "" if folder == run_dir else f"{os.path.relpath(folder, run_dir)}/"
        rows["run"] = name
        parts.append(rows)
        not_run += entries
        ignored += [prefix + f for f in bad_files]
        set_aside += [prefix + f for f in aside]
    results = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    bad = results[~results["data_source"].isin(DATA_SOURCES)]
    if len(bad):
        row = bad.iloc[0]
        raise ValueError(f"{row['file']}, row {row['file_row']}: unknown data source {row['data_source']!r}; "
                         f"expected one of {DATA_SOURCES}")
    for text_column in ("paper_table", "paper_row", "paper_column", "notes", "unit", "profile", "experiment", "metric",
                        "run_id"):
        results[text_column] = results[text_column].map(_text)
    results["file"] = results["file"].map(lambda f: os.path.relpath(f, run_dir))
    results["column"] = [Column(s, r) for s, r in zip(results["data_source"], results["run"])]
    return RunData(
        run_dir=run_dir,
        run_info=run_info,
        timings=read_json_object(run_dir / "timings.json"),
        results=results.reset_index(drop=True),
        not_run=not_run,
        ignored_files=ignored,
        dataset_meta=read_json_object(run_dir / "data" / "dataset.json") or None,
        splits=read_splits(split_file) if split_file.is_file() else None,
        figures=sorted((run_dir / "figures").glob("*.png")),
        logs=sorted((run_dir / "logs").glob("*.csv")),
        notebooks=sorted((run_dir / "notebooks").glob("*.ipynb")),
        set_aside=set_aside,
        runs=names,
    )

"""Side-by-side tables: each paper table's numbers beside ours, per column (run, data source), with provenance.

Every "ours" cell keeps the result file and row it came from, so the report can show (and tests can
check) where each number comes from. A cell computed on data other than the paper's
(``stand-in`` or ``anet-text + stand-in video``) is marked: its number must not be compared with the
paper's directly.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import pandas as pd

from mmar.report.paper import TABLES, TableInfo, paper_cell, split_paper_row, table_columns, table_rows
from mmar.report.rundata import Column, ordered_columns
from mmar.results import ACTIVITYNET


def decimals_for(unit: str, value: float) -> int:
    """Digits after the point: 1 for percentages (as the paper); otherwise 0 for whole numbers (counts),
    else 2 (3 below 1)."""
    if unit == "%":
        return 1
    if float(value).is_integer():
        return 0
    return 2 if abs(value) >= 1 else 3


def fmt(value: float, unit: str) -> str:
    """A number as the report prints it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{decimals_for(unit, value)}f}"


@dataclass
class OursCell:
    """One of our results: a result-file row, aggregated over trials."""

    mean: float
    std: float
    n_trials: int
    data_source: str
    unit: str
    file: str       # relative to the run folder
    file_row: int   # 0-based data row in that file
    experiment: str
    metric: str
    notes: str = ""
    chance: float = math.nan
    also: list[str] = field(default_factory=list)  # other rows for the same cell ("file#row")
    column: Column | None = None  # the (run, data source) column it belongs to
    values: tuple[float, ...] = ()  # per-trial values, in the order of ``trials``
    trials: tuple[int, ...] = ()    # per-trial seeds (= trial ids within a run); () when not recorded per value

    @property
    def differs(self) -> bool:
        """True when the data differ from the paper's (anything but real ActivityNet features)."""
        return self.data_source != ACTIVITYNET

    @property
    def mean_text(self) -> str:
        return fmt(self.mean, self.unit)

    @property
    def std_text(self) -> str:
        return fmt(self.std, self.unit)

    @classmethod
    def from_row(cls, row: "pd.Series | dict") -> "OursCell":
        values, trials = per_trial(row)
        column = row.get("column") if isinstance(row.get("column"), Column) else Column(row["data_source"])
        return cls(float(row["mean"]), float(row["std"]), int(row["n_trials"]), row["data_source"], row["unit"],
                   row["file"], int(row["file_row"]), str(row["experiment"]), str(row["metric"]), row["notes"],
                   float(row["chance"]) if pd.notna(row["chance"]) else math.nan, column=column,
                   values=values, trials=trials)


def _json_list(text: object) -> list:
    if not isinstance(text, str) or not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return []
    return value if isinstance(value, list) else []


def per_trial(row: "pd.Series | dict") -> tuple[tuple[float, ...], tuple[int, ...]]:
    """(values, trial ids) of a result row. Trial ids are its seeds when there is exactly one distinct seed per
    value (rows of one run share a seed for the same trial); else ``()``: the values cannot be matched."""
    values = tuple(float(v) for v in _json_list(row.get("values")))
    seeds = _json_list(row.get("seeds"))
    if len(seeds) != len(values) or len(set(seeds)) != len(seeds):
        return values, ()
    try:
        return values, tuple(int(s) for s in seeds)
    except (TypeError, ValueError):
        return values, ()


@dataclass
class SideRow:
    label: str
    group: str  # e.g. "Paired" in Table 1; "" elsewhere
    paper: dict[str, pd.Series | None]               # paper column -> paper cell
    ours: dict[tuple[str, Column], OursCell | None]  # (paper column, our column) -> our cell

    @property
    def ran(self) -> bool:
        return any(cell is not None for cell in self.ours.values())


@dataclass
class SideTable:
    name: str
    info: TableInfo
    columns: list[str]         # the paper's columns
    our_columns: list[Column]  # ours beside each of them: one per (run, data source)
    rows: list[SideRow]
    unmatched: list[OursCell] = field(default_factory=list)  # our rows whose labels are not in the paper

    @property
    def has_ours(self) -> bool:
        return any(row.ran for row in self.rows) or bool(self.unmatched)

    def trials_label(self, column: Column) -> str:
        """"n = 3" (or "n = 1-3") for our cells of one column in this table."""
        ns = sorted({cell.n_trials for row in self.rows for (_, c), cell in row.ours.items() if c == column and cell})
        if not ns:
            return ""
        return f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]}"


CellKey = tuple[str, str, str, Column]  # (paper table, paper row, paper column, our column)


def index_results(results: pd.DataFrame) -> dict[CellKey, OursCell]:
    """Our cell for each (table, row, column, our column) that has rows. Where several rows of one run name
    one cell, the one with most trials (then the last written) stands for it and the others are listed in
    ``also``."""
    groups: dict[CellKey, list[OursCell]] = {}
    for record in results.to_dict("records"):
        cell = OursCell.from_row(record)
        key = (record["paper_table"], record["paper_row"], record["paper_column"], cell.column)
        groups.setdefault(key, []).append(cell)
    index = {}
    for key, cells in groups.items():
        cells.sort(key=lambda c: (c.n_trials, c.file, c.file_row))
        chosen = cells[-1]
        chosen.also = [f"{c.file}#{c.file_row}" for c in cells[:-1]]
        index[key] = chosen
    return index


def split_group(table: str, label: str) -> tuple[str, str]:
    """Table 1 labels are "<training data>: <losses>"; other tables have no groups."""
    return split_paper_row(label) if table == "Table 1" else ("", label)


def side_by_side(paper: pd.DataFrame, results: pd.DataFrame, table: str,
                 index: dict[CellKey, OursCell] | None = None) -> SideTable:
    """The paper's table with our cells beside each number (``index``: from :func:`index_results`)."""
    index = index_results(results) if index is None else index
    rows, columns = table_rows(paper, table), table_columns(paper, table)
    ours = results[results["paper_table"] == table]
    our_columns = ordered_columns(ours)
    side_rows = []
    for label in rows:
        group, short = split_group(table, label)
        cells = {(column, ours_column): index.get((table, label, column, ours_column))
                 for column in columns for ours_column in our_columns}
        side_rows.append(SideRow(short, group, {c: paper_cell(paper, table, label, c) for c in columns}, cells))
    known = ours["paper_row"].isin(rows) & ours["paper_column"].isin(columns)
    unmatched = []
    for _, r in ours[~known].iterrows():
        cell = OursCell.from_row(r)
        cell.notes = f"labels not in the paper: row {r['paper_row']!r}, column {r['paper_column']!r}. {cell.notes}".strip()
        unmatched.append(cell)
    return SideTable(table, TABLES[table], columns, our_columns, side_rows, unmatched)


def all_tables(paper: pd.DataFrame, results: pd.DataFrame) -> list[SideTable]:
    """Side-by-side tables for every table of the paper, in order."""
    index = index_results(results)
    return [side_by_side(paper, results, name, index) for name in dict.fromkeys(paper["table"])]


def further_results(results: pd.DataFrame) -> list[OursCell]:
    """Our results outside the paper's tables (e.g. retrieval), grouped by experiment, in file order."""
    extra = results[(results["paper_table"] == "") | ~results["paper_table"].isin(list(TABLES))]
    order = {name: i for i, name in enumerate(dict.fromkeys(extra["experiment"]))}  # experiments in file order
    cells = [OursCell.from_row(r) for _, r in extra.iterrows()]
    return sorted(cells, key=lambda c: order[c.experiment])  # stable: rows keep their order within one

"""Inconsistencies within the paper, computed from ``report/paper_results.csv`` (never typed in).

Each finding names the paper cells it rests on, so the report can show them with their source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from mmar.report.paper import paper_cell, table_columns


@dataclass
class Finding:
    """One inconsistency: a headline, the paper cells behind it, and a computed statement."""

    title: str
    statement: str  # may contain {0}, {1}, ... placeholders for the cells, filled by the template
    cells: list[pd.Series] = field(default_factory=list)
    computed: str = ""  # the arithmetic, e.g. "77.1 − 74.2 = 2.9 points"


def _cell(paper: pd.DataFrame, table: str, row: str, column: str) -> pd.Series:
    cell = paper_cell(paper, table, row, column)
    if cell is None:
        raise KeyError(f"paper_results.csv has no cell {table} / {row} / {column}")
    return cell


def same_setup_differs(paper: pd.DataFrame) -> Finding:
    """Table 7 "100% / 0%" and Table 8 "0" both train on 40k paired samples and no unpaired data."""
    a = _cell(paper, "Table 7", "100% / 0%", "Accuracy")
    b = _cell(paper, "Table 8", "0", "Accuracy")
    diff = b["value_f"] - a["value_f"]
    return Finding(
        "Two accuracies for one set-up",
        "Table 7's 100% paired / 0% unpaired ({0}) and Table 8's 0 unpaired samples ({1}) both describe 40k paired "
        "samples and no unpaired data at 5 unseen classes, yet they differ.",
        [a, b], f"{b['value']} − {a['value']} = {diff:.1f} points",
    )


def unpaired_below_paired(paper: pd.DataFrame) -> Finding:
    """Table 1: adding unpaired data without the adversarial terms lowers some accuracies."""
    paired = "Paired: joint + recons + cross + cycle"
    both = "Paired + Unpaired: joint + recons + cross + cycle"
    cells, lower = [], []
    for column in table_columns(paper, "Table 1"):
        p, u = _cell(paper, "Table 1", paired, column), _cell(paper, "Table 1", both, column)
        cells += [u, p]
        if u["value_f"] < p["value_f"]:
            lower.append(f"{column}: {u['value']} < {p['value']} ({u['value_f'] - p['value_f']:+.1f})")
    return Finding(
        "Unpaired data without the adversarial terms lowers accuracy in some columns",
        "Table 1, joint + recons + cross + cycle trained on paired + unpaired data vs paired data only, per column: "
        + ", ".join(f"{{{2 * i}}} vs {{{2 * i + 1}}}" for i in range(len(cells) // 2)) + ".",
        cells, "lower with unpaired data at " + ("; ".join(lower) if lower else "no column"),
    )


def headline_equals_table8(paper: pd.DataFrame) -> Finding:
    """Table 1's best 5-unseen accuracy and the Table 8 cells with the same value."""
    best = _cell(paper, "Table 1", "Paired + Unpaired: All terms (incl. adversarial)", "5 unseen")
    t8 = paper[paper["table"] == "Table 8"]
    same = t8[t8["value_f"] == best["value_f"]]
    top = t8.loc[t8["value_f"].idxmax()]
    cells = [best] + [row for _, row in same.iterrows()] + [top]
    placeholders = ", ".join(f"{{{i + 1}}} (“{row['row']}” unpaired)" for i, (_, row) in enumerate(same.iterrows()))
    return Finding(
        "Table 1's headline number equals one point of the Table 8 sweep",
        f"Table 1's all-terms accuracy at 5 unseen classes ({{0}}) equals Table 8 at {placeholders or 'no amount'}, "
        f"not Table 8's best ({{{len(cells) - 1}}} at “{top['row']}”); Table 1 does not say how much unpaired data it used.",
        cells, f"{len(same)} Table 8 cell(s) equal {best['value']}",
    )


def repeated_values(paper: pd.DataFrame, min_tables: int = 3) -> list[Finding]:
    """Values that appear in at least ``min_tables`` different tables."""
    findings = []
    for value, group in paper.groupby("value_f", sort=True):
        tables = list(dict.fromkeys(group["table"]))
        if len(tables) >= min_tables:
            cells = [row for _, row in group.iterrows()]
            findings.append(Finding(
                f"The value {cells[0]['value']} appears in {len(tables)} tables",
                "It is reported for unrelated experiments: " + ", ".join(
                    f"{{{i}}} ({row['table']}, {row['row']}, {row['column']})" for i, row in enumerate(cells)) + ".",
                cells, f"{len(cells)} cells in {', '.join(tables)}",
            ))
    return findings


def cross_table_coincidences(paper: pd.DataFrame) -> list[tuple[str, list[pd.Series]]]:
    """Every value shared by exactly two tables (some are the same experiment reported twice)."""
    shared = []
    for value, group in paper.groupby("value_f", sort=True):
        if group["table"].nunique() == 2:
            shared.append((group.iloc[0]["value"], [row for _, row in group.iterrows()]))
    return shared


def all_findings(paper: pd.DataFrame) -> list[Finding]:
    """The inconsistencies the report lists, in order."""
    return [same_setup_differs(paper), unpaired_below_paired(paper), headline_equals_table8(paper),
            *repeated_values(paper)]

"""Inconsistencies within the paper, computed from ``report/paper_results.csv`` (never typed in).

Each finding names the paper cells it rests on, so the report can show them with their source, and
gives the evidence on both sides: what makes it look inconsistent (``statement``) and what speaks
for the paper or limits the point (``counter``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from mmar.report.paper import paper_cell, split_paper_row, table_columns, table_rows


@dataclass
class Finding:
    """One inconsistency: a headline, the paper cells behind it, and a computed statement."""

    title: str
    statement: str  # the evidence that it is an inconsistency; {0}, {1}, ... placeholders for the cells
    cells: list[pd.Series] = field(default_factory=list)
    computed: str = ""  # the arithmetic, e.g. "77.1 − 74.2 = 2.9 points"
    counter: str = ""  # the evidence on the other side (same placeholders), "" when there is none to give


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
        counter="Each is a mean over trials with random unseen classes, and the paper gives no spread for Tables 7 "
                "and 8 and does not say that both used the same trials; if they were separate sets of runs, a gap of "
                f"{abs(diff):.1f} points may be trial-to-trial variation rather than an error.",
    )


def unpaired_effect(paper: pd.DataFrame) -> Finding:
    """Table 1: what adding unpaired data (without the adversarial terms) does to each loss set that the table
    gives both with paired data only and with paired + unpaired data, column by column, both directions."""
    rows = table_rows(paper, "Table 1")
    paired = {split_paper_row(r)[1]: r for r in rows if split_paper_row(r)[0] == "Paired"}
    both = [(paired[split_paper_row(r)[1]], r) for r in rows
            if split_paper_row(r)[0] == "Paired + Unpaired" and split_paper_row(r)[1] in paired]
    cells, lower, higher, equal, per_loss = [], [], [], [], []
    for p_row, u_row in both:
        losses = split_paper_row(p_row)[1]
        diffs = []
        for column in table_columns(paper, "Table 1"):
            p, u = _cell(paper, "Table 1", p_row, column), _cell(paper, "Table 1", u_row, column)
            i = len(cells)
            cells += [u, p]
            change = round(u["value_f"] - p["value_f"], 1)
            diffs.append(f"{change:+.1f}")
            where = f"{losses} at {column}: {{{i}}} vs {{{i + 1}}} ({change:+.1f})"
            (lower if change < 0 else higher if change > 0 else equal).append(where)
        per_loss.append(f"{losses}: {', '.join(diffs)}")
    return Finding(
        "Unpaired data without the adversarial terms: lower in some cells, higher in others",
        "Table 1, paired + unpaired vs paired only, lower with unpaired data: " + ("; ".join(lower) or "nowhere") + ".",
        cells, "change with unpaired data per column (5/10/20/50 unseen): " + "; ".join(per_loss),
        counter="Higher with unpaired data: " + ("; ".join(higher) or "nowhere")
                + (". Unchanged: " + "; ".join(equal) if equal else "")
                + ". So unpaired data do not simply lower accuracy; without spreads, differences of a few tenths "
                  "cannot be told from noise either way.",
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
        counter="If Table 1's model was trained with that amount of unpaired data, the equality is expected (one "
                "experiment reported twice), and choosing an amount short of the best is no error; what is missing "
                "is the statement of the amount.",
    )


def chance_equal_pairs(paper: pd.DataFrame, unit: str = "%") -> tuple[int, float, int, float, float]:
    """(cells, expected pairs of equal values by chance, observed pairs, lowest, highest) over the cells of
    ``unit``: with n values spread evenly over [lowest, highest] at the CSV's 0.1 resolution, n(n−1)/2 pairs each
    match with probability 1 / (number of possible values)."""
    values = paper.loc[paper["unit"] == unit, "value_f"]
    n, low, high = len(values), float(values.min()), float(values.max())
    expected = n * (n - 1) / 2 / (round((high - low) / 0.1) + 1)
    observed = int(sum(math.comb(int(c), 2) for c in values.value_counts()))
    return n, expected, observed, low, high


def repeated_values(paper: pd.DataFrame, min_tables: int = 3) -> list[Finding]:
    """Values that appear in at least ``min_tables`` different tables."""
    findings = []
    n, expected, observed, low, high = chance_equal_pairs(paper)
    counter = (f"Equal values are not rare in themselves: with {n} percentages between {low:g} and {high:g} at one "
               f"decimal, about {expected:.1f} pairs of equal values are expected by chance if values were spread "
               f"evenly (clustering makes more); the paper's tables have {observed}. A value in three tables is rarer, "
               "but still no proof of a copying error.")
    for value, group in paper.groupby("value_f", sort=True):
        tables = list(dict.fromkeys(group["table"]))
        if len(tables) >= min_tables:
            cells = [row for _, row in group.iterrows()]
            findings.append(Finding(
                f"The value {cells[0]['value']} appears in {len(tables)} tables",
                "It is reported for unrelated experiments: " + ", ".join(
                    f"{{{i}}} ({row['table']}, {row['row']}, {row['column']})" for i, row in enumerate(cells)) + ".",
                cells, f"{len(cells)} cells in {', '.join(tables)}", counter=counter,
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
    return [same_setup_differs(paper), unpaired_effect(paper), headline_equals_table8(paper),
            *repeated_values(paper)]

"""The paper's numbers as data (``report/paper_results.csv``) and the facts the report needs about each table.

Source of every number: Piergiovanni & Ryoo, *Unseen Action Recognition with Multimodal Learning*,
ICLR 2019 submission (OpenReview S14g5s09tm; arXiv 1806.08251v2), Tables 1-9, as transcribed in
``report/paper_results.csv``. Values are kept as the text of the CSV, so that "0.10" shows as "0.10".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmar.paths import REPORT_SOURCE_DIR

PAPER_RESULTS_FILE = REPORT_SOURCE_DIR / "paper_results.csv"
PAPER_COLUMNS = ["paper_version", "table", "row", "column", "value", "std", "best_in_paper", "unit"]

CITATION = (
    "AJ Piergiovanni and Michael S. Ryoo. Unseen Action Recognition with Multimodal Learning. "
    "ICLR 2019 submission (OpenReview S14g5s09tm); arXiv:1806.08251v2."
)


@dataclass(frozen=True)
class TableInfo:
    """What one table of the paper measures and which data it needs."""

    title: str
    data: str
    needs_unavailable_videos: str = ""  # non-empty: why it cannot run here


#: One line per table, from the captions of the ICLR 2019 text (see /work/shared/paper/tables.md).
TABLES: dict[str, TableInfo] = {
    "Table 1": TableInfo("Zero-shot classification accuracy (%) on ActivityNet Captions, 5/10/20/50 unseen classes, "
                         "mean of 10 trials", "ActivityNet Captions + I3D features"),
    "Table 2": TableInfo("Zero-shot accuracy (%) on HMDB51 and UCF101 against earlier methods", "HMDB51, UCF101, Charades",
                         "needs HMDB51 and UCF101 videos (and Charades sentences as unpaired text); "
                         "none of them can be obtained on this machine"),
    "Table 3": TableInfo("Unsupervised activity discovery (k-means, cluster vote) accuracy (%) on MLB-YouTube",
                         "MLB-YouTube", "needs the MLB-YouTube broadcast videos, which cannot be obtained here"),
    "Table 4": TableInfo("Unsupervised activity discovery accuracy (%) on HMDB and UCF101", "HMDB51, UCF101",
                         "needs HMDB51 and UCF101 videos, which cannot be obtained here"),
    "Table 5": TableInfo("Unseen activity captioning on ActivityNet, 10 unseen classes (METEOR, CIDEr)",
                         "ActivityNet Captions + I3D features"),
    "Table 6": TableInfo("Temporal pooling ablation, ActivityNet, 5 unseen classes, accuracy (%) (App. A.1)",
                         "ActivityNet Captions + I3D features"),
    "Table 7": TableInfo("Ratio of paired to unpaired data at 40k samples in total, 5 unseen classes, accuracy (%) "
                         "(App. A.2)", "ActivityNet Captions + I3D features (+ unpaired)"),
    "Table 8": TableInfo("40k paired samples plus 0-60k unpaired samples, 5 unseen classes, accuracy (%) (App. A.2)",
                         "ActivityNet Captions + I3D features, Kinetics as extra unpaired video"),
    "Table 9": TableInfo("Seen video captioning on MLB-YouTube captions (BLEU, METEOR, CIDEr) (App. A.3.1)",
                         "MLB-YouTube captions", "needs the MLB-YouTube videos and their commentary captions, "
                                                  "which cannot be obtained here"),
}


def load_paper_results(path: str | Path = PAPER_RESULTS_FILE) -> pd.DataFrame:
    """The paper's numbers, one row per (table, row, column), in the file's order.

    ``value`` and ``std`` stay text (as printed in the paper); ``value_f``/``std_f`` are their floats.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the paper's results file is missing")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in PAPER_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    for line, value in enumerate(table["value"], start=2):
        try:
            float(value)
        except ValueError:
            raise ValueError(f"{path}, line {line}: value {value!r} is not a number") from None
    table["value_f"] = table["value"].astype(float)
    table["std_f"] = pd.to_numeric(table["std"].replace("", None), errors="coerce")
    unknown = sorted(set(table["table"]) - set(TABLES))
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {unknown}")
    return table


def table_rows(paper: pd.DataFrame, table: str) -> list[str]:
    """Row labels of one table in paper order."""
    return list(dict.fromkeys(paper.loc[paper["table"] == table, "row"]))


def split_paper_row(label: str) -> tuple[str, str]:
    """Table 1 labels are "<training data>: <losses>" -> (training data, losses); other labels -> ("", label)."""
    if ": " in label:
        group, rest = label.split(": ", 1)
        return group, rest
    return "", label


def table_columns(paper: pd.DataFrame, table: str) -> list[str]:
    """Column labels of one table in paper order."""
    return list(dict.fromkeys(paper.loc[paper["table"] == table, "column"]))


_CELLS: dict[int, tuple[pd.DataFrame, dict[tuple[str, str, str], pd.Series]]] = {}


def paper_cell(paper: pd.DataFrame, table: str, row: str, column: str) -> pd.Series | None:
    """The paper's entry (a CSV row) or None when the paper has no such cell (looked up in a per-frame index)."""
    cached = _CELLS.get(id(paper))
    if cached is None or cached[0] is not paper:
        cells = {(r["table"], r["row"], r["column"]): r for _, r in paper.iterrows()}
        _CELLS.clear()
        _CELLS[id(paper)] = cached = (paper, cells)
    return cached[1].get((table, row, column))

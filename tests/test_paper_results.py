"""``report/paper_results.csv`` against the paper digest ``../shared/paper/tables.md``, parsed here independently.

Every (table, row, column) of the markdown tables must be in the CSV with the same value, the same ± std,
and ``best_in_paper`` exactly where the markdown prints the number in bold.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from mmar.paths import REPORT_SOURCE_DIR

CSV = REPORT_SOURCE_DIR / "paper_results.csv"


@pytest.fixture
def tables_md(shared_data: Path) -> Path:
    path = shared_data.parent / "paper" / "tables.md"
    if not path.is_file():
        pytest.skip(f"{path} is absent (the paper digest is only on the project's machines)")
    return path


def parse_tables_md(path: Path) -> dict[tuple[str, str, str], tuple[str, str, bool]]:
    """{(table, row, column): (value, std, bold)} from the markdown tables under each **Table N** heading."""
    cells: dict[tuple[str, str, str], tuple[str, str, bool]] = {}
    table = None
    block: list[list[str]] = []

    def flush() -> None:
        if table is None or not block:
            return
        header, rows = block[0], block[2:]  # block[1] is the |---| separator
        if table == "Table 8":  # transposed in the digest: one "Accuracy" row, amounts as columns
            header, rows = ["Unpaired samples", "Accuracy"], [[h, v] for h, v in zip(header[1:], rows[0][1:])]
        labels = 2 if table == "Table 1" else 1
        for row in rows:
            label = ": ".join(row[:labels])
            for column, text in zip(header[labels:], row[labels:]):
                bold = text.startswith("**") and text.endswith("**")
                text = text.strip("*").strip()
                value, _, std = (part.strip() for part in text.partition("±"))
                cells[(table, label, column)] = (value, std, bold)

    for line in path.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"\*\*(Table \d+)\b", line)
        if heading:
            flush()
            table, block = heading.group(1), []
        elif line.startswith("|") and table is not None:
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block and not line.startswith("|"):
            flush()
            table, block = None, []
    flush()
    return cells


def test_every_number_of_the_digest_equals_the_csv(tables_md: Path) -> None:
    md = parse_tables_md(tables_md)
    csv = pd.read_csv(CSV, dtype=str, keep_default_na=False)
    assert len(md) == len(csv) == 111
    for _, row in csv.iterrows():
        key = (row["table"], row["row"], row["column"])
        assert key in md, f"{key} is in the CSV but not in tables.md"
        value, std, bold = md[key]
        assert row["value"] == value and float(row["value"]) == float(value), key
        assert row["std"] == std, key
        assert (row["best_in_paper"] == "True") == bold, key


def test_table_shapes_match_the_digest(tables_md: Path) -> None:
    md = parse_tables_md(tables_md)
    csv = pd.read_csv(CSV, dtype=str, keep_default_na=False)
    for table, group in csv.groupby("table"):
        md_keys = [k for k in md if k[0] == table]
        assert len({k[1] for k in md_keys}) == group["row"].nunique(), table
        assert len({k[2] for k in md_keys}) == group["column"].nunique(), table


def test_csv_is_well_formed() -> None:
    csv = pd.read_csv(CSV, dtype=str, keep_default_na=False)
    assert csv["paper_version"].nunique() == 1 and "ICLR 2019" in csv["paper_version"].iloc[0]
    assert not csv.duplicated(["table", "row", "column"]).any()
    assert set(csv["table"]) == {f"Table {i}" for i in range(1, 10)}
    for value in csv["value"]:
        float(value)
    percent = csv[csv["unit"] == "%"]
    assert percent["value"].astype(float).between(0, 100).all()

"""The book's "Results beyond the paper" tables (:func:`mmar.report.pages.beyond_paper_tables`): one value per cell
with a data column where an experiment mixes data sources, whole variant labels, the data sources listed apart, and
"trial" in the singular for one trial. Built from hand-made result rows (test inputs only)."""

from __future__ import annotations

import html
import re
from pathlib import Path

from mmar.report import pages
from mmar.report.rundata import load_run
from mmar.results import ACTIVITYNET_ANNOTATIONS, STANDIN, ResultRow, write_results

REAL_NOTE = "ActivityNet Captions annotation files (training + val_1) alone (real; no video features)"


def _result(experiment: str, metric: str, values: list[float], source: str, notes: str, unit: str = "") -> ResultRow:
    return ResultRow(experiment=experiment, metric=metric, values=values, data_source=source, profile="synthetic",
                     run_path="/tmp/x", unit=unit, seeds=list(range(len(values))), notes=notes)


def _tables(tmp_path: Path) -> str:
    """The page's HTML for a run with one- and five-trial experiments, one of them on two data sources."""
    rows = [
        _result("dataset_statistics", "n_videos", [10800], STANDIN, "STAND-IN data; generated"),
        _result("dataset_statistics", "n_sentences", [39528], STANDIN, "STAND-IN data; generated"),
        _result("dataset_statistics", "n_videos", [14926], ACTIVITYNET_ANNOTATIONS, REAL_NOTE),
        _result("dataset_statistics", "n_sentences", [54926], ACTIVITYNET_ANNOTATIONS, REAL_NOTE),
        _result("data_diagnostics", "feature_between_class_share", [0.152], STANDIN, "eta squared"),
        _result("data_diagnostics", "sentence_between_class_share", [0.172], STANDIN, "eta squared"),
        _result("data_diagnostics", "class_name_mention_share", [30.1], STANDIN,
                "sentences containing a word of their class's name", unit="%"),
        _result("data_diagnostics", "class_name_mention_share", [30.2], ACTIVITYNET_ANNOTATIONS,
                f"sentences containing a word of their class's name; {REAL_NOTE}", unit="%"),
        _result("discovery", "accuracy", [27.0, 28.0, 29.0, 27.5, 28.5], STANDIN, "baseline; protocol", unit="%"),
        _result("discovery", "nmi", [0.03, 0.04, 0.02, 0.03, 0.035], STANDIN, "baseline; protocol"),
    ]
    write_results(rows, tmp_path / "results" / "01_data.csv")
    return pages.beyond_paper_tables(load_run(tmp_path)).data


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", fragment))).strip()


def _block(page: str, experiment: str) -> str:
    return next(b for b in page.split("<h4>") if b.startswith(experiment))


def _table_rows(block: str) -> list[list[str]]:
    """Each table row of ``block`` as the HTML of its cells (header cells included)."""
    return [re.findall(r"<t[dh]>(.*?)</t[dh]>", row) for row in re.findall(r"<tr>(.*?)</tr>", block)]


def test_one_value_per_cell_and_a_data_column_where_sources_mix(tmp_path: Path) -> None:
    """Two rows of one variant and metric on two data sources get a table row each, named by a "data" column,
    rather than one cell reading "30.130.2"."""
    page = _tables(tmp_path)
    assert all(cell.count('class="oc"') <= 1 for row in _table_rows(page) for cell in row)
    rows = [[_text(c) for c in row] for row in _table_rows(_block(page, "data_diagnostics"))]
    assert rows[0] == ["variant", "data", "feature_between_class_share", "sentence_between_class_share",
                       "class_name_mention_share (%)"]
    assert ["sentences containing a word of their class's name", STANDIN, "", "", "30.1"] in rows
    assert ["sentences containing a word of their class's name", ACTIVITYNET_ANNOTATIONS, "", "", "30.2"] in rows
    assert ["eta squared", STANDIN, "0.152", "0.172", ""] in rows
    discovery = [[_text(c) for c in row] for row in _table_rows(_block(page, "discovery"))]
    assert discovery[0] == ["variant", "accuracy (%)", "nmi"]  # one data source: named in the heading only


def test_a_semicolon_inside_brackets_does_not_cut_the_variant(tmp_path: Path) -> None:
    """A note's first clause ends at its first ";" outside brackets: "... alone (real; no video features)" stays
    whole (it was cut to "... alone (real"), in the tables and in the CSV download."""
    run_dir = tmp_path / "run"
    rows = [[_text(c) for c in row] for row in _table_rows(_block(_tables(run_dir), "dataset_statistics"))]
    assert not any(row[0].endswith("(real") for row in rows)
    assert [REAL_NOTE, ACTIVITYNET_ANNOTATIONS, "14926", "54926"] in rows
    assert REAL_NOTE in set(pages.beyond_paper_frame(load_run(run_dir))["variant"])
    assert pages.first_clause(REAL_NOTE + "; more") == REAL_NOTE
    assert pages.first_clause("a (b; c); d") == "a (b; c)" and pages.first_clause("a; b") == "a"
    assert pages.first_clause("a (b; c") == "a (b"  # unbalanced brackets: the first ";" anywhere


def test_the_heading_lists_the_data_sources_apart_and_counts_trials(tmp_path: Path) -> None:
    page = _tables(tmp_path)
    headings = [_text(h) for h in re.findall(r"<h4>(.*?)</h4>", page)]
    assert headings == ["dataset_statistics (n = 1 trial; data: stand-in, activitynet annotations)",
                        "data_diagnostics (n = 1 trial; data: stand-in, activitynet annotations)",
                        "discovery (n = 5 trials; data: stand-in)"]
    assert pages.trials_text([1, 10, 1]) == "n = 1, 10 trials" and pages.trials_text([2]) == "n = 2 trials"

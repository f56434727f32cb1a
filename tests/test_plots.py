"""The figures' geometry and captions: the zero-shot figure's ticks at the K values run and its chance marks
(mmar.plots), Table 1's figure with rows shifted apart and a caption that counts its panels, and the ablation
figure's caption naming the tables drawn (mmar.report.figures)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import LineCollection

from mmar import plots
from mmar.report import figures
from mmar.report.compare import SideTable, all_tables
from mmar.report.paper import load_paper_results
from mmar.report.rundata import load_run
from mmar.results import ANET_TEXT_STANDIN_VIDEO, STANDIN, ResultRow, write_results

ROWS = ("Paired: joint", "Paired: joint + recons", "Paired: recons + cross (Ngiam-style baseline)")


@pytest.fixture
def captured(monkeypatch) -> list[plt.Figure]:
    """The figures that :mod:`mmar.plots` and :mod:`mmar.report.figures` finish, kept open for inspection."""
    kept: list[plt.Figure] = []
    monkeypatch.setattr(plots, "_finish", lambda fig, path: kept.append(fig))
    monkeypatch.setattr(figures, "_render", lambda fig: kept.append(fig) or "data:image/png;base64,")
    yield kept
    for fig in kept:
        plt.close(fig)


def side_tables(run_dir: Path, tables: tuple[str, ...], sources: tuple[str, ...] = (STANDIN,)) -> dict[str, SideTable]:
    """The side-by-side tables of a run folder with a result row (two trials) for every paper cell of ``tables``
    on each of ``sources``; of Table 1 only the column "5 unseen" (a run at one K)."""
    paper = load_paper_results()
    cells = paper[paper["table"].isin(tables) & ((paper["table"] != "Table 1") | (paper["column"] == "5 unseen"))]
    rows = [ResultRow(experiment="zero_shot", metric="accuracy", values=[cell["value_f"] - 5, cell["value_f"] - 3],
                      data_source=source, profile="test", run_path=str(run_dir), paper_table=cell["table"],
                      paper_row=cell["row"], paper_column=cell["column"], unit="%", seeds=[0, 1])
            for source in sources for _, cell in cells.iterrows()]
    write_results(rows, run_dir / "results" / "results.csv")
    return {t.name: t for t in all_tables(paper, load_run(run_dir).results)}


# -- notebook 06's zero-shot figure ------------------------------------------------------------------
@pytest.mark.parametrize("ks", [[5], [5, 10, 20]])
def test_zero_shot_figure_ticks_at_the_ks_and_marks_chance_at_each(ks: list[int], cell_result, captured,
                                                                 tmp_path: Path) -> None:
    results = [cell_result(row, k, trial, 30.0 + trial) for row in ROWS for k in ks for trial in (0, 1)]
    plots.zero_shot_curves(results, ks, 2, "stand-in", tmp_path / "z.png")
    ax = captured[0].axes[0]
    assert list(ax.get_xticks()) == ks and [t.get_text() for t in ax.get_xticklabels()] == [str(k) for k in ks]
    assert len(ax.xaxis.get_minorticklocs()) == 0  # no "4.5×10⁰"-style minor labels
    chance, = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_label() == "chance (100/K)"]
    segments = chance.get_segments()
    assert len(segments) == len(ks)
    low, high = ax.get_xlim()
    for k, ((x0, y0), (x1, y1)) in zip(ks, segments):
        assert y0 == y1 == pytest.approx(100 / k) and low <= x0 < k < x1 <= high  # a visible segment around K
    points = np.array([c.lines[0].get_xdata() for c in ax.containers], dtype=float)  # (rows, Ks): each row's x positions
    assert all(len(set(column)) == len(ROWS) for column in points.T)  # rows shifted apart at every K
    assert np.exp(np.log(points).mean(axis=0)) == pytest.approx(ks)  # ... around K
    assert ax.get_ylim()[0] < 100 / ks[-1] < ax.get_ylim()[1]


# -- the book's Table 1 figure -----------------------------------------------------------------------
@pytest.mark.parametrize("sources", [(STANDIN,), (STANDIN, ANET_TEXT_STANDIN_VIDEO)])
def test_table1_figure_shifts_rows_apart_and_its_caption_counts_its_panels(sources: tuple[str, ...], captured,
                                                                          tmp_path: Path) -> None:
    table = side_tables(tmp_path, ("Table 1",), sources)["Table 1"]
    figure = figures.accuracy_vs_unseen(table)
    axes = captured[0].axes
    assert len(axes) == len(sources)
    assert ("(one panel each)" in figure.caption) == (len(sources) > 1)
    for ax in axes:
        ours = [c.lines[0].get_xdata()[0] for c in ax.containers]  # each drawn row's x at K = 5
        assert len(set(ours)) == len(ours) == len(table.rows) and min(ours) < 5 < max(ours)
        assert list(ax.get_xticks()) == [5, 10, 20, 50] and len(ax.xaxis.get_minorticklocs()) == 0


# -- the book's ablation figure ----------------------------------------------------------------------
def test_tables_text_names_each_table() -> None:
    assert figures.tables_text(["Table 6"]) == "Table 6"
    assert figures.tables_text(["Table 6", "Table 8"]) == "Tables 6 and 8"
    assert figures.tables_text(["Table 6", "Table 7", "Table 8"]) == "Tables 6, 7 and 8"


@pytest.mark.parametrize("tables, named", [(("Table 6",), "(Table 6)"), (("Table 6", "Table 8"), "(Tables 6 and 8)")])
def test_ablation_caption_names_only_the_tables_drawn(tables: tuple[str, ...], named: str, captured,
                                                      tmp_path: Path) -> None:
    figure = figures.ablation_curves(side_tables(tmp_path, tables))
    assert [ax.get_title().split(":")[0] for ax in captured[0].axes] == list(tables)
    assert named in figure.caption and "6-8" not in figure.caption
    assert ("row labels of the paper" in figure.caption) == ("Table 8" in tables)  # the note on Tables 7-8's amounts

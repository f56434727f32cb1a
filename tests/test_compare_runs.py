"""benchmarks/compare_runs.py: paired per-trial differences and cell deviations, on hand-made run folders."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from conftest import benchmark_module
from mmar.tolerances import notebook_names


@pytest.fixture(scope="module")
def compare():
    return benchmark_module("compare_runs")


def _results(run: Path, values: list[float], seeds: list[int] | None = None) -> None:
    (run / "results").mkdir(parents=True)
    row = {"experiment": "zero_shot", "paper_table": "Table 1", "paper_row": "Paired: joint", "paper_column": "5 unseen",
           "metric": "accuracy", "notes": "", "values": json.dumps(values),
           "seeds": json.dumps(seeds if seeds is not None else list(range(len(values))))}
    single = {**row, "metric": "n_rows", "values": ""}  # no per-trial values: left out
    pd.DataFrame([row, single]).to_csv(run / "results" / "06_evaluation.csv", index=False)


def test_paired_differences_are_trial_by_trial_with_a_t_interval(compare, tmp_path: Path) -> None:
    _results(tmp_path / "a", [20.0, 22.0, 24.0])
    _results(tmp_path / "b", [21.0, 24.0, 27.0])  # differences 1, 2, 3: mean 2, sd 1
    diffs = compare.paired_differences(tmp_path / "a", tmp_path / "b")
    assert len(diffs) == 1
    row = diffs.iloc[0]
    half = 4.302653 / 3**0.5  # t(0.975, 2 degrees of freedom) * sd / sqrt(n)
    assert row["mean_diff"] == pytest.approx(2.0)
    assert (row["low"], row["high"]) == pytest.approx((2.0 - half, 2.0 + half), abs=1e-5)
    assert row["largest_diff"] == 3.0 and row["reference"] == pytest.approx(22.0)


def test_trials_are_paired_by_seed_not_by_position(compare, tmp_path: Path) -> None:
    _results(tmp_path / "a", [20.0, 22.0, 24.0], seeds=[0, 1, 2])
    _results(tmp_path / "b", [27.0, 21.0, 24.0, 99.0], seeds=[2, 0, 1, 3])  # trial 3 only in b: left out
    row = compare.paired_differences(tmp_path / "a", tmp_path / "b").iloc[0]
    assert row["trials"] == 3 and row["mean_diff"] == pytest.approx(2.0) and row["largest_diff"] == 3.0


def _notebooks(run: Path, printed: dict[str, str]) -> None:
    (run / "notebooks").mkdir(parents=True)
    for name in notebook_names():
        cell = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(x)", id=f"{name[:2]}-01")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed.get(name, "nothing 1.0\n"))]
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), run / "notebooks" / f"{name}.ipynb")


def test_cell_deviations_measure_numbers_and_refuse_changed_words(compare, tmp_path: Path) -> None:
    _notebooks(tmp_path / "a", {"06_evaluation": "accuracy 22.0 supported\n", "07_ablations": "gap 1.0\n"})
    _notebooks(tmp_path / "b", {"06_evaluation": "accuracy 23.5 supported\n", "07_ablations": "gap 1.0 wider\n",
                                "02_i3d_features": "nothing 1.1\n"})  # one unit of the last digit: allowed
    tolerances = {"cells": {"06_evaluation.ipynb::06-01": {"atol": 2.0}, "01_data.ipynb::01-01": {"atol": 0.5}}}
    cells = compare.cell_deviations(tmp_path / "a", tmp_path / "b", tolerances).set_index("cell")
    assert cells.loc["06_evaluation/06-01", "largest_deviation"] == pytest.approx(1.5)
    assert cells.loc["06_evaluation/06-01", "within"]
    assert cells.loc["07_ablations/07-01", "largest_deviation"] == float("inf")
    assert not cells.loc["07_ablations/07-01", "within"]
    assert cells.loc["02_i3d_features/02-01", "largest_deviation"] == pytest.approx(0.1)
    assert cells.loc["02_i3d_features/02-01", "within"]
    assert cells["within"].sum() == len(notebook_names()) - 1


def test_bad_run_folders_are_usage_errors_that_name_them(compare, tmp_path: Path, capsys) -> None:
    _notebooks(tmp_path / "a", {})
    _results(tmp_path / "a", [1.0, 2.0])
    with pytest.raises(SystemExit):
        compare.main([str(tmp_path / "a"), str(tmp_path / "b")])
    assert f"{tmp_path / 'a'} is not a finished run folder: it has no run.json" in capsys.readouterr().err
    (tmp_path / "a" / "run.json").write_text(json.dumps({"profile": "default"}))
    for name in ("b", "c"):
        _notebooks(tmp_path / name, {})
        _results(tmp_path / name, [1.0, 2.0])
    (tmp_path / "b" / "run.json").write_text(json.dumps({"profile": "smoke"}))
    with pytest.raises(SystemExit):
        compare.main([str(tmp_path / "a"), str(tmp_path / "b")])
    assert "compare runs of one profile" in capsys.readouterr().err
    (tmp_path / "c" / "run.json").write_text("{not json")
    with pytest.raises(SystemExit):
        compare.main([str(tmp_path / "a"), str(tmp_path / "c")])
    assert f"{tmp_path / 'c' / 'run.json'}: no readable 'profile'" in capsys.readouterr().err

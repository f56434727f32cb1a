"""benchmarks/bench_time_profile.py reads a run's own records: checked on a hand-made run folder."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from conftest import benchmark_module


@pytest.fixture(scope="module")
def profile():
    return benchmark_module("bench_time_profile")


def _run(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "timings.json").write_text(json.dumps({
        "01_data": {"seconds": 30.0, "peak_rss_mb": 100.0}, "06_evaluation": {"seconds": 90.0, "peak_rss_mb": 200.0},
        "profile": "not a notebook"}))
    cells = [{"cell_type": "code", "source": ["# NBVAL_CHECK_OUTPUT\n", "results = run()\n", "show(results)\n"],
              "metadata": {"papermill": {"duration": 80.0}}},
             {"cell_type": "code", "source": ["x = 1\n"], "metadata": {"papermill": {"duration": 2.0}}},
             {"cell_type": "markdown", "source": ["# title"], "metadata": {"papermill": {"duration": 50.0}}}]
    (tmp_path / "notebooks" / "06_evaluation.ipynb").write_text(json.dumps({"cells": cells}))
    for folder, seconds in ((tmp_path / "experiments" / "cells", (10.0, 1.0)),
                            (tmp_path / "sweep" / "nuisance_1" / "experiments" / "cells", (4.0, 0.5))):
        folder.mkdir(parents=True)
        for i in range(2):
            history = [{"epoch": 0, "phase": "init"}, {"epoch": 1, "phase": "main"}, {"epoch": 2, "phase": "main"}]
            (folder / f"{i}.json").write_text(json.dumps({"train_seconds": seconds[0], "eval_seconds": seconds[1],
                                                          "n_paired": 30, "n_unpaired": 10, "history": history}))
    (tmp_path / "run.json").write_text(json.dumps({"started_unix": time.time() - 60}))
    earlier = tmp_path / "experiments" / "cells" / "of_an_earlier_run.json"  # the cache outlives runs
    earlier.write_text(json.dumps({"train_seconds": 1000.0, "eval_seconds": 0.0, "n_paired": 1, "history": []}))
    os.utime(earlier, (time.time() - 3600,) * 2)
    return tmp_path


def test_time_profile_of_a_hand_made_run(profile, tmp_path: Path) -> None:
    run = _run(tmp_path)
    notebooks = profile.notebook_seconds(run)
    assert notebooks["notebook"].tolist() == ["01_data", "06_evaluation"]
    assert notebooks["share %"].tolist() == [25.0, 75.0]
    cells = profile.costliest_cells(run, per_notebook=1)  # markdown cells do not count; comments are skipped
    assert cells.to_dict("records") == [{"notebook": "06_evaluation", "seconds": 80.0, "cell": "results = run() (+1 lines)"}]
    grids = profile.grid_seconds(run).set_index("grid")
    assert grids.loc["06/07", "cells"] == 2 and grids.loc["06/07", "train CPU-s"] == 20.0  # not the earlier run's
    assert grids.loc["sweep/nuisance_1", "eval CPU-s"] == 1.0
    assert grids.loc["06/07", "pair-epochs"] == 2 * 40 * 2  # two cells, 40 rows, two epochs (init is none)
    assert grids.loc["sweep/nuisance_1", "pair-epochs per train CPU-s"] == 160 / 8.0


def test_the_processor_comes_from_the_run_record(profile, tmp_path: Path) -> None:
    """The processor run.json records; "not recorded" without it; a broken run.json is named."""
    assert profile.run_processor(tmp_path) == "not recorded"
    (tmp_path / "run.json").write_text(json.dumps({"profile": "default"}))
    assert profile.run_processor(tmp_path) == "not recorded"
    (tmp_path / "run.json").write_text(json.dumps({"cpu": "Example Xeon (avx2)"}))
    assert profile.run_processor(tmp_path) == "Example Xeon (avx2)"
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(SystemExit, match="run.json: not valid JSON"):
        profile.run_processor(tmp_path)

"""Results regression: the smoke run's key metrics equal the committed ones (tests/expected/smoke_metrics.json)
within their measured tolerances (tests/expected/tolerances.json). That the check bites is shown by the
mutation suite (tests/test_mutants.py).

Regenerate the expected values after an intended change with ``python -m mmar expected --update`` (or
``make expected``) and review the printed diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmar.paths import shared_data_dir
from mmar.regression import (EXPECTED_FILE, REAL_ANNOTATION_SOURCES, SMOKE_RUN, Difference, check_run, compare,
                             key_metrics, load_expected)


def _without_real_data() -> tuple[str, ...]:
    """Data sources to leave out where the real annotations are absent (their rows are not made there)."""
    return () if shared_data_dir() is not None else REAL_ANNOTATION_SOURCES


def _report(differences: list[Difference]) -> str:
    return (f"{len(differences)} differences from {EXPECTED_FILE} (if intended: python -m mmar expected --update):\n"
            + "\n".join(map(str, differences[:40])))


def test_smoke_run_matches_the_expected_metrics() -> None:
    if not (SMOKE_RUN / "results").is_dir():
        why = f"no smoke run at {SMOKE_RUN}: `make test` makes it (pytest --nbval notebooks) before the unit tests"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):  # CI runs `make test`, which makes the run first
            pytest.fail(why)
        pytest.skip(why)
    differences = check_run(SMOKE_RUN, exclude_sources=_without_real_data())
    assert not differences, _report(differences)
    assert len(load_expected()["metrics"]) > 100  # the file covers every notebook's results


def test_compare_by_hand() -> None:
    # Family "f | e | a" has a measured tolerance of 0.01; "f | e | b" none (the floor: 1e-5 of the value).
    tolerances = {"metrics": {"f | e | a": {"atol": 0.01}}}
    expected = {"f | e | a | 1": {"mean": 100.0, "n_trials": 2}, "f | e | b": {"mean": 0.0, "n_trials": 1},
                "f | e | b | 2": {"mean": 5.0, "n_trials": 1}}
    same = {"f | e | a | 1": {"mean": 100.0 + 0.9e-2, "n_trials": 2}, "f | e | b": {"mean": 0.0, "n_trials": 1},
            "f | e | b | 2": {"mean": 5.0 + 4e-5, "n_trials": 1}}
    assert compare(expected, same, tolerances=tolerances) == []
    changed = {"f | e | a | 1": {"mean": 100.0 + 1.1e-2, "n_trials": 2}, "f | e | b": {"mean": 1e-9, "n_trials": 1},
               "f | e | d": {"mean": 1.0, "n_trials": 1}}
    found = {(d.key, d.kind) for d in compare(expected, changed, tolerances=tolerances)}
    assert found == {("f | e | a | 1", "changed"), ("f | e | b", "changed"), ("f | e | b | 2", "missing"),
                     ("f | e | d", "added")}
    nan = {**same, "f | e | b | 2": {"mean": float("nan"), "n_trials": 1}}
    assert [d.key for d in compare(expected, nan, tolerances=tolerances)] == ["f | e | b | 2"]   # NaN never passes
    trials = {**same, "f | e | a | 1": {"mean": 100.0, "n_trials": 3}}
    assert [d.key for d in compare(expected, trials, tolerances=tolerances)] == ["f | e | a | 1"]


def test_keys_are_unique_and_stable(tmp_path: Path) -> None:
    import pandas as pd

    (tmp_path / "results").mkdir()
    rows = [{"experiment": "zero_shot", "metric": "accuracy", "paper_table": "", "paper_row": "", "paper_column": "",
             "data_source": "stand-in", "notes": "same note", "mean": m, "n_trials": 1} for m in (10.0, 20.0)]
    pd.DataFrame(rows).to_csv(tmp_path / "results" / "06_evaluation.csv", index=False)
    pd.DataFrame([{"experiment": "not_run", "reason": "x"}]).to_csv(tmp_path / "results" / "not_run.csv", index=False)
    metrics = key_metrics(tmp_path)
    assert list(metrics) == ["06_evaluation | zero_shot | accuracy |  |  |  | stand-in | same note",
                             "06_evaluation | zero_shot | accuracy |  |  |  | stand-in | same note #2"]
    assert [m["mean"] for m in metrics.values()] == [10.0, 20.0]

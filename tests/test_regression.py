"""Results regression: the smoke run's key metrics equal the committed ones (tests/expected/smoke_metrics.json),
and the check bites: a small behaviour change on a copy of the package makes it fail.

Regenerate the expected values after an intended change with ``python -m mmar expected --update`` (or
``make expected``) and review the printed diff.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mmar.paths import shared_data_dir
from mmar.regression import (EXPECTED_FILE, REAL_ANNOTATION_SOURCES, SMOKE_RUN, Difference, check_run, compare,
                             key_metrics, load_expected, mutated_copy, run_notebooks)

#: Behaviour changes a reader would not see in any output but the numbers: (file under mmar/, regex, replacement).
CYCLE_WEIGHT_HALVED = ("training/config.py", r"lambda_cycle: float = 1\.0\b", "lambda_cycle: float = 0.5")


def _without_real_data() -> tuple[str, ...]:
    """Data sources to leave out where the real annotations are absent (their rows are not made there)."""
    return () if shared_data_dir() is not None else REAL_ANNOTATION_SOURCES


def _report(differences: list[Difference]) -> str:
    return (f"{len(differences)} differences from {EXPECTED_FILE} (if intended: python -m mmar expected --update):\n"
            + "\n".join(map(str, differences[:40])))


def test_smoke_run_matches_the_expected_metrics() -> None:
    if not (SMOKE_RUN / "results").is_dir():
        pytest.skip(f"no smoke run at {SMOKE_RUN}: `make test` makes it (pytest --nbval notebooks) before the unit tests")
    differences = check_run(SMOKE_RUN, exclude_sources=_without_real_data())
    assert not differences, _report(differences)
    assert len(load_expected()["metrics"]) > 100  # the file covers every notebook's results


def test_compare_by_hand() -> None:
    expected = {"a": {"mean": 100.0, "n_trials": 2}, "b": {"mean": 0.0, "n_trials": 1},
                "c": {"mean": 5.0, "n_trials": 1}}
    same = {"a": {"mean": 100.0 + 0.9e-2, "n_trials": 2}, "b": {"mean": 0.9e-6, "n_trials": 1},
            "c": {"mean": 5.0, "n_trials": 1}}
    assert compare(expected, same, rtol=1e-4, atol=1e-6) == []          # within atol + rtol·|expected|
    changed = {"a": {"mean": 100.0 + 1.1e-2, "n_trials": 2}, "b": {"mean": 0.0, "n_trials": 3},
               "d": {"mean": 1.0, "n_trials": 1}}
    found = {(d.key, d.kind) for d in compare(expected, changed, rtol=1e-4, atol=1e-6)}
    assert found == {("a", "changed"), ("b", "changed"), ("c", "missing"), ("d", "added")}
    nan = {**same, "c": {"mean": float("nan"), "n_trials": 1}}
    assert [d.key for d in compare(expected, nan)] == ["c"]             # NaN never passes


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


def test_a_changed_loss_weight_fails_the_check(tmp_path: Path) -> None:
    """Halve the default cycle-loss weight in a copy of the package, run notebooks 01 and 05 on it at their
    smoke defaults: 05's numbers must differ from the expected ones, while 01's (which do not train) match,
    which shows that the copy itself reproduces the expected values."""
    if not EXPECTED_FILE.is_file():
        pytest.fail(f"{EXPECTED_FILE} is missing: make it with `python -m mmar expected --update`")
    start = time.perf_counter()
    project = mutated_copy(tmp_path / "project", [CYCLE_WEIGHT_HALVED])
    run = run_notebooks(project, ["01_data", "05_joint_training"])
    exclude = _without_real_data()
    unchanged = check_run(run, files=["01_data"], exclude_sources=exclude)
    assert not unchanged, "the copy does not reproduce 01's expected values: " + _report(unchanged)
    changed = check_run(run, files=["05_joint_training"], exclude_sources=exclude)
    assert any(d.kind == "changed" and "final_cycle" in d.key for d in changed), _report(changed)
    print(f"bite test: {len(changed)} of 05's metrics changed by lambda_cycle 1.0 -> 0.5 "
          f"({time.perf_counter() - start:.0f} s)")

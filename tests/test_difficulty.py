"""The difficulty sweep's statistics (mmar.studies.difficulty) on hand-made cell records."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import make_cell_result
from mmar.experiments.records import CellFailure, CellResult
from mmar.provenance import Run
from mmar.studies import difficulty as df


def _records(accuracies: dict[str, list[float]], k: int = 5) -> list[CellResult]:
    return [make_cell_result(row, k, t, a) for row, values in accuracies.items() for t, a in enumerate(values)]


def test_claim_differences_pair_by_trial_and_compute_the_t_interval() -> None:
    joint, fixed = [60.0, 50, 70, 65, 55], [40.0, 45, 50, 50, 45]
    records = _records({df.JOINT: joint, df.FIXED: fixed, df.ALL_PAIRED: [50.0] * 5, df.JOINT_RECONS: [50.0, 51, 49, 50, 50],
                        df.RECONS_CROSS: [20.0, 22, 18, 21, 19]})
    records.append(CellFailure(key="x", row=df.JOINT, experiment="table1", k=5, trial=9, error="boom"))  # pairs with nothing
    table = df.claim_differences(records, 5, nuisance=1.0, raw=30.0)
    assert list(table.columns) == list(df.SWEEP_COLUMNS)
    table = table.set_index("claim")
    # differences 20, 5, 20, 15, 10 by hand: mean 14, s = sqrt(170 / 4) = 6.5192, t(0.975, 4) = 2.776445 (tables),
    # half-width 2.776445 * 6.5192 / sqrt(5) = 8.0946
    assert table.at["joint", "per trial"] == [20.0, 5.0, 20.0, 15.0, 10.0] and table.at["joint", "trials"] == 5
    assert table.at["joint", "mean difference"] == pytest.approx(14.0)
    assert (table.at["joint", "low"], table.at["joint", "high"]) == pytest.approx((5.9054, 22.0946), abs=1e-4)
    assert table.at["joint", "verdict"] == "supported"
    assert table.at["cross_cycle", "verdict"] == "inconclusive"  # differences 0, -1, 1, 0, 0
    # recons + cross minus chance (20): 0, 2, -2, 1, -1; near chance = below 10 % of the way to 100 (8 points)
    assert table.at["no_joint", "mean difference"] == pytest.approx(0.0) and table.at["no_joint", "verdict"] == "supported"


def test_verdicts_contradicted_and_too_few_trials() -> None:
    records = _records({df.JOINT: [30.0, 31, 29, 30, 30], df.FIXED: [40.0, 41, 39, 42, 40], df.ALL_PAIRED: [50.0] * 3,
                        df.JOINT_RECONS: [50.0] * 3, df.RECONS_CROSS: [60.0, 58, 62, 61, 59]})
    table = df.claim_differences(records, 5, nuisance=0.5, raw=70.0).set_index("claim")
    assert table.at["joint", "verdict"] == "contradicted"
    assert table.at["cross_cycle", "verdict"] == "too few trials"
    assert table.at["no_joint", "verdict"] == "contradicted"  # 40 points above chance


def test_verdict_sentences_say_whether_a_verdict_depends_on_the_data() -> None:
    rows = []
    for nuisance, verdicts in ((1.0, ("supported", "inconclusive", "supported")), (0.5, ("supported", "supported", "contradicted"))):
        for claim, verdict in zip(df.SWEEP_CLAIMS, verdicts):
            rows.append({"nuisance": nuisance, "raw k-means accuracy (%)": 30.0, "claim": claim.name, "difference": "",
                         "trials": 5, "mean difference": 1.0, "low": 0.0, "high": 2.0, "verdict": verdict,
                         "compared with": 0.0 if claim.baseline else 8.0, "per trial": []})
    joint, cross_cycle, no_joint = df.verdict_sentences(pd.DataFrame(rows))
    assert joint.endswith("the same verdict at every difficulty swept.")
    undecided = pd.DataFrame(rows).assign(verdict="inconclusive")
    assert all(s.endswith("undecided at every difficulty swept.") for s in df.verdict_sentences(undecided))
    assert "inconclusive at others" in cross_cycle and "supported at nuisance 0.5" in cross_cycle
    assert no_joint.endswith("the verdict flips with the difficulty: it depends on the data.")
    assert "supported at nuisance 1 (+1.0 points above chance; near chance: below +8.0)" in no_joint
    assert "supported at nuisance 1 (+1.0 points);" in joint


def test_sweep_settings_refuse_unknown_keys_and_the_rows_are_table1s() -> None:
    good = {"nuisance": [1, 0.5], "n_classes": 12, "videos_per_class": 8, "n_trials": 5, "max_train_rows": None}
    assert df.SweepSettings.from_parameters(good).nuisance == (1.0, 0.5)
    with pytest.raises(ValueError, match="difficulty_sweep needs exactly the keys"):
        df.SweepSettings.from_parameters({**good, "epochs": 3})
    assert [r.label for r in df.sweep_rows()] == [df.FIXED, df.JOINT, df.RECONS_CROSS, df.JOINT_RECONS, df.ALL_PAIRED]


def test_the_report_rebuilds_the_sweep_from_its_result_rows(tmp_path) -> None:
    """Written by notebook 07 (sweep_result_rows -> write_results), read back by the report: the same table."""
    from mmar.experiments import GridSettings, ResultContext
    from mmar.results import write_results

    parameters = {"nuisance": [1.0, 0.5], "n_classes": 12, "videos_per_class": 8, "n_trials": 5, "max_train_rows": 64}
    accuracies = {df.JOINT: [60.0, 50, 70, 65, 55], df.FIXED: [40.0, 45, 50, 50, 45], df.ALL_PAIRED: [52.0, 50, 55, 51, 50],
                  df.JOINT_RECONS: [50.0, 51, 49, 50, 50], df.RECONS_CROSS: [20.0, 22, 18, 21, 19]}
    table = pd.concat([df.claim_differences(_records(accuracies), 5, nuisance=n, raw=r) for n, r in ((1.0, 33.0), (0.5, 70.0))],
                      ignore_index=True)
    context = ResultContext(Run("smoke", tmp_path, 0, "stand-in"), GridSettings(), 5)
    written = write_results(df.sweep_result_rows(table, context, parameters, 5), tmp_path / "07_ablations.csv")
    assert len(written) == 2 * (1 + len(df.SWEEP_CLAIMS))
    rebuilt = df.table_from_result_rows(pd.read_csv(tmp_path / "07_ablations.csv"))
    key = ["nuisance", "claim"]
    expected, got = table.sort_values(key).reset_index(drop=True), rebuilt.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got.drop(columns="per trial"), expected.drop(columns="per trial"), check_dtype=False)
    assert df.sweep_result_rows(table.iloc[:0], context, None, 5) == []


def test_sweep_dataset_is_reused_only_when_it_is_the_one_asked_for(tmp_path) -> None:
    """A rerun (e.g. after an interruption) reuses a sweep dataset of the same knob, sizes and seed, and
    regenerates it when any of them changed."""
    import warnings

    from mmar.data.prepare import prepare_standin

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = prepare_standin(tmp_path / "base", n_classes=6, videos_per_class=3, feature_dim=16, unseen_ks=(2,),
                               n_trials=2, seed=4, progress=False)
        sweep = df.SweepSettings((0.5,), n_classes=6, videos_per_class=3, n_trials=2, max_train_rows=None)
        first = df.sweep_dataset(base, 0.5, sweep, 2, tmp_path / "sweep")
        stamp = (tmp_path / "sweep" / "dataset.json").stat().st_mtime_ns
        again = df.sweep_dataset(base, 0.5, sweep, 2, tmp_path / "sweep")
        assert (tmp_path / "sweep" / "dataset.json").stat().st_mtime_ns == stamp  # reused, not rewritten
        assert again.meta["standin"]["nuisance"] == 0.5 and again.meta["split_seed"] == 4
        assert again.splits == first.splits and len(again.classes) == 6
        other = df.sweep_dataset(base, 1.0, sweep, 2, tmp_path / "sweep")  # another knob value: regenerated
    assert other.meta["standin"]["nuisance"] == 1.0
    assert json.loads((tmp_path / "sweep" / "dataset.json").read_text())["standin"]["nuisance"] == 1.0  # rewritten

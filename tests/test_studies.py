"""The notebooks' package helpers (mmar.studies, mmar.plots, run_dir resolution) against hand-computed values."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from mmar import plots
from mmar.data.prepared import PreparedDataset
from mmar.experiments.records import CellFailure
from mmar.paths import PROJECT_ROOT, display_path, resolve_run_dir
from mmar.provenance import Run
from mmar.results import STANDIN
from mmar.studies import autoencoders as ae
from mmar.studies import grid_tables, i3d_sanity
from mmar.studies.dataset_stats import (class_structure, data_diagnostics, kinetics_overlap, kinetics_rows,
                                        pooled_video_features, splits_table, video_table)
from mmar.studies.display import number, table_text
from mmar.studies.joint_training import LambdaSearch, lambda_search_verdict
from mmar.studies.settings import SINGLE, checked_train, variant_configs
from mmar.studies.trial import capped, trial_rows
from mmar.training import TrainConfig


# -- settings ----------------------------------------------------------------------------------------
def test_variant_configs_apply_train_then_variant_then_fixed() -> None:
    configs = variant_configs({"epochs": 3, "lr": 0.1}, {"a": {}, "b": {"lr": 0.5, "kernel": "cauchy"}}, seed=7)
    assert configs["a"] == TrainConfig(epochs=3, lr=0.1, seed=7)
    assert configs["b"] == TrainConfig(epochs=3, lr=0.5, kernel="cauchy", seed=7)
    assert list(variant_configs({}, seed=1)) == [SINGLE]


def test_unknown_train_keys_are_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['epoch'\]; valid fields: .*epochs.*lambda_cycle"):
        checked_train({"epoch": 3})
    with pytest.raises(ValueError, match="'nope'"):
        variant_configs({}, {"a": {"nope": 1}})
    with pytest.raises(ValueError, match="set by the notebook itself"):
        variant_configs({"losses": ["joint"]}, losses=("recons_video",))
    with pytest.raises(TypeError, match="dict of TrainConfig overrides"):
        checked_train([("epochs", 3)])


# -- display -----------------------------------------------------------------------------------------
def test_numbers_print_at_four_significant_digits() -> None:
    assert number(1234.5678) == "1235" and number(0.000123456) == "0.0001235" and number(2.0) == "2"
    assert number(-1e-9 * 0) == "0" and number(float("nan")) == "nan" and number(7) == "7" and number("x") == "x"
    text = table_text(pd.DataFrame({"name": ["a"], "value": [1 / 3], "n": [4]}), index=False)
    assert "0.3333" in text and "0.33333" not in text and " 4" in text


# -- trial rows --------------------------------------------------------------------------------------
def test_capped_is_a_sorted_seeded_subset() -> None:
    rows = np.arange(100, 150)
    a, b = capped(rows, 10, seed=3), capped(rows, 10, seed=3)
    assert np.array_equal(a, b) and len(a) == 10 and np.all(np.diff(a) > 0) and set(a) <= set(rows)
    assert not np.array_equal(a, capped(rows, 10, seed=4))
    assert np.array_equal(capped(rows[::-1], None, 0), rows)


def test_trial_rows_keep_unseen_classes_out_of_training(tiny_prepared) -> None:
    rows = trial_rows(tiny_prepared, 2, 1, seed=0, max_train_rows=5, max_eval_rows=3)
    names = tiny_prepared.sentences["class_name"].to_numpy()
    assert rows.unseen_classes == ["class 2", "class 3"]
    assert len(rows.train) == 5 and not set(names[rows.train]) & set(rows.unseen_classes)
    assert set(tiny_prepared.sentences["subset"].to_numpy()[rows.train]) == {"train"}
    assert len(rows.val) == 3 and not set(names[rows.val]) & set(rows.unseen_classes)
    assert len(rows.unseen) == 3 and set(names[rows.unseen]) <= set(rows.unseen_classes)
    with pytest.raises(ValueError, match="no zero-shot split with unseen_k = 4"):
        trial_rows(tiny_prepared, 4, 0, seed=0, max_train_rows=None)
    with pytest.raises(ValueError, match="trial 1 out of range"):
        trial_rows(tiny_prepared, 3, 1, seed=0, max_train_rows=None)


def test_splits_table_counts(tiny_prepared) -> None:
    table = splits_table(tiny_prepared)
    assert list(table["unseen_k"]) == [2, 2, 3]
    first = table.iloc[0]
    # 6 classes x 4 videos (3 train, 1 val) x 2 sentences: 4 seen classes x 3 x 2 train sentences, 2 x 4 x 2 unseen
    assert first["train sentences (seen classes)"] == 24 and first["unseen sentences"] == 16


def test_pooled_video_features_are_each_videos_means_in_table_order(tiny_prepared) -> None:
    videos = video_table(tiny_prepared)
    pooled = pooled_video_features(tiny_prepared, videos)
    store = tiny_prepared.feature_store()
    assert pooled[1].shape == (24, 16) and pooled[3].shape == (24, 48)
    for row, video_id in enumerate(videos["video_id"]):
        x = store.read(video_id).astype(np.float64)
        middle = slice(len(x) // 3, -(-2 * len(x) // 3))  # the steps that touch [T/3, 2T/3): T = 7 -> steps 2-4
        np.testing.assert_allclose(pooled[1][row], x.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(pooled[3][row, 16:32], x[middle].mean(axis=0), rtol=1e-6)


def test_class_structure_and_diagnostics_refuse_pooled_features_of_other_videos(tiny_prepared) -> None:
    videos = video_table(tiny_prepared)
    pooled = pooled_video_features(tiny_prepared, videos.iloc[:10])
    with pytest.raises(ValueError, match=r"parts=1 with 24 rows.*got parts=1: 10 rows, parts=3: 10 rows"):
        class_structure(tiny_prepared, videos, pooled, glove=None)
    with pytest.raises(ValueError, match=r"parts=1 with 24 rows"):
        data_diagnostics(tiny_prepared, videos, {3: pooled[3]}, glove=None, real=None)


def test_kinetics_overlap_of_hand_picked_classes(tmp_path: Path) -> None:
    # Archery and Capoeira have a Kinetics-400 class of the same name, Ballet shares its word with "dancing ballet",
    # Sumo and Tug of war have no counterpart (tests/test_kinetics.py checks each on the real lists)
    classes = ["Archery", "Ballet", "Capoeira", "Sumo", "Tug of war"]
    splits = {2: [["Archery", "Sumo"], ["Sumo", "Tug of war"], ["Ballet", "Capoeira"]]}
    meta = {"data_source": STANDIN, "classes": classes, "unseen_pool": "all", "split_seed": 4}
    data = PreparedDataset(tmp_path, meta, pd.DataFrame(), np.array(["<pad>"]), np.zeros((1, 2), np.float32), splits)
    overlap = kinetics_overlap(data)
    assert overlap.counts == {"classes": 5, "same_name": 2, "counterpart": 3, "kinetics_disjoint": 2}
    assert overlap.matches["activitynet_class"].tolist() == classes
    assert overlap.per_trial["n_counterpart"].tolist() == [1, 0, 2]
    assert overlap.summary() == (
        "Kinetics-400 counterparts of this run's 5 class names: 2 of the same name, 3 with a counterpart (same name or "
        "half the words), 2 Kinetics-disjoint; unseen classes drawn from: all\n"
        "K=2: 1 of 2 unseen classes per trial have a counterpart (trials: 1, 0, 2)")
    rows = kinetics_rows(overlap, data, Run("smoke", tmp_path))
    assert {r.metric: list(r.values) for r in rows} == {
        "kinetics_same_name_classes": [2], "kinetics_counterpart_classes": [3], "kinetics_disjoint_classes": [2],
        "unseen_classes_with_kinetics_counterpart_k2": [1, 0, 2]}
    assert {(r.experiment, r.data_source, r.config["unseen_pool"], tuple(r.seeds)) for r in rows} == {
        ("kinetics_overlap", STANDIN, "all", (4,))}


# -- autoencoder baselines ---------------------------------------------------------------------------
class _FixedSource:
    """``videos(rows)`` of fixed sequences: row r is x[r] with its first lengths[r] steps valid."""

    def __init__(self, x: np.ndarray, lengths: list[int]) -> None:
        self.x, self.lengths = torch.tensor(x, dtype=torch.float32), lengths

    def videos(self, rows):
        rows = list(rows)
        mask = torch.zeros(len(rows), self.x.shape[1])
        for i, r in enumerate(rows):
            mask[i, : self.lengths[r]] = 1
        return self.x[rows] * mask[:, :, None], mask


def test_mean_feature_and_mean_baseline_match_numpy() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4, 3))
    lengths = [4, 1, 2, 3, 4]
    source = _FixedSource(x, lengths)
    valid = np.concatenate([x[r, :lengths[r]] for r in range(5)])          # (14, 3)
    mean = ae.mean_feature(source, np.arange(5))
    assert np.allclose(mean.numpy(), valid.mean(0), atol=1e-6)
    held_out = [1, 3]
    steps = np.concatenate([x[r, :lengths[r]] for r in held_out])
    expected = float(((steps - valid.mean(0)) ** 2).mean())
    assert ae.mean_baseline(source, np.array(held_out), mean) == pytest.approx(expected, rel=1e-5)


# -- I3D checks --------------------------------------------------------------------------------------
def _top(clip: str, classes: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"clip": clip, "rank": range(1, len(classes) + 1), "class": classes,
                         "logit": 1.0, "probability": 0.1, "frames": 8})


def test_i3d_checks_raise_on_failure() -> None:
    good = pd.concat([_top(i3d_sanity.BIKES, ["driving car", "riding a bike", "a", "b", "c"]),
                      _top(i3d_sanity.CRICKET, ["playing cricket", "x", "y", "z", "w"])])
    assert i3d_sanity.check_predictions(good) == ["cricket top-1 is 'playing cricket'",
                                                  "bikes: 'riding a bike' (rank 2), a two-wheeler riding class, in "
                                                  "the top 5"]
    assert len(i3d_sanity.check_predictions(good[good["clip"] == i3d_sanity.BIKES])) == 1
    with pytest.raises(i3d_sanity.I3DSanityError, match="top-1 is 'x'"):
        i3d_sanity.check_predictions(pd.concat([good[good["clip"] == i3d_sanity.BIKES],
                                                _top(i3d_sanity.CRICKET, ["x", "playing cricket"])]))
    with pytest.raises(i3d_sanity.I3DSanityError, match="no two-wheeler"):
        i3d_sanity.check_predictions(_top(i3d_sanity.BIKES, ["a", "b", "c", "d", "e", "riding a bike"]))


# -- grid checks -------------------------------------------------------------------------------------
def test_failed_cells_fail_unless_allowed(cell_result) -> None:
    results = [cell_result("full", 5, 0), CellFailure(key="f", row="full", experiment="table1", k=5, trial=1, error="boom")]
    with pytest.raises(grid_tables.FailedCells, match="1 of 2 grid cells failed(.|\n)*trial 1: boom"):
        grid_tables.check_failed_cells(results, allow_failures=False)
    assert grid_tables.check_failed_cells(results, allow_failures=True) == [results[1]]
    assert grid_tables.failure_report(results) == "FAILED: full, K = 5, trial 1: boom\n1 of 2 cells done, 1 failed"
    assert grid_tables.check_failed_cells(results[:1], allow_failures=False) == []
    assert grid_tables.failure_report(results[:1]) == "1 of 1 cells done, 0 failed"


def test_grid_runtime_keys_are_checked_when_the_settings_are_built() -> None:
    with pytest.raises(ValueError, match="grid_runtime has unknown keys \\['procs'\\]"):
        grid_tables.AblationSettings.from_profile("smoke", {"grid_runtime": {"procs": 2}})
    assert grid_tables.AblationSettings.from_profile("smoke", {"grid_runtime": {"processes": 2}}).grid_runtime["processes"] == 2


def test_ablation_families_refuse_unknown_tables() -> None:
    families = grid_tables.ablation_families(["Table 6"], {"n_filters": [1, 2]})
    assert list(families) == ["Table 6", "ours: n_filters"]
    assert [row.label for row in families["ours: n_filters"]] == ["n_filters = 1", "n_filters = 2"]
    with pytest.raises(ValueError, match="Table 9"):
        grid_tables.ablation_families(["Table 9"], {})


def test_ablations_not_run_lists_the_tables_left_out_and_the_failed_cells(tmp_path: Path) -> None:
    families = grid_tables.ablation_families(["Table 6"], {})
    rows = families["Table 6"]
    results = [CellFailure(key="f", row=rows[0].label, experiment="table6", k=5, trial=1, error="boom")]
    table = grid_tables.ablations_not_run(results, rows, ["Table 6"], tmp_path / "07_not_run.csv")
    assert list(table["paper_table"][:2]) == ["Table 7", "Table 8"]
    assert table["reason"].str.contains("paper_tables").sum() == 2
    assert table["reason"].str.contains("boom").sum() == 1 and len(table) == 3
    assert pd.read_csv(tmp_path / "07_not_run.csv").shape[0] == 3
    assert grid_tables.ablations_not_run([], rows, ["Table 6", "Table 7", "Table 8"]).empty


# -- figures -----------------------------------------------------------------------------------------
def test_figures_name_their_data_source(tmp_path: Path, monkeypatch, cell_result) -> None:
    titles = []
    original = plots._finish

    def capture(fig, path):
        titles.append(fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title())
        original(fig, path)

    monkeypatch.setattr(plots, "_finish", capture)
    history = pd.DataFrame({"epoch": [1, 2], "joint": [1.0, 0.5], "recons_video": [2.0, 1.0]})
    plots.loss_curves({"full": history}, "stand-in", tmp_path / "a.png")
    plots.reconstruction_curves({"g": SimpleNamespace(history=history)}, "recons_video", (1.5, "mean"), "stand-in",
                                tmp_path / "b.png")
    results = [cell_result("r", k) for k in (5, 10)]
    plots.zero_shot_curves(results, [5, 10], 1, "stand-in", tmp_path / "c.png")
    assert all("data source: stand-in" in t for t in titles) and len(titles) == 3
    assert all((tmp_path / f"{n}.png").stat().st_size > 1000 for n in "abc")


# -- paths -------------------------------------------------------------------------------------------
def test_run_dir_resolves_against_the_repository_whatever_the_cwd(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_run_dir("runs/x") == PROJECT_ROOT / "runs" / "x"
    assert resolve_run_dir(tmp_path / "y") == tmp_path / "y"
    assert display_path(PROJECT_ROOT / "runs" / "x" / "results.csv") == os.path.join("runs", "x", "results.csv")


def test_display_path_takes_the_first_root_that_holds_the_path(tmp_path: Path, monkeypatch) -> None:
    """With a temporary home holding a temporary project at ``home/work/proj``, each branch of the docstring:
    inside the project -> relative to it; beside it -> ``../``; elsewhere in the home -> ``~/``; outside
    both -> the absolute path; ``~`` and ``..`` in the input are expanded and resolved first."""
    import mmar.paths

    home = tmp_path.resolve() / "home"
    project = home / "work" / "proj"
    (project / "runs").mkdir(parents=True)
    monkeypatch.setattr(mmar.paths, "PROJECT_ROOT", project)
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    monkeypatch.setenv("HOME", str(home))  # what Path.expanduser reads
    assert display_path(project / "runs" / "x.csv") == "runs/x.csv"
    assert display_path(project) == "."
    assert display_path(home / "work" / "shared" / "data") == "../shared/data"
    assert display_path(project / ".." / "other") == "../other"
    assert display_path(home / "notes" / "a.txt") == "~/notes/a.txt"
    assert display_path("~/notes/a.txt") == "~/notes/a.txt"
    assert display_path(tmp_path / "elsewhere" / "f") == str(tmp_path.resolve() / "elsewhere" / "f")
    monkeypatch.chdir(project / "runs")
    assert display_path("x.csv") == "runs/x.csv"  # relative to the working folder, then shown from the root


def test_unseen_ks_to_run(tiny_prepared) -> None:
    assert grid_tables.unseen_ks_to_run(tiny_prepared, [2, 3, 5], 3) == [2, 3]
    with pytest.raises(ValueError, match="unseen_k = 5 must be one of the K values run"):
        grid_tables.unseen_ks_to_run(tiny_prepared, [2, 5], 5)


def test_evaluation_grid_refuses_unknown_table1_rows(tiny_prepared, tmp_path: Path) -> None:
    smoke = grid_tables.EvaluationSettings.from_profile("smoke", {"unseen_ks": [2], "unseen_k": 2, "train": {}})
    run = Run("test", tmp_path)
    with pytest.raises(ValueError, match="unknown rows \\['Paired: nonsense'\\]"):
        grid_tables.evaluation_grid(tiny_prepared, replace(smoke, table1_rows=["Paired: nonsense"]), run)
    grid = grid_tables.evaluation_grid(tiny_prepared, replace(smoke, table1_rows=["Paired: joint"], max_train_rows=8),
                                       run)
    assert grid.unseen_ks == [2] and [r.label for r in grid.table1_rows] == ["Paired: joint"] and len(grid.cells) == 1
    assert grid.settings.curves_for("Paired: joint") and grid.settings.max_train_rows == 8
    assert grid.settings.sentences_per_class == smoke.sentences_per_class  # every shared setting reaches the grid
    assert grid.summary() == "1 cells: 1 Table 1 rows x K in [2] x 1 trial(s)"


def test_ablation_grid_holds_its_families_rows_and_cells(tiny_prepared, tmp_path: Path) -> None:
    settings = grid_tables.AblationSettings.from_profile(
        "smoke", {"unseen_k": 2, "n_trials": 1, "paper_tables": ["Table 6"], "ablations": {"n_filters": [1, 2]},
                  "train": {}, "max_train_rows": 8})
    grid = grid_tables.ablation_grid(tiny_prepared, settings, Run("test", tmp_path))
    ours = [f"ours: {name}" for name in settings.ablations]  # the profile's ablations, n_filters merged in
    assert "ours: n_filters" in ours and list(grid.families) == ["Table 6", *ours]
    assert list(grid.family_group("ours")) == ours and list(grid.family_group("Table")) == ["Table 6"]
    assert len(grid.rows) == len(grid.cells) == len(grid.families["Table 6"]) + sum(map(len, settings.ablations.values()))
    assert grid.settings.table8_paired_fraction == settings.table8_paired_fraction
    distinct = len({c.key for c in grid.cells})
    assert grid.summary() == f"{len(grid.cells)} cells ({distinct} distinct trainings) at K = 2, 1 trial(s)"


def test_caption_floor_pairs_trials_and_decides_by_the_interval() -> None:
    from mmar import experiments as ex
    from mmar.results import ResultRow

    def row(variant: str, values: list[float], seeds: list[int], metric: str = "METEOR") -> ResultRow:
        return ResultRow("captioning", metric, values, "stand-in", "test", "runs/x", config={"variant": variant},
                         seeds=seeds)

    seeds = [0, 1, 2, 3, 4]
    floor = [10.0, 20.0, 30.0, 40.0, 50.0]                 # large spread across trials, removed by pairing
    rows = [row(ex.PRIOR_VARIANT, floor, seeds),
            row("Joint", [f + d for f, d in zip(floor, [1.0, 2.0, 1.0, 2.0, 1.5])], seeds),
            row("Joint · sentence read-out", [f + d for f, d in zip(floor, [1.0, -1.0, 2.0, -2.0, 0.5])], seeds),
            row("All (paired)", [f - 3.0 for f in floor], seeds),
            row("Fixed", [1.0, 2.0], [0, 1]),
            row("Joint", [5.0] * 5, seeds, metric="BLEU-1")]   # not a compared metric
    table = grid_tables.caption_floor(rows).set_index("model · read-out")
    assert list(table.index) == ["Joint", "Joint · sentence read-out", "All (paired)", "Fixed"]
    assert table.loc["Joint", "mean difference"] == pytest.approx(1.5)
    assert table.loc["Joint", "verdict"] == "above the prior"
    assert table.loc["Joint · sentence read-out", "verdict"] == "inconclusive"
    assert table.loc["All (paired)", "verdict"] == "below the prior"
    assert table.loc["Fixed", "verdict"] == "too few trials" and table.loc["Fixed", "trials"] == 2
    assert table.loc["Fixed", "mean difference"] == pytest.approx((1 - 10 + 2 - 20) / 2)


# -- notes the notebooks print -----------------------------------------------------------------------
def test_real_annotation_sentences_say_where_they_came_from(anet_dir: Path) -> None:
    from mmar.studies.dataset_stats import DataSettings, real_annotation_sentences

    settings = DataSettings.from_profile("smoke", {"annotations_dir": str(anet_dir), "compare_real": True})
    real = real_annotation_sentences(settings)
    assert real.note.startswith("real annotations from ") and len(real.sentences) > 10_000
    skipped = real_annotation_sentences(replace(settings, compare_real=False))
    assert skipped.sentences is None and "compare_real is False" in skipped.note


def test_clips_summary_names_each_clip_and_a_missing_one() -> None:
    frames = np.zeros((8, 224, 224, 3), np.float32)
    assert i3d_sanity.clips_summary({i3d_sanity.BIKES: frames}).splitlines() == [
        f"{i3d_sanity.BIKES}: frames 0-7 (8) of 224x224, one shot",
        "../shared is absent: the cricket clip is skipped (bikes.mp4 comes from PyPI and always runs)"]
    both = {i3d_sanity.BIKES: frames, i3d_sanity.CRICKET: frames[:4]}
    assert i3d_sanity.clips_summary(both).splitlines()[1] == f"{i3d_sanity.CRICKET}: frames 0-3 (4) of 224x224, one shot"
    assert len(i3d_sanity.clips_summary(both).splitlines()) == 2


def test_shot_starts_finds_the_cuts_of_a_clip_and_not_its_motion() -> None:
    """Two shots of slow drift (every frame changes a little), the second opening at frame 5 with other content;
    a third at frame 9. Motion within a shot is no cut, nor are repeated frames (each frame twice: the cuts move to
    10 and 18); a clip too short to have a median change has none. The summary numbers frames from the cut's first."""
    rng = np.random.default_rng(0)
    shots = [rng.uniform(-1, 1, (1, 16, 16, 3)) for _ in range(3)]
    drift = np.linspace(0, 0.05, 12)[:, None, None, None]
    frames = np.concatenate([shots[0] + drift[:5], shots[1] + drift[5:9], shots[2] + drift[9:]]).astype(np.float32)
    assert i3d_sanity.shot_starts(frames) == [5, 9]
    assert i3d_sanity.shot_starts(shots[0] + drift) == []
    assert i3d_sanity.shot_starts(frames[:2]) == []
    assert i3d_sanity.shot_starts(np.repeat(frames, 2, axis=0)) == [10, 18]
    assert i3d_sanity.clips_summary({i3d_sanity.BIKES: frames}, i3d_sanity.first_frames(12, 100)).splitlines()[0] == (
        f"{i3d_sanity.BIKES}: frames 100-111 (12) of 16x16, new shot(s) from frame 105, 109")
    assert i3d_sanity.first_frames(None, 100)[i3d_sanity.BIKES] == 0


def _print_calls(source: str) -> list[int]:
    """Line numbers of the calls to ``print`` in ``source``."""
    import ast

    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]


def test_studies_and_the_grid_print_nothing_themselves() -> None:
    """The notebooks print what the studies return; only the display module prints (its print_table)."""
    modules = [*(PROJECT_ROOT / "mmar" / "studies").glob("*.py"), *(PROJECT_ROOT / "mmar" / "experiments").glob("*.py")]
    printing = {m.name: _print_calls(m.read_text()) for m in modules if m.name != "display.py"}
    assert len(printing) > 10 and not {name: lines for name, lines in printing.items() if lines}
    assert _print_calls("def run(x):\n    print(x)\n    return x\n") == [2]  # the check sees a hidden print


def test_data_settings_mark_what_real_annotations_do_not_read() -> None:
    """With ActivityNet annotations, the stand-in's size settings are marked unused, and with given features also
    its video generator's; the stand-in's own printout is one plain line per setting."""
    from mmar.studies.dataset_stats import DataSettings

    lines = dict(line.split(" = ", 1) for line in str(DataSettings.from_profile(
        "activitynet-smoke", {"features": "/x.h5"})).splitlines())
    assert lines["videos_per_class"].endswith("# not used with data_source='activitynet'")
    assert lines["stride_frames"].endswith("# not used with data_source='activitynet'")
    assert lines["generator"].endswith("# not used: features are given")
    assert lines["max_videos_per_class"] == "6" and lines["features"] == "'/x.h5'"
    generated = dict(line.split(" = ", 1) for line in str(DataSettings.from_profile("activitynet-smoke", {})).splitlines())
    assert generated["generator"] == "'v2'"  # no features: the generator makes the video side
    standin = str(DataSettings.from_profile("smoke", {}))
    assert "#" not in standin and "stride_frames = 64" in standin.splitlines()


def _search(zero_shot: dict[float, list[float]], joint_last: float, recons_last: float) -> LambdaSearch:
    """A λ search of two epochs (0: before training, 1: last) per candidate and seed: validation accuracies
    ``zero_shot[candidate][seed]``; the joint term 2.0 -> ``joint_last`` and recons 100 -> ``recons_last`` for
    every candidate; the joint term's gradient share 0.9 at the largest candidate, 0.1 at the others."""
    rows = []
    for candidate, accuracies in zero_shot.items():
        for seed, accuracy in enumerate(accuracies):
            share = 0.9 if candidate == max(zero_shot) else 0.1
            rows += [{"lambda_joint": candidate, "seed": seed, "epoch": 0, "probe_zero_shot": 20.0,
                      "probe_val_joint": 2.0, "probe_val_recons": 100.0, "grad_share_joint": share},
                     {"lambda_joint": candidate, "seed": seed, "epoch": 1, "probe_zero_shot": accuracy,
                      "probe_val_joint": joint_last, "probe_val_recons": recons_last, "grad_share_joint": share}]
    return LambdaSearch(pd.DataFrame(rows), {"lambda_joint": 100.0}, {})


def test_the_lambda_search_verdict_says_what_the_choice_did() -> None:
    """Hand-made searches: overlapping 95 % intervals (t with 1 degree of freedom: each mean ± 12.7 points,
    [8.3, 33.7] and [18.3, 43.7]), a joint term driven to 1 % of its start and a reconstruction that fell by only
    0.5 %; then intervals apart (± 0.64), a joint term that rose by half; then one seed, and a tie."""
    text = lambda_search_verdict(_search({1.0: [20.0, 22.0], 100.0: [30.0, 32.0]}, 0.02, 99.5), 5)
    assert text == ("The search chose lambda_joint = 100 by validation zero-shot accuracy (1: 21.0 %, 100: 31.0 %; "
                    "chance 20 %, 2 seed(s)). The 95 % intervals over seeds overlap: the search could not tell the "
                    "candidates apart. At 100 the joint term has 90 % of the encoder gradient; the held-out joint term "
                    "ends at 1 % of its start, driven to nearly zero: without negatives, the cheapest way there is "
                    "embeddings that collapse together, whatever the classes. Held-out terms that did not train at 100 "
                    "(fell by less than 1 %): recons.")
    apart = lambda_search_verdict(_search({1.0: [20.0, 20.1], 100.0: [30.0, 30.1]}, 3.0, 90.0), 4)
    assert "(1: 20.1 %, 100: 30.1 %; chance 25 %, 2 seed(s)). The chosen value's 95 % interval over seeds lies apart" in apart
    assert "ends at 150 % of its start." in apart and "driven" not in apart and "did not train at 100 (fell by less than 1 %): joint." in apart
    one_seed = lambda_search_verdict(_search({1.0: [20.0], 100.0: [30.0]}, 1.0, 90.0), 5)
    assert "1 seed(s)). With one seed per candidate there is no interval" in one_seed
    tie = lambda_search_verdict(replace(_search({1.0: [25.0], 100.0: [25.0]}, 1.0, 90.0), chosen={"lambda_joint": 1.0}), 5)
    assert "(1: 25.0 %, 100: 25.0 %; chance 20 %, 1 seed(s)), tied with 100: the smallest of the tied candidates" in tie


@pytest.mark.usefixtures("bikes_video")
def test_the_default_bikes_cut_holds_one_cut_where_the_cyclist_shot_ends() -> None:
    """The real bikes.mp4 (from PyPI, cached by notebook 02) cut as the default profile cuts it, frames 104-183:
    one cut, at frame 137 (a cyclist before it, a street with a parked bicycle after it, as notebook 02's figure
    shows); what notebook 02 prints in a cell nbval does not compare (its cricket line needs ../shared)."""
    clips = i3d_sanity.sample_clips(80, 104)
    first = i3d_sanity.first_frames(80, 104)
    assert [first[i3d_sanity.BIKES] + i for i in i3d_sanity.shot_starts(clips[i3d_sanity.BIKES])] == [137]
    assert i3d_sanity.clips_summary(clips, first).splitlines()[0] == (
        "bikes.mp4: frames 104-183 (80) of 224x224, new shot(s) from frame 137")


def test_the_sanity_check_embeds_its_queries_as_the_grids_evaluate_them(tiny_prepared, tmp_path: Path,
                                                                         monkeypatch) -> None:
    """Notebook 05's zero-shot sanity check with segment queries cropped to 1 step: its queries are the segment
    rows of zero_shot_test, embedded as segments at that crop (as evaluate_model does)."""
    import mmar.studies.joint_training as jt
    from mmar.evaluation.zero_shot import zero_shot_test
    from mmar.training import TrainConfig, build_model

    data = tiny_prepared
    rows = trial_rows(data, 2, 0, seed=0, max_train_rows=None)
    settings = jt.JointSettings.from_profile("smoke", {"unseen_k": 2, "trial": 0, "sentences_per_class": 2,
                                                       "reference_videos_per_class": 2, "video_unit": "segment",
                                                       "eval_max_frames": 1})
    config = TrainConfig(embed_dim=8, hidden_dim=16)
    model, _ = build_model(config, data.feature_store().feature_dim, data.word_dim)
    calls = []
    real = jt.embed_rows

    def embed(model, data, rows, **kwargs):
        calls.append((np.asarray(rows), kwargs))
        return real(model, data, rows, **kwargs)

    monkeypatch.setattr(jt, "embed_rows", embed)
    jt.zero_shot_sanity({"full": jt.TrainResult(model, pd.DataFrame(), tmp_path, config)}, data, rows, settings)
    queries = zero_shot_test(data, rows.unseen_classes, sentences_per_class=2, seed=settings.seed,
                             reference_videos_per_class=2, video_unit="segment").video_rows
    np.testing.assert_array_equal(calls[0][0], queries)
    assert calls[0][1] == {"pairing": config.pairing, "max_frames": 1}


def test_the_discovery_baseline_pools_the_test_crop(tiny_prepared, tmp_path: Path, monkeypatch) -> None:
    """The raw-feature baseline of discovery pools each test video cropped as the models' inputs are."""
    import mmar.evaluation.discovery as discovery
    from mmar import experiments as ex
    from mmar.experiments.tables import baseline_discovery

    handed = []
    real = discovery.mean_pooled_rows

    def pooled(data, rows, pairing="video", max_frames=None):
        handed.append(max_frames)
        return real(data, rows, pairing, max_frames=max_frames)

    monkeypatch.setattr(discovery, "mean_pooled_rows", pooled)
    settings = ex.GridSettings(sentences_per_class=2, reference_videos_per_class=2, eval_max_frames=1)
    baseline_discovery(tiny_prepared, 2, 1, settings, tmp_path)
    assert handed == [1]

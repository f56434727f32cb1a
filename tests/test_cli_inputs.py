"""What the command line does with a user's inputs before anything runs: relative ``--set`` paths, misspelt and
bad ``--set`` values, the way on after a failure, the profiles' suggested overrides, and an interrupted or
partly failed ``python -m mmar extract``. No notebook runs here: the runner's child process is replaced where a
run gets that far."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmar import extract, runner
from mmar.cli import main as cli_main
from mmar.data.feature_store import FeatureStoreReader, FeatureStoreWriter
from mmar.paths import PROJECT_ROOT
from mmar.profiles import NOTEBOOKS, ProfileError, load_profiles, resolve_profile
from mmar.provenance import code_fingerprint
from mmar.runner import (PATH_SETTINGS, NotebookFailed, absolute_path_overrides, check_settings, notebook_overrides,
                         notebook_path, resumed_run, run_profile)
from mmar.studies import settings_classes
from mmar.training import TrainConfig
from mmar.video import VideoError


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """Replace the notebooks' child process: record (notebook, papermill parameters), report success."""
    calls: list[tuple[str, dict]] = []

    def child(notebook, run_dir, parameters, notebooks_dir, run_id):
        calls.append((notebook, parameters))
        return {"peak_rss_mb": 1.0}

    monkeypatch.setattr(runner, "run_child", child)
    return calls


def _store(path: Path) -> Path:
    """A one-video feature store, as ``python -m mmar extract --out path`` writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FeatureStoreWriter(path, extractor=extract.EXTRACTOR_NAME, fps=25.0, stride_frames=8, feature_dim=4) as store:
        store.write("v_1", np.zeros((3, 4), np.float32))
    return path


# ------------------------------------------------------------------ 1: relative paths are the user's
def test_path_settings_are_the_settings_whose_values_are_paths() -> None:
    every = {name for cls in settings_classes().values() for name in cls.names()}
    assert set(PATH_SETTINGS) <= every
    assert set(PATH_SETTINGS) == {"annotations_dir", "features", "glove", "standin_path", "video_dir", "features_out"}


def test_relative_path_values_are_made_absolute_from_the_current_folder(tmp_path: Path, monkeypatch) -> None:
    tmp_path = tmp_path.resolve()
    here = tmp_path / "work"
    overrides = ["annotations_dir=../shared/data/activitynet", "01.features=features/x.h5", "seed=3",
                 "features=/abs/y.h5", "glove=null", "video_dir=~/videos", "02.features_out=a b.h5",
                 "standin_path='x: y.h5'"]
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert absolute_path_overrides(overrides, cwd=here) == [
        f"annotations_dir={tmp_path}/shared/data/activitynet", f"01.features={here}/features/x.h5", "seed=3",
        "features=/abs/y.h5", "glove=null", f"video_dir={tmp_path}/home/videos", f"02.features_out={here}/a b.h5",
        f'standin_path="{here}/x: y.h5"']  # quoted where YAML would not read the path back as it is
    monkeypatch.chdir(here.parent)
    assert absolute_path_overrides(["features=x.h5"]) == [f"features={tmp_path}/x.h5"]


def test_extract_out_then_set_features_from_the_same_folder(tmp_path: Path, monkeypatch, children) -> None:
    """``extract ... --out features/x.h5`` then ``--set features=features/x.h5``: the notebook gets (and the run
    records) the absolute path of the store in the user's folder, not one under notebooks/."""
    tmp_path = tmp_path.resolve()
    _store(tmp_path / "features" / "x.h5")
    (tmp_path / "annotations").mkdir()
    for name in ("train_modified.json", "val_1.json", "activity_net.v1-3.min.json"):  # the files checked up front
        (tmp_path / "annotations" / name).write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert cli_main(["run", "--profile", "activitynet-smoke", "--only", "01", "--out", "run",
                     "--set", "features=features/x.h5", "--set", "annotations_dir=annotations"]) == 0
    [(notebook, parameters)] = children
    assert notebook == "01_data"
    assert parameters["overrides"] == {"features": str(tmp_path / "features" / "x.h5"),
                                       "annotations_dir": str(tmp_path / "annotations")}
    assert json.loads((tmp_path / "run" / "run.json").read_text())["overrides"] == [
        f"features={tmp_path}/features/x.h5", f"annotations_dir={tmp_path}/annotations"]


def test_a_missing_relative_path_fails_at_once_with_the_absolute_path(tmp_path: Path, monkeypatch, capsys,
                                                                      children) -> None:
    tmp_path = tmp_path.resolve()
    monkeypatch.chdir(tmp_path)
    assert cli_main(["run", "--profile", "smoke", "--only", "01", "--out", "run",
                     "--set", "annotations_dir=../no_such_folder"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: settings the notebooks would fail on (nothing was run):\n  01_data.annotations_dir: "
                          f"annotations_dir {tmp_path.parent}/no_such_folder is not a folder.")
    assert err.endswith(f"(relative paths given with --set are taken from the current folder, {tmp_path}: "
                        f"annotations_dir=../no_such_folder -> annotations_dir={tmp_path.parent}/no_such_folder)\n")
    assert children == [] and not (tmp_path / "run" / "run.json").exists()


def test_the_help_names_every_path_setting(capsys) -> None:
    with pytest.raises(SystemExit):
        cli_main(["run", "--help"])
    assert f"a relative path ({', '.join(PATH_SETTINGS)}) is taken from the current folder" in \
        " ".join(capsys.readouterr().out.split())


def test_a_resumed_run_pairs_each_given_path_with_its_own_absolute_form(tmp_path: Path, monkeypatch,
                                                                        children) -> None:
    """The run recorded glove before features; resumed with them in the other order, each given value is shown
    with its own absolute form, not with the recorded value in the same place."""
    tmp_path = tmp_path.resolve()
    store, glove = _store(tmp_path / "x.h5"), tmp_path / "g.txt"
    glove.write_text("a 1.0\n")
    run_dir = tmp_path / "run"
    run_profile("smoke", only="01", out=run_dir, overrides=[f"glove={glove}", f"features={store}"], build_report=False)
    store.unlink()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProfileError) as refused:
        run_profile("smoke", only="01", out=run_dir, overrides=["features=x.h5", "glove=g.txt"], build_report=False,
                    resume=True)
    assert str(refused.value).endswith(f"(relative paths given with --set are taken from the current folder, "
                                       f"{tmp_path}: features=x.h5 -> features={store}; glove=g.txt -> glove={glove})")


def test_a_run_recorded_with_relative_paths_resumes_with_the_paths_its_notebooks_read(tmp_path: Path, monkeypatch,
                                                                                      children) -> None:
    """Runs recorded before relative --set paths were made absolute hold them relative, as the notebooks read them:
    from notebooks/, where they run, and features_out from the repository root."""
    tmp_path = tmp_path.resolve()
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "01_data.ipynb").write_text("{}")  # never executed: the child process is replaced
    store = _store(notebooks / "x.h5")
    assert notebook_path("features", "x.h5", notebooks) == store
    assert notebook_path("features_out", "out/f.h5", notebooks) == PROJECT_ROOT / "out" / "f.h5"
    run_dir = tmp_path / "run"
    run_profile("smoke", only="01", out=run_dir, overrides=[f"features={store}"], build_report=False,
                notebooks_dir=notebooks)
    info = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**info, "overrides": ["features=x.h5"]}))  # as recorded then

    monkeypatch.chdir(notebooks)  # the same path, given relative from where the notebooks read it
    run_profile("smoke", only="01", out=run_dir, overrides=["features=x.h5"], build_report=False, resume=True,
                notebooks_dir=notebooks)
    assert children[-1][1]["overrides"] == {"features": "x.h5"}  # the run's own value, read as before

    monkeypatch.chdir(tmp_path)  # another path: refused, saying what the run's notebooks read
    with pytest.raises(ProfileError) as refused:
        run_profile("smoke", only="01", out=run_dir, overrides=["features=x.h5"], build_report=False, resume=True,
                    notebooks_dir=notebooks)
    assert str(refused.value) == (
        f"--resume: run {info['run_id']} was started with --set ['features=x.h5'], not ['features={tmp_path}/x.h5']; "
        f"it was recorded with relative paths, which its notebooks read as features=x.h5 -> features={store}; "
        "resume without --set (its own are taken), or drop --resume to start a new run with these values (a run's "
        "--set values cannot change)")
    assert len(children) == 2

    (run_dir / "run.json").write_text(json.dumps({"run_id": "old", "profile": "smoke", "code_fingerprint":
                                                  code_fingerprint(), "overrides": ["02.features_out=out/f.h5"]}))
    assert resumed_run(run_dir, "smoke", [f"02.features_out={PROJECT_ROOT}/out/f.h5"], notebooks)["run_id"] == "old"


# -------------------------------------------------------- 2: a wrong --set value needs a new run
def test_a_failure_says_a_wrong_set_value_needs_a_new_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(runner, "run_child", lambda *args: {"error": "01_data failed in cell 4: ValueError: boom"})
    run_dir = tmp_path / "run"
    with pytest.raises(NotebookFailed) as failure:
        run_profile("smoke", only="01", out=run_dir, overrides=["seed=2", "01.noise=0.5"], build_report=False)
    assert str(failure.value) == (
        "01_data failed in cell 4: ValueError: boom\n"
        f"(continue this run with: python -m mmar run --profile smoke --resume --out {run_dir}, once the cause is "
        "fixed.\nIf the cause is a --set value, --resume cannot change it (a run keeps its --set values): start a new "
        "run with the value fixed, without --resume (in the same --out, this run's outputs move to previous/; or give "
        "a new --out), e.g.\n"
        f"python -m mmar run --profile smoke --only 01 --out {run_dir} --set seed=2 --set 01.noise=0.5)")
    # without --set values, only the way on
    with pytest.raises(NotebookFailed) as failure:
        run_profile("smoke", only="01", out=run_dir, build_report=False)
    assert str(failure.value).endswith(f"(continue this run with: python -m mmar run --profile smoke --resume --out "
                                       f"{run_dir}, once the cause is fixed)")


def test_resume_with_other_set_values_points_to_a_new_run(tmp_path: Path, children) -> None:
    run_dir = tmp_path / "run"
    run_profile("smoke", only="01", out=run_dir, overrides=["noise=0.5"], build_report=False)
    with pytest.raises(ProfileError) as refused:
        run_profile("smoke", only="01", out=run_dir, overrides=["noise=0.7"], build_report=False, resume=True)
    assert str(refused.value).endswith("was started with --set ['noise=0.5'], not ['noise=0.7']; resume without --set "
                                       "(its own are taken), or drop --resume to start a new run with these values "
                                       "(a run's --set values cannot change)")


def test_the_new_run_command_quotes_for_the_shell() -> None:
    assert runner.new_run_command("smoke", None, "my runs/a", ["features=/x y/f.h5", "seed=1"], build_report=False) == (
        "python -m mmar run --profile smoke --out 'my runs/a' --no-report --set 'features=/x y/f.h5' --set seed=1")


# ------------------------------------------------------------------------ 3: misspelt setting names
def test_a_misspelt_setting_is_answered_with_the_closest_and_the_valid_names() -> None:
    data_names = ", ".join(sorted(settings_classes()["01_data"].names()))
    with pytest.raises(ProfileError) as refused:
        notebook_overrides(["01_data"], ["annotation_dir=x"])
    assert str(refused.value) == ("--set annotation_dir=x: no selected notebook has a setting 'annotation_dir' "
                                  "(did you mean 'annotations_dir'?); the selected notebooks' settings are "
                                  f"{data_names} (mmar/profiles.yaml)")
    with pytest.raises(ProfileError, match=r"setting 'feature' \(did you mean 'features'\?\); the selected"):
        notebook_overrides(list(NOTEBOOKS), ["feature=x.h5"])
    with pytest.raises(ProfileError) as refused:
        notebook_overrides(["01_data"], ["01.feature=x.h5"])
    assert str(refused.value) == ("--set 01.feature=x.h5: 01_data has no setting 'feature' (did you mean 'features'?); "
                                  f"its settings are {data_names} (mmar/profiles.yaml)")
    with pytest.raises(ProfileError, match="'annotations_dir'; it is a setting of 01_data, which --only did not "):
        notebook_overrides(["03_video_autoencoder"], ["annotations_dir=x"])


def test_a_setting_of_a_notebook_not_selected_says_so() -> None:
    with pytest.raises(ProfileError) as refused:
        notebook_overrides(["01_data", "02_i3d_features"], ["06_evaluation.n_trials=3"])
    assert str(refused.value) == ("--set 06_evaluation.n_trials=3: 06_evaluation is not selected by --only "
                                  "(selected: 01_data, 02_i3d_features)")
    evaluation_names = ", ".join(sorted(settings_classes()["06_evaluation"].names()))
    with pytest.raises(ProfileError) as refused:  # a name it does not have: that, whether selected or not
        notebook_overrides(["01_data"], ["06.n_trial=3"])
    assert str(refused.value) == ("--set 06.n_trial=3: 06_evaluation has no setting 'n_trial' (did you mean "
                                  f"'n_trials'?); its settings are {evaluation_names} (mmar/profiles.yaml)")


def test_the_command_line_refuses_a_misspelt_setting_before_running() -> None:
    done = subprocess.run([sys.executable, "-m", "mmar", "run", "--profile", "smoke", "--only", "01", "--out",
                           "/nonexistent/never-made", "--set", "annotation_dir=x"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("error: --set annotation_dir=x: no selected notebook has a setting 'annotation_dir' "
                                  "(did you mean 'annotations_dir'?); the selected notebooks' settings are "
                                  "annotations_dir, class_selection, ")


def test_the_quoted_override_is_the_one_the_user_wrote(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"^--set glove_file=g.txt: no selected notebook has a setting 'glove_file' "
                                           r"\(did you mean 'glove'\?\)"):
        run_profile("smoke", only="01", out=tmp_path / "run", overrides=["glove_file=g.txt"], build_report=False)


# ------------------------------------------------------------------ 4: bad values fail before any notebook
def _settings(profile: str, **overrides: dict) -> dict:
    classes = settings_classes()
    return {name: classes[name].from_profile(profile, overrides.get(name, {})) for name in classes}


def test_every_profile_passes_the_checks() -> None:
    for name in load_profiles():
        assert check_settings(_settings(name)) == [], name


def test_bad_choices_paths_and_train_keys_are_found_up_front(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()
    _store(tmp_path / "ok.h5")
    (tmp_path / "not_a_store.h5").write_text("hello")
    settings = _settings("smoke", **{
        "01_data": {"data_source": "activitynett", "generator": "v3", "class_selection": "rand",
                    "unseen_pool": "disjoint", "on_error": "halt", "features": str(tmp_path / "not_a_store.h5"),
                    "glove": str(tmp_path / "glove.txt"), "annotations_dir": str(tmp_path / "ok.h5")},
        "02_i3d_features": {"video_dir": str(tmp_path / "videos"), "features_out": str(tmp_path / "new" / "out.h5")},
        "05_joint_training": {"train": {"epoch": 3}},
        "03_video_autoencoder": {"variants": {"a": {"kernel": "cauhy"}}},
        "06_evaluation": {"grid_runtime": {"dispatch": "slrum"}},
        "07_ablations": {"difficulty_sweep": {"nuisanse": [1.0]}},  # merged into the profile's
    })
    problems = check_settings(settings)
    assert problems[:3] == [
        f"01_data.annotations_dir: annotations_dir {tmp_path}/ok.h5 is not a folder. Expected "
        + problems[0].split(" is not a folder. Expected ", 1)[1],
        f"01_data.features: {tmp_path}/not_a_store.h5: " + problems[1].split(".h5: ", 1)[1],  # FeatureStoreReader's
        f"01_data.glove: glove {tmp_path}/glove.txt is not a file"]
    assert problems[3:] == [
        "01_data.data_source: data_source must be one of ['activitynet', 'standin'], got 'activitynett' "
        "(did you mean 'activitynet'?)",
        "01_data.generator: generator must be one of ['v1', 'v2'], got 'v3'",
        "01_data.class_selection: class_selection must be one of ['first', 'random'], got 'rand' (did you mean 'random'?)",
        "01_data.unseen_pool: unseen_pool must be one of ['all', 'kinetics_disjoint'], got 'disjoint' "
        "(did you mean 'kinetics_disjoint'?)",
        "01_data.on_error: on_error must be one of ['skip', 'stop'], got 'halt'",
        f"02_i3d_features.video_dir: video source not found: {tmp_path}/videos (give a folder or a text file of paths)",
        "03_video_autoencoder.variants: TrainConfig.kernel must be one of ('gaussian', 'cauchy'), got 'cauhy'",
        "05_joint_training.train: unknown TrainConfig fields ['epoch']; valid fields: "
        + problems[10].split("valid fields: ", 1)[1],
        "06_evaluation.grid_runtime: dispatch must be one of ['auto', 'inline', 'processes', 'slurm', "
        "'submitit-local'], got 'slrum' (did you mean 'slurm'?)",
        "07_ablations.difficulty_sweep: difficulty_sweep needs exactly the keys ['max_train_rows', 'n_classes', "
        "'n_trials', 'nuisance', 'videos_per_class'], got ['max_train_rows', 'n_classes', 'n_trials', 'nuisance', "
        "'nuisanse', 'videos_per_class']"]
    assert "'epochs'" in problems[10]


def test_video_dir_without_features_is_noted_before_the_run(tmp_path: Path) -> None:
    """Notebook 02 extracting videos while notebook 01 prepares generated video: the run goes on, with a note
    that says how to train on the extracted features; with features given, or without 01, no note."""
    extracting = {"02_i3d_features": {"video_dir": str(tmp_path / "videos")}}
    notes = runner.settings_notes(_settings("activitynet", **extracting))
    assert notes == [f"02_i3d_features.video_dir is set ({tmp_path}/videos) but 01_data.features is not: notebook 02 "
                     "extracts real I3D features, and notebooks 03-07 train on the data notebook 01 prepared before it, "
                     "with generated video. To train on real features, extract first (python -m mmar extract "
                     "VIDEO_DIR --out FEATURES.h5), then run with --set features=FEATURES.h5."]
    assert runner.settings_notes(_settings("activitynet", **extracting, **{"01_data": {"features": "x.h5"}})) == []
    assert runner.settings_notes({k: v for k, v in _settings("activitynet", **extracting).items() if k != "01_data"}) == []
    assert runner.settings_notes(_settings("activitynet")) == []


def test_the_console_line_after_notebook_01_says_what_data_it_prepared(tmp_path: Path) -> None:
    assert runner.data_summary(tmp_path) == ""  # nothing prepared
    (tmp_path / "data").mkdir()
    meta = {"data_source": "unknown features", "data_source_reason": "the store records no extractor",
            "counts": {"videos_read": 14926, "videos": 60, "sentences": 200,
                       "train": {"videos": 50, "sentences": 170}, "val": {"videos": 10, "sentences": 30}},
            "selection": {"n_classes": 12, "max_videos_per_class": 6},
            "skipped_summary": "skipped 12 videos and 40 sentences (missing_features: 12 videos)"}
    (tmp_path / "data" / "dataset.json").write_text(json.dumps(meta))
    assert runner.data_summary(tmp_path) == (
        "data: unknown features (the store records no extractor); 60 videos (train 50 videos / 170 sentences, val 10 "
        "videos / 30 sentences) of the 14,926 annotated, selecting 12 classes and at most 6 videos per class; skipped "
        "12 videos and 40 sentences (missing_features: 12 videos)")


def test_settings_the_data_source_does_not_read_are_not_checked(tmp_path: Path) -> None:
    """With real annotations the stand-in-only settings (class_selection, ...) are not read, nor the generator
    when features are given (:class:`mmar.studies.dataset_stats.DataSettings` marks them unused)."""
    store = _store(tmp_path / "x.h5")
    unread = {"class_selection": "rand", "generator": "v3"}
    assert check_settings(_settings("activitynet-smoke", **{"01_data": {**unread, "features": str(store)}})) == []
    assert check_settings(_settings("activitynet-smoke", **{"01_data": unread})) == [
        "01_data.generator: generator must be one of ['v1', 'v2'], got 'v3'"]  # it generates the video then


def test_a_bad_value_stops_the_run_before_it_starts_and_keeps_the_previous_one(tmp_path: Path, children) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"run_id": "earlier", "profile": "smoke"}))
    with pytest.raises(ProfileError) as refused:
        run_profile("smoke", only="01,02", out=run_dir, overrides=["data_source=activitynett"], build_report=False)
    assert str(refused.value) == ("settings the notebooks would fail on (nothing was run):\n  01_data.data_source: "
                                  "data_source must be one of ['activitynet', 'standin'], got 'activitynett' "
                                  "(did you mean 'activitynet'?)")
    assert children == [] and json.loads((run_dir / "run.json").read_text())["run_id"] == "earlier"
    assert not (run_dir / "previous").exists()


def test_a_resumed_run_checks_its_own_set_values(tmp_path: Path, children) -> None:
    store = _store(tmp_path / "x.h5")
    run_dir = tmp_path / "run"
    run_profile("smoke", only="01", out=run_dir, overrides=[f"features={store}"], build_report=False)
    store.unlink()
    with pytest.raises(ProfileError, match=f"01_data.features: feature store not found: {store}"):
        run_profile("smoke", only="01", out=run_dir, build_report=False, resume=True)  # 01 again, in the run
    assert len(children) == 1


def test_values_of_the_wrong_kind_or_too_small_stop_the_run_with_the_setting_named(tmp_path: Path, children) -> None:
    """A typo in a number (``epochs=abc``) or a count below its least value (``n_trials=-1``) stops before any
    notebook, naming every bad value of the notebook (its settings) or of ``train`` (TrainConfig's)."""
    def refusal(*overrides: str) -> str:
        with pytest.raises(ProfileError) as refused:
            run_profile("smoke", out=tmp_path / "run", overrides=list(overrides), build_report=False)
        return str(refused.value)

    assert refusal("06.n_trials=-1", "06.meteor=yes please", "06.unseen_ks=[5, 1]") == (
        "06_evaluation.n_trials must be at least 1, got -1; 06_evaluation.unseen_ks must be at least 2 each, got "
        "[5, 1]; 06_evaluation.meteor must be true or false, got 'yes please' (str)")
    assert refusal("01.nuisance=strong") == "01_data.nuisance must be a number, got 'strong' (str)"
    assert refusal("02.max_frames=[8]") == "02_i3d_features.max_frames must be an integer or null, got [8] (list)"
    assert refusal("grid_runtime.processes=two") == ("06_evaluation.grid_runtime.processes must be an integer, got "
                                                     "'two' (str)")
    assert refusal("grid_runtime.procs=2").startswith("06_evaluation: grid_runtime has unknown keys ['procs']")
    assert refusal("06.train.epochs=abc", "05.train.batch_size=1", "07.train.losses=joint") == (
        "settings the notebooks would fail on (nothing was run):\n"
        "  05_joint_training.train: TrainConfig.batch_size must be at least 2, got 1\n"
        "  06_evaluation.train: TrainConfig.epochs must be an integer, got 'abc' (str)\n"
        "  07_ablations.train: TrainConfig.losses must be a list of strings, got 'joint' (str)")
    assert refusal("07.difficulty_sweep.n_trials=0").endswith("07_ablations.difficulty_sweep: difficulty_sweep.n_trials "
                                                               "must be at least 1, got 0")
    assert refusal("05.lambda_candidates={lambda_joint: [1, -10]}", "07.ablations.n_filtres=[1]") == (
        "settings the notebooks would fail on (nothing was run):\n"
        "  05_joint_training.lambda_candidates: TrainConfig.lambda_joint must be at least 0, got -10\n"
        "  07_ablations.ablations: unknown TrainConfig fields ['n_filtres']; valid fields: "
        + repr(sorted(f.name for f in dataclasses.fields(TrainConfig))))
    assert children == [] and not (tmp_path / "run" / "run.json").exists()
    # "selected" (notebook 05's choice of λ) is a value train may hold; 1e-3 is a number, as in Python
    run_profile("smoke", out=tmp_path / "run", overrides=["06.train.lr=1e-3"], build_report=False)
    assert [parameters["overrides"] for notebook, parameters in children if notebook == "06_evaluation"] == [
        {"train": {"lr": 0.001}}]


def test_field_types_are_read_from_the_hints() -> None:
    from typing import Any

    from mmar.typed_fields import describe, matches

    assert matches(3, int) and matches(np.int64(3), int) and not matches(True, int) and not matches(3.0, int)
    assert matches(3, float) and matches(np.float32(0.5), float) and not matches(False, float) and not matches("1", float)
    assert matches(None, int | None) and matches([1, 2], list[int]) and matches((1, 2), tuple[int, ...])
    assert not matches([1, "2"], list[int]) and not matches("ab", list[str]) and not matches({"a": 1}, list[str])
    assert matches({"a": [1.0]}, dict[str, list[float]]) and not matches({"a": 1.0}, dict[str, list[float]])
    assert matches(object(), Any) and matches({"x": object()}, dict[str, Any])
    assert describe(int | None) == "an integer or null" and describe(list[float]) == "a list of numbers"
    assert describe(dict[str, Any]) == "a mapping" and describe(bool) == "true or false"


# ------------------------------------------------------------- 5: overrides the profiles suggest
def test_the_suggested_grid_dispatch_reaches_both_grids() -> None:
    description = resolve_profile("activitynet-paper")["description"]
    suggested = description.split("`--set ", 1)[1].split("`", 1)[0].split(":", 1)[0]
    assert suggested == "grid_runtime.dispatch=slurm"
    per = notebook_overrides(list(NOTEBOOKS), [suggested])
    assert {n for n, values in per.items() if values} == {"06_evaluation", "07_ablations"}
    for name in load_profiles():
        text = resolve_profile(name)["description"]
        assert "06_evaluation.grid_runtime" not in text and "07_ablations.grid_runtime" not in text, name


# ------------------------------------------------------------------------------ 6: extract
@pytest.fixture
def fake_i3d(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Extraction without a network or decoding: every video gives two zero features; ``state["interrupt_at"]``
    (the n-th video, from 1) raises KeyboardInterrupt as Ctrl-C would, ``state["unreadable"]`` video ids raise
    VideoError."""
    state = {"calls": 0, "interrupt_at": None, "unreadable": set(), "current": None}
    monkeypatch.setattr(extract, "load_model", lambda config: None)

    def frames(path, preprocess):
        state["current"] = Path(path).stem
        return iter(())

    def features(model, frames, config):
        state["calls"] += 1
        if state["calls"] == state["interrupt_at"]:
            raise KeyboardInterrupt
        if state["current"] in state["unreadable"]:
            raise VideoError(f"{state['current']}.mp4: cannot open video")
        return np.zeros((2, extract.FEATURE_DIM), np.float32), 24

    monkeypatch.setattr(extract, "iter_frames", frames)
    monkeypatch.setattr(extract, "video_features", features)
    return state


def _videos(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"v_{i}.mp4").write_bytes(b"")
    return folder


def test_ctrl_c_keeps_the_finished_videos_and_the_same_command_continues(tmp_path: Path, capsys, fake_i3d) -> None:
    videos, out = _videos(tmp_path / "videos", 10), tmp_path / "x.h5"
    command = [str(videos), "--out", str(out), "--no-progress", "--prefetch-frames", "0"]
    fake_i3d["interrupt_at"] = 4
    assert extract.main(command) == 130
    captured = capsys.readouterr()
    assert captured.err.endswith(f"\ninterrupted; 3 videos kept (0 in {out}, 3 waiting in {out}.parts); rerun the "
                                 "same command to continue\n")
    assert "Traceback" not in captured.err and captured.out == ""
    assert extract.part_ids(extract.parts_dir_for(out)) == {"v_0", "v_1", "v_2"} and not out.exists()

    fake_i3d["interrupt_at"] = None
    assert extract.main(command) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(f"10 videos: 3 already done (3 of them left by an interrupted run), 7 extracted, 0 failed; "
                           f"10 merged into {out}, which now holds 10 videos, in ")
    assert sorted(FeatureStoreReader(out).ids()) == [f"v_{i}" for i in range(10)]
    assert fake_i3d["calls"] == 4 + 7  # the rerun extracted only the 7 videos not kept


def test_ctrl_c_after_the_merge_counts_the_videos_in_the_store(tmp_path: Path, capsys, monkeypatch,
                                                               fake_i3d) -> None:
    """Ctrl-C once the last merge has moved the parts into the store (and deleted them): they are kept there."""
    videos, out = _videos(tmp_path / "videos", 4), tmp_path / "x.h5"
    merge = extract.merge_parts
    calls = []

    def merge_then_interrupt(*args, **kwargs) -> int:
        calls.append(merge(*args, **kwargs))
        if len(calls) == 2:  # the merge after the extraction (the first one merges what an earlier run left)
            raise KeyboardInterrupt
        return calls[-1]

    monkeypatch.setattr(extract, "merge_parts", merge_then_interrupt)
    command = [str(videos), "--out", str(out), "--no-progress", "--prefetch-frames", "0"]
    assert extract.main(command) == 130
    assert calls == [0, 4]
    assert capsys.readouterr().err.endswith(f"\ninterrupted; 4 videos kept (4 in {out}, 0 waiting in {out}.parts); "
                                            "rerun the same command to continue\n")


def test_the_summary_counts_what_the_store_already_held(tmp_path: Path, capsys, fake_i3d) -> None:
    videos, out = _videos(tmp_path / "videos", 4), tmp_path / "x.h5"
    command = [str(videos), "--out", str(out), "--no-progress", "--prefetch-frames", "0"]
    assert extract.main(command) == 0
    _videos(tmp_path / "more", 2)
    for i in range(2):
        (tmp_path / "more" / f"v_{i}.mp4").rename(videos / f"w_{i}.mp4")
    assert extract.main(command) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"6 videos: 4 already done, 2 extracted, 0 failed; 2 merged into {out}, which now holds "
                           "6 videos, in ")


def test_exit_status_unreadable_videos_0_a_failed_shard_1(tmp_path: Path, capsys, monkeypatch, fake_i3d) -> None:
    """An unreadable video is listed and skipped (status 0, with --shards or without: the shard finishes); a shard
    that fails leaves videos untried (status 1; without --shards the in-process extraction is that shard)."""
    videos, out = _videos(tmp_path / "videos", 3), tmp_path / "x.h5"
    command = [str(videos), "--out", str(out), "--no-progress", "--prefetch-frames", "0"]
    fake_i3d["unreadable"] = {"v_1"}
    assert extract.main(command) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"3 videos: 0 already done, 2 extracted, 1 failed; 2 merged into {out}, which now "
                               "holds 2 videos, in ")
    assert lines[1] == f"failures listed in {out}.failures.tsv; the next run tries them again"

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(extract, "run_shard", broken)
    assert extract.main(command) == 1
    captured = capsys.readouterr()
    assert captured.err.endswith("0 shards ok, 1 failed; rerun the same command to retry\n")
    assert "shard 0 (job in-process) failed: RuntimeError: CUDA error: out of memory" in \
        (tmp_path / "x.h5.failures.tsv").read_text()


def test_extract_help_states_the_exit_statuses(capsys) -> None:
    with pytest.raises(SystemExit):
        extract.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "exit status: 0 when every video is in the store or could not be read" in text
    assert "1 when a shard failed" in text and "130 when interrupted" in text


def test_bench_names_its_benchmarks_for_help_and_refuses_an_unknown_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    assert "time_profile" in out and "training" in out and "bench NAME --help" in out
    assert cli_main(["bench"]) == 2 and "NAME one of" in capsys.readouterr().err
    assert cli_main(["bench", "nonesuch"]) == 2 and "no benchmark 'nonesuch'" in capsys.readouterr().err

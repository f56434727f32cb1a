"""The open-choices page (report/open_choices.yaml, mmar/report/choices.py) says what the run used and holds for
every profile of mmar/profiles.yaml: the run-derived text ({run:...}) against hand-made run folders, the YAML's
claims about the profiles against the profiles file, and, where a run folder is present, the page against the
profile it was made with.

The run folders here are test inputs only; their numbers never go into a real report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mmar.paths import PROJECT_ROOT
from mmar.profiles import load_profiles, notebook_settings, resolve_profile
from mmar.report.choices import (I3D_STRIDE_FRAMES, OPEN_CHOICES_FILE, RUN_TEXT, SELECTED, ablation_text, fill_why,
                                 load_choices, profiles_varying, recorded_values)
from mmar.report.rundata import RunData, load_run
from mmar.results import ANET_TEXT_STANDIN_VIDEO, STANDIN, ResultRow, write_results

PROFILES = list(load_profiles())
#: Our ablations of notebook 07 that the YAML's `why` texts talk about.
ABLATION_FIELDS = ("kernel", "embed_dim", "text_decoder_filters", "lambda_joint")


def settings(profile: str, notebook: str) -> dict:
    return notebook_settings(resolve_profile(profile), notebook)


def entries() -> dict[str, dict]:
    return {entry["topic"]: entry for entry in yaml.safe_load(OPEN_CHOICES_FILE.read_text())}


def why(choices, topic_start: str) -> str:
    found = [c.why for c in choices if c.topic.startswith(topic_start)]
    assert len(found) == 1, topic_start
    return " ".join(found[0].split())


# -- hand-made run folders ---------------------------------------------------------------------------------------
def _row(experiment: str, metric: str, values: list[float], config: dict, notes: str = "",
         source: str = STANDIN, paper_table: str = "") -> ResultRow:
    return ResultRow(experiment=experiment, metric=metric, values=values, data_source=source, profile="synthetic",
                     run_path="", config=config, notes=notes, paper_table=paper_table, seeds=list(range(len(values))))


def lambda_rows(chosen: float, joint_ratio: float, candidates=(1.0, 10.0, 100.0)) -> list[ResultRow]:
    """Notebook 05's λ search rows (as mmar.studies.joint_training.save_lambda_search writes them)."""
    rows = []
    for value in candidates:
        config = {"lambda_joint": value, "chosen": chosen, "max_train_rows": 100, "n_val_classes": 5,
                  "train": {"epochs": 3}}
        rows += [_row("lambda_search", "validation_zero_shot_accuracy", [20.0 + value / 50, 21.0], config),
                 _row("lambda_search", "heldout_joint_last_over_initial",
                      [joint_ratio if value == chosen else 0.5] * 2, config),
                 _row("lambda_search", "heldout_recons_last_over_initial", [0.999, 0.999], config)]
    return rows


def grid_row(experiment: str, data_mode: str, n_paired: int, n_unpaired: int, train: dict,
             paper_table: str = "") -> ResultRow:
    config = {"row": experiment, "k": 5, "data_mode": data_mode, "n_paired": [n_paired], "n_unpaired": [n_unpaired],
              "max_train_rows": n_paired + n_unpaired, "max_unpaired_rows": 32,
              "train": {"lambda_joint": 100.0, "unpaired_fraction": 0.0, **train}}
    return _row(experiment, "accuracy", [30.0, 31.0], config, paper_table=paper_table)


def make_run(run_dir: Path, *, ablations: dict[str, list] | None = None, chosen: float = 100.0,
             joint_ratio: float = 0.0023, stride: int = 64, source: str = STANDIN, timings: dict | None = None,
             with_07: bool = True) -> RunData:
    """A run folder with notebook 05's λ search and variants, 06's Table 1 rows (paired and paired + unpaired)
    and 07's Table 6 and our ablations (``ablations``: TrainConfig field -> values)."""
    results = {
        "05_joint_training": lambda_rows(chosen, joint_ratio) + [
            _row("joint_training_losses", "final_joint", [1.5], {"unpaired_fraction": 0.0}, "full; last epoch mean"),
            _row("joint_training_losses", "final_joint", [1.7], {"unpaired_fraction": 0.5},
                 "full+adv; last epoch mean")],
        "06_evaluation": [grid_row("zero_shot", "paired", 5000, 0, {}, "Table 1"),
                          grid_row("zero_shot", "paired+unpaired", 5000, 1500, {}, "Table 1")],
    }
    if with_07:
        results["07_ablations"] = [grid_row("ablation_pooling", "paired", 1000, 0, {"pooling": "max"}, "Table 6")] + [
            grid_row(f"ablation_{field}", "paired", 1000, 0, {field: value})
            for field, values in (ablations or {}).items() for value in values]
    for notebook, rows in results.items():
        write_results(rows, run_dir / "results" / f"{notebook}.csv")
    (run_dir / "run.json").write_text(json.dumps({"profile": "synthetic"}))
    (run_dir / "timings.json").write_text(json.dumps(timings or {}))
    (run_dir / "data").mkdir(parents=True, exist_ok=True)
    (run_dir / "data" / "dataset.json").write_text(json.dumps({"data_source": source, "stride_frames": stride,
                                                               "fps": 25.0, "classes": ["a", "b"]}))
    return load_run(run_dir)


# -- item 1: the λ search and the collapse -----------------------------------------------------------------------
def test_no_choice_claims_the_embedding_does_not_collapse(tmp_path: Path) -> None:
    """Summing alone does not prevent the collapse (a large λ1 brings it back), so no text may say it does."""
    for entry in entries().values():
        assert "does not collapse" not in " ".join(str(entry["why"]).split()), entry["topic"]
    text = why(load_choices(make_run(tmp_path)), "Reduction")
    assert "does not rule out the collapse" in text and "loss weights" in text


def test_the_lambda_search_text_reports_what_the_run_chose(tmp_path: Path) -> None:
    text = why(load_choices(make_run(tmp_path / "a", chosen=100.0, joint_ratio=0.0023)), "Loss weights")
    assert "This run's search chose lambda_joint = 100, the largest of its candidates (1, 10 and 100" in text
    assert "the held-out joint term ended at 0.23 % of its value before training" in text
    assert "reconstruction term at 99.9 % of its own" in text
    assert "driven to nearly zero" in text and "collapse" in text
    # a choice whose joint term still trains is not called a collapse
    text = why(load_choices(make_run(tmp_path / "b", chosen=1.0, joint_ratio=0.8)), "Loss weights")
    assert "This run's search chose lambda_joint = 1, the smallest of its candidates" in text
    assert "ended at 80 % of its value" in text and "driven to nearly zero" not in text


def test_the_yaml_writes_no_run_numbers_for_the_lambda_search() -> None:
    """The λ search's outcome comes from the run (a number written into the YAML would be wrong for other runs)."""
    text = " ".join(str(entries()["Loss weights λ1, λ2, λ3 (Eq. 6)"]["why"]).split())
    assert "{run:lambda_search}" in text and "{run:lambda_used}" in text
    assert not re.search(r"\d+(\.\d+)? ?%", text) and "100" not in text


def test_the_grids_lambda_says_whether_it_is_the_searchs_choice(tmp_path: Path) -> None:
    grid = {"06_evaluation": {"settings": {"train": {"lambda_joint": SELECTED}}},
            "07_ablations": {"settings": {"train": {"epochs": 1}}}}
    text = why(load_choices(make_run(tmp_path, timings=grid)), "Loss weights")
    assert f'06_evaluation trained with lambda_joint = 100 (its train setting says "{SELECTED}"' in text
    assert f'07_ablations trained with lambda_joint = 100 (its train setting is the TrainConfig default, not ' \
           f'"{SELECTED}"' in text
    from mmar.studies.settings import SELECTED as SETTINGS_SELECTED
    assert SELECTED == SETTINGS_SELECTED


def test_lambda_one_is_a_search_candidate_in_every_profile() -> None:
    """The YAML: "λ1 = 1 is one of the search's candidates in every profile"."""
    for profile in PROFILES:
        assert 1.0 in settings(profile, "05_joint_training")["lambda_candidates"]["lambda_joint"], profile


# -- item 2: the feature stride ----------------------------------------------------------------------------------
def test_the_feature_stride_is_the_runs(tmp_path: Path) -> None:
    text = why(load_choices(make_run(tmp_path / "a", stride=64)), "Video features")
    assert "same shape" not in text and "we follow it" not in text  # the old claim
    assert "This run (stand-in) has one feature per 64 frames, 8 times coarser than I3D's 8." in text
    assert "our choice, to keep the default dataset small" in text and "mmar.extract" in text
    text = why(load_choices(make_run(tmp_path / "b", stride=8, source=ANET_TEXT_STANDIN_VIDEO)), "Video features")
    assert f"This run ({ANET_TEXT_STANDIN_VIDEO}) has I3D's stride, one feature per 8 frames." in text


def test_the_strides_the_text_names_are_the_codes() -> None:
    """I3D (mmar.extract) and the generated video of anet-text runs: 8 frames; every stand-in profile: coarser."""
    from mmar.data.anet_standin import STRIDE_FRAMES
    from mmar.i3d import FEATURE_STRIDE
    assert I3D_STRIDE_FRAMES == FEATURE_STRIDE == STRIDE_FRAMES
    for profile in PROFILES:
        data = settings(profile, "01_data")
        if data["data_source"] == "standin":
            assert data["stride_frames"] > I3D_STRIDE_FRAMES, profile


# -- item 3: what notebook 07 varies -----------------------------------------------------------------------------
def profile_ablations(profile: str) -> dict:
    return settings(profile, "07_ablations").get("ablations") or {}


@pytest.mark.parametrize("profile", PROFILES)
def test_the_ablation_texts_follow_the_profiles_notebook_07(profile: str, tmp_path: Path) -> None:
    """A run with a profile's ablations: each ablation the YAML mentions is said to be varied exactly when that
    profile's 07 varies it, and otherwise the profiles that do are named."""
    ablations = profile_ablations(profile)
    choices = load_choices(make_run(tmp_path, ablations=ablations))
    texts = {"kernel": why(choices, "Temporal attention"), "embed_dim": why(choices, "Network widths"),
             "text_decoder_filters": why(choices, "Number of filters"), "lambda_joint": why(choices, "Loss weights")}
    for field, text in texts.items():
        if field in ablations:
            assert f"this run's notebook 07 varies it ({field} = " in text, (profile, field)
        else:
            assert "this run's notebook 07 does not vary it" in text, (profile, field)
            varying = [p for p in PROFILES if field in profile_ablations(p)]
            assert varying and all(p in text for p in varying), (profile, field)
        # the old texts said so whatever the run
        assert "varied in the ablations of 07" not in text and "an ablation of ours." not in text
        assert "among 07's ablations" not in text and "one of 07's ablations" not in text


def test_the_default_profile_does_not_vary_embed_dim_kernel_or_lambda() -> None:
    """The reader's case: the default run's 07 ran n_filters and text_decoder_filters only."""
    assert set(profile_ablations("default")) == {"n_filters", "text_decoder_filters"}
    assert profiles_varying("embed_dim") == [p for p in PROFILES if "embed_dim" in profile_ablations(p)]
    assert "paper" in profiles_varying("embed_dim") and "default" not in profiles_varying("embed_dim")


def test_a_run_without_notebook_07_says_so(tmp_path: Path) -> None:
    text = ablation_text(make_run(tmp_path, with_07=False), "embed_dim")
    assert text.startswith("this run has no results of notebook 07") and "paper" in text


def test_the_variants_the_yaml_names_are_in_every_profile() -> None:
    """The YAML: notebook 03 trains Cauchy beside the Gaussian, and N = 4 is notebook 04's second variant, in every
    profile."""
    for profile in PROFILES:
        variants03 = settings(profile, "03_video_autoencoder")["variants"].values()
        assert any(v.get("kernel") == "cauchy" for v in variants03), profile
        variants04 = settings(profile, "04_text_autoencoder")["variants"].values()
        assert any(v.get("text_decoder_filters") == 4 for v in variants04), profile


# -- item 4: where the unpaired rows come from -------------------------------------------------------------------
def test_each_notebooks_unpaired_rows_are_named(tmp_path: Path) -> None:
    run = make_run(tmp_path, ablations={"n_filters": [1, 4]})
    text = why(load_choices(run), "Amounts of unpaired data")
    for notebook in ("Notebook 05:", "Notebook 06:", "Notebook 07:"):
        assert notebook in text
    assert "seen classes' val videos and sentences with their pairing discarded" in text
    assert "train.unpaired_fraction is therefore 0" in text
    assert ("In this run: 05_joint_training: variant full+adv breaks the pairing of 50 % of its seen-class training "
            "rows (unpaired_fraction = 0.5). 06_evaluation: the Paired + Unpaired rows add 1500 seen-class val videos "
            "and sentences, pairing discarded, to 5000 paired training rows") in text
    assert "07_ablations: no unpaired rows." in text
    # the values column counts the Paired + Unpaired rows' unpaired rows; the grids' unpaired_fraction of 0 is no
    # longer shown unqualified (it read as "no unpaired data")
    choice = next(c for c in load_choices(run) if c.topic.startswith("Amounts of unpaired data"))
    shown = [value for _, value in choice.values]
    assert "n_unpaired = [1500] (zero_shot)" in shown
    assert "train.unpaired_fraction = 0.0" not in shown


def test_tables_7_and_8_unpaired_rows(tmp_path: Path) -> None:
    make_run(tmp_path)
    rows = [grid_row("ablation_paired_ratio", "ratio", 48, 16, {"unpaired_fraction": 0.25}, "Table 7"),
            grid_row("ablation_paired_ratio", "ratio", 0, 64, {"unpaired_fraction": 1.0}, "Table 7"),
            grid_row("ablation_extra_unpaired", "extra", 26, 0, {}, "Table 8"),
            grid_row("ablation_extra_unpaired", "extra", 26, 13, {}, "Table 8")]
    write_results(rows, tmp_path / "results" / "07_ablations.csv")
    text = why(load_choices(load_run(tmp_path)), "Amounts of unpaired data")
    assert ("07_ablations: Table 7's rows break the pairing of 25 and 100 % of 64 seen-class training rows; "
            "Table 8's rows keep 26 of the seen-class training rows paired and add 13 others unpaired.") in text


def test_grid_cells_take_unpaired_rows_where_the_text_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The code behind the text: a Paired + Unpaired cell keeps the paired rows of the paired cell, adds seen-class
    val rows and has unpaired_fraction 0; a Table 7 cell sets unpaired_fraction instead."""
    from types import SimpleNamespace

    import numpy as np

    import mmar.evaluation.zero_shot as zero_shot
    from mmar.experiments import cells
    from mmar.experiments.rows import TABLE1_BY_LABEL, TABLE7

    subsets = {"train": np.arange(0, 40), "val": np.arange(100, 120)}
    monkeypatch.setattr(zero_shot, "seen_training_rows", lambda _data, _unseen, subset: subsets[subset])
    data = SimpleNamespace(splits={5: [["x"]]}, root=tmp_path)
    grid = SimpleNamespace(max_train_rows=30, max_unpaired_rows=8, seed=0, train={}, table8_paired_fraction=0.4,
                           curve_val_pairs=4, eval_dict=lambda: {})

    def cell(row):
        return cells.make_cell(data, row, 5, 0, grid, identity="test", code="test")

    paired = cell(TABLE1_BY_LABEL["Paired: joint + recons + cross + cycle"])
    both = cell(TABLE1_BY_LABEL["Paired + Unpaired: All terms (incl. adversarial)"])
    ratio = cell(TABLE7[2])
    assert list(both.train_rows) == list(paired.train_rows) and len(both.unpaired_rows) == 8
    assert set(both.unpaired_rows) <= set(subsets["val"]) and both.config["unpaired_fraction"] == 0.0
    assert not set(both.unpaired_rows) & set(cells.probe_val_rows(data, ["x"], 5, 0, grid))  # never the probe's pairs
    assert ratio.config["unpaired_fraction"] == 0.5 and len(ratio.unpaired_rows) == 0


# -- the mechanism -----------------------------------------------------------------------------------------------
def test_every_run_text_in_the_yaml_is_known_and_filled(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    names = set(re.findall(r"\{run:([a-z_]+)", OPEN_CHOICES_FILE.read_text()))
    assert names and names <= set(RUN_TEXT)
    assert all("{run:" not in c.why for c in load_choices(run))
    with pytest.raises(ValueError, match="unknown run text"):
        fill_why("{run:nonsense}", run)


def test_a_run_with_no_records_still_builds_its_texts(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"profile": "synthetic"}))
    choices = load_choices(load_run(tmp_path))
    assert "This run has no results of notebook 05's λ search." in why(choices, "Loss weights")
    assert "This run has no training results (05-07)." in why(choices, "Amounts of unpaired data")
    assert "records no feature stride" in why(choices, "Video features")


# -- the real runs, when present ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["default", "nbval-smoke"])
def test_a_real_runs_page_matches_its_profile(name: str) -> None:
    """The page of runs/<name> (when it has results): what it says 07 varied is what the run's 07 varied, and the
    stride and λ it names are the run's. `default` is checked only where a default run was made (a developer's
    checkout; CI makes none); `nbval-smoke` wherever `make test` ran nbval first."""
    run_dir = PROJECT_ROOT / "runs" / name
    if not (run_dir / "results").is_dir():
        pytest.skip(f"no runs/{name}/results")
    run = load_run(run_dir)
    choices = load_choices(run)
    varied = {e.removeprefix("ablation_") for e in run.results["experiment"] if e.startswith("ablation_")}
    for field, topic in (("kernel", "Temporal attention"), ("embed_dim", "Network widths"),
                         ("text_decoder_filters", "Number of filters"), ("lambda_joint", "Loss weights")):
        text = why(choices, topic)
        assert (f"this run's notebook 07 varies it ({field} = " in text) == (field in varied), (name, field)
    if run.dataset_meta:
        assert f"one feature per {run.dataset_meta['stride_frames']} frames" in why(choices, "Video features")
    chosen = [v for _, v in recorded_values("chosen@lambda_search", run)]
    if chosen:
        value = float(chosen[0].split("=")[1].split("(")[0])
        assert f"This run's search chose lambda_joint = {value:g}" in why(choices, "Loss weights")
    assert all("does not collapse" not in c.why for c in choices)


def test_the_text_decoder_ceiling_is_the_runs(tmp_path: Path) -> None:
    """The ceilings come from notebook 04's rows (33.7 % -> "34 %", 91.7 % -> "92 %"), not from the YAML."""
    run = make_run(tmp_path)
    rows = [_row("text_autoencoder", "word_accuracy_best_fit_val", [value], {}, f"text decoder N = {n}; read-out")
            for n, value in ((12, 91.7), (4, 33.7))]
    write_results(rows, tmp_path / "results" / "04_text_autoencoder.csv")
    text = why(load_choices(load_run(tmp_path)), "Number of filters of the text decoder")
    assert ("(in this run 34 % of the words with N = 4, 92 % of the words with N = 12 (results/04_text_autoencoder.csv))"
            in text)
    assert "this run has no results of notebook 04" in why(load_choices(run), "Number of filters of the text decoder")

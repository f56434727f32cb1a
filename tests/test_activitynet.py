"""ActivityNet Captions reader, its error policy, the anet-text + stand-in video store and
prepare_activitynet. Real-file tests use ../shared/data/activitynet (skipped when absent); every
error case uses tiny hand-made files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from mmar.data.activitynet import (
    AnnotationError,
    SkipReport,
    choose_class,
    load_activitynet,
    read_labels,
    read_min_json_labels,
    read_tsp_labels,
    select_videos,
)
from mmar.data.anet_standin import EXTRACTOR, build_standin_store, n_feature_steps, segment_steps
from mmar.data.feature_store import FeatureStoreReader, FeatureStoreWriter
from mmar.data.glove import GloveVectors
from mmar.data.prepare import prepare_activitynet
from mmar.data.prepared import PairDataset, PreparedDataset, collate_pairs
from mmar.results import ACTIVITYNET, ANET_TEXT_STANDIN_VIDEO

CLASSES = ["Archery", "Ballet", "Surfing", "Playing polo", "Playing water polo"]
CSV_HEADER = "video-name,t-start,t-end,action-label,video-duration,filename,fps,video-frames,temporal-region-label\n"


# -- hand-made annotation folders --------------------------------------------------------------------
def _captions(n_videos: int, class_of: dict[str, str], prefix: str) -> dict:
    """Valid captions: video i has 2 sentences about its class."""
    data = {}
    for i in range(n_videos):
        video_id = f"v_{prefix}{i:03d}"
        cls = class_of[video_id]
        data[video_id] = {"duration": 20.0 + i, "timestamps": [[0.0, 8.0], [6.5, 20.0 + i]],
                          "sentences": [f"A person starts {cls.lower()} outside.", f" They keep doing {cls.lower()} well."]}
    return data


def make_anet_dir(root: Path, *, n_train: int = 12, n_val: int = 6, labels: str = "csv") -> Path:
    """A tiny annotations folder: train_modified.json, val_1.json, a class list and labels (csv or min.json)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "activitynet_v1-3_action_label_mapping.json").write_text(json.dumps(CLASSES))
    train = {f"v_tr{i:03d}": CLASSES[i % 3] for i in range(n_train)}
    val = {f"v_va{i:03d}": CLASSES[i % 3] for i in range(n_val)}
    (root / "train_modified.json").write_text(json.dumps(_captions(n_train, train, "tr")))
    (root / "val_1.json").write_text(json.dumps(_captions(n_val, val, "va")))
    everything = {**train, **val}
    if labels == "csv":
        for name, ids in (("train", train), ("valid", val)):
            lines = [f"{vid[2:]},1.0,9.0,{cls},30.0,{vid}.mp4,30.0,900,Action\n" for vid, cls in ids.items()]
            lines += [f"{vid[2:]},0.0,1.0,,30.0,{vid}.mp4,30.0,900,No action\n" for vid in ids]
            (root / f"activitynet_v1-3_{name}_tsp_groundtruth.csv").write_text(CSV_HEADER + "".join(lines))
    else:
        database = {vid[2:]: {"subset": "training", "annotations": [{"label": cls, "segment": [1.0, 9.0]}]}
                    for vid, cls in everything.items()}
        (root / "activity_net.v1-3.min.json").write_text(json.dumps({"version": "VERSION 1.3", "database": database}))
    return root


def _edit_train(root: Path, edit) -> Path:
    path = root / "train_modified.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def glove() -> GloveVectors:
    return GloveVectors.load_default()


# -- real files ---------------------------------------------------------------------------------------
def test_real_files_counts_and_classes(anet_dir: Path) -> None:
    videos, known, report = load_activitynet(anet_dir, ("train_modified", "val_1"))
    train = [v for v in videos if v.subset == "train"]
    val = [v for v in videos if v.subset == "val"]
    assert len(train) == 10009 and sum(v.n_sentences for v in train) == 37421
    assert len(val) == 4917 and sum(v.n_sentences for v in val) == 17505
    assert len(known) == 200 and {v.class_name for v in videos} == set(known)
    assert report.n_videos == 0 and report.n_sentences == 0  # every video has a class, nothing bad
    assert report.notes["multi_class_videos"] == 6 + 7       # measured: 6 train, 7 val_1
    assert 0 < report.notes["clipped_timestamps"] < 1000     # ends past the duration by <= 0.01 s
    for video in videos:
        assert all(0.0 <= s <= e <= video.duration_s for s, e in video.segments)


def test_real_two_class_video_takes_longest_action(anet_dir: Path) -> None:
    # v_... with 'Long jump' 76.2 s and 'Triple jump' 138.4 s of Action in the TSP ground truth.
    times, _ = read_labels(anet_dir)
    two = {vid: t for vid, t in times.items() if set(t) == {"Long jump", "Triple jump"}}
    assert len(two) == 1
    (vid, t), = two.items()
    videos, _, _ = load_activitynet(anet_dir, ("train_modified",))
    assert next(v for v in videos if v.video_id == vid).class_name == "Triple jump"
    assert t["Triple jump"] > t["Long jump"]


# -- labels -------------------------------------------------------------------------------------------
def test_choose_class_longest_then_alphabetical() -> None:
    assert choose_class({"Polishing shoes": 31.3, "Cleaning shoes": 33.0}) == "Cleaning shoes"
    assert choose_class({"b": 5.0, "a": 5.0}) == "a"


def test_min_json_labels_match_csv_labels(tmp_path: Path) -> None:
    csv_dir = make_anet_dir(tmp_path / "csv", labels="csv")
    json_dir = make_anet_dir(tmp_path / "json", labels="json")
    assert read_labels(csv_dir)[0] == read_labels(json_dir)[0]
    a = load_activitynet(csv_dir)[0]
    b = load_activitynet(json_dir)[0]
    assert [(v.video_id, v.class_name) for v in a] == [(v.video_id, v.class_name) for v in b]


def test_min_json_two_labels_sum_segments(tmp_path: Path) -> None:
    path = tmp_path / "activity_net.v1-3.min.json"
    path.write_text(json.dumps({"database": {"abc": {"subset": "training", "annotations": [
        {"label": "Ballet", "segment": [0, 10]}, {"label": "Archery", "segment": [10, 16]},
        {"label": "Archery", "segment": [20, 26]}]}}}))
    times = read_min_json_labels(path)
    assert times == {"v_abc": {"Ballet": 10.0, "Archery": 12.0}}
    assert choose_class(times["v_abc"]) == "Archery"


def test_min_json_without_database_names_file(tmp_path: Path) -> None:
    path = tmp_path / "activity_net.v1-3.min.json"
    path.write_text(json.dumps({"taxonomy": []}))
    with pytest.raises(AnnotationError, match="activity_net.v1-3.min.json.*'database'"):
        read_min_json_labels(path)


def test_tsp_action_row_without_label_names_line(tmp_path: Path) -> None:
    path = tmp_path / "gt.csv"
    path.write_text(CSV_HEADER + "aaa,1,2,Archery,30,v_aaa.mp4,30,900,Action\nbbb,1,2,,30,v_bbb.mp4,30,900,Action\n")
    with pytest.raises(AnnotationError, match=r"gt.csv: line 3 \(video bbb\)"):
        read_tsp_labels([path])


def test_tsp_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "gt.csv"
    path.write_text("video-name,t-start\naaa,1\n")
    with pytest.raises(AnnotationError, match="gt.csv: missing column"):
        read_tsp_labels([path])


# -- bad captions: each error names the file and the video ----------------------------------------------
def test_malformed_json_reports_line_and_column(tmp_path: Path) -> None:
    root = make_anet_dir(tmp_path)
    (root / "train_modified.json").write_text('{"v_a": {"duration": 3,\n "timestamps": [[0, 1]] "sentences": []}}')
    with pytest.raises(AnnotationError, match=r"train_modified.json: malformed JSON at line 2, column 25"):
        load_activitynet(root)


BAD_CASES = {
    "bad_entry": (lambda d: d["v_tr001"].pop("timestamps"), "v_tr001", "missing key"),
    "count_mismatch": (lambda d: d["v_tr002"]["sentences"].append("One more."), "v_tr002", "3 sentences but 2 timestamps"),
    "timestamp_outside_duration": (lambda d: d["v_tr003"]["timestamps"].__setitem__(1, [5.0, 23.0 + 1.0]), "v_tr003",
                                   "outside the duration"),
    "timestamp_reversed": (lambda d: d["v_tr004"]["timestamps"].__setitem__(0, [7.0, 2.0]), "v_tr004", "starts after it ends"),
    "empty_sentence": (lambda d: d["v_tr005"]["sentences"].__setitem__(0, " ... "), "v_tr005", "no words"),
    "no_class": (lambda d: d.__setitem__("v_zzz", dict(d["v_tr000"])), "v_zzz", "no ActivityNet class"),
}


@pytest.mark.parametrize("reason", sorted(BAD_CASES))
def test_bad_sample_stop_names_file_and_video(tmp_path: Path, reason: str) -> None:
    edit, video_id, words = BAD_CASES[reason]
    root = make_anet_dir(tmp_path)
    _edit_train(root, edit)
    with pytest.raises(AnnotationError) as error:
        load_activitynet(root, on_error="stop")
    message = str(error.value)
    assert "train_modified.json" in message and video_id in message and words in message and reason in message


@pytest.mark.parametrize("reason", sorted(BAD_CASES))
def test_bad_sample_skip_counts_it(tmp_path: Path, reason: str) -> None:
    edit, video_id, _ = BAD_CASES[reason]
    root = make_anet_dir(tmp_path)
    good, _, _ = load_activitynet(root)
    _edit_train(root, edit)
    videos, _, report = load_activitynet(root, on_error="skip")
    sentence_level = reason in ("timestamp_outside_duration", "timestamp_reversed", "empty_sentence")
    if sentence_level:  # one sentence out, its video stays with the other one
        assert report.sentences[reason] == 1 and report.videos[reason] == 0
        assert next(v for v in videos if v.video_id == video_id).n_sentences == 1
        assert len(videos) == len(good)
    else:
        assert report.videos[reason] == 1 and video_id not in {v.video_id for v in videos}
        assert len(videos) == len(good) - (reason != "no_class")
    assert video_id in report.examples[reason][0]
    assert sum(v.n_sentences for v in videos) + report.n_sentences == sum(v.n_sentences for v in good) + 2 * (reason == "no_class") + (reason == "count_mismatch")


def test_unknown_class(tmp_path: Path) -> None:
    root = make_anet_dir(tmp_path)
    gt = root / "activitynet_v1-3_train_tsp_groundtruth.csv"
    gt.write_text(gt.read_text().replace("tr001,1.0,9.0,Ballet", "tr001,1.0,9.0,Underwater chess"))
    with pytest.raises(AnnotationError, match=r"train_modified.json: video v_tr001: class 'Underwater chess' is not one of the 5"):
        load_activitynet(root, on_error="stop")
    videos, _, report = load_activitynet(root)
    assert report.videos["unknown_class"] == 1 and "v_tr001" not in {v.video_id for v in videos}


def test_small_overshoot_is_clipped_not_skipped(tmp_path: Path) -> None:
    root = make_anet_dir(tmp_path)
    _edit_train(root, lambda d: d["v_tr000"]["timestamps"].__setitem__(1, [6.5, 20.01]))  # real files: <= 0.01 s
    videos, _, report = load_activitynet(root, on_error="stop")
    assert report.notes["clipped_timestamps"] == 1
    assert next(v for v in videos if v.video_id == "v_tr000").segments[1] == (6.5, 20.0)


def test_train_and_val_share_a_video_is_an_error(tmp_path: Path) -> None:
    root = make_anet_dir(tmp_path)
    val = json.loads((root / "val_1.json").read_text())
    train = json.loads((root / "train_modified.json").read_text())
    val["v_tr000"] = train["v_tr000"]
    (root / "val_1.json").write_text(json.dumps(val))
    with pytest.raises(AnnotationError, match="val_1.json: video v_tr000 is also in train_modified.json"):
        load_activitynet(root, on_error="stop")


def test_unknown_policy_and_missing_file(tmp_path: Path) -> None:
    root = make_anet_dir(tmp_path)
    with pytest.raises(ValueError, match="on_error"):
        load_activitynet(root, on_error="ignore")
    with pytest.raises(AnnotationError, match="val_2.json: file not found"):
        load_activitynet(root, ("val_2",))


def test_select_videos_is_deterministic_and_capped(tmp_path: Path) -> None:
    videos, known, _ = load_activitynet(make_anet_dir(tmp_path, n_train=30))
    a, classes_a = select_videos(videos, known, n_classes=2, max_videos_per_class=3, seed=4)
    b, classes_b = select_videos(videos, known, n_classes=2, max_videos_per_class=3, seed=4)
    assert [v.video_id for v in a] == [v.video_id for v in b] and classes_a == classes_b and len(classes_a) == 2
    for cls in classes_a:
        for subset in ("train", "val"):
            assert len([v for v in a if v.class_name == cls and v.subset == subset]) <= 3
    assert {v.class_name for v in a} <= set(classes_a)


# -- stand-in store -----------------------------------------------------------------------------------
def test_steps_match_prepared_feature_range(tiny_prepared: PreparedDataset) -> None:
    assert n_feature_steps(10.0) == math.floor(10.0 * 25 / 8) == 31
    assert n_feature_steps(0.1) == 1
    rng = np.random.default_rng(0)
    for row in range(len(tiny_prepared.sentences)):
        length = int(rng.integers(1, 60))
        start_s, end_s = (float(tiny_prepared.sentences.at[row, c]) for c in ("start_s", "end_s"))
        assert segment_steps([(start_s, end_s)], length) == [tiny_prepared.feature_range(row, length)]


def test_standin_store_streams_resumes_and_is_order_independent(tmp_path: Path, glove: GloveVectors) -> None:
    from mmar.data.standin import StandinVideoGenerator

    videos, _, _ = load_activitynet(make_anet_dir(tmp_path / "anet"))
    generator = StandinVideoGenerator(CLASSES[:3], glove, feature_dim=32, seed=1)
    once = build_standin_store(tmp_path / "once.h5", videos, generator, seed=1, progress=False)
    assert once.written == len(videos) and once.already_present == 0
    build_standin_store(tmp_path / "twice.h5", videos[5:], generator, seed=1, progress=False)  # "interrupted"
    resumed = build_standin_store(tmp_path / "twice.h5", videos, generator, seed=1, progress=False)
    assert resumed.written == 5 and resumed.already_present == len(videos) - 5
    a, b = FeatureStoreReader(tmp_path / "once.h5"), FeatureStoreReader(tmp_path / "twice.h5")
    assert a.attrs["extractor"] == EXTRACTOR and a.attrs["source"] == ANET_TEXT_STANDIN_VIDEO
    for video in videos:
        assert a.length(video.video_id) == n_feature_steps(video.duration_s)
        np.testing.assert_array_equal(a.read(video.video_id), b.read(video.video_id))
    a.close()
    b.close()
    with pytest.raises(Exception, match="stand-in settings"):
        build_standin_store(tmp_path / "once.h5", videos, StandinVideoGenerator(CLASSES[:3], glove, 32, seed=2),
                            seed=2, progress=False)


# -- prepare_activitynet -----------------------------------------------------------------------------
def _prepare(tmp_path: Path, glove: GloveVectors, name: str = "data", **kwargs) -> PreparedDataset:
    defaults = dict(annotations_dir=tmp_path / "anet", glove=glove, unseen_ks=(1,), n_trials=2, seed=0,
                    feature_dim=24, progress=False)
    return prepare_activitynet(tmp_path / name, **{**defaults, **kwargs})


def test_prepare_standin_video(tmp_path: Path, glove: GloveVectors) -> None:
    make_anet_dir(tmp_path / "anet")
    data = _prepare(tmp_path, glove)
    assert data.data_source == ANET_TEXT_STANDIN_VIDEO and data.meta["video_is_generated"]
    assert data.classes == CLASSES[:3]  # classes present, in class-list order
    assert data.meta["counts"]["videos_read"] == 18 and data.meta["counts"]["sentences"] == 36
    assert data.meta["counts"]["train"] == {"videos": 12, "sentences": 24}
    assert data.meta["counts"]["val"] == {"videos": 6, "sentences": 12}
    assert set(data.sentences["subset"]) == {"train", "val"}
    store = data.feature_store()
    assert sorted(store.ids()) == sorted(data.sentences["video_id"].unique())
    batch = collate_pairs([PairDataset(data, range(len(data.sentences)))[i] for i in range(4)])
    assert batch["video"].shape[2] == 24 and batch["text"].shape[2] == glove.dim
    row = data.sentences.iloc[0]
    words = [data.vocab_words[int(i)] for i in row["token_ids"].split()]
    assert words == [w for w in row["text"].lower().rstrip(".").split()]
    for unseen in data.splits[1]:
        assert len(unseen) == 1 and unseen[0] in data.classes


def test_prepare_missing_features_reported_and_policy(tmp_path: Path, glove: GloveVectors) -> None:
    make_anet_dir(tmp_path / "anet")
    full = _prepare(tmp_path, glove, "full")
    store_path = tmp_path / "partial.h5"
    real = full.feature_store()
    gone = ["v_tr003", "v_va001"]
    with FeatureStoreWriter(store_path, extractor="i3d-rgb", fps=25.0, stride_frames=8, feature_dim=24) as writer:
        for video_id in real.ids():
            if video_id not in gone:
                writer.write(video_id, real.read(video_id))
    data = _prepare(tmp_path, glove, "partial", features=store_path)
    assert data.meta["skipped"]["skipped_videos"] == {"missing_features": 2}
    assert data.meta["skipped"]["skipped_sentences"] == {"missing_features": 4}
    assert not set(gone) & set(data.sentences["video_id"])
    assert len(data.sentences) == len(full.sentences) - 4
    with pytest.raises(AnnotationError, match="partial.h5: no features for video v_tr003"):
        _prepare(tmp_path, glove, "stop", features=store_path, on_error="stop")


def test_real_i3d_store_swaps_in(tmp_path: Path, glove: GloveVectors) -> None:
    """A store written by the I3D extraction code (mmar.extract: parts, then merge) replaces the
    stand-in store; only the path changes, and both share one layout."""
    from mmar.extract import EXTRACTOR_NAME, ExtractConfig, merge_parts, parts_dir_for, write_part

    make_anet_dir(tmp_path / "anet", n_train=4, n_val=2)
    standin = _prepare(tmp_path, glove, "standin", feature_dim=1024)
    i3d_path = tmp_path / "i3d.h5"
    rng = np.random.default_rng(0)
    standin_store = standin.feature_store()
    for video_id in standin_store.ids():
        length = standin_store.length(video_id)
        write_part(parts_dir_for(i3d_path), video_id, rng.random((length, 1024)).astype(np.float32), length * 8 + 7)
    assert merge_parts(i3d_path, ExtractConfig()) == len(standin_store)
    real = _prepare(tmp_path, glove, "real", features=i3d_path)
    assert real.data_source == ACTIVITYNET and not real.meta["video_is_generated"]
    assert real.meta["feature_extractor"] == EXTRACTOR_NAME
    assert real.sentences.equals(standin.sentences)
    np.testing.assert_array_equal(real.vocab_vectors, standin.vocab_vectors)
    assert real.splits == standin.splits
    for key in ("fps", "stride_frames", "feature_dim"):
        assert real.meta[key] == standin.meta[key]
    with h5py.File(standin.features_path) as a, h5py.File(i3d_path) as b:
        assert set(a.attrs) - {"standin_config"} == set(b.attrs) and set(a) == set(b)
        for name in ("layout_version", "fps", "stride_frames", "feature_dim", "dtype"):
            assert a.attrs[name] == b.attrs[name]
        assert set(a["features"]) == set(b["features"])
        for k in a["features"]:
            assert a["features"][k].dtype == b["features"][k].dtype and a["features"][k].shape == b["features"][k].shape
    items = [PairDataset(real, range(len(real.sentences)))[i] for i in range(3)]
    ref = [PairDataset(standin, range(len(standin.sentences)))[i] for i in range(3)]
    assert [x["video"].shape for x in items] == [x["video"].shape for x in ref]


def test_generated_store_given_as_features_keeps_standin_label(tmp_path: Path, glove: GloveVectors) -> None:
    make_anet_dir(tmp_path / "anet", n_train=3, n_val=2)
    standin = _prepare(tmp_path, glove, "standin")
    again = _prepare(tmp_path, glove, "again", features=standin.features_path)
    assert again.data_source == ANET_TEXT_STANDIN_VIDEO and again.meta["video_is_generated"]


def test_prepare_stop_on_bad_sample(tmp_path: Path, glove: GloveVectors) -> None:
    make_anet_dir(tmp_path / "anet")
    _edit_train(tmp_path / "anet", lambda d: d["v_tr002"]["sentences"].append("x"))
    with pytest.raises(AnnotationError, match="v_tr002"):
        _prepare(tmp_path, glove, on_error="stop")
    data = _prepare(tmp_path, glove)
    assert data.meta["skipped"]["skipped_videos"] == {"count_mismatch": 1}
    assert "count_mismatch" in data.meta["skipped_summary"]


def test_skip_report_summary() -> None:
    report = SkipReport()
    assert report.summary() == "nothing skipped"
    report.add("no_class", "f.json: video v_x: ...", videos=1, sentences=3)
    report.notes["clipped_timestamps"] += 2
    assert report.summary() == "skipped 1 videos and 3 sentences (no_class: 1 videos); policy notes: clipped_timestamps=2"

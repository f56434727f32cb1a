"""ActivityNet Captions annotations joined with ActivityNet v1.3 class labels.

Sources (see ``../shared/data/SOURCES.md``):

* ActivityNet Captions (Krishna et al., "Dense-Captioning Events in Videos", ICCV 2017):
  ``train.json`` / ``train_modified.json`` (training), ``val_1.json``, ``val_2.json``; each maps a
  video id (``v_<youtube id>``) to ``{"duration": s, "timestamps": [[start, end], ...],
  "sentences": [...]}``, one temporal segment per sentence. The training split may be given under
  either name (:func:`caption_path`): the name asked for (``train_modified`` by default, the file
  this project's statistics were measured on) is read when present, else the other one.
* ActivityNet v1.3 (Caba Heilbron et al., CVPR 2015) class labels, from either the
  ``activitynet_v1-3_{train,valid}_tsp_groundtruth.csv`` files (one row per temporal region;
  ``video-name`` is the YouTube id without ``v_``; rows with ``temporal-region-label`` ``Action``
  carry the class in ``action-label``, ``No action`` rows carry none) or the official
  ``activity_net.v1-3.min.json`` (``{"database": {youtube_id: {"annotations": [{"label": ...,
  "segment": [s, e]}], "subset": ...}}}``).

Policies (all measured on the real files in ``../shared/data/activitynet``):

* **Two classes in one video.** 6 Captions training videos and 7 val_1 videos have Action regions
  of two classes (e.g. ``Cleaning shoes`` + ``Polishing shoes``). We keep the class with the longest
  total Action time (ties: alphabetically first) and count these videos in the report
  (``multi_class_videos``).
* **Timestamps beyond the duration.** 261 training and 134 val_1 segments end after the video's
  duration, by at most 0.01 s (float rounding in the release). A segment bound outside
  ``[0, duration]`` by at most :data:`TIMESTAMP_TOLERANCE_S` is clipped to the video (counted as
  ``clipped_timestamps``); further out it is an error.
* **Errors** (``reason`` keys of the report): ``bad_entry`` (entry not an object, missing key,
  wrong type, duration not a positive number), ``count_mismatch`` (sentences vs timestamps),
  ``no_class`` (video absent from the label files), ``unknown_class`` (label not one of the known
  classes), ``timestamp_outside_duration``, ``timestamp_reversed`` (start > end),
  ``empty_sentence`` (no words), ``duplicate_video`` (same id in a training and a validation file).
  With ``on_error="stop"`` the first one raises :class:`AnnotationError` naming the file and the
  video id; with ``on_error="skip"`` the offending video (or, for the last three sentence-level
  reasons, the sentence) is left out and counted in a :class:`SkipReport`. Unreadable files
  (missing, malformed JSON, missing CSV columns) always raise: there is no sample to skip; so does a
  captions file of which every entry is ``bad_entry`` (a file of another structure, e.g. ``captions``
  instead of ``sentences``): the error names the file and the first entry's reason; and so does a file whose
  timestamps look like fractions of each video's duration (:func:`_check_seconds`), which no entry-level check
  would catch (every segment would fall inside its video's first second).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from mmar.data.feature_store import FeatureStoreReader
from mmar.data.text import tokenize
from mmar.results import ACTIVITYNET, ANET_TEXT_STANDIN_VIDEO, STANDIN, UNKNOWN_FEATURES

#: Segment bounds this far outside [0, duration] (seconds) are clipped; further out is an error.
#: The real files overshoot by at most 0.01 s.
TIMESTAMP_TOLERANCE_S = 0.05
#: Caption file stem -> prepared subset.
SPLIT_SUBSETS = {"train": "train", "train_modified": "train", "val_1": "val", "val_2": "val"}
#: Caption file stems that stand for one another, the one asked for first (:func:`caption_path`).
CAPTION_ALTERNATIVES = {"train_modified": ("train_modified", "train"), "train": ("train", "train_modified")}
#: The I3D features the paper uses (Mixed_5c + average pool): their dimension.
I3D_FEATURE_DIM = 1024
CLASS_LIST_FILE = "activitynet_v1-3_action_label_mapping.json"
TSP_LABEL_FILES = ("activitynet_v1-3_train_tsp_groundtruth.csv", "activitynet_v1-3_valid_tsp_groundtruth.csv")
MIN_JSON_FILE = "activity_net.v1-3.min.json"
ON_ERROR = ("skip", "stop")
#: Timestamps given as fractions of the duration (0-1) instead of seconds: a file of at least this many
#: well-formed videos, the median one longer than FRACTION_MIN_DURATION_S, is refused when at least FRACTION_SHARE
#: of them end their last segment by FRACTION_MAX_END_S (1 plus the tolerance: fractions overshoot 1 as seconds
#: overshoot the duration). Measured on the real files: no video of train_modified, val_1 or val_2 does (medians
#: 114-117 s; 0.2-0.3 % of their sentences end by 1 s).
FRACTION_MAX_END_S = 1.0 + TIMESTAMP_TOLERANCE_S
FRACTION_MIN_VIDEOS = 10
FRACTION_MIN_DURATION_S = 10.0
FRACTION_SHARE = 0.9
WHERE_TO_GET = (
    "ActivityNet Captions annotations (train_modified.json / val_1.json, e.g. from "
    "https://cs.stanford.edu/people/ranjaykrishna/densevid/ or ttengwang/PDVC data/anet/captiondata) "
    "and ActivityNet v1.3 labels (activity_net.v1-3.min.json from http://activity-net.org/download.html, "
    "or the activitynet_v1-3_*_tsp_groundtruth.csv files of ttengwang/PDVC video_backbone/TSP/data/activitynet)"
)


class AnnotationError(ValueError):
    """A bad annotation file or sample; the message names the file and the video id or line."""


@dataclass(frozen=True)
class AnnotatedVideo:
    """One annotated video: its class and its (segment, sentence) pairs; times in seconds."""

    video_id: str
    subset: str
    source: str
    duration_s: float
    class_name: str
    segments: tuple[tuple[float, float], ...]
    sentences: tuple[str, ...]

    @property
    def n_sentences(self) -> int:
        return len(self.sentences)


@dataclass
class SkipReport:
    """What was left out and why. Nothing is dropped without a count here.

    ``videos``/``sentences``: reason -> number left out; ``examples``: reason -> first messages;
    ``notes``: counts of policy decisions that kept the sample (``clipped_timestamps``,
    ``multi_class_videos``).
    """

    videos: Counter = field(default_factory=Counter)
    sentences: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: Counter = field(default_factory=Counter)
    max_examples: int = 5

    def add(self, reason: str, message: str, *, videos: int = 0, sentences: int = 0) -> None:
        self.videos[reason] += videos
        self.sentences[reason] += sentences
        listed = self.examples.setdefault(reason, [])
        if len(listed) < self.max_examples:
            listed.append(message)

    @property
    def n_videos(self) -> int:
        return int(sum(self.videos.values()))

    @property
    def n_sentences(self) -> int:
        return int(sum(self.sentences.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "skipped_videos": {k: int(v) for k, v in self.videos.items() if v},
            "skipped_sentences": {k: int(v) for k, v in self.sentences.items() if v},
            "examples": self.examples,
            "notes": {k: int(v) for k, v in self.notes.items()},
        }

    def summary(self) -> str:
        """One human-readable paragraph for notebooks and logs."""
        if not self.n_videos and not self.n_sentences:
            skipped = "nothing skipped"
        else:
            parts = [f"{k}: {v} videos" for k, v in self.videos.items() if v]
            parts += [f"{k}: {v} sentences" for k, v in self.sentences.items() if v and not self.videos.get(k)]
            skipped = f"skipped {self.n_videos} videos and {self.n_sentences} sentences ({'; '.join(parts)})"
        notes = ", ".join(f"{k}={v}" for k, v in self.notes.items())
        return skipped + (f"; policy notes: {notes}" if notes else "")


class ErrorPolicy:
    """Applies ``on_error``: raise, or count the problem in the report."""

    def __init__(self, on_error: str, report: SkipReport) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.on_error = on_error
        self.report = report

    def __call__(self, reason: str, message: str, *, videos: int = 0, sentences: int = 0) -> None:
        if self.on_error == "stop":
            raise AnnotationError(f"{message} [{reason}; on_error='stop']")
        self.report.add(reason, message, videos=videos, sentences=sentences)


# -- files -----------------------------------------------------------------------------------------
def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise AnnotationError(f"{path}: file not found. Expected {WHERE_TO_GET}")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise AnnotationError(f"{path}: malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None


def load_class_names(path: str | Path) -> list[str]:
    """The known classes: a JSON list of names (``activitynet_v1-3_action_label_mapping.json``)."""
    path = Path(path)
    names = _load_json(path)
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise AnnotationError(f"{path}: expected a JSON list of class names")
    if len(set(names)) != len(names):
        raise AnnotationError(f"{path}: duplicate class names")
    return names


def read_tsp_labels(paths: Iterable[str | Path]) -> dict[str, dict[str, float]]:
    """Class labels from ``*_tsp_groundtruth.csv`` files: ``{"v_<id>": {class: total Action seconds}}``.

    ``No action`` rows carry no class and are ignored; an ``Action`` row without a label is an error.
    """
    labels: dict[str, dict[str, float]] = {}
    needed = ["video-name", "t-start", "t-end", "action-label", "temporal-region-label"]
    for path in map(Path, paths):
        if not path.is_file():
            raise AnnotationError(f"{path}: file not found. Expected {WHERE_TO_GET}")
        table = pd.read_csv(path, dtype={"video-name": str})
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise AnnotationError(f"{path}: missing column(s) {missing}")
        action = table[table["temporal-region-label"] == "Action"]
        unlabelled = action[action["action-label"].isna()]
        if len(unlabelled):
            line = int(unlabelled.index[0]) + 2  # header is line 1
            raise AnnotationError(f"{path}: line {line} (video {unlabelled.iloc[0]['video-name']}): Action row without action-label")
        seconds = (action["t-end"] - action["t-start"]).clip(lower=0.0)
        for (name, label), total in seconds.groupby([action["video-name"], action["action-label"]]).sum().items():
            labels.setdefault(f"v_{name}", {})
            labels[f"v_{name}"][label] = labels[f"v_{name}"].get(label, 0.0) + float(total)
        for name in table["video-name"].unique():  # videos with only background: no class
            labels.setdefault(f"v_{name}", {})
    return labels


def read_min_json_labels(path: str | Path) -> dict[str, dict[str, float]]:
    """Class labels from the official ``activity_net.v1-3.min.json``: ``{"v_<id>": {class: seconds}}``."""
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise AnnotationError(f"{path}: expected an object with a 'database' mapping")
    labels: dict[str, dict[str, float]] = {}
    for youtube_id, entry in data["database"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("annotations"), list):
            raise AnnotationError(f"{path}: video {youtube_id}: missing 'annotations' list")
        times: dict[str, float] = {}
        for k, annotation in enumerate(entry["annotations"]):
            if not isinstance(annotation, dict) or not isinstance(annotation.get("label"), str):
                raise AnnotationError(f"{path}: video {youtube_id}: annotation {k} has no 'label'")
            segment = annotation.get("segment", [0.0, 0.0])
            try:
                length = max(float(segment[1]) - float(segment[0]), 0.0)
            except (TypeError, ValueError, IndexError):
                raise AnnotationError(f"{path}: video {youtube_id}: annotation {k} has a bad 'segment' {segment!r}") from None
            times[annotation["label"]] = times.get(annotation["label"], 0.0) + length
        labels[f"v_{youtube_id}"] = times
    return labels


def choose_class(times: Mapping[str, float]) -> str:
    """The class with the longest total Action time; ties go to the alphabetically first name."""
    return min(times, key=lambda name: (-times[name], name))


def read_labels(annotations_dir: str | Path, labels: str | Path | None = None) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Labels by video id and the label files used. ``labels``: a ``*.min.json`` or a ``.csv`` file;
    default: ``activity_net.v1-3.min.json`` in ``annotations_dir`` if there, else the TSP CSV files."""
    annotations_dir = Path(annotations_dir)
    if labels is not None:
        path = Path(labels)
        if path.suffix == ".json":
            return read_min_json_labels(path), [str(path)]
        return read_tsp_labels([path]), [str(path)]
    if (annotations_dir / MIN_JSON_FILE).is_file():
        return read_min_json_labels(annotations_dir / MIN_JSON_FILE), [str(annotations_dir / MIN_JSON_FILE)]
    paths = [annotations_dir / name for name in TSP_LABEL_FILES if (annotations_dir / name).is_file()]
    if not paths:
        raise AnnotationError(f"{annotations_dir}: no class labels ({MIN_JSON_FILE} or {', '.join(TSP_LABEL_FILES)}). "
                              f"Expected {WHERE_TO_GET}")
    return read_tsp_labels(paths), [str(p) for p in paths]


# -- captions --------------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _check_entry(entry: Any) -> str | None:
    """Why a captions entry is structurally bad (None when it is fine)."""
    if not isinstance(entry, dict):
        return f"entry is a {type(entry).__name__}, not an object"
    missing = [k for k in ("duration", "timestamps", "sentences") if k not in entry]
    if missing:
        return f"missing key(s) {missing}"
    duration = _number(entry["duration"])
    if duration is None or duration <= 0:
        return f"duration {entry['duration']!r} is not a positive number"
    if not isinstance(entry["sentences"], list) or not all(isinstance(s, str) for s in entry["sentences"]):
        return "'sentences' is not a list of strings"
    stamps = entry["timestamps"]
    if not isinstance(stamps, list) or not all(
        isinstance(t, (list, tuple)) and len(t) == 2 and _number(t[0]) is not None and _number(t[1]) is not None
        for t in stamps
    ):
        return "'timestamps' is not a list of [start, end] number pairs"
    return None


def read_captions(path: str | Path, *, class_times: Mapping[str, Mapping[str, float]], known_classes: Sequence[str],
                  subset: str | None = None, on_error: str = "skip", report: SkipReport | None = None,
                  tolerance_s: float = TIMESTAMP_TOLERANCE_S) -> list[AnnotatedVideo]:
    """Read one ActivityNet Captions file and attach each video's class.

    ``class_times``: ``{video_id: {class: seconds}}`` (see :func:`read_labels`); ``subset``: train|val
    (default from the file stem, see :data:`SPLIT_SUBSETS`). Problems follow ``on_error`` (module
    docstring) and are counted in ``report``.
    """
    path = Path(path)
    report = report if report is not None else SkipReport()
    policy = ErrorPolicy(on_error, report)
    if subset is None:
        if path.stem not in SPLIT_SUBSETS:
            raise ValueError(f"{path}: cannot tell the subset from the file name; pass subset='train' or 'val'")
        subset = SPLIT_SUBSETS[path.stem]
    data = _load_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected an object mapping video ids to annotations, got {type(data).__name__}")
    known = set(known_classes)
    problems = {video_id: _check_entry(entry) for video_id, entry in data.items()}
    if problems and all(p is not None for p in problems.values()):
        first = next(iter(problems))
        raise AnnotationError(f"{path}: every one of its {len(problems)} entries is malformed, the first (video {first}): "
                              f"{problems[first]}. Expected an ActivityNet Captions file {{video_id: {{\"duration\": s, "
                              f"\"timestamps\": [[start, end], ...], \"sentences\": [...]}}}}")
    _check_seconds(path, [entry for video_id, entry in data.items() if problems[video_id] is None])
    videos: list[AnnotatedVideo] = []
    for video_id, entry in data.items():
        where = f"{path}: video {video_id}"
        problem = problems[video_id]
        n_entry = len(entry["sentences"]) if isinstance(entry, dict) and isinstance(entry.get("sentences"), list) else 0
        if problem is not None:
            policy("bad_entry", f"{where}: {problem}", videos=1, sentences=n_entry)
            continue
        if len(entry["sentences"]) != len(entry["timestamps"]):
            policy("count_mismatch", f"{where}: {len(entry['sentences'])} sentences but {len(entry['timestamps'])} timestamps",
                   videos=1, sentences=n_entry)
            continue
        times = class_times.get(video_id)
        if not times:
            policy("no_class", f"{where}: no ActivityNet class in the label files", videos=1, sentences=n_entry)
            continue
        class_name = choose_class(times)
        if class_name not in known:
            policy("unknown_class", f"{where}: class {class_name!r} is not one of the {len(known)} known classes",
                   videos=1, sentences=n_entry)
            continue
        if len(times) > 1:
            report.notes["multi_class_videos"] += 1
        duration = float(entry["duration"])
        segments: list[tuple[float, float]] = []
        sentences: list[str] = []
        for k, ((start, end), sentence) in enumerate(zip(entry["timestamps"], entry["sentences"])):
            start, end = float(start), float(end)
            if start < -tolerance_s or end > duration + tolerance_s:
                policy("timestamp_outside_duration",
                       f"{where}: sentence {k} segment [{start}, {end}] outside the duration {duration} "
                       f"(tolerance {tolerance_s} s)", sentences=1)
                continue
            if start > end:
                policy("timestamp_reversed", f"{where}: sentence {k} segment [{start}, {end}] starts after it ends", sentences=1)
                continue
            if not tokenize(sentence):
                policy("empty_sentence", f"{where}: sentence {k} has no words ({sentence!r})", sentences=1)
                continue
            clipped = (min(max(start, 0.0), duration), min(max(end, 0.0), duration))
            if clipped != (start, end):
                report.notes["clipped_timestamps"] += 1
            segments.append(clipped)
            sentences.append(sentence.strip())
        if not sentences:
            report.add("no_sentences_left", f"{where}: every sentence was skipped", videos=1)
            continue
        videos.append(AnnotatedVideo(video_id, subset, path.stem, duration, class_name, tuple(segments), tuple(sentences)))
    return videos


def _check_seconds(path: Path, entries: Sequence[Mapping[str, Any]]) -> None:
    """AnnotationError when ``entries`` (well-formed captions entries of ``path``) give their timestamps as
    fractions of the duration rather than seconds (thresholds: :data:`FRACTION_SHARE` and the constants above it)."""
    last_ends = [max(float(end) for _, end in entry["timestamps"]) for entry in entries if entry["timestamps"]]
    if len(last_ends) < FRACTION_MIN_VIDEOS:
        return
    median_duration = float(np.median([float(entry["duration"]) for entry in entries]))
    share = float(np.mean(np.asarray(last_ends) <= FRACTION_MAX_END_S))
    if median_duration > FRACTION_MIN_DURATION_S and share >= FRACTION_SHARE:
        raise AnnotationError(
            f"{path}: {share:.0%} of its {len(last_ends)} videos end their last segment by {FRACTION_MAX_END_S:g} s while the median video "
            f"lasts {median_duration:.0f} s: the timestamps look like fractions of each video's duration. ActivityNet "
            "Captions gives them in seconds; multiply each [start, end] by its video's duration.")


def resolve_annotations_dir(annotations_dir: str | Path | None) -> Path:
    """``annotations_dir`` or, when None, ``../shared/data/activitynet``; a clear error if neither exists."""
    from mmar.paths import activitynet_annotations_dir

    if annotations_dir is None:
        found = activitynet_annotations_dir()
        if found is None:
            raise FileNotFoundError(
                "The activitynet profile needs the annotation files: set annotations_dir (e.g. "
                "`--set 01_data.annotations_dir=/path/to/activitynet`) or put them in ../shared/data/activitynet. "
                f"Files needed: {WHERE_TO_GET}"
            )
        return found
    path = Path(annotations_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"annotations_dir {path} is not a folder. Expected {WHERE_TO_GET}")
    return path


def caption_path(annotations_dir: str | Path, split: str) -> Path:
    """The caption file of ``split`` in ``annotations_dir``: ``<split>.json``, or for the training split the
    other name of :data:`CAPTION_ALTERNATIVES` when only that one exists (``train.json`` is the official training
    file, ``train_modified.json`` a slightly different version of it, the one ``../shared`` holds; the name asked
    for wins when both are there). AnnotationError naming both when neither exists."""
    root = Path(annotations_dir)
    names = CAPTION_ALTERNATIVES.get(split, (split,))
    for name in names:
        if (root / f"{name}.json").is_file():
            return root / f"{name}.json"
    if len(names) > 1:
        raise AnnotationError(f"{root}: no training captions file: neither {' nor '.join(n + '.json' for n in names)} "
                              f"found. Expected {WHERE_TO_GET}")
    return root / f"{split}.json"  # read_captions says it is not found


def check_annotations_dir(annotations_dir: str | Path | None, splits: Sequence[str] = ("train_modified", "val_1")) -> Path:
    """The annotations folder (:func:`resolve_annotations_dir`) once the files :func:`load_activitynet` reads are there:
    each split's caption file (:func:`caption_path`) and the class labels (:func:`read_labels`' files), checked
    without reading them; AnnotationError naming what is missing and where to get it."""
    root = resolve_annotations_dir(annotations_dir)
    missing = []
    for split in splits:
        try:
            path = caption_path(root, split)
        except AnnotationError:  # neither training file
            missing.append(" or ".join(f"{name}.json" for name in CAPTION_ALTERNATIVES[split]))
            continue
        if not path.is_file():
            missing.append(path.name)
    if not (root / MIN_JSON_FILE).is_file() and not any((root / name).is_file() for name in TSP_LABEL_FILES):
        missing.append(f"the class labels ({MIN_JSON_FILE} or {', '.join(TSP_LABEL_FILES)})")
    if missing:
        raise AnnotationError(f"{root}: missing {', '.join(missing)}. Expected {WHERE_TO_GET}")
    return root


def load_activitynet(annotations_dir: str | Path | None = None, splits: Sequence[str] = ("train_modified", "val_1"), *,
                     labels: str | Path | None = None, classes_file: str | Path | None = None, on_error: str = "skip",
                     tolerance_s: float = TIMESTAMP_TOLERANCE_S) -> tuple[list[AnnotatedVideo], list[str], SkipReport]:
    """Read caption files ``<annotations_dir>/<split>.json`` (:func:`caption_path`: ``train.json`` serves for
    ``train_modified`` and back) and join them with the class labels.

    Returns ``(videos, known_classes, report)``. ``classes_file`` defaults to
    ``activitynet_v1-3_action_label_mapping.json`` in ``annotations_dir``, else the package's list of
    the 200 ActivityNet v1.3 classes. A video id that appears in two files of the same subset (val_1
    and val_2 share videos) keeps the sentences of both; in a training and a validation file it is a
    ``duplicate_video`` error.
    """
    root = resolve_annotations_dir(annotations_dir)
    if classes_file is None and (root / CLASS_LIST_FILE).is_file():
        classes_file = root / CLASS_LIST_FILE
    known = load_class_names(classes_file) if classes_file is not None else _package_class_names()
    class_times, _ = read_labels(root, labels)
    report = SkipReport()
    policy = ErrorPolicy(on_error, report)
    merged: dict[str, AnnotatedVideo] = {}
    for split in splits:
        path = caption_path(root, split)
        for video in read_captions(path, class_times=class_times, known_classes=known,
                                   on_error=on_error, report=report, tolerance_s=tolerance_s):
            previous = merged.get(video.video_id)
            if previous is None:
                merged[video.video_id] = video
            elif previous.subset != video.subset:
                policy("duplicate_video", f"{path}: video {video.video_id} is also in "
                       f"{previous.source}.json ({previous.subset} subset)", videos=1, sentences=video.n_sentences)
            else:
                merged[video.video_id] = AnnotatedVideo(previous.video_id, previous.subset, f"{previous.source}+{video.source}",
                                                        previous.duration_s, previous.class_name,
                                                        previous.segments + video.segments, previous.sentences + video.sentences)
    return list(merged.values()), known, report


def _package_class_names() -> list[str]:
    from mmar.data.classes import activitynet_classes  # the 200 names, embedded in the package

    return activitynet_classes()


# -- prepared dataset ------------------------------------------------------------------------------
def select_videos(videos: Sequence[AnnotatedVideo], known_classes: Sequence[str], *, classes: Sequence[str] | None = None,
                  n_classes: int | None = None, max_videos_per_class: int | None = None,
                  seed: int = 0) -> tuple[list[AnnotatedVideo], list[str]]:
    """A deterministic subset for small runs: ``classes`` (names) or ``n_classes`` drawn with ``seed``
    from the classes present (default: every class present); at most ``max_videos_per_class`` videos per class and subset (drawn with
    ``seed``). Returns ``(videos, classes)``, classes in the order of ``known_classes``."""
    present = {v.class_name for v in videos}
    if classes is not None:
        unknown = [c for c in classes if c not in known_classes]
        if unknown:
            raise ValueError(f"classes {unknown} are not ActivityNet v1.3 classes")
        chosen = set(classes)
    elif n_classes is not None:
        candidates = [c for c in known_classes if c in present]
        if not 0 < n_classes <= len(candidates):
            raise ValueError(f"n_classes must be in 1..{len(candidates)}, got {n_classes}")
        rng = np.random.default_rng([int(seed), 1])
        chosen = set(rng.choice(candidates, size=n_classes, replace=False).tolist())
    else:
        chosen = present
    kept = [v for v in videos if v.class_name in chosen]
    if max_videos_per_class is not None:
        groups: dict[tuple[str, str], list[AnnotatedVideo]] = {}
        for video in sorted(kept, key=lambda v: v.video_id):
            groups.setdefault((video.class_name, video.subset), []).append(video)
        rng = np.random.default_rng([int(seed), 2])
        keep_ids = set()
        for key in sorted(groups):
            group = groups[key]
            order = rng.permutation(len(group))[:max_videos_per_class]
            keep_ids.update(group[i].video_id for i in order)
        kept = [v for v in kept if v.video_id in keep_ids]
    return kept, [c for c in known_classes if c in chosen]


#: Share of the annotation videos in use that a store of real features must cover to be labelled ``activitynet``.
MIN_STORE_ID_MATCH = 0.5


def _store_data_source(store: FeatureStoreReader, video_ids: Sequence[str]) -> tuple[str, str]:
    """(data-source label, why) of a feature store for the annotation videos ``video_ids``, from what the
    store records, never by default:

    * generated (its ``source`` attribute is a stand-in label, it carries a stand-in config, or its
      extractor says "generated" / "stand-in"): ``anet-text + stand-in video``, whatever else it says;
    * the recorded extractor names I3D (contains "i3d", any case; ``mmar.extract`` records
      ``i3d-kinetics400-rgb/Mixed_5c+avgpool(2,7,7)``), the features are :data:`I3D_FEATURE_DIM`-d
      (1024, the I3D features the paper uses) and at least :data:`MIN_STORE_ID_MATCH` of ``video_ids``
      have features: ``activitynet``;
    * otherwise (no extractor, an extractor that is not I3D, another feature dimension, or ids that do
      not match these annotations): ``unknown features``, with the reason.
    """
    extractor = str(store.attrs.get("extractor", "")).strip()
    generated = (str(store.attrs.get("source", "")) in (STANDIN, ANET_TEXT_STANDIN_VIDEO)
                 or "standin_config" in store.attrs
                 or extractor.lower().startswith("generated")
                 or "stand-in" in extractor.lower() or "standin" in extractor.lower())
    if generated:
        return ANET_TEXT_STANDIN_VIDEO, f"the store records generated features (extractor {extractor!r})"
    wanted = list(dict.fromkeys(video_ids))
    n_covered = len(wanted) - len(store.missing(wanted))
    covered = n_covered / len(wanted) if wanted else 0.0
    if not extractor:
        return UNKNOWN_FEATURES, "the store records no extractor"
    is_i3d = "i3d" in extractor.lower()
    not_i3d = [] if is_i3d else [f"the store's extractor {extractor!r} is not I3D"]
    if store.feature_dim != I3D_FEATURE_DIM:
        not_i3d.append(f"its features are {store.feature_dim}-d, the paper's I3D features {I3D_FEATURE_DIM}-d"
                       + (f" (extractor {extractor!r})" if is_i3d else ""))
    if not_i3d:
        return UNKNOWN_FEATURES, " and ".join(not_i3d)
    if covered < MIN_STORE_ID_MATCH:
        return UNKNOWN_FEATURES, (f"the store has features for {n_covered:,} of the {len(wanted):,} annotation videos in "
                                  f"use ({covered:.1%}, fewer than {MIN_STORE_ID_MATCH:.0%}): an incomplete store (an "
                                  "extraction still running?) or a store of other videos")
    return ACTIVITYNET, (f"extractor {extractor!r}, {store.feature_dim}-d; features for {covered:.0%} of the "
                         f"{len(wanted)} annotation videos in use")

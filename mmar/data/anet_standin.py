"""The ``anet-text + stand-in video`` feature store: generated video features for REAL video ids.

ActivityNet videos and their I3D features cannot be obtained here. For the ``activitynet``
profile without ``features``, every real annotated video gets a generated feature sequence:

* keyed by the real video id (``v_<youtube id>``), so a store of real I3D features can replace it
  by changing only the path;
* as long as I3D would make it: one feature per 8 frames at 25 fps, ``T = floor(duration * 25 / 8)``
  (:func:`n_feature_steps`), from the real duration;
* conditioned on the video's real class and on its real sentences and their segments, through the
  stand-in generator of :mod:`mmar.data.standin`;
* written with :class:`~mmar.data.feature_store.FeatureStoreWriter`, i.e. exactly the layout of
  real extracted features; the file's ``extractor`` attribute says it is generated and its
  ``source`` attribute is :data:`mmar.results.ANET_TEXT_STANDIN_VIDEO`.

Building streams (one video in memory at a time) and resumes: ids already in the file are skipped.
Each video's random stream is seeded by ``(seed, video id)`` only, so an interrupted and resumed
build writes the same numbers as one uninterrupted build.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import h5py
import numpy as np
from tqdm.auto import tqdm

from mmar.data.activitynet import AnnotatedVideo
from mmar.data.feature_store import FeatureStoreError, FeatureStoreWriter
from mmar.data.standin import single_threaded_blas
from mmar.data.text import tokenize
from mmar.results import ANET_TEXT_STANDIN_VIDEO

FPS = 25.0
STRIDE_FRAMES = 8
EXTRACTOR = "generated: mmar.data.standin stand-in generator conditioned on real ActivityNet annotations (NOT I3D)"
_CONFIG_ATTR = "standin_config"


class VideoGenerator(Protocol):
    """What the store needs from :class:`mmar.data.standin.StandinVideoGenerator`."""

    feature_dim: int

    def features(self, class_name: str, n_steps: int, segments: Sequence[tuple[int, int]],
                 segment_words: Sequence[Sequence[str]], rng: np.random.Generator) -> np.ndarray: ...


def n_feature_steps(duration_s: float, fps: float = FPS, stride_frames: int = STRIDE_FRAMES) -> int:
    """Feature steps I3D gives for a video: ``floor(duration * fps / stride)`` (at least 1)."""
    return max(1, int(math.floor(duration_s * fps / stride_frames)))


def segment_steps(segments_s: Sequence[tuple[float, float]], n_steps: int, fps: float = FPS,
                  stride_frames: int = STRIDE_FRAMES) -> list[tuple[int, int]]:
    """Segments in seconds -> feature steps ``[start, stop)``, the same rounding as
    :meth:`mmar.data.prepared.PreparedDataset.feature_range` (floor start, ceil end, >= 1 step)."""
    per_second = fps / stride_frames
    steps = []
    for start_s, end_s in segments_s:
        start = min(max(int(math.floor(start_s * per_second)), 0), n_steps - 1)
        stop = min(max(int(math.ceil(end_s * per_second)), start + 1), n_steps)
        steps.append((start, stop))
    return steps


def video_rng(seed: int, video_id: str) -> np.random.Generator:
    """A random stream that depends only on ``seed`` and ``video_id`` (order-independent, resumable)."""
    digest = hashlib.sha256(video_id.encode("utf-8")).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])


@dataclass
class StoreBuildStats:
    """What a build did: videos written now, found already written, feature steps, seconds."""

    written: int
    already_present: int
    steps_written: int
    seconds: float

    def to_dict(self) -> dict[str, float]:
        return {"written": self.written, "already_present": self.already_present,
                "steps_written": self.steps_written, "seconds": round(self.seconds, 2)}


def _generator_name(generator: VideoGenerator) -> str:
    """The generator's version label (``GENERATOR_NAME`` of its module), else its class name."""
    module = sys.modules.get(type(generator).__module__)
    return str(getattr(module, "GENERATOR_NAME", type(generator).__name__))


def _claim_config(path: Path, config: dict) -> None:
    """Record the generator settings in the file; a resumed build must use the same ones."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "a") as f:
        found = f.attrs.get(_CONFIG_ATTR)
        if found is None:
            f.attrs[_CONFIG_ATTR] = json.dumps(config)
        elif json.loads(found) != config:
            raise FeatureStoreError(f"{path}: written with stand-in settings {json.loads(found)}, asked for {config}; "
                                    "use another path or delete the file")


def build_standin_store(path: str | Path, videos: Sequence[AnnotatedVideo], generator: VideoGenerator, *, seed: int,
                        dtype: str = "float16", progress: bool | None = None) -> StoreBuildStats:
    """Write (or complete) the stand-in feature store for ``videos`` at ``path``.

    Each entry is ``generator.features(class, T, segments in steps, sentence tokens, rng)``, shape
    (T, feature_dim) with ``T = n_feature_steps(duration)``; ``n_frames`` is ``round(duration * 25)``.
    """
    path = Path(path)
    config = {"seed": int(seed), "feature_dim": int(generator.feature_dim), "generator": _generator_name(generator),
              "generator_seed": getattr(generator, "seed", None), "noise": getattr(generator, "noise", None),
              "nuisance": getattr(generator, "nuisance", None)}
    _claim_config(path, config)
    start_time = time.perf_counter()
    written = present = steps_written = 0
    # One BLAS thread: the per-video products are small (see mmar.data.standin.single_threaded_blas).
    with single_threaded_blas(), FeatureStoreWriter(path, extractor=EXTRACTOR, fps=FPS, stride_frames=STRIDE_FRAMES,
                                                    feature_dim=generator.feature_dim, dtype=dtype,
                                                    source=ANET_TEXT_STANDIN_VIDEO) as store:
        for video in tqdm(videos, desc="stand-in video features", unit="video", disable=None if progress is None else not progress):
            if store.contains(video.video_id):
                present += 1
                continue
            n_steps = n_feature_steps(video.duration_s)
            features = generator.features(video.class_name, n_steps, segment_steps(video.segments, n_steps),
                                          [tokenize(s) for s in video.sentences], video_rng(seed, video.video_id))
            store.write(video.video_id, features, n_frames=int(round(video.duration_s * FPS)))
            written += 1
            steps_written += n_steps
    return StoreBuildStats(written, present, steps_written, time.perf_counter() - start_time)

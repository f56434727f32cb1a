"""The embedded stand-in dataset: ActivityNet-shaped, generated, clearly not real video.

This module assembles the dataset (videos, sentences, timestamps, the feature store) and holds
generator **v1**, described below and kept for comparison; the default generator is **v2**
(:mod:`mmar.data.standin_v2`: nuisance shared across classes and a nonlinear class map, calibrated
to properties of real I3D features and real captions). :func:`make_generator` picks one by name.

Why: the paper trains on ActivityNet Captions (Krishna et al. 2017) with I3D features (Carreira &
Zisserman 2017). The videos cannot be obtained here, and a user's fresh machine has no data at all,
so the default run uses this generator. Every number computed on it is labelled ``stand-in``.

What is real and what is generated:

* real: the 200 ActivityNet v1.3 class names and the GloVe 6B word vectors;
* generated: sentences (templates filled with class-related words), timestamps and the video
  feature sequences (1024-d, non-negative like post-ReLU average-pooled I3D Mixed_5c features).

How classes relate. Each class has a *class vector* c (unit mean GloVe vector of its name's
tokens), *related words* (name tokens plus the GloVe nearest neighbours of c among frequent
alphabetic words) and an ordered list of 3-5 *sub-events*, each named by one word: one or two
class-specific words (neighbours of c) and the rest drawn from a shared pool of generic action
verbs, so different classes share sub-event words in different orders. A sub-event's content in
GloVe space is ``u = a_c * c + a_w * w`` (w the unit vector of its word); a video step's feature is

    x_t = gain * relu(sqrt(D) * P (u_t + e_video + e_t) + b + e_feat)

with P a fixed seeded (1024, D) Gaussian projection (D = 50 for GloVe 50d), e_video a per-video
offset, e_t AR(1) per-step noise in GloVe space, e_feat per-step feature noise and gain a
per-video gain. Steps outside every segment are background (``u = a_bg * c``). Consequently
feature-mean similarity of classes follows their GloVe similarity (zero-shot transfer is possible)
but is blurred by shared sub-events and noise (it is not trivial), and the order of sub-events
carries information that mean pooling loses.

Temporal resolution: one stand-in feature per ``stride_frames`` = 64 frames at 25 fps (0.39 features
per second, 8x coarser than I3D's 8 frames) so that the default dataset stays small and fast;
sizes follow ActivityNet Captions' published statistics (Krishna et al. 2017: 3.65 sentences per
video, 13.48 words per sentence, mean video 117.6 s, a segment about a third of its video).
"""

from __future__ import annotations

import functools
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from mmar.data.classes import class_name_words
from mmar.data.feature_store import FeatureStoreWriter
from mmar.data.glove import GloveVectors
from mmar.data.text import tokenize
from mmar.results import STANDIN

GENERATOR_NAME = "stand-in generator v1"

#: Generic action verbs shared by all classes as sub-event words (all in GloVe 6B).
GENERIC_SUB_EVENTS = (
    "walks", "stands", "talks", "smiles", "holds", "picks", "puts", "turns", "jumps", "runs",
    "sits", "waves", "looks", "moves", "throws", "pulls", "pushes", "lifts", "claps", "laughs",
    "bends", "spins", "points", "grabs", "climbs", "kneels", "dances", "shakes", "wipes", "rolls",
)

#: Words never used as class-related words or as content of a sentence's sub-event vector.
STOPWORDS = frozenset(
    "a an the and or but of to in on at by for with from up down out over into onto off is are was were be been "
    "being it its he she they them his her their this that these those there then as while who which what when "
    "where how some other s 's n't not no one two several many much very also just more most all any each own "
    "same so than too can will do does did has have had i you we me my our your us him after before again".split()
)


def single_threaded_blas() -> threadpool_limits:
    """Context manager limiting BLAS to one thread; wrap loops that call
    :meth:`StandinVideoGenerator.features` many times (small matrix products)."""
    return threadpool_limits(limits=1, user_api="blas")


def _stable_seed(*parts: object) -> int:
    """A process-independent integer seed from strings/ints (Python's hash() is salted)."""
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode("utf-8"))


@dataclass(frozen=True)
class ClassInfo:
    """What the generator knows about one class."""

    name: str
    tokens: list[str]          # in-vocabulary words of the name (mmar.data.classes.class_name_words)
    vector: np.ndarray         # (D,) unit class vector
    related: list[str]         # GloVe nearest neighbours of the class vector
    sub_events: list[str]      # ordered sub-event words, 3-5


class StandinVideoGenerator:
    """Generates I3D-like (T, feature_dim) feature sequences for ActivityNet-like classes.

    Shared interface (also used for real ActivityNet ids with stand-in video, with real sentences):

    >>> gen = StandinVideoGenerator(["Archery", "Ballet"], GloveVectors.load_default())  # doctest: +SKIP
    >>> x = gen.features("Archery", 40, [(0, 12), (10, 30)], None, np.random.default_rng(0))  # doctest: +SKIP
    >>> x.shape, x.dtype, bool((x >= 0).all())  # doctest: +SKIP
    ((40, 1024), dtype('float32'), True)

    Class facts (vector, related words, sub-events) depend only on ``seed``, the class name and
    the word vectors, not on which other classes are listed, so a smaller class list gives the
    same classes as the full one.

    Args:
        class_names: classes it can generate (words looked up by
            :func:`mmar.data.classes.class_name_words`).
        glove: word vectors (the GloVe space the features are built from).
        feature_dim: C of the output features (1024 like I3D Mixed_5c).
        seed: fixes the projection, each class's related words and sub-events.
        noise: one scale for all noise terms (1.0 is the tuned default; 0 gives the clean means).
        class_weight, word_weight, background_weight: a_c, a_w, a_bg in the module docstring.
        n_related: number of GloVe neighbours kept per class.
    """

    def __init__(self, class_names: Sequence[str], glove: GloveVectors, feature_dim: int = 1024, seed: int = 0,
                 noise: float = 1.0, *, class_weight: float = 0.6, word_weight: float = 1.0,
                 background_weight: float = 0.3, n_related: int = 8, neighbour_candidates: int = 30000) -> None:
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.glove = glove
        self.feature_dim = int(feature_dim)
        self.seed = int(seed)
        self.noise = float(noise)
        self.class_weight = class_weight
        self.word_weight = word_weight
        self.background_weight = background_weight
        # Noise levels at noise=1.0, tuned on the default stand-in (200 classes x 12 videos): a
        # nearest-class-mean classifier on mean-pooled features of the 2/3 train videos gets ~40% of
        # the val videos right (chance 0.5%), on thirds-pooled features ~65% (order matters).
        self.video_noise = 1.25      # norm of e_video (GloVe space, relative to unit vectors)
        self.step_noise = 1.5        # norm of e_t
        self.step_correlation = 0.7  # AR(1) coefficient of e_t
        self.feature_noise = 1.25    # std of e_feat per channel
        self.gain_range = (0.8, 1.2)
        rng = np.random.default_rng(_stable_seed("projection", seed))
        dim = glove.dim
        self.projection = rng.normal(size=(self.feature_dim, dim)).astype(np.float32)  # P * sqrt(D) / sqrt(D)
        self.bias = rng.normal(-0.2, 0.3, size=self.feature_dim).astype(np.float32)
        self._classes: dict[str, ClassInfo] = {}
        unit = glove.unit_vectors()
        missing_pool = [w for w in GENERIC_SUB_EVENTS if w not in glove]
        if missing_pool:
            raise ValueError(f"{glove.source} lacks generic sub-event words {missing_pool}")
        for name in class_names:
            self._classes[name] = self._make_class(name, unit, n_related, neighbour_candidates)

    # -- class facts ------------------------------------------------------------------------------
    def _make_class(self, name: str, unit: np.ndarray, n_related: int, candidates: int) -> ClassInfo:
        words = class_name_words(name, self.glove)
        tokens = [w for w in words if w not in STOPWORDS] or words
        vector = unit[[self.glove.index(t) for t in tokens]].mean(axis=0)
        vector = vector / np.linalg.norm(vector)
        related = self.glove.nearest(vector, n_related, exclude=set(tokens) | STOPWORDS | set(GENERIC_SUB_EVENTS),
                                     candidates=candidates, alphabetic=True)
        rng = np.random.default_rng(_stable_seed("class", self.seed, name))
        n_sub = int(rng.choice([3, 4, 5], p=[0.45, 0.4, 0.15]))
        n_specific = int(rng.integers(1, 3))
        specific = list(rng.choice(related[:4], size=n_specific, replace=False))
        generic = list(rng.choice(GENERIC_SUB_EVENTS, size=n_sub - n_specific, replace=False))
        sub_events = [str(w) for w in rng.permutation(specific + generic)]
        return ClassInfo(name, tokens, vector.astype(np.float32), related, sub_events)

    def knowing_only(self, words: Iterable[str]) -> "StandinVideoGenerator":
        """A copy (class facts kept) whose word vectors are only ``words``: enough to generate videos
        whose segments show those words, and small enough to send to a worker process."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__, glove=self.glove.subset(words))
        return copy

    @property
    def class_names(self) -> list[str]:
        return list(self._classes)

    def class_info(self, class_name: str) -> ClassInfo:
        try:
            return self._classes[class_name]
        except KeyError:
            raise KeyError(f"class {class_name!r} is not one of the generator's {len(self._classes)} classes") from None

    def _unit(self, word: str) -> np.ndarray:
        return self.glove.unit_vectors()[self.glove.index(word)]

    def _words_vector(self, words: Sequence[str]) -> np.ndarray | None:
        """Unit mean vector of the in-vocabulary non-stopwords of ``words`` (None when none)."""
        rows = [self.glove.index(w) for w in words if w in self.glove and w not in STOPWORDS]
        if not rows:
            return None
        v = self.glove.unit_vectors()[rows].mean(axis=0)
        return v / max(float(np.linalg.norm(v)), 1e-8)

    def sub_event_content(self, class_name: str, sub_event: int) -> np.ndarray:
        """u of one of the class's sub-events (GloVe space, (D,))."""
        info = self.class_info(class_name)
        return self.class_weight * info.vector + self.word_weight * self._unit(info.sub_events[sub_event])

    def mean_feature(self, content: np.ndarray) -> np.ndarray:
        """Noise-free feature of a GloVe-space content vector, (C,) (gain 1)."""
        return np.maximum(self.projection @ content + self.bias, 0.0)

    # -- generation -----------------------------------------------------------------------------
    def segment_content(self, class_name: str, n_steps: int, segments: Sequence[tuple[int, int]],
                        segment_words: Sequence[Sequence[str]] | None) -> np.ndarray:
        """Noise-free GloVe-space content u_t of each step, (n_steps, D) float32.

        Args:
            class_name: the video's class.
            n_steps: T, the number of feature steps.
            segments: ``[start, stop)`` step ranges, one per sentence (clipped to ``[0, T)``; they may
                overlap: an overlapped step gets the mean content of its segments; a step in no
                segment is background).
            segment_words: optional tokens of each segment's sentence. When given, a segment's
                sub-event word vector is the mean unit GloVe vector of its sentence's in-vocabulary
                non-stopwords (conditioning the video on real text); when None, or when a sentence
                has no usable word, segments taken in start order walk through the class's own
                sub-events in order (segment i of n -> sub-event round(i (S-1) / (n-1))).
        """
        if n_steps <= 0:
            raise ValueError(f"{class_name}: n_steps must be positive, got {n_steps}")
        if segment_words is not None and len(segment_words) != len(segments):
            raise ValueError(f"{class_name}: {len(segments)} segments but {len(segment_words)} word lists")
        info = self.class_info(class_name)
        dim = self.glove.dim
        content = np.zeros((n_steps, dim), dtype=np.float32)
        cover = np.zeros(n_steps, dtype=np.float32)
        order = sorted(range(len(segments)), key=lambda i: (segments[i][0], segments[i][1]))
        n_sub = len(info.sub_events)
        for rank, i in enumerate(order):
            start, stop = (int(v) for v in segments[i])
            start, stop = max(start, 0), min(stop, n_steps)
            if stop <= start:
                continue
            word_vector = self._words_vector(segment_words[i]) if segment_words is not None else None
            if word_vector is None:
                sub = round(rank * (n_sub - 1) / (len(order) - 1)) if len(order) > 1 else 0
                word_vector = self._unit(info.sub_events[sub])
            content[start:stop] += self.class_weight * info.vector + self.word_weight * word_vector
            cover[start:stop] += 1.0
        background = self.background_weight * info.vector
        return np.where(cover[:, None] > 0, content / np.maximum(cover, 1.0)[:, None], background[None, :])

    def draw_nuisance(self, rng: np.random.Generator) -> None:
        """v1 has no per-video nuisance (v2 draws its scene, actor and lighting here); draws nothing."""
        return None

    def features(self, class_name: str, n_steps: int, segments: Sequence[tuple[int, int]],
                 segment_words: Sequence[Sequence[str]] | None, rng: np.random.Generator,
                 nuisance: None = None) -> np.ndarray:
        """One video's feature sequence, (n_steps, feature_dim) float32, non-negative.

        ``class_name``, ``n_steps``, ``segments``, ``segment_words``: as :meth:`segment_content`;
        ``rng``: the source of per-video and per-step noise (the caller seeds it per video);
        ``nuisance``: unused by v1 (the interface of v2's :meth:`draw_nuisance`).
        """
        content = self.segment_content(class_name, n_steps, segments, segment_words)
        dim = self.glove.dim
        scale = self.noise
        video_offset = rng.normal(size=dim) * (scale * self.video_noise / np.sqrt(dim))
        steps = rng.normal(size=(n_steps, dim)) * (scale * self.step_noise / np.sqrt(dim))
        rho = self.step_correlation
        innovation = np.sqrt(1.0 - rho * rho)
        # AR(1), temporally smooth like overlapping I3D windows: steps[t] = rho steps[t-1] + innovation steps[t]
        steps[1:] *= innovation
        steps = lfilter([1.0], [1.0, -rho], steps, axis=0)
        latent = content + video_offset[None, :] + steps
        pre = latent.astype(np.float32) @ self.projection.T + self.bias[None, :]
        pre += rng.standard_normal(size=pre.shape, dtype=np.float32) * np.float32(scale * self.feature_noise)
        gain = rng.uniform(*self.gain_range)
        return (np.maximum(pre, 0.0) * np.float32(gain)).astype(np.float32)

    def sentence(self, rng: np.random.Generator, info: ClassInfo, word: str, position: int, n_words: int,
                 nuisance: None) -> str:
        """One template sentence about sub-event ``word`` (:func:`_sentence`; v1 has no nuisance to mention)."""
        return _sentence(rng, info, word, position, n_words)


# ------------------------------------------------------------------------------------------------
# The stand-in dataset: videos, sentences, timestamps
# ------------------------------------------------------------------------------------------------

_SUBJECTS = ("a man", "a woman", "a young boy", "a little girl", "a group of people", "a person",
             "a young woman", "an older man", "a teenager", "a young man", "the instructor", "a child")
_LATER_SUBJECTS = ("he", "she", "the man", "the woman", "the boy", "the girl", "the person")
_CONNECTORS = ("then", "next", "after that", "finally", "later", "now", "soon")
_NOUN_ACTIONS = ("is seen with the {w}", "shows the {w}", "works on the {w}", "is shown with a {w}",
                 "uses the {w}", "demonstrates the {w}")
_CLASS_PHRASES = ("while {c}", "during the {c}", "doing {c}", "as part of {c}", "for {c}")
_RELATED_PHRASES = ("near the {r}", "with some {r}", "beside a {r}", "and the {r}")
_PLACES = ("in a large room", "outside on a sunny day", "in front of a crowd", "on a field", "in a gym",
           "at the beach", "in the backyard", "on a stage", "next to a table", "in a park", "inside a house",
           "on the street")
_FILLERS = ("while people watch in the background", "as the camera pans around", "for a few moments",
            "very slowly", "several times", "with great skill", "and continues", "in front of the camera",
            "while music plays", "for a long time", "and then stops", "once again")


@dataclass
class StandinData:
    """A generated stand-in dataset: the sentence table and facts for ``dataset.json``.

    ``sentences`` has columns sentence_id, video_id, class_name, subset, start_s, end_s,
    duration_s, text (no token ids yet: :mod:`mmar.data.prepare` adds them).
    """

    sentences: pd.DataFrame
    classes: list[str]
    features_path: Path
    fps: float
    stride_frames: int
    feature_dim: int
    class_facts: dict[str, dict[str, list[str]]]
    params: dict[str, object]


@functools.lru_cache(maxsize=None)
def _n_tokens(text: str) -> int:
    """Number of tokens of a sentence part (parts joined by spaces have the sum of their counts)."""
    return len(tokenize(text))


def _sentence(rng: np.random.Generator, info: ClassInfo, word: str, position: int, n_words: int) -> str:
    """One template sentence about sub-event ``word`` of ``info``'s class, about ``n_words`` words."""
    parts: list[str] = []
    if position > 0 and rng.random() < 0.6:
        parts.append(str(rng.choice(_CONNECTORS)))
    parts.append(str(rng.choice(_LATER_SUBJECTS if position > 0 and rng.random() < 0.6 else _SUBJECTS)))
    if word in GENERIC_SUB_EVENTS:
        parts.append(word)
    else:
        parts.append(str(rng.choice(_NOUN_ACTIONS)).format(w=word))
    parts.append(str(rng.choice(_CLASS_PHRASES)).format(c=info.name.lower()) if rng.random() < 0.6
                 else str(rng.choice(_RELATED_PHRASES)).format(r=rng.choice(info.related)))
    length = sum(_n_tokens(part) for part in parts)
    for extra in [str(rng.choice(_PLACES))] + [str(f) for f in rng.permutation(_FILLERS)]:
        extra_length = _n_tokens(extra)
        if length + extra_length <= n_words + 1:
            parts.append(extra)
            length += extra_length
    text = " ".join(parts)
    return text[0].upper() + text[1:] + "."


def _layout(rng: np.random.Generator, n_steps: int, n_sub: int, overlap: float) -> list[tuple[int, int]]:
    """Ordered sub-event step ranges of one video: Dirichlet durations with background gaps, each
    range then widened by up to ``overlap`` of its length on both sides (sentences overlap in
    ActivityNet Captions). Starts strictly increase; every range keeps at least 2 steps."""
    shares = rng.dirichlet(np.full(n_sub + 1, 2.0))
    gaps = rng.dirichlet(np.ones(n_sub + 1)) * shares[-1]
    bounds: list[tuple[int, int]] = []
    position = gaps[0]
    for j in range(n_sub):
        start, stop = position, position + shares[j]
        position = stop + gaps[j + 1]
        width = stop - start
        start -= rng.uniform(0, overlap) * width
        stop += rng.uniform(0, overlap) * width
        a = int(np.clip(np.floor(start * n_steps), 0, n_steps - 2))
        if bounds:  # keep starts strictly increasing: sentence j describes sub-event j
            a = min(max(a, bounds[-1][0] + 1), n_steps - 2)
        b = int(np.clip(np.ceil(stop * n_steps), a + 2, n_steps))
        bounds.append((a, b))
    return bounds


#: How :func:`select_classes` picks the stand-in's classes.
CLASS_SELECTIONS = ("first", "random")


def select_classes(n_classes: int, all_classes: Sequence[str], selection: str, seed: int) -> list[str]:
    """``n_classes`` of ``all_classes``: the first ones (``"first"``) or a seeded random choice kept
    in list order (``"random"``)."""
    if not 2 <= n_classes <= len(all_classes):
        raise ValueError(f"n_classes must be in [2, {len(all_classes)}], got {n_classes}")
    if selection == "first":
        return list(all_classes[:n_classes])
    if selection == "random":
        rng = np.random.default_rng(_stable_seed("class-selection", seed))
        chosen = np.sort(rng.choice(len(all_classes), size=n_classes, replace=False))
        return [all_classes[i] for i in chosen]
    raise ValueError(f"class_selection must be one of {CLASS_SELECTIONS}, got {selection!r}")


@dataclass
class _VideoSettings:
    """What every generated video shares (see :func:`generate_standin`)."""

    seed: int
    per_second: float
    stride_frames: int
    mean_duration_s: float
    overlap: float
    val_every: int


@dataclass
class GeneratedVideo:
    """One generated video: its id, features (T, C) in the store's dtype, frame count and sentence rows."""

    video_id: str
    features: np.ndarray
    n_frames: int
    rows: list[dict[str, object]]


def generate_video(generator: StandinVideoGenerator, class_name: str, v: int, settings: _VideoSettings,
                   dtype: str = "float16") -> GeneratedVideo:
    """Video ``v`` of ``class_name``, seeded by ``settings.seed`` and its id alone (so independent of
    which process generates it, and in which order): a duration from a Gamma(3, mean/3) clipped to
    [20, 240] s, T = duration * fps / stride_frames steps, one segment and one sentence per
    sub-event of its class, the video's nuisance (v2 only), features from the generator's
    ``features`` and sentences from its ``sentence``."""
    info = generator.class_info(class_name)
    video_id = f"standin_{_stable_seed(class_name) % 10**6:06d}_{v:03d}"
    rng = np.random.default_rng(_stable_seed("video", settings.seed, video_id))
    duration = float(np.clip(rng.gamma(3.0, settings.mean_duration_s / 3.0), 20.0, 240.0))
    n_steps = max(int(round(duration * settings.per_second)), 3 * len(info.sub_events))
    duration = n_steps / settings.per_second
    segments = _layout(rng, n_steps, len(info.sub_events), settings.overlap)
    words = [[w] for w in info.sub_events]  # segment j shows sub-event j
    nuisance = generator.draw_nuisance(rng)
    features = generator.features(class_name, n_steps, segments, words, rng, nuisance).astype(dtype)
    subset = "val" if v % settings.val_every == settings.val_every - 1 else "train"
    rows = []
    for j, (word, (a, b)) in enumerate(zip(info.sub_events, segments)):
        n_words = int(np.clip(round(rng.normal(12.5, 4.0)), 6, 30))
        rows.append({
            "sentence_id": f"{video_id}#{j}", "video_id": video_id, "class_name": class_name,
            "subset": subset, "start_s": round(a / settings.per_second, 3), "end_s": round(b / settings.per_second, 3),
            "duration_s": round(duration, 3), "text": generator.sentence(rng, info, word, j, n_words, nuisance),
        })
    return GeneratedVideo(video_id, features, int(n_steps * settings.stride_frames), rows)


_WORKER: dict[str, object] = {}
#: Datasets from this many videos up are generated by worker processes (see :func:`generate_standin`).
PARALLEL_FROM_VIDEOS = 1000


def _start_worker(generator: StandinVideoGenerator, settings: _VideoSettings, videos_per_class: int) -> None:
    """Give a process the generator once (it holds the word vectors), for :func:`_class_videos`."""
    _WORKER.update(generator=generator, settings=settings, videos_per_class=videos_per_class)


def _class_videos(class_name: str) -> list[GeneratedVideo]:
    """All videos of one class (one job of :func:`generate_standin`), on one BLAS thread: the
    per-video products are small, and multi-threaded OpenBLAS on small matrices is 10-20x slower
    than one thread when the cores are busy."""
    with single_threaded_blas():
        return [generate_video(_WORKER["generator"], class_name, v, _WORKER["settings"])  # type: ignore[arg-type]
                for v in range(int(_WORKER["videos_per_class"]))]  # type: ignore[call-overload]


#: Stand-in generator versions by name -> the module that defines it: v2 (the default) and v1 (this module's,
#: kept for comparison).
GENERATOR_MODULES = {"v1": "mmar.data.standin", "v2": "mmar.data.standin_v2"}
GENERATORS = tuple(GENERATOR_MODULES)


def make_generator(version: str, class_names: Sequence[str], glove: GloveVectors, *, feature_dim: int = 1024,
                   seed: int = 0, noise: float = 1.0, nuisance: float = 1.0) -> StandinVideoGenerator:
    """The stand-in generator ``version`` (:data:`GENERATORS`); ``nuisance`` is v2's difficulty knob
    (v1 has none: it must stay 1.0 there)."""
    if version == "v1":
        if nuisance != 1.0:
            raise ValueError(f"stand-in generator v1 has no nuisance knob; got nuisance={nuisance}")
        return StandinVideoGenerator(class_names, glove, feature_dim=feature_dim, seed=seed, noise=noise)
    if version == "v2":
        from mmar.data.standin_v2 import StandinVideoGeneratorV2

        return StandinVideoGeneratorV2(class_names, glove, feature_dim=feature_dim, seed=seed, noise=noise,
                                       nuisance=nuisance)
    raise ValueError(f"unknown stand-in generator {version!r}; expected one of {GENERATORS}")


def generator_name(generator: StandinVideoGenerator) -> str:
    """The recorded name of a generator's version ("stand-in generator v1" / "... v2")."""
    return str(sys.modules[type(generator).__module__].GENERATOR_NAME)


def generate_standin(out_dir: str | Path, glove: GloveVectors, classes: Sequence[str], *, videos_per_class: int = 12,
                     generator: str = "v2", nuisance: float = 1.0,
                     seed: int = 0, noise: float = 1.0, feature_dim: int = 1024, fps: float = 25.0,
                     stride_frames: int = 64, mean_duration_s: float = 117.6, overlap: float = 0.3,
                     val_every: int = 3, processes: int | None = None, progress: bool | None = None) -> StandinData:
    """Generate the stand-in dataset: ``out_dir/features.h5`` and the sentence table.

    Per video, :func:`generate_video` (seeded by ``seed`` and its id, so the output does not depend
    on ``processes``, the worker processes that generate the classes' videos while this process
    writes them in class order; None: one per core, at most 2, from :data:`PARALLEL_FROM_VIDEOS`
    videos up, and this process alone below, where starting workers would take longer than the
    work). Every ``val_every``-th video of a class is ``val``, the rest ``train`` (2:1 for 3).
    ``generator`` names the version (:data:`GENERATORS`), ``nuisance`` v2's difficulty knob.
    """
    from mmar.parallel import imap_processes

    if processes is None and len(classes) * videos_per_class < PARALLEL_FROM_VIDEOS:
        processes = 1
    if videos_per_class < 2:
        raise ValueError(f"videos_per_class must be >= 2 (train and val), got {videos_per_class}")
    out_dir = Path(out_dir)
    version = generator
    generator = make_generator(version, classes, glove, feature_dim=feature_dim, seed=seed, noise=noise,
                               nuisance=nuisance)
    settings = _VideoSettings(seed, fps / stride_frames, stride_frames, mean_duration_s, overlap, val_every)
    features_path = out_dir / "features.h5"
    if features_path.exists():
        features_path.unlink()  # a stand-in store is always regenerated whole
    rows = []
    # a worker needs the vectors of the sub-event words only (segment j shows sub-event j)
    shown = generator.knowing_only({w for c in classes for w in generator.class_info(c).sub_events})
    videos = imap_processes(_class_videos, list(classes), processes, initializer=_start_worker,
                            initargs=(shown, settings, videos_per_class))
    try:
        with FeatureStoreWriter(features_path, extractor=generator_name(generator), fps=fps, stride_frames=stride_frames,
                                feature_dim=feature_dim, dtype="float16", source=STANDIN, flush_each=False) as store:
            for class_videos in tqdm(videos, total=len(classes), desc="stand-in classes",
                                     disable=None if progress is None else not progress):
                for video in class_videos:
                    store.write(video.video_id, video.features, n_frames=video.n_frames)
                    rows.extend(video.rows)
    finally:
        _WORKER.clear()  # what the inline path left in this process
    facts = {c: {"words": generator.class_info(c).tokens, "related": generator.class_info(c).related,
                 "sub_events": generator.class_info(c).sub_events} for c in classes}
    params = {"generator": version, "generator_name": generator_name(generator), "nuisance": nuisance,
              "videos_per_class": videos_per_class, "seed": seed, "noise": noise, "mean_duration_s": mean_duration_s,
              "overlap": overlap, "val_every": val_every, "class_weight": generator.class_weight,
              "word_weight": generator.word_weight, "background_weight": generator.background_weight}
    return StandinData(pd.DataFrame(rows), list(classes), features_path, fps, stride_frames, feature_dim, facts, params)

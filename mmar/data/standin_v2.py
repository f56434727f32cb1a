"""Stand-in generator v2: class content through a nonlinear map, buried in nuisance shared across classes.

Why a second generator. In v1 (:mod:`mmar.data.standin`) a video step is a linear projection (then
a ReLU) of the same GloVe vectors that build its sentences, with small noise and nothing shared
across classes: k-means on mean-pooled raw features finds the classes (97 % at K = 5 on the
default data), above every learned embedding. Real I3D features are the opposite: the paper's
"Baseline I3D features" discovery rows are the weak ones (23.4 % MLB-YouTube, 26.8 % HMDB,
42.8 % UCF101; Tables 3-4), because what a video looks like (place, people, camera, light) varies
more than what happens in it. v2 tells that story.

The generative story, for video v of class c (D = 50 GloVe dimensions, C = 1024 channels):

1. **Nuisance, drawn per video, independent of the class** (most of the feature variance):
   a *scene* s (one of the 12 places of :data:`SCENES`, uniformly), an *actor* (appearance z_a in
   R^8; its first coordinate's sign also picks the sentences' subjects: men or women), *lighting*
   (a brightness b along one fixed channel direction and a gain), and the video's length. Per
   step, *camera motion*: AR(1) (coefficient 0.9) in an 8-dimensional channel subspace.
2. **Class content**: ordered sub-events as in v1 (3-5 per class, one or two class-specific words
   and generic action verbs); sub-event j's GloVe content is ``u_j = a_c c + a_w w_j`` plus
   per-video and AR(1) per-step content noise. Steps outside every segment carry
   ``a_bg c`` (background: the class is barely visible), so segments cover their video only in
   part, as in ActivityNet Captions.
3. **Features**: a fixed, seeded, **nonlinear** map of the content, ``h(u) = W2 tanh(g W1 u)``
   (W1 (H, D), W2 (C, H), H = 128), added to the nuisance before a ReLU:

       x_t = gain * relu(content_scale * h(u_t) + nuisance * (S_s + A z_a + b l + M m_t) + bias + e_t)

   with S (12, C) the scene prototypes, A (C, 8), l (C,) and M (C, 8) fixed seeded directions,
   m_t the camera state and e_t per-channel noise. ``nuisance`` is the difficulty knob (0: no
   nuisance; the notebooks' difficulty sweep varies it).
4. **Sentences** describe a segment's sub-event, paraphrased (the sub-event word replaced by one
   of its GloVe neighbours with probability 0.35), name the class (or a related word) in about a
   third of sentences, mention the video's scene in some ("in a gym", "outside on a sunny day":
   nuisance the text shares with the video), and have word noise (each word after the first
   dropped with probability 0.03, replaced by a filler word with probability 0.04).

Calibration targets are properties of data, never the method's results (measured by
:mod:`mmar.data.diagnostics`, printed by notebook 01): raw-feature k-means + voting accuracy at
K = 5 in the range the paper reports for real I3D features (about 23-43 %; it is measured there
at other K and on other datasets, so only the range is a target), while a supervised linear
probe still finds the classes well above chance; the share of sentences naming their class near
the real ActivityNet Captions' 30.2 %, and the between-class share of sentence-vector variance
near the real 0.188 (both measured by notebook 01 on the annotation files when they are on disk;
``results/01_data.csv``, data source ``activitynet annotations``).

What it cannot tell: whether real I3D features of ActivityNet have this structure (the nuisance is
an assumption, shaped only to match the few properties above); anything about fine motion, since
sub-events are words; how the paper's numbers arise. A verdict measured on it says how the method
behaves on data with these properties; the difficulty sweep shows which verdicts depend on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.signal import lfilter

from mmar.data.glove import GloveVectors
from mmar.data.standin import (_CLASS_PHRASES, _CONNECTORS, _FILLERS, _NOUN_ACTIONS, _RELATED_PHRASES, GENERIC_SUB_EVENTS,
                               STOPWORDS, ClassInfo, StandinVideoGenerator, _n_tokens, _stable_seed)

GENERATOR_NAME = "stand-in generator v2"

#: The scenes (shared by all classes); a sentence that mentions its video's scene uses this phrase.
SCENES = ("in a large room", "outside on a sunny day", "in front of a crowd", "on a field", "in a gym",
          "at the beach", "in the backyard", "on a stage", "next to a table", "in a park", "inside a house",
          "on the street")
_MEN = ("a man", "a young boy", "an older man", "a young man", "a boy")
_WOMEN = ("a woman", "a little girl", "a young woman", "an older woman", "a girl")
_OTHERS = ("a person", "a group of people", "a teenager", "the instructor", "a child")
_LATER = {"men": ("he", "the man", "the boy"), "women": ("she", "the woman", "the girl"), "others": ("they", "the person")}
#: Words that replace a sentence word in word noise (frequent, class-neutral).
NOISE_WORDS = ("thing", "area", "place", "camera", "video", "shot", "view", "side", "front", "back", "around",
               "again", "still", "just", "quickly", "slowly", "really", "also", "some", "other", "people", "time")


@dataclass(frozen=True)
class VideoNuisance:
    """What one video looks like, independent of its class: scene index, actor appearance (8,),
    brightness, gain, and the subjects its sentences use (``men``, ``women`` or ``others``)."""

    scene: int
    actor: np.ndarray
    brightness: float
    gain: float
    subjects: str


class StandinVideoGeneratorV2(StandinVideoGenerator):
    """The v2 generator (module docstring); the interface of :class:`StandinVideoGenerator`.

    Args (besides the v1 ones, whose ``noise`` scales the content noise and ``e_t``):
        nuisance: the difficulty knob, scaling every nuisance term (1.0: the calibrated default).
        content_scale: scale of the class content's map h.
        n_paraphrases: GloVe neighbours kept per sub-event word as its paraphrases.
    """

    def __init__(self, class_names: Sequence[str], glove: GloveVectors, feature_dim: int = 1024, seed: int = 0,
                 noise: float = 1.0, *, nuisance: float = 1.0, content_scale: float = 1.0, n_paraphrases: int = 3,
                 **v1_weights: float) -> None:
        if nuisance < 0:
            raise ValueError(f"nuisance must be >= 0, got {nuisance}")
        self.nuisance = float(nuisance)
        self.content_scale = float(content_scale)
        self.n_paraphrases = int(n_paraphrases)
        super().__init__(class_names, glove, feature_dim, seed, noise, **v1_weights)
        # content noise (GloVe space) and per-channel noise at noise = 1.0
        self.video_noise, self.step_noise, self.step_correlation, self.feature_noise = 0.6, 0.6, 0.7, 0.5
        # nuisance scales at nuisance = 1.0 (channel units; the content map has about unit std per channel),
        # calibrated on the diagnostics of 60-class x 30-video datasets at several scales so that raw-feature
        # k-means + voting at K = 5 falls in the range of the paper's "Baseline I3D features" rows (module docstring)
        self.scene_scale, self.actor_scale, self.brightness_scale, self.camera_scale = 0.88, 0.44, 0.33, 0.275
        self.camera_correlation = 0.9
        self.gain_sigma = 0.2
        rng = np.random.default_rng(_stable_seed("v2-maps", seed))
        hidden, dim, channels = 128, glove.dim, self.feature_dim
        self.map_in = (rng.normal(size=(hidden, dim)) * 1.5).astype(np.float32)                  # W1 (H, D), g folded in
        self.map_out = (rng.normal(size=(channels, hidden)) / np.sqrt(hidden) * 1.4).astype(np.float32)  # W2 (C, H)
        self.scenes = rng.normal(size=(len(SCENES), channels)).astype(np.float32)
        self.actor_directions = (rng.normal(size=(channels, 8)) / np.sqrt(8)).astype(np.float32)
        self.light_direction = rng.normal(size=channels).astype(np.float32)
        self.camera_directions = (rng.normal(size=(channels, 8)) / np.sqrt(8)).astype(np.float32)
        self.bias = rng.normal(-0.5, 0.3, size=channels).astype(np.float32)
        self.paraphrases = {w: self._paraphrases(w) for w in {w for c in self.class_names
                                                              for w in self.class_info(c).sub_events}}

    # -- class facts ------------------------------------------------------------------------------
    def _make_class(self, name: str, unit: np.ndarray, n_related: int, candidates: int) -> ClassInfo:
        """v1's class facts, with related words that are not inflections of the name's words
        ("applying" -> not "applied"): candidates sharing a 4-letter prefix with a name word are skipped."""
        info = super()._make_class(name, unit, 3 * n_related, candidates)
        prefixes = {t[:4] for t in info.tokens}
        related = [w for w in info.related if w[:4] not in prefixes][:n_related] or info.related[:n_related]
        rng = np.random.default_rng(_stable_seed("class-v2", self.seed, name))
        n_specific = min(int(rng.integers(1, 3)), len(related))
        specific = list(rng.choice(related[:4], size=n_specific, replace=False))
        generic = list(rng.choice(GENERIC_SUB_EVENTS, size=len(info.sub_events) - n_specific, replace=False))
        sub_events = [str(w) for w in rng.permutation(specific + generic)]
        return ClassInfo(name, info.tokens, info.vector, related, sub_events)

    def _paraphrases(self, word: str) -> list[str]:
        """``n_paraphrases`` GloVe neighbours of ``word`` that are not its inflections or stop words."""
        found = self.glove.nearest(self._unit(word), 4 * self.n_paraphrases, exclude={word} | STOPWORDS,
                                   candidates=30000, alphabetic=True)
        return [w for w in found if w[:4] != word[:4]][: self.n_paraphrases] or [word]

    # -- video ------------------------------------------------------------------------------------
    def draw_nuisance(self, rng: np.random.Generator) -> VideoNuisance:
        actor = rng.normal(size=8)
        subjects = "others" if rng.random() < 0.25 else ("men" if actor[0] > 0 else "women")
        return VideoNuisance(int(rng.integers(len(SCENES))), actor, float(rng.normal()),
                             float(np.exp(rng.normal(0.0, self.gain_sigma))), subjects)

    def content_map(self, content: np.ndarray) -> np.ndarray:
        """h(u) for content rows (T, D) -> (T, C) (no nuisance, no bias)."""
        return np.tanh(content.astype(np.float32) @ self.map_in.T) @ self.map_out.T

    def mean_feature(self, content: np.ndarray) -> np.ndarray:
        """Noise- and nuisance-free feature of a GloVe-space content vector, (C,) (gain 1)."""
        return np.maximum(self.content_scale * self.content_map(content[None, :])[0] + self.bias, 0.0)

    def features(self, class_name: str, n_steps: int, segments: Sequence[tuple[int, int]],
                 segment_words: Sequence[Sequence[str]] | None, rng: np.random.Generator,
                 nuisance: VideoNuisance | None = None) -> np.ndarray:
        """(n_steps, C) float32 non-negative features of one video (module docstring, step 3).

        Arguments as :meth:`StandinVideoGenerator.features`; ``nuisance`` is drawn from ``rng`` when None.
        """
        content = self.segment_content(class_name, n_steps, segments, segment_words)
        if nuisance is None:
            nuisance = self.draw_nuisance(rng)
        dim, scale = self.glove.dim, self.noise
        video_offset = rng.normal(size=dim) * (scale * self.video_noise / np.sqrt(dim))
        steps = _ar1(rng.normal(size=(n_steps, dim)) * (scale * self.step_noise / np.sqrt(dim)), self.step_correlation)
        pre = self.content_scale * self.content_map(content + video_offset[None, :] + steps)
        camera = _ar1(rng.normal(size=(n_steps, 8)), self.camera_correlation) @ self.camera_directions.T
        looks = (self.scene_scale * self.scenes[nuisance.scene] + self.actor_scale * self.actor_directions @ nuisance.actor
                 + self.brightness_scale * nuisance.brightness * self.light_direction)
        pre += self.nuisance * (looks[None, :] + self.camera_scale * camera) + self.bias[None, :]
        pre += rng.standard_normal(size=pre.shape, dtype=np.float32) * np.float32(scale * self.feature_noise)
        return (np.maximum(pre, 0.0) * np.float32(nuisance.gain)).astype(np.float32)

    # -- sentences --------------------------------------------------------------------------------
    def sentence(self, rng: np.random.Generator, info: ClassInfo, word: str, position: int, n_words: int,
                 nuisance: VideoNuisance | None) -> str:
        """One sentence about sub-event ``word`` (module docstring, step 4), about ``n_words`` words."""
        subjects = nuisance.subjects if nuisance is not None else "others"
        parts: list[str] = []
        if position > 0 and rng.random() < 0.6:
            parts.append(str(rng.choice(_CONNECTORS)))
        pool = {"men": _MEN, "women": _WOMEN, "others": _OTHERS}[subjects]
        parts.append(str(rng.choice(_LATER[subjects] if position > 0 and rng.random() < 0.6 else pool)))
        said = str(rng.choice(self.paraphrases.get(word, [word]))) if rng.random() < 0.35 else word
        parts.append(said if word in GENERIC_SUB_EVENTS else str(rng.choice(_NOUN_ACTIONS)).format(w=said))
        if rng.random() < 0.3:
            parts.append(str(rng.choice(_CLASS_PHRASES)).format(c=info.name.lower()))
        elif rng.random() < 0.5:
            parts.append(str(rng.choice(_RELATED_PHRASES)).format(r=rng.choice(info.related)))
        length = sum(_n_tokens(part) for part in parts)
        extras = ([SCENES[nuisance.scene]] if nuisance is not None and rng.random() < 0.4 else []) + \
            [str(f) for f in rng.permutation(_FILLERS)]
        for extra in extras:
            if length + _n_tokens(extra) <= n_words + 1:
                parts.append(extra)
                length += _n_tokens(extra)
        words = " ".join(parts).split()
        kept = [words[0]]
        for w in words[1:]:
            u = rng.random()
            if u < 0.03:
                continue
            kept.append(str(rng.choice(NOISE_WORDS)) if u < 0.07 else w)
        text = " ".join(kept)
        return text[0].upper() + text[1:] + "."


def _ar1(innovations: np.ndarray, rho: float) -> np.ndarray:
    """Stationary AR(1) along axis 0 with unit-variance-preserving innovations: x_t = rho x_{t-1} + sqrt(1-rho^2) e_t."""
    scaled = innovations.copy()
    scaled[1:] *= np.sqrt(1.0 - rho * rho)
    return lfilter([1.0], [1.0, -rho], scaled, axis=0)

"""The losses of the ICLR 2019 submission (Eqs. 1, 3-8), on padded batches with masks.

All distances are squared L2. For sequences the paper's ``|x - y|^2`` is reduced over the valid
(unpadded) steps with ``reduction``:

- ``"sum"``: the literal squared norm, summed over valid steps and channels, averaged over the batch
  (what training uses: ``TrainConfig.recon_reduction`` defaults to it);
- ``"mean"`` (the default of these functions when called alone): the mean of the squared error over
  valid elements (steps x channels), so a 1024-d video feature and a 50-d word vector weigh the same
  per element and the loss does not grow with the sequence length.

Embeddings (unit length) use the literal ``|z_v - z_t|^2`` averaged over the batch (Eq. 3).

Decoding needs an output length. Where the paper's loss has a target (Eqs. 1, 4, and the outer
decoder of Eq. 5) the target's mask is used. The *intermediate* sequence of a cycle (Eq. 5) and the
generated sequences shown to D_V / D_T (Eqs. 7-8) have no target: their lengths are borrowed from
the other modality's batch (row i of the video batch gives the length of the video generated from
sentence i and vice versa). Only lengths are borrowed, never content, so no pairing is needed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmar.models.autoencoders import Decoded, MultimodalAutoencoder
from mmar.models.discriminators import Discriminators

REDUCTIONS = ("mean", "sum")
ADVERSARIAL_FORMS = ("saturating", "non_saturating")
PAIRED_TERMS = ("recons", "recons_video", "recons_text", "joint", "cross", "cycle")


def sequence_sq_error(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Squared error of (B, T, C) sequences over the valid steps of ``mask`` (B, T) -> scalar."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    sq = ((pred - target) ** 2 * mask[:, :, None]).sum()
    if reduction == "sum":
        return sq / pred.shape[0]
    return sq / (mask.sum() * pred.shape[2]).clamp(min=1)


def decoded_sq_error(decoded: Decoded, target: torch.Tensor, mask: torch.Tensor, reduction: str = "mean", *,
                     target_sq: torch.Tensor | None = None, projected: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`sequence_sq_error` of ``decoded.dense()`` against ``target`` (B, T, C), computed on the factors.

    With ``X = W Y`` (W (B, T, n) zero on padded steps, Y (B, n, C)):
    ``|WY - X|^2 = <W^T W, Y Y^T> - 2 <Y, W^T X> + |X|^2`` (masked), one pass over the target
    instead of several over (B, T, C) tensors; exact up to float rounding. That rounding is relative to
    ``|X|^2``, not to the result: in float32 the result's relative error is about 1e-7 x ``|X|^2 / |WY - X|^2``
    (measured against a float64 dense reference on video-sized batches, ``tests/test_losses.py``: at most 2e-7 with
    a residual of half the target's energy, 5e-6 at 1 %, 2e-4 at 0.1 %, 2e-3 at 0.01 %), so a nearly perfect
    reconstruction is read coarsely. ``target_sq`` (the masked ``|X|^2``) and ``projected`` (``W^T X``) may be
    passed in when already computed.
    """
    if decoded.weights is None:
        return sequence_sq_error(decoded.values, target, mask, reduction)
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    w, y = decoded.weights, decoded.columns
    if target_sq is None:
        target_sq = masked_sq_norm(target, mask)
    if projected is None:
        projected = torch.bmm(w.transpose(1, 2), target)               # (B, n, C)
    gram = torch.bmm(w.transpose(1, 2), w)                             # (B, n, n)
    sq = (gram * torch.bmm(y, y.transpose(1, 2))).sum() - 2.0 * (y * projected).sum() + target_sq
    sq = sq.clamp(min=0.0)
    if reduction == "sum":
        return sq / target.shape[0]
    return sq / (mask.sum() * target.shape[2]).clamp(min=1)


def masked_sq_norm(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of squares of ``x`` (B, T, C) over the valid steps of ``mask`` (B, T) -> scalar."""
    return (torch.linalg.vector_norm(x, dim=2) ** 2 * mask).sum()


def joint_loss(z_video: torch.Tensor, z_text: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``|E_V(v) - E_T(t)|^2`` for paired rows, (B, E) each, averaged over the batch."""
    return ((z_video - z_text) ** 2).sum(dim=1).mean()


class ForwardPass:
    """Memoised pieces of the model's forward pass over one video batch and one text batch.

    Keeps each embedding, each decode (e.g. G_V(E_T(t)) is shared by Eq. 4 and Eq. 5) and the
    projections ``W^T X`` of the targets, so that several loss terms cost little more than one.
    ``video`` (B, T, C) with ``video_mask`` (B, T), ``text`` (B, L, D) with ``text_mask`` (B, L);
    the two batches must have the same B but need not be paired.
    """

    def __init__(self, model: MultimodalAutoencoder, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor,
                 text_mask: torch.Tensor, reduction: str = "mean") -> None:
        if len(video) != len(text):
            raise ValueError(f"video and text batches must have the same size, got {len(video)} and {len(text)}")
        self.model, self.reduction = model, reduction
        self.x = {"video": video, "text": text}
        self.mask = {"video": video_mask, "text": text_mask}
        self._memo: dict[tuple, object] = {}

    def _get(self, key: tuple, compute):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def _encoder(self, kind: str):
        return self.model.video_encoder if kind == "video" else self.model.text_encoder

    def _decoder(self, kind: str):
        return self.model.video_decoder if kind == "video" else self.model.text_decoder

    def z(self, kind: str) -> torch.Tensor:
        """E_V(v) or E_T(t), (B, E)."""
        return self._get(("z", kind), lambda: self._encoder(kind)(self.x[kind], self.mask[kind]))

    def weights(self, kind: str) -> torch.Tensor | None:
        """The decoder's W (B, T, n) for this batch's lengths, None for a non-linear (LSTM) decoder."""
        unpool = self._decoder(kind).unpool
        return self._get(("w", kind), lambda: unpool.weights(self.mask[kind]) if hasattr(unpool, "weights") else None)

    def decode(self, kind: str, source: str) -> Decoded:
        """G_kind(E_source(x_source)) with the lengths of this batch's ``kind`` sequences."""
        return self._get(("dec", kind, source),
                         lambda: self._decoder(kind).decode(self.z(source), self.mask[kind], weights=self.weights(kind)))

    def cycle_decode(self, kind: str) -> Decoded:
        """G_kind(E_other(G_other(E_kind(x_kind)))), the Eq. 5 round trip of ``kind``."""
        other = "text" if kind == "video" else "video"

        def compute() -> Decoded:
            z_back = self._encoder(other).encode_decoded(self.decode(other, kind), self.mask[other])
            return self._decoder(kind).decode(z_back, self.mask[kind], weights=self.weights(kind))
        return self._get(("cycle", kind), compute)

    def error(self, kind: str, decoded: Decoded) -> torch.Tensor:
        """Squared error of a decoded ``kind`` sequence against this batch's ``kind`` input."""
        x, mask = self.x[kind], self.mask[kind]
        if decoded.weights is None:
            return sequence_sq_error(decoded.values, x, mask, self.reduction)
        target_sq = self._get(("sq", kind), lambda: masked_sq_norm(x, mask))
        projected = self._get(("proj", kind), lambda: torch.bmm(decoded.weights.transpose(1, 2), x))
        return decoded_sq_error(decoded, x, mask, self.reduction, target_sq=target_sq, projected=projected)

    def recons_video(self) -> torch.Tensor:
        """The video half of Eq. 1, ``|G_V(E_V(v)) - v|^2``."""
        return self.error("video", self.decode("video", "video"))

    def recons_text(self) -> torch.Tensor:
        """The text half of Eq. 1, ``|G_T(E_T(t)) - t|^2``."""
        return self.error("text", self.decode("text", "text"))

    def recons(self) -> torch.Tensor:
        """Eq. 1."""
        return self.recons_video() + self.recons_text()

    def joint(self) -> torch.Tensor:
        """Eq. 3 (the batches must be paired)."""
        return joint_loss(self.z("video"), self.z("text"))

    def cross(self) -> torch.Tensor:
        """Eq. 4 (the batches must be paired)."""
        return self.error("text", self.decode("text", "video")) + self.error("video", self.decode("video", "text"))

    def cycle_halves(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 5 as (text half, video half)."""
        return self.error("text", self.cycle_decode("text")), self.error("video", self.cycle_decode("video"))


def cycle_halves(model: MultimodalAutoencoder, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor,
                 text_mask: torch.Tensor, reduction: str = "mean") -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 5 as (text half, video half): ``|G_T(E_V(G_V(E_T(t)))) - t|^2`` and ``|G_V(E_T(G_T(E_V(v)))) - v|^2``.

    ``video``/``text`` need not be paired; the intermediate lengths come from the other batch's mask.
    """
    return ForwardPass(model, video, video_mask, text, text_mask, reduction).cycle_halves()


def cycle_loss(model: MultimodalAutoencoder, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor,
               text_mask: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Eq. 5, the sum of both halves of :func:`cycle_halves`. Needs no pairs."""
    text_half, video_half = cycle_halves(model, video, video_mask, text, text_mask, reduction)
    return text_half + video_half


def paired_losses(model: MultimodalAutoencoder, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor,
                  text_mask: torch.Tensor, terms: tuple[str, ...], reduction: str = "mean") -> dict[str, torch.Tensor]:
    """The requested terms of Eq. 6 on a paired batch: a dict with some of ``recons`` (Eq. 1),
    ``joint`` (Eq. 3), ``cross`` (Eq. 4), ``cycle`` (Eq. 5), each a scalar (unweighted); also
    ``recons_video`` / ``recons_text``, the halves of Eq. 1 (one autoencoder alone)."""
    unknown = set(terms) - set(PAIRED_TERMS)
    if unknown:
        raise ValueError(f"unknown paired loss terms {sorted(unknown)}")
    fp = ForwardPass(model, video, video_mask, text, text_mask, reduction)
    out: dict[str, torch.Tensor] = {}
    for term in ("recons", "recons_video", "recons_text", "joint", "cross"):
        if term in terms:
            out[term] = getattr(fp, term)()
    if "cycle" in terms:
        out["cycle"] = sum(fp.cycle_halves())
    return out


#: The halves of Eqs. 1, 4, 5, each named by the term and the modality it reconstructs.
TERM_HALVES = {"recons": ("recons_video", "recons_text"), "cross": ("cross_video", "cross_text"),
               "cycle": ("cycle_video", "cycle_text")}


def term_halves(model: MultimodalAutoencoder, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor,
                text_mask: torch.Tensor, terms: tuple[str, ...], reduction: str = "mean") -> dict[str, torch.Tensor]:
    """The video and text halves of the sequence terms among ``terms`` (see :data:`TERM_HALVES`) on a
    paired batch: ``recons_video`` = |G_V(E_V(v)) - v|^2, ``cross_text`` = |G_T(E_V(v)) - t|^2,
    ``cycle_text`` = |G_T(E_V(G_V(E_T(t)))) - t|^2, and so on; each half of a term sums to the term."""
    fp = ForwardPass(model, video, video_mask, text, text_mask, reduction)
    out: dict[str, torch.Tensor] = {}
    if "recons" in terms:
        out["recons_video"], out["recons_text"] = fp.recons_video(), fp.recons_text()
    if "cross" in terms:
        out["cross_video"] = fp.error("video", fp.decode("video", "text"))
        out["cross_text"] = fp.error("text", fp.decode("text", "video"))
    if "cycle" in terms:
        out["cycle_text"], out["cycle_video"] = fp.cycle_halves()
    return out


def _log_d(logit: torch.Tensor) -> torch.Tensor:
    """log D = log sigmoid(logit), per sample."""
    return F.logsigmoid(logit)


def _log_1m_d(logit: torch.Tensor) -> torch.Tensor:
    """log(1 - D) = log sigmoid(-logit), per sample."""
    return F.logsigmoid(-logit)


def _generated(fp: ForwardPass) -> dict[str, torch.Tensor | Decoded]:
    return {"z_video": fp.z("video"), "z_text": fp.z("text"), "fake_video": fp.decode("video", "text"),
            "fake_text": fp.decode("text", "video")}


def discriminator_losses(discs: Discriminators, model: MultimodalAutoencoder, video: torch.Tensor,
                         video_mask: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Eq. 7: ``d_z = -log D_z(E_T(t)) - log(1 - D_z(E_V(v)))``, ``d_v = -log D_V(v) - log(1 - D_V(G_V(E_T(t))))``,
    ``d_t = -log D_T(t) - log(1 - D_T(G_T(E_V(v))))``, batch means. Generator outputs are detached,
    so only the discriminators receive gradients."""
    with torch.no_grad():
        gen = _generated(ForwardPass(model, video, video_mask, text, text_mask))
    return {
        "d_z": -(_log_d(discs.z(gen["z_text"])) + _log_1m_d(discs.z(gen["z_video"]))).mean(),
        "d_v": -(_log_d(discs.video(video, video_mask)) + _log_1m_d(discs.video(gen["fake_video"], video_mask))).mean(),
        "d_t": -(_log_d(discs.text(text, text_mask)) + _log_1m_d(discs.text(gen["fake_text"], text_mask))).mean(),
    }


def generator_losses(discs: Discriminators, model: MultimodalAutoencoder, video: torch.Tensor, video_mask: torch.Tensor,
                     text: torch.Tensor, text_mask: torch.Tensor, form: str = "saturating",
                     forward: ForwardPass | None = None) -> dict[str, torch.Tensor]:
    """Eq. 8, minimised by the encoders/decoders (batch means):

    ``saturating`` (the paper): ``g_z = log D_z(E_T(t)) + log(1 - D_z(E_V(v)))``,
    ``g_v = log(1 - D_V(G_V(E_T(t))))``, ``g_t = log(1 - D_T(G_T(E_V(v))))``.
    ``non_saturating`` (Goodfellow et al. 2014's practical form): the labels flipped,
    ``g_z = -log(1 - D_z(E_T(t))) - log D_z(E_V(v))``, ``g_v = -log D_V(G_V(E_T(t)))``, ``g_t = -log D_T(G_T(E_V(v)))``.

    ``forward``: a :class:`ForwardPass` of the same model and batches whose embeddings and decodes
    other terms of the step already use (they are computed once).
    """
    if form not in ADVERSARIAL_FORMS:
        raise ValueError(f"adversarial form must be one of {ADVERSARIAL_FORMS}, got {form!r}")
    gen = _generated(forward or ForwardPass(model, video, video_mask, text, text_mask))
    zt, zv = discs.z(gen["z_text"]), discs.z(gen["z_video"])
    fv, ft = discs.video(gen["fake_video"], video_mask), discs.text(gen["fake_text"], text_mask)
    if form == "saturating":
        return {"g_z": (_log_d(zt) + _log_1m_d(zv)).mean(), "g_v": _log_1m_d(fv).mean(), "g_t": _log_1m_d(ft).mean()}
    return {"g_z": -(_log_1m_d(zt) + _log_d(zv)).mean(), "g_v": -_log_d(fv).mean(), "g_t": -_log_d(ft).mean()}

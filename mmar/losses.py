"""The losses of the ICLR 2019 submission (Eqs. 1, 3-8), on padded batches with masks.

All distances are squared L2. For sequences the paper's ``|x - y|^2`` is reduced over the valid
(unpadded) steps with ``reduction``:

- ``"mean"`` (our default): the mean of the squared error over valid elements (steps x channels),
  so a 1024-d video feature and a 50-d word vector weigh the same per element and the loss does
  not grow with the sequence length;
- ``"sum"``: the literal squared norm, summed over valid steps and channels, averaged over the batch.

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

from mmar.models.autoencoders import MultimodalAutoencoder
from mmar.models.discriminators import Discriminators

REDUCTIONS = ("mean", "sum")
ADVERSARIAL_FORMS = ("saturating", "non_saturating")


def sequence_sq_error(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Squared error of (B, T, C) sequences over the valid steps of ``mask`` (B, T) -> scalar."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    sq = ((pred - target) ** 2 * mask[:, :, None]).sum()
    if reduction == "sum":
        return sq / pred.shape[0]
    return sq / (mask.sum() * pred.shape[2]).clamp(min=1)


def joint_loss(z_video: torch.Tensor, z_text: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``|E_V(v) - E_T(t)|^2`` for paired rows, (B, E) each, averaged over the batch."""
    return ((z_video - z_text) ** 2).sum(dim=1).mean()


def _check_same_batch(video: torch.Tensor, text: torch.Tensor) -> None:
    if len(video) != len(text):
        raise ValueError(f"video and text batches must have the same size, got {len(video)} and {len(text)}")


def cycle_halves(model: MultimodalAutoencoder, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor,
                 text_mask: torch.Tensor, reduction: str = "mean", *, z_video: torch.Tensor | None = None,
                 z_text: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 5 as (text half, video half): ``|G_T(E_V(G_V(E_T(t)))) - t|^2`` and ``|G_V(E_T(G_T(E_V(v)))) - v|^2``.

    ``video``/``text`` need not be paired; the intermediate lengths come from the other batch's mask.
    ``z_video``/``z_text`` reuse already computed embeddings.
    """
    _check_same_batch(video, text)
    z_text = model.encode_text(text, text_mask) if z_text is None else z_text
    z_video = model.encode_video(video, video_mask) if z_video is None else z_video
    text_as_video = model.decode_video(z_text, video_mask)
    text_back = model.decode_text(model.encode_video(text_as_video, video_mask), text_mask)
    video_as_text = model.decode_text(z_video, text_mask)
    video_back = model.decode_video(model.encode_text(video_as_text, text_mask), video_mask)
    return (sequence_sq_error(text_back, text, text_mask, reduction),
            sequence_sq_error(video_back, video, video_mask, reduction))


def cycle_loss(model: MultimodalAutoencoder, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor,
               text_mask: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Eq. 5, the sum of both halves of :func:`cycle_halves`. Needs no pairs."""
    text_half, video_half = cycle_halves(model, video, video_mask, text, text_mask, reduction)
    return text_half + video_half


def paired_losses(model: MultimodalAutoencoder, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor,
                  text_mask: torch.Tensor, terms: tuple[str, ...], reduction: str = "mean") -> dict[str, torch.Tensor]:
    """The requested terms of Eq. 6 on a paired batch: a dict with some of ``recons`` (Eq. 1),
    ``joint`` (Eq. 3), ``cross`` (Eq. 4), ``cycle`` (Eq. 5), each a scalar (unweighted)."""
    _check_same_batch(video, text)
    unknown = set(terms) - {"recons", "joint", "cross", "cycle"}
    if unknown:
        raise ValueError(f"unknown paired loss terms {sorted(unknown)}")
    z_video = model.encode_video(video, video_mask)
    z_text = model.encode_text(text, text_mask)
    out: dict[str, torch.Tensor] = {}
    if "recons" in terms:
        out["recons"] = (sequence_sq_error(model.decode_video(z_video, video_mask), video, video_mask, reduction)
                         + sequence_sq_error(model.decode_text(z_text, text_mask), text, text_mask, reduction))
    if "joint" in terms:
        out["joint"] = joint_loss(z_video, z_text)
    if "cross" in terms:
        out["cross"] = (sequence_sq_error(model.decode_text(z_video, text_mask), text, text_mask, reduction)
                        + sequence_sq_error(model.decode_video(z_text, video_mask), video, video_mask, reduction))
    if "cycle" in terms:
        text_half, video_half = cycle_halves(model, video, video_mask, text, text_mask, reduction,
                                             z_video=z_video, z_text=z_text)
        out["cycle"] = text_half + video_half
    return out


def _log_d(logit: torch.Tensor) -> torch.Tensor:
    """log D = log sigmoid(logit), per sample."""
    return F.logsigmoid(logit)


def _log_1m_d(logit: torch.Tensor) -> torch.Tensor:
    """log(1 - D) = log sigmoid(-logit), per sample."""
    return F.logsigmoid(-logit)


def _generated(model: MultimodalAutoencoder, video: torch.Tensor, video_mask: torch.Tensor, text: torch.Tensor,
               text_mask: torch.Tensor) -> dict[str, torch.Tensor]:
    z_video = model.encode_video(video, video_mask)
    z_text = model.encode_text(text, text_mask)
    return {"z_video": z_video, "z_text": z_text, "fake_video": model.decode_video(z_text, video_mask),
            "fake_text": model.decode_text(z_video, text_mask)}


def discriminator_losses(discs: Discriminators, model: MultimodalAutoencoder, video: torch.Tensor,
                         video_mask: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Eq. 7: ``d_z = -log D_z(E_T(t)) - log(1 - D_z(E_V(v)))``, ``d_v = -log D_V(v) - log(1 - D_V(G_V(E_T(t))))``,
    ``d_t = -log D_T(t) - log(1 - D_T(G_T(E_V(v))))``, batch means. Generator outputs are detached,
    so only the discriminators receive gradients."""
    _check_same_batch(video, text)
    with torch.no_grad():
        gen = _generated(model, video, video_mask, text, text_mask)
    return {
        "d_z": -(_log_d(discs.z(gen["z_text"])) + _log_1m_d(discs.z(gen["z_video"]))).mean(),
        "d_v": -(_log_d(discs.video(video, video_mask)) + _log_1m_d(discs.video(gen["fake_video"], video_mask))).mean(),
        "d_t": -(_log_d(discs.text(text, text_mask)) + _log_1m_d(discs.text(gen["fake_text"], text_mask))).mean(),
    }


def generator_losses(discs: Discriminators, model: MultimodalAutoencoder, video: torch.Tensor, video_mask: torch.Tensor,
                     text: torch.Tensor, text_mask: torch.Tensor, form: str = "saturating") -> dict[str, torch.Tensor]:
    """Eq. 8, minimised by the encoders/decoders (batch means):

    ``saturating`` (the paper): ``g_z = log D_z(E_T(t)) + log(1 - D_z(E_V(v)))``,
    ``g_v = log(1 - D_V(G_V(E_T(t))))``, ``g_t = log(1 - D_T(G_T(E_V(v))))``.
    ``non_saturating`` (Goodfellow et al. 2014's practical form): the labels flipped,
    ``g_z = -log(1 - D_z(E_T(t))) - log D_z(E_V(v))``, ``g_v = -log D_V(G_V(E_T(t)))``, ``g_t = -log D_T(G_T(E_V(v)))``.
    """
    if form not in ADVERSARIAL_FORMS:
        raise ValueError(f"adversarial form must be one of {ADVERSARIAL_FORMS}, got {form!r}")
    _check_same_batch(video, text)
    gen = _generated(model, video, video_mask, text, text_mask)
    zt, zv = discs.z(gen["z_text"]), discs.z(gen["z_video"])
    fv, ft = discs.video(gen["fake_video"], video_mask), discs.text(gen["fake_text"], text_mask)
    if form == "saturating":
        return {"g_z": (_log_d(zt) + _log_1m_d(zv)).mean(), "g_v": _log_1m_d(fv).mean(), "g_t": _log_1m_d(ft).mean()}
    return {"g_z": -(_log_1m_d(zt) + _log_d(zv)).mean(), "g_v": -_log_d(fv).mean(), "g_t": -_log_d(ft).mean()}

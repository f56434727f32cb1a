"""Losses of Eqs. 1, 3-8 (mmar.losses) against hand computation and dense reference implementations."""

from __future__ import annotations

import math

import pytest
import torch

from mmar.losses import (ForwardPass, cycle_halves, decoded_sq_error, discriminator_losses, generator_losses, joint_loss,
                         paired_losses, sequence_sq_error)
from mmar.models.autoencoders import MultimodalAutoencoder
from mmar.models.discriminators import Discriminators


def _mask(lengths: list[int], total: int) -> torch.Tensor:
    return torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]


def _batch(seed: int = 0, b: int = 3, t: int = 6, c: int = 5, l: int = 4, d: int = 3):
    g = torch.Generator().manual_seed(seed)
    vm = _mask([t, 4, 2][:b], t)
    tm = _mask([l, 2, 3][:b], l)
    v = torch.randn(b, t, c, generator=g) * vm[:, :, None]
    x = torch.randn(b, l, d, generator=g) * tm[:, :, None]
    return v, vm, x, tm


def _model(pooling: str = "attention", seed: int = 0) -> MultimodalAutoencoder:
    torch.manual_seed(seed)
    return MultimodalAutoencoder(5, 3, embed_dim=4, hidden_dim=8, pooling=pooling)


def test_sequence_sq_error_by_hand() -> None:
    pred = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 1.0], [9.0, 9.0]]])
    target = torch.tensor([[[0.0, 0.0], [3.0, 2.0]], [[0.0, 1.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, True], [True, False]])
    # valid squared errors: sample 0: 1 + 4 + 0 + 4 = 9; sample 1 (first step only): 1 + 0 = 1
    assert sequence_sq_error(pred, target, mask, "sum").item() == pytest.approx((9 + 1) / 2)
    assert sequence_sq_error(pred, target, mask, "mean").item() == pytest.approx(10 / 6)


def test_joint_loss_by_hand() -> None:
    zv = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    zt = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert joint_loss(zv, zt).item() == pytest.approx((2.0 + 0.0) / 2)


@pytest.mark.parametrize("pooling", ["attention", "max", "lstm"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_factorised_error_equals_dense(pooling: str, reduction: str) -> None:
    model = _model(pooling)
    v, vm, _, _ = _batch()
    z = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    decoded = model.video_decoder.decode(z, vm)
    dense = model.decode_video(z, vm)
    torch.testing.assert_close(decoded_sq_error(decoded, v, vm, reduction), sequence_sq_error(dense, v, vm, reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_factorised_error_near_a_perfect_reconstruction(reduction: str) -> None:
    """The factorised error rounds relative to the target's energy |X|^2: against a float64 dense reference, with
    the residual's energy at a share r of the decoded sequence's (video-sized: 16 x 64 steps x 1024 channels, 4 columns), it was measured
    (2-core Intel Xeon, 5 draws) at most 2.3e-7 of the result at r = 1 and 5.4e-6 at r = 0.01; the bounds below
    are 40 and 20 times those. A formula that loses the cross term or the target's norm fails by far more."""
    from mmar.models.autoencoders import Decoded

    g = torch.Generator().manual_seed(0)
    b, t, n, c = 16, 64, 4, 1024
    mask = torch.ones(b, t, dtype=torch.bool)
    weights = torch.softmax(torch.randn(b, t, n, generator=g), -1)
    for share, bound in ((1.0, 1e-5), (1e-2, 1e-4)):
        columns = torch.randn(b, n, c, generator=g)
        decoded = torch.bmm(weights, columns)
        noise = torch.randn(b, t, c, generator=g)
        target = decoded + (share * (decoded ** 2).sum() / (noise ** 2).sum()).sqrt() * noise
        got = decoded_sq_error(Decoded(columns=columns, weights=weights), target, mask, reduction).double()
        reference = ((torch.bmm(weights.double(), columns.double()) - target.double()) ** 2).sum()
        reference = reference / b if reduction == "sum" else reference / (b * t * c)
        assert abs(got - reference).item() < bound * reference.item(), share


@pytest.mark.parametrize("pooling", ["attention", "sum", "lstm"])
def test_paired_terms_equal_dense_equations(pooling: str) -> None:
    """Eqs. 1, 3, 4, 5 written out with the public encode/decode calls on dense tensors."""
    model = _model(pooling)
    v, vm, t, tm = _batch(1)
    err = lambda a, b, m: sequence_sq_error(a, b, m, "mean")  # noqa: E731
    zv, zt = model.encode_video(v, vm), model.encode_text(t, tm)
    expected = {
        "recons": err(model.decode_video(zv, vm), v, vm) + err(model.decode_text(zt, tm), t, tm),
        "joint": ((zv - zt) ** 2).sum(1).mean(),
        "cross": err(model.decode_text(zv, tm), t, tm) + err(model.decode_video(zt, vm), v, vm),
        "cycle": err(model.decode_text(model.encode_video(model.decode_video(zt, vm), vm), tm), t, tm)
        + err(model.decode_video(model.encode_text(model.decode_text(zv, tm), tm), vm), v, vm),
    }
    got = paired_losses(model, v, vm, t, tm, ("recons", "joint", "cross", "cycle"))
    for term, value in expected.items():
        torch.testing.assert_close(got[term], value, rtol=1e-4, atol=1e-5, msg=term)


def test_cycle_loss_needs_no_pairs() -> None:
    """Each half of Eq. 5 depends only on its own modality's content (the other batch gives lengths)."""
    model = _model()
    v, vm, t, tm = _batch(2)
    text_half, video_half = cycle_halves(model, v, vm, t, tm)
    other_v = torch.randn_like(v) * vm[:, :, None]
    other_t = torch.randn_like(t) * tm[:, :, None]
    torch.testing.assert_close(cycle_halves(model, other_v, vm, t, tm)[0], text_half)
    torch.testing.assert_close(cycle_halves(model, v, vm, other_t, tm)[1], video_half)
    assert not torch.allclose(cycle_halves(model, other_v, vm, t, tm)[1], video_half)


def test_forward_pass_rejects_different_batch_sizes() -> None:
    model = _model()
    v, vm, t, tm = _batch()
    with pytest.raises(ValueError, match="same size"):
        ForwardPass(model, v[:2], vm[:2], t, tm)


def _sigmoid_bce_reference(discs, model, v, vm, t, tm):
    zv, zt = model.encode_video(v, vm), model.encode_text(t, tm)
    fake_v, fake_t = model.decode_video(zt, vm), model.decode_text(zv, tm)
    d = {
        "z_text": torch.sigmoid(discs.z(zt)), "z_video": torch.sigmoid(discs.z(zv)),
        "real_v": torch.sigmoid(discs.video(v, vm)), "fake_v": torch.sigmoid(discs.video(fake_v, vm)),
        "real_t": torch.sigmoid(discs.text(t, tm)), "fake_t": torch.sigmoid(discs.text(fake_t, tm)),
    }
    return d


def test_adversarial_losses_by_formula() -> None:
    model = _model()
    torch.manual_seed(5)
    discs = Discriminators(5, 3, 4, 8)
    v, vm, t, tm = _batch(3)
    p = _sigmoid_bce_reference(discs, model, v, vm, t, tm)
    log = torch.log
    d = discriminator_losses(discs, model, v, vm, t, tm)
    torch.testing.assert_close(d["d_z"], (-log(p["z_text"]) - log(1 - p["z_video"])).mean())
    torch.testing.assert_close(d["d_v"], (-log(p["real_v"]) - log(1 - p["fake_v"])).mean())
    torch.testing.assert_close(d["d_t"], (-log(p["real_t"]) - log(1 - p["fake_t"])).mean())
    g = generator_losses(discs, model, v, vm, t, tm, "saturating")
    torch.testing.assert_close(g["g_z"], (log(p["z_text"]) + log(1 - p["z_video"])).mean())
    torch.testing.assert_close(g["g_v"], log(1 - p["fake_v"]).mean())
    torch.testing.assert_close(g["g_t"], log(1 - p["fake_t"]).mean())
    ns = generator_losses(discs, model, v, vm, t, tm, "non_saturating")
    torch.testing.assert_close(ns["g_z"], (-log(1 - p["z_text"]) - log(p["z_video"])).mean())
    torch.testing.assert_close(ns["g_v"], -log(p["fake_v"]).mean())
    torch.testing.assert_close(ns["g_t"], -log(p["fake_t"]).mean())
    # at D = 1/2 everywhere the saturating generator loss of D_z is 2 log(1/2)
    with torch.no_grad():
        for param in discs.z.parameters():
            param.zero_()
    assert generator_losses(discs, model, v, vm, t, tm)["g_z"].item() == pytest.approx(2 * math.log(0.5))


def test_discriminator_loss_gives_no_gradient_to_generators() -> None:
    model = _model()
    torch.manual_seed(6)
    discs = Discriminators(5, 3, 4, 8)
    sum(discriminator_losses(discs, model, *_batch(4)).values()).backward()
    assert all(p.grad is None for p in model.parameters())
    assert all(p.grad is not None for p in discs.parameters())


def test_term_halves_add_up_to_their_terms_and_match_the_definitions() -> None:
    from mmar.losses import paired_losses, sequence_sq_error, term_halves

    v, vm, x, tm = _batch()
    model = _model()
    terms = paired_losses(model, v, vm, x, tm, ("recons", "cross", "cycle"), "sum")
    halves = term_halves(model, v, vm, x, tm, ("recons", "cross", "cycle"), "sum")
    for term in ("recons", "cross", "cycle"):
        total = halves[f"{term}_video"] + halves[f"{term}_text"]
        assert total.item() == pytest.approx(terms[term].item(), rel=1e-5)
    # the text half of Eq. 4 from its definition, on dense tensors: |G_T(E_V(v)) - t|^2
    direct = sequence_sq_error(model.decode_text(model.encode_video(v, vm), tm), x, tm, "sum")
    assert halves["cross_text"].item() == pytest.approx(direct.item(), rel=1e-5)
    assert set(term_halves(model, v, vm, x, tm, ("joint",), "sum")) == set()


def test_unpaired_step_shares_one_forward_pass_without_changing_its_terms() -> None:
    """Algorithm 1's unpaired step (recons, cycle, Eq. 8 on one batch) computes each embedding and
    decode once; its terms and their gradients equal those of the three losses computed apart."""
    from mmar.training import TrainConfig
    from mmar.training.ensemble import Networks

    v, vm, t, tm = _batch(7)
    model = _model()
    torch.manual_seed(8)
    discs = Discriminators(5, 3, 4, 8)
    config = TrainConfig(losses=("joint", "recons", "cross", "cycle", "adv"), recon_reduction="sum")
    # λ_joint, λ_cross, λ_cycle, λ_adv: distinct, none 1 (the weight of recons), so that recons weighted by any λ,
    # or a λ of a paired-only term (joint, cross) entering the unpaired step, changes the total
    weights = torch.tensor([5.0, 7.0, 2.0, 3.0])
    shared = Networks(model, discs, config)("unpaired", weights, v, vm, t, tm)
    shared["total_unpaired"].backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    apart = {"cycle_unpaired": sum(cycle_halves(model, v, vm, t, tm, "sum")),
             "recons_unpaired": paired_losses(model, v, vm, t, tm, ("recons",), "sum")["recons"],
             **generator_losses(discs, model, v, vm, t, tm)}
    total = 2.0 * apart["cycle_unpaired"] + apart["recons_unpaired"] + 3.0 * (apart["g_z"] + apart["g_v"] + apart["g_t"])
    total.backward()
    for name, value in apart.items():
        torch.testing.assert_close(shared[name], value)
    torch.testing.assert_close(shared["total_unpaired"], total)
    for shared_grad, p in zip(grads, model.parameters()):
        torch.testing.assert_close(shared_grad, p.grad)


def test_paired_step_weights_each_term_of_eq6_by_its_lambda() -> None:
    """Algorithm 1's paired step: total = λ_joint·joint + recons + λ_cross·cross + λ_cycle·cycle (Eq. 6),
    built here from the unweighted terms of :func:`paired_losses`; distinct λs (2, 3, 5, 7) so that a
    dropped, doubled or swapped term changes the total, and the gradient is that sum's gradient.
    λ_adv (7) has no paired term: it must not enter."""
    from mmar.training import TrainConfig
    from mmar.training.ensemble import Networks

    v, vm, t, tm = _batch(9)
    model = _model()
    with torch.no_grad():  # larger weights: decodes far from zero, so that the four terms differ clearly
        for param in model.parameters():
            param.mul_(3.0)
    config = TrainConfig(losses=("joint", "recons", "cross", "cycle", "adv"), recon_reduction="sum")
    weights = torch.tensor([2.0, 3.0, 5.0, 7.0])  # λ_joint, λ_cross, λ_cycle, λ_adv
    torch.manual_seed(10)
    step = Networks(model, Discriminators(5, 3, 4, 8), config)("paired", weights, v, vm, t, tm)
    step["total_paired"].backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    apart = paired_losses(model, v, vm, t, tm, ("joint", "recons", "cross", "cycle"), "sum")
    total = 2.0 * apart["joint"] + apart["recons"] + 3.0 * apart["cross"] + 5.0 * apart["cycle"]
    total.backward()
    assert set(step) == {"joint", "recons", "cross", "cycle", "total_paired"}
    for name, value in apart.items():
        torch.testing.assert_close(step[name], value)
    # the terms differ pairwise by far more than rounding, so a dropped, swapped or mis-weighted term shows
    values = [value.item() for value in apart.values()]
    assert min(abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]) > 0.1
    torch.testing.assert_close(step["total_paired"], total)
    for step_grad, p in zip(grads, model.parameters()):
        torch.testing.assert_close(step_grad, p.grad)

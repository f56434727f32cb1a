"""Temporal attention filters and pooling baselines (mmar.models.attention) against properties."""

from __future__ import annotations

import math

import pytest
import torch

from mmar.models.attention import LSTMPool, MaskedPool, TemporalAttention, TemporalAttentionTranspose


def _mask(lengths: list[int], total: int) -> torch.Tensor:
    return torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("kernel", ["gaussian", "cauchy"])
def test_filter_rows_sum_to_one_over_valid_frames(kernel: str) -> None:
    torch.manual_seed(0)
    bank = TemporalAttention(4, kernel)
    mask = _mask([9, 5, 1], 12)
    filters = bank.filters(mask)
    assert filters.shape == (3, 4, 12)
    torch.testing.assert_close(filters.sum(dim=2), torch.ones(3, 4))
    assert (filters[~mask[:, None, :].expand_as(filters)] == 0).all()
    assert (filters >= 0).all()


@pytest.mark.parametrize("kernel", ["gaussian", "cauchy"])
def test_output_unchanged_by_extra_padding(kernel: str) -> None:
    torch.manual_seed(1)
    bank = TemporalAttention(4, kernel)
    x = torch.randn(2, 7, 5)
    mask = _mask([7, 4], 7)
    padded = torch.cat([x, 100 * torch.randn(2, 6, 5)], dim=1)  # garbage beyond the valid steps
    out = bank(x, mask)
    torch.testing.assert_close(bank(padded, _mask([7, 4], 13)), out)
    # and a sample alone gives the same as inside a batch
    torch.testing.assert_close(bank(x[1:, :4], _mask([4], 4)), out[1:])


def test_tiny_gaussian_centred_at_k_picks_frame_k() -> None:
    steps, k = 10, 6
    bank = TemporalAttention(1, "gaussian")
    with torch.no_grad():
        bank.centre.fill_(2.0 * k / steps - 1.0)  # g = 0.5 T (g^ + 1) = k
        bank.width.fill_(-8.0)                    # sigma = e^-8 T / N: far below one step
    x = torch.randn(1, steps, 3)
    out = bank(x, torch.ones(1, steps, dtype=torch.bool))
    torch.testing.assert_close(out[0, 0], x[0, k])


def test_cauchy_centred_at_k_peaks_at_k_and_decays() -> None:
    steps, k = 11, 3
    bank = TemporalAttention(1, "cauchy")
    with torch.no_grad():
        bank.centre.fill_(math.atanh(2.0 * k / (steps - 1) - 1.0))  # c = (T-1)(tanh(c^)+1)/2 = k
        bank.width.fill_(5.0)                                        # gamma near its minimum e^-0.5
    row = bank.filters(torch.ones(1, steps, dtype=torch.bool))[0, 0]
    assert int(row.argmax()) == k
    distance = (torch.arange(steps) - k).abs().float()
    gamma = math.exp(1.5 - 2.0 * math.tanh(5.0))
    expected = 1.0 / (1.0 + (distance / gamma) ** 2)
    torch.testing.assert_close(row, expected / expected.sum())


@pytest.mark.parametrize("module", [TemporalAttention, TemporalAttentionTranspose])
@pytest.mark.parametrize("kernel", ["gaussian", "cauchy"])
def test_gradients_reach_centre_and_width(module: type, kernel: str) -> None:
    torch.manual_seed(2)
    bank = module(3, kernel)
    mask = _mask([8, 6], 8)
    inp = torch.randn(2, 8, 4) if module is TemporalAttention else torch.randn(2, 3, 4)
    (bank(inp, mask) * torch.randn(2, *bank(inp, mask).shape[1:])).sum().backward()
    for param in (bank.centre, bank.width):
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


@pytest.mark.parametrize("kernel", ["gaussian", "cauchy"])
def test_transposed_filters_average_columns_on_valid_steps(kernel: str) -> None:
    torch.manual_seed(3)
    bank = TemporalAttentionTranspose(4, kernel)
    mask = _mask([6, 3], 6)
    weights = bank.weights(mask)
    assert weights.shape == (2, 6, 4)
    torch.testing.assert_close(weights.sum(dim=2), mask.float())
    y = torch.randn(2, 4, 5)
    out = bank(y, mask)
    assert (out[1, 3:] == 0).all()
    # a constant column value is reproduced at every valid step
    torch.testing.assert_close(bank(torch.ones(2, 4, 5), mask), mask[:, :, None].float().expand(2, 6, 5))


def test_max_and_sum_pooling_ignore_padding() -> None:
    x = torch.tensor([[[1.0, -2.0], [3.0, 0.0], [50.0, 50.0]]])
    mask = _mask([2], 3)
    torch.testing.assert_close(MaskedPool("max")(x, mask), torch.tensor([[[3.0, 0.0]]]))
    torch.testing.assert_close(MaskedPool("sum")(x, mask), torch.tensor([[[4.0, -2.0]]]))


def test_lstm_pooling_unchanged_by_padding() -> None:
    torch.manual_seed(4)
    pool = LSTMPool(3, 5)
    x = torch.randn(1, 4, 3)
    padded = torch.cat([x, torch.randn(1, 3, 3)], dim=1)
    torch.testing.assert_close(pool(padded, _mask([4], 7)), pool(x, _mask([4], 4)))


def test_the_text_decoder_has_its_own_number_of_filters():
    import torch

    from mmar.models.autoencoders import MultimodalAutoencoder
    from mmar.training import TrainConfig, build_model

    model = MultimodalAutoencoder(6, 3, embed_dim=4, hidden_dim=8, n_filters=4, text_decoder_filters=12)
    assert model.text_decoder.n_cols == 12 and model.text_decoder.unpool.n_filters == 12
    assert model.video_decoder.n_cols == 4 and model.text_encoder.pool.n_filters == 4
    out = model.decode_text(torch.randn(2, 4), 13)
    assert out.shape == (2, 13, 3)
    assert MultimodalAutoencoder(6, 3, embed_dim=4, hidden_dim=8, n_filters=4).text_decoder.n_cols == 4  # None: the mirror
    literal, _ = build_model(TrainConfig(text_decoder_filters=None), 6, 3)
    assert literal.text_decoder.n_cols == 4
    assert build_model(TrainConfig(), 6, 3)[0].text_decoder.n_cols == 12  # ours by default
    with pytest.raises(ValueError, match="text_decoder_filters"):
        TrainConfig(text_decoder_filters=0)



def _gaussian_kernel(centres: list[float], widths: list[float], lengths: list[int], steps: int) -> torch.Tensor:
    """Unnormalised kernel (B, N, steps) written out from the docstring's definition, in float64: for sample b
    of valid length L, g_n = 0.5 L (ĝ_n + 1), σ_n = exp(ŝ_n) L / N, K[n, t] = exp(-(t - g_n)² / (2 σ_n²)) on
    t < L and 0 on padding."""
    n_filters = len(centres)
    out = torch.zeros(len(lengths), n_filters, steps, dtype=torch.float64)
    for b, length in enumerate(lengths):
        for n, (g_hat, s_hat) in enumerate(zip(centres, widths)):
            g = 0.5 * length * (g_hat + 1.0)
            sigma = math.exp(s_hat) * length / n_filters
            for t in range(length):
                out[b, n, t] = math.exp(-((t - g) ** 2) / (2.0 * sigma**2))
    return out


def test_gaussian_filters_follow_their_formula_on_the_valid_length() -> None:
    """Set centres ĝ and widths ŝ, one sample padded (6 of 10 steps valid): each filter row equals the
    Gaussian of the docstring normalised over the valid steps, with centre and width scaled by the
    sample's valid length (not the padded one); the transposed bank normalises the same kernel over the
    N filters at each valid step instead."""
    centres, widths, lengths, steps = [-0.5, 0.1, 0.8], [-0.3, 0.0, 0.4], [10, 6], 10
    mask = _mask(lengths, steps)
    kernel = _gaussian_kernel(centres, widths, lengths, steps)
    over_time = kernel / kernel.sum(2, keepdim=True)
    per_step = kernel.transpose(1, 2)
    over_filters = per_step / per_step.sum(2, keepdim=True).clamp(min=1e-300)  # padded steps: 0 / tiny = 0
    for module in (TemporalAttention, TemporalAttentionTranspose):
        bank = module(3, "gaussian")
        with torch.no_grad():
            bank.centre.copy_(torch.tensor(centres))
            bank.width.copy_(torch.tensor(widths))
        # sample 1 by hand: g = 0.5 * 6 * (ĝ + 1) = 1.5, 3.3, 5.4 and σ = e^ŝ * 6 / 3
        torch.testing.assert_close(bank.centres(torch.tensor([6.0])), torch.tensor([[1.5, 3.3, 5.4]]))
        torch.testing.assert_close(bank.widths(torch.tensor([6.0])), 2.0 * torch.exp(torch.tensor([widths])))
        torch.testing.assert_close(bank.filters(mask), over_time.float(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(bank.weights(mask), over_filters.float(), rtol=1e-5, atol=1e-7)


def test_gaussian_filters_start_evenly_spread_with_width_length_over_n() -> None:
    """Initialisation (docstring): g_n = (n + 0.5) L / N and σ = L / N, for each sample's valid length L."""
    bank = TemporalAttention(4, "gaussian")
    lengths = torch.tensor([12.0, 6.0])
    torch.testing.assert_close(bank.centres(lengths), torch.tensor([[1.5, 4.5, 7.5, 10.5], [0.75, 2.25, 3.75, 5.25]]))
    torch.testing.assert_close(bank.widths(lengths), torch.tensor([[3.0] * 4, [1.5] * 4]))
    kernel = _gaussian_kernel([-0.75, -0.25, 0.25, 0.75], [0.0] * 4, [12, 6], 12)  # ĝ_n = (2n + 1) / N - 1, ŝ = 0
    torch.testing.assert_close(bank.filters(_mask([12, 6], 12)), (kernel / kernel.sum(2, keepdim=True)).float(),
                               rtol=1e-5, atol=1e-7)

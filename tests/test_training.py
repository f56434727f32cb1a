"""Training (mmar.training): determinism, resume, checkpoints, data semantics, adversarial steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmar.data.prepared import PreparedDataset
from mmar.losses import ForwardPass
from mmar.training import (SegmentSource, TrainConfig, build_model, clear_cache, embed_rows, load_model,
                           split_unpaired, train, train_ensemble)
from mmar.models.autoencoders import run_fc
from mmar.training.ensemble import EnsembleTrainer, Member

TINY = dict(embed_dim=8, hidden_dim=16, batch_size=8, epochs=3, pretrain_epochs=1, optimizer="adam", lr=0.01,
            max_frames=None)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_seeded_training_is_deterministic(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    rows = tiny_prepared.rows(subset="train")
    config = TrainConfig(**TINY)
    first = train(config, tiny_prepared, rows, tmp_path / "a", progress=False)
    clear_cache()
    second = train(TrainConfig(**{**TINY, "cache_mb": 0}), tiny_prepared, rows, tmp_path / "b", progress=False)
    assert _same(_state(first.model), _state(second.model))  # also: streaming == cached
    assert list(first.history["epoch"]) == [1, 2, 3]
    other_seed = train(TrainConfig(**{**TINY, "seed": 1}), tiny_prepared, rows, tmp_path / "c", progress=False)
    assert not _same(_state(first.model), _state(other_seed.model))


def test_resume_after_interruption_gives_the_same_weights(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    rows = tiny_prepared.rows(subset="train")
    config = TrainConfig(**{**TINY, "losses": ("joint", "recons", "cross", "cycle", "adv"), "unpaired_fraction": 0.4})
    whole = train(config, tiny_prepared, rows, tmp_path / "whole", progress=False)
    part = train(config, tiny_prepared, rows, tmp_path / "resumed", progress=False, stop_after_epoch=2)
    assert len(part.history) == 2
    with pytest.raises(RuntimeError, match="stopped after epoch 2"):
        load_model(tmp_path / "resumed")
    resumed = train(config, tiny_prepared, rows, tmp_path / "resumed", progress=False)
    assert _same(_state(whole.model), _state(resumed.model))
    assert _same(_state(whole.discriminators), _state(resumed.discriminators))
    assert _same(_state(load_model(tmp_path / "resumed")), _state(whole.model))
    history = (tmp_path / "resumed" / "losses.csv").read_text().splitlines()
    assert len(history) == 1 + 4  # header + pretrain epoch + 3 epochs
    for column in ("joint", "recons", "cross", "cycle", "cycle_unpaired", "g_z", "g_v", "g_t", "d_z", "d_v", "d_t"):
        assert column in history[0].split(",")


def test_checkpoint_of_another_training_is_refused(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    rows = tiny_prepared.rows(subset="train")
    train(TrainConfig(**{**TINY, "epochs": 1}), tiny_prepared, rows, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="different training"):
        train(TrainConfig(**{**TINY, "epochs": 2}), tiny_prepared, rows, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="different training"):
        train(TrainConfig(**{**TINY, "epochs": 1}), tiny_prepared, rows[:-1], tmp_path / "x", progress=False)


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="losses"):
        TrainConfig(losses=("joint", "triplet"))
    with pytest.raises(ValueError, match="pooling"):
        TrainConfig(pooling="mean")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")


def test_bf16_precision_rounds_only_the_fully_connected_layers(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    """precision="bf16": the FC layers' products round to bfloat16 (8-bit mantissa: relative errors of about
    2^-8, not float32's 2^-24), while every output stays float32, embeddings stay unit length, gradients reach
    every parameter, and a short training lowers its loss as float32 training does."""
    torch.manual_seed(0)
    fc = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16))
    x = torch.randn(10, 64)
    exact = fc.double()(x.double()).float()
    fc.float()
    assert torch.equal(run_fc(fc, x, "float32"), fc(x))
    low = run_fc(fc, x, "bf16")
    assert low.dtype == torch.float32
    relative = ((low - exact).norm() / exact.norm()).item()
    assert 1e-4 < relative < 3e-2  # bfloat16 rounding, not float32's (about 1e-7)
    assert ((fc(x) - exact).norm() / exact.norm()).item() < 1e-5

    rows = tiny_prepared.rows(subset="train")
    config = TrainConfig(**{**TINY, "precision": "bf16"})
    model, _ = build_model(config, 16, 8)
    v = torch.randn(4, 7, 16, requires_grad=True)
    z = model.encode_video(v, torch.ones(4, 7, dtype=torch.bool))
    assert z.dtype == torch.float32
    torch.testing.assert_close(z.norm(dim=1), torch.ones(4))
    model.decode_video(z, 7).pow(2).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for n, p in model.named_parameters()
               if n.startswith(("video_encoder.fc", "video_decoder.fc")))
    trained = train(config, tiny_prepared, rows, tmp_path / "bf16", progress=False).history
    reference = train(TrainConfig(**TINY), tiny_prepared, rows, tmp_path / "f32", progress=False).history
    for history in (trained, reference):
        assert history["total_paired"].iloc[-1] < history["total_paired"].iloc[0]
    assert not np.allclose(trained["total_paired"], reference["total_paired"], rtol=1e-6)


def test_joint_term_alone_brings_pairs_together_by_collapsing_every_embedding(tiny_prepared: PreparedDataset,
                                                                            tmp_path: Path) -> None:
    """Eq. 3 alone has no negatives: training brings each video near its sentence, and every video near every other
    video's sentence too (the collapse notebook 05 and the findings describe): mismatched pairs end as close as
    matched ones, not apart from them."""
    rows = tiny_prepared.rows(subset="train")
    config = TrainConfig(**{**TINY, "losses": ("joint",), "epochs": 5})
    before, _ = build_model(config, 16, 8)
    after = train(config, tiny_prepared, rows, tmp_path / "j", progress=False).model

    def distances(model) -> tuple[float, float]:
        """Mean squared distance of each video to its own sentence, and to the other rows' sentences."""
        e = embed_rows(model, tiny_prepared, rows)
        all_pairs = ((e["video"][:, None, :] - e["text"][None, :, :]) ** 2).sum(2)
        own = float(np.diag(all_pairs).mean())
        return own, float((all_pairs.sum() - np.trace(all_pairs)) / (len(rows) * (len(rows) - 1)))

    (own_before, other_before), (own_after, other_after) = distances(before), distances(after)
    assert own_after < 0.25 * own_before
    assert other_after < 0.25 * other_before and own_after > 0.5 * other_after


def test_embed_rows(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    rows = tiny_prepared.rows(subset="val")
    model = train(TrainConfig(**{**TINY, "epochs": 1}), tiny_prepared, rows, tmp_path / "e", progress=False).model
    out = embed_rows(model, tiny_prepared, rows[::-1], batch_size=5)
    assert out["video"].shape == out["text"].shape == (len(rows), 8)
    np.testing.assert_allclose(np.linalg.norm(out["video"], axis=1), 1.0, rtol=1e-5)
    names = tiny_prepared.sentences["class_name"].to_numpy()[rows[::-1]]
    np.testing.assert_array_equal(out["class_index"], tiny_prepared.class_index(names))
    # one row alone gives the same embedding as inside a batch
    single = embed_rows(model, tiny_prepared, rows[-1:])
    np.testing.assert_allclose(single["video"][0], out["video"][0], atol=1e-6)


def test_split_unpaired() -> None:
    rows = np.arange(100, 120)
    paired, unpaired = split_unpaired(rows, 0.25, seed=3)
    assert len(unpaired) == 5 and len(paired) == 15
    assert sorted(np.concatenate([paired, unpaired])) == list(rows)
    assert len(split_unpaired(rows, 1.0, 0)[0]) == 0


def test_zero_percent_paired_uses_only_unpaired_terms(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    rows = tiny_prepared.rows(subset="train")
    config = TrainConfig(**{**TINY, "epochs": 2, "unpaired_fraction": 1.0})
    result = train(config, tiny_prepared, rows, tmp_path / "u", progress=False)
    assert "joint" not in result.history and "cycle_unpaired" in result.history
    assert result.extra["n_paired"] == 0 and result.extra["n_unpaired"] == len(rows)


def test_fixed_text_baseline_freezes_the_text_autoencoder(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    rows = tiny_prepared.rows(subset="train")
    config = TrainConfig(**{**TINY, "losses": ("fixed_text",), "epochs": 2})
    text_phase = train(config, tiny_prepared, rows, tmp_path / "f", progress=False, stop_after_epoch=2)
    text_state, video_state = _state(text_phase.model.text_encoder), _state(text_phase.model.video_encoder)
    done = train(config, tiny_prepared, rows, tmp_path / "f", progress=False)
    assert _same(_state(done.model.text_encoder), text_state)
    assert not _same(_state(done.model.video_encoder), video_state)
    assert list(done.history["phase"]) == ["text_ae", "text_ae", "video_to_text", "video_to_text"]


def test_adversarial_steps_change_only_their_own_parameters(tiny_prepared: PreparedDataset) -> None:
    config = TrainConfig(**{**TINY, "losses": ("cycle", "adv"), "unpaired_terms": ("adv",)})
    rows = tiny_prepared.rows(subset="train")
    source = SegmentSource(tiny_prepared)
    trainer = EnsembleTrainer([Member(config, rows[:0], rows)], source, 16, 8, torch.device("cpu"), "loop")
    trainer._lr = config.lr
    batch = (*source.videos(rows[None, :6]), *source.texts(rows[None, 6:12]))
    active = torch.ones(1, dtype=torch.bool)
    model_state = lambda: {k: v.detach().clone() for k, v in trainer.params.items() if k.startswith("model.")}  # noqa: E731
    disc_state = lambda: {k: v.detach().clone() for k, v in trainer.params.items() if k.startswith("discs.")}  # noqa: E731
    m0, d0 = model_state(), disc_state()
    trainer._update("discriminate", "total_disc", trainer.disc_opt, active, batch, {})
    m1, d1 = model_state(), disc_state()
    assert _same(m0, m1) and not _same(d0, d1)
    trainer._update("unpaired", "total_unpaired", trainer.ae_opt, active, batch, {})
    m2, d2 = model_state(), disc_state()
    assert _same(d1, d2) and not _same(m1, m2)
    model = trainer.member_networks(0).model
    assert ForwardPass(model, *(x[0] for x in batch)).z("video").shape == (6, 8)


class _PaddedRows:
    """A :class:`mmar.training.data.BatchSource` over fixed items: ``videos(rows)`` / ``texts(rows)`` give rows
    of any shape R as (*R, T, C) padded with a huge value (1e6) where the mask is False, as a bug would see it."""

    def __init__(self, items: dict[str, list[np.ndarray]]) -> None:
        self.items = items

    def _batch(self, kind: str, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.asarray(rows)
        chosen = [self.items[kind][r] for r in rows.reshape(-1)]
        steps, dim = max(len(x) for x in chosen), chosen[0].shape[1]
        x = torch.full((len(chosen), steps, dim), 1e6, dtype=torch.float32)
        mask = torch.zeros(len(chosen), steps, dtype=torch.bool)
        for i, item in enumerate(chosen):
            x[i, :len(item)] = torch.from_numpy(item)
            mask[i, :len(item)] = True
        return x.reshape(*rows.shape, steps, dim), mask.reshape(*rows.shape, steps)

    def videos(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self._batch("video", rows)

    def texts(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self._batch("text", rows)


@pytest.mark.parametrize("kind, dim", [("video", 3), ("text", 2)])
def test_channel_statistics_are_numpys_over_the_valid_steps_only(kind: str, dim: int) -> None:
    """Per-channel mean and population standard deviation of the chosen rows' valid steps, equal to NumPy's
    on the concatenated unpadded items, with chunks (2 rows) smaller than the rows (5, the last chunk short),
    rows out of order and one row twice (it counts twice), and padding of 1e6 that must not count."""
    from mmar.training.data import channel_statistics

    rng = np.random.default_rng(3)
    lengths = [4, 1, 7, 2, 5, 3]
    items = [(rng.normal(size=(n, dim)) * [1.0, 5.0, 0.2][:dim] + [2.0, -3.0, 10.0][:dim]).astype(np.float32)
             for n in lengths]
    source = _PaddedRows({kind: items})
    rows = np.array([4, 1, 2, 4, 0])
    valid = np.concatenate([items[r] for r in rows]).astype(np.float64)
    mean, std = channel_statistics(source, rows, kind, chunk=2)
    assert mean.shape == std.shape == (dim,) and mean.dtype == std.dtype == torch.float32
    np.testing.assert_allclose(mean.numpy(), valid.mean(0), rtol=1e-5)
    np.testing.assert_allclose(std.numpy(), valid.std(0), rtol=1e-4)  # ddof=0: the population deviation
    # one row with one step: mean is that step, deviation exactly 0
    mean, std = channel_statistics(source, np.array([1]), kind, chunk=2)
    np.testing.assert_allclose(mean.numpy(), items[1][0], rtol=1e-6)
    assert (std == 0).all()


def test_each_member_standardises_with_the_statistics_of_its_own_rows(tiny_prepared: PreparedDataset,
                                                                      tmp_path: Path) -> None:
    """Two members trained together on different rows (whole videos, nothing cropped): each one's video encoder and
    decoder hold the per-channel mean and population deviation of its own rows' video features (a video once per
    row), its text ones those of its own sentences' word vectors, computed here from the store and the vocabulary."""
    data = tiny_prepared
    rows = data.rows(subset="train")
    member_rows = [rows[: len(rows) // 2], rows[len(rows) // 2:]]  # other videos (a video's rows are adjacent)
    config = TrainConfig(**{**TINY, "epochs": 1, "pairing": "video", "max_words": None})
    models = train_ensemble([config, config], data, member_rows, tmp_path / "ens", progress=False).models
    store = data.feature_store()
    for model, own in zip(models, member_rows):
        video = np.concatenate([store.read(data.sentences.at[r, "video_id"]) for r in own]).astype(np.float64)
        text = np.concatenate([data.vocab_vectors[data.token_ids(r)] for r in own]).astype(np.float64)
        for kind, values in (("video", video), ("text", text)):
            for part in ("encoder", "decoder"):
                module = getattr(model, f"{kind}_{part}")
                np.testing.assert_allclose(module.shift.numpy(), values.mean(0), rtol=1e-5, atol=1e-6)
                np.testing.assert_allclose(module.scale.numpy(), values.std(0), rtol=1e-4, atol=1e-6)
    assert not np.allclose(models[0].video_encoder.shift.numpy(), models[1].video_encoder.shift.numpy())


@pytest.mark.parametrize("pooling", ["attention", "max"])
def test_a_standardised_model_is_the_plain_model_on_standardised_data(pooling: str) -> None:
    """With shift μ and scale σ set, the encoder of x equals the same network without them on (x - μ) / σ (the
    attention path standardises the pooled columns instead of the steps, :class:`SequenceEncoder`), the decoder's
    output is the plain decoder's times σ plus μ on valid steps and 0 on padding, and the encoder of a factorised
    decode equals the encoder of its dense sequence."""
    from mmar.models.autoencoders import MultimodalAutoencoder

    torch.manual_seed(0)
    model = MultimodalAutoencoder(5, 3, embed_dim=4, hidden_dim=8, pooling=pooling)
    plain = MultimodalAutoencoder(5, 3, embed_dim=4, hidden_dim=8, pooling=pooling)
    plain.load_state_dict(model.state_dict())
    g = torch.Generator().manual_seed(1)
    mean, std = torch.randn(5, generator=g) * 3, torch.rand(5, generator=g) * 2 + 0.5
    model.set_standardization("video", mean, std)
    mask = torch.arange(6)[None, :] < torch.tensor([6, 4, 2])[:, None]
    video = (torch.randn(3, 6, 5, generator=g) * std + mean) * mask[:, :, None]
    standardised = (video - mean) / std * mask[:, :, None]
    torch.testing.assert_close(model.encode_video(video, mask), plain.encode_video(standardised, mask), rtol=1e-5,
                               atol=1e-6)
    z = torch.nn.functional.normalize(torch.randn(3, 4, generator=g), dim=1)
    expected = (plain.decode_video(z, mask) * std + mean) * mask[:, :, None]
    torch.testing.assert_close(model.decode_video(z, mask), expected, rtol=1e-5, atol=1e-6)
    decoded = model.video_decoder.decode(z, mask)
    torch.testing.assert_close(model.video_encoder.encode_decoded(decoded, mask), model.encode_video(decoded.dense(), mask),
                               rtol=1e-5, atol=1e-6)

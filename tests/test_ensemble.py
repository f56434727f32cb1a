"""The ensemble trainer (mmar.training.ensemble, mmar.training.optim): a member trains exactly as it
would alone, members do not influence each other, and an interrupted ensemble resumes to the same
weights. References: PyTorch's own optimisers, and the same training run with one member."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmar.data.prepared import PreparedDataset
from mmar.training import MemoryBank, SegmentSource, TrainConfig, train, train_ensemble
from mmar.training.ensemble import load_checkpoint
from mmar.training.optim import MemberOptimizer

# text_decoder_filters=None (4 columns): with 12, one adversarial member's video attention widths (4 values
# near 0, whose Adam steps are ±lr whatever the size of a near-zero gradient) end 3e-4 apart (relative) between
# ensemble and alone after 3 epochs, every other tensor within 1e-5: rounding amplified, not a different training.
TINY = dict(embed_dim=8, hidden_dim=16, batch_size=8, epochs=2, pretrain_epochs=1, optimizer="adam", lr=0.01,
            text_decoder_filters=None, max_frames=None)
RTOL = 1e-4


def _close(a: torch.nn.Module, b: torch.nn.Module, rtol: float = RTOL) -> float:
    """Largest difference of two modules' tensors relative to each tensor's largest magnitude; asserts <= rtol."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    worst = max(float((sa[k] - sb[k]).abs().max() / (sa[k].abs().max() + 1e-12)) for k in sa)
    assert worst <= rtol, worst
    return worst


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_member_optimizer_matches_pytorch_with_members_left_out(kind: str) -> None:
    torch.manual_seed(0)
    init = torch.randn(3, 4, 5)
    targets = torch.randn(6, 3, 4, 5)
    active_per_step = [torch.tensor(a) for a in ([1, 1, 1], [1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 1, 1], [0, 0, 1])]
    stacked = init.clone().requires_grad_(True)
    opt = MemberOptimizer([stacked], kind, momentum=0.9)
    for target, active in zip(targets, active_per_step):
        opt.zero_grad()
        ((stacked - target) ** 2).sum().backward()
        opt.step(0.01, active.bool())
    for m in range(3):  # member m alone, with PyTorch's optimiser, on its active steps only
        alone = init[m].clone().requires_grad_(True)
        ref = torch.optim.SGD([alone], lr=0.01, momentum=0.9) if kind == "sgd" else torch.optim.Adam([alone], lr=0.01)
        for target, active in zip(targets, active_per_step):
            if active[m]:
                ref.zero_grad()
                ((alone - target[m]) ** 2).sum().backward()
                ref.step()
        torch.testing.assert_close(stacked[m].detach(), alone.detach(), rtol=1e-5, atol=1e-6)


def _member_rows(data: PreparedDataset) -> list[np.ndarray]:
    rows = data.rows(subset="train")
    return [rows, rows[::2], rows[1:]]  # the second member has half the rows: masked iterations


@pytest.mark.parametrize("executor", ["loop", "vmap"])
@pytest.mark.parametrize("losses,fraction", [(("joint", "recons", "cross", "cycle"), 0.0),
                                             (("joint", "recons", "cross", "cycle", "adv"), 0.4)])
def test_a_member_trains_as_it_would_alone(tiny_prepared: PreparedDataset, tmp_path: Path, executor: str,
                                           losses: tuple[str, ...], fraction: float) -> None:
    configs = [TrainConfig(**TINY, losses=losses, unpaired_fraction=fraction, seed=s, lambda_joint=lj)
               for s, lj in ((0, 1.0), (1, 3.0), (2, 1.0))]
    rows = _member_rows(tiny_prepared)
    together = train_ensemble(configs, tiny_prepared, rows, tmp_path / "ens", executor=executor, progress=False)
    assert together.executor == executor
    for i, config in enumerate(configs):
        alone = train(config, tiny_prepared, rows[i], tmp_path / f"alone{i}", progress=False)
        _close(together.models[i], alone.model)
        if config.adversarial:
            _close(together.discriminators[i], alone.discriminators)
        np.testing.assert_allclose(together.histories[i]["total_paired"], alone.history["total_paired"], rtol=RTOL)


def test_members_do_not_influence_each_other(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    configs = [TrainConfig(**TINY, seed=s) for s in range(3)]
    rows = _member_rows(tiny_prepared)
    base = train_ensemble(configs, tiny_prepared, rows, tmp_path / "a", executor="vmap", progress=False)
    perturbed = list(rows)
    perturbed[1] = tiny_prepared.rows(subset="val")  # member 1 sees other data
    other = train_ensemble(configs, tiny_prepared, perturbed, tmp_path / "b", executor="vmap", progress=False)
    # Unchanged up to float rounding (the shared padded length of a batch may change with member 1's rows):
    # measured 8e-7 with PyTorch's default kernels and 1.3e-5 with its AVX2 ones (an AVX2-only Zen 3), while
    # member 1 itself moves by 1.7 (relative, its text decoder's attention widths).
    _close(base.models[0], other.models[0])
    _close(base.models[2], other.models[2])
    with pytest.raises(AssertionError):
        _close(base.models[1], other.models[1])


def test_interrupted_ensemble_resumes_to_the_same_weights(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    configs = [TrainConfig(**TINY, losses=("joint", "recons", "cross", "cycle", "adv"), unpaired_fraction=0.4,
                           seed=s) for s in range(2)]
    rows = _member_rows(tiny_prepared)[:2]
    whole = train_ensemble(configs, tiny_prepared, rows, tmp_path / "whole", progress=False)
    part = train_ensemble(configs, tiny_prepared, rows, tmp_path / "resumed", progress=False, stop_after_epoch=2)
    assert len(part.histories[0]) == 2
    state = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")  # weights_only=True: plain data only
    assert state["epoch"] == 2 and not state["finished"]
    resumed = train_ensemble(configs, tiny_prepared, rows, tmp_path / "resumed", progress=False)
    for a, b in zip(whole.models + whole.discriminators, resumed.models + resumed.discriminators):
        _close(a, b, rtol=0.0)
    assert len(resumed.histories[1]) == 3


def test_batches_gathered_into_kept_memory_train_as_streamed_batches(tiny_prepared: PreparedDataset,
                                                                     tmp_path: Path) -> None:
    # adversarial members with unpaired rows: both batch slots ("paired", "unpaired") live in one iteration
    configs = [TrainConfig(**TINY, losses=("joint", "recons", "cross", "cycle", "adv"), unpaired_fraction=0.4,
                           seed=s) for s in range(2)]
    rows = _member_rows(tiny_prepared)[:2]
    kept = train_ensemble(configs, tiny_prepared, rows, tmp_path / "bank", memory="bank", progress=False)
    streamed = train_ensemble(configs, tiny_prepared, rows, tmp_path / "stream", memory="stream", progress=False)
    assert (kept.extra["source"], streamed.extra["source"]) == ("MemoryBank", "SegmentSource")
    for a, b in zip(kept.models + kept.discriminators, streamed.models + streamed.discriminators):
        _close(a, b, rtol=1e-6)


def test_a_bank_gathers_into_a_kept_tensor_of_any_batch_size(tiny_prepared: PreparedDataset) -> None:
    rows = tiny_prepared.rows(subset="train")
    bank = MemoryBank(SegmentSource(tiny_prepared), rows, tiny_prepared.vocab_vectors, max_words=None)
    kept = torch.empty(0)
    for batch in (rows[None, :6], rows[None, 2:4], rows[None, :9]):  # grows, shrinks, grows
        video, mask = bank.videos(batch, out=kept)
        fresh_video, fresh_mask = bank.videos(batch)
        assert torch.equal(video, fresh_video) and torch.equal(mask, fresh_mask)
        assert video.data_ptr() == kept.data_ptr()


@pytest.mark.parametrize("max_frames", [None, 3])
def test_a_banks_valid_steps_are_its_padded_batchs_unmasked_steps(tiny_prepared: PreparedDataset,
                                                                 max_frames: int | None) -> None:
    """``valid_steps(rows)`` is ``video[mask]`` of the padded batch (same values, same order: row after row, each
    in time order), for rows out of order and one row twice; with it, a bank's channel statistics equal the
    streamed source's (padded gather, then mask) bit for bit, since the float64 sums see the same tensors."""
    from mmar.training.data import channel_statistics

    source = SegmentSource(tiny_prepared, max_frames=max_frames)
    rows = tiny_prepared.rows(subset="train")
    bank = MemoryBank(source, rows, tiny_prepared.vocab_vectors, max_words=None)
    chosen = np.concatenate([rows[7:1:-1], rows[3:4], rows[9:]])
    video, mask = bank.videos(chosen[None])
    steps = bank.valid_steps(chosen)
    assert steps.shape == (int(mask.sum()), video.shape[-1])
    assert torch.equal(steps, video[mask])
    for chunk in (3, 512):
        for streamed, kept in zip(channel_statistics(source, chosen, "video", chunk=chunk),
                                  channel_statistics(bank, chosen, "video", chunk=chunk)):
            assert torch.equal(streamed, kept)


@pytest.mark.parametrize("pairing", ["video", "segment"])
def test_long_videos_and_sentences_are_cropped_alike_in_a_bank_and_a_stream(tiny_prepared: PreparedDataset,
                                                                          pairing: str) -> None:
    """Cropped to 3 steps and 2 words: a row's segment [start, stop) of more than 3 steps keeps steps
    [start + (n - 3) // 2, ... + 3) (its centre, n = stop - start), a sentence its first 2 words; the streamed batches
    (PairDataset) and the kept ones (MemoryBank) are equal."""
    data = tiny_prepared
    source = SegmentSource(data, pairing=pairing, max_frames=3, max_words=2)
    rows = data.rows(subset="train")
    bank = MemoryBank(source, rows, data.vocab_vectors, max_words=2)
    batch = rows[None, :8]
    (kept, kept_mask), (streamed, streamed_mask) = bank.videos(batch), source.videos(batch)
    assert torch.equal(kept, streamed) and torch.equal(kept_mask, streamed_mask)
    (kept_text, kept_text_mask), (streamed_text, streamed_text_mask) = bank.texts(batch), source.texts(batch)
    assert torch.equal(kept_text, streamed_text) and torch.equal(kept_text_mask, streamed_text_mask)
    store, cropped = data.feature_store(), 0
    for i, row in enumerate(batch[0]):
        full = store.read(data.sentences.at[row, "video_id"])
        start, stop = data.feature_range(int(row), len(full), pairing)
        if stop - start > 3:
            start, stop, cropped = start + (stop - start - 3) // 2, start + (stop - start - 3) // 2 + 3, cropped + 1
        n = stop - start
        np.testing.assert_array_equal(kept[0, i, :n].numpy(), full[start:stop].astype(np.float32))
        assert kept_mask[0, i].sum() == n
        words = data.token_ids(int(row))[:2]
        np.testing.assert_array_equal(kept_text[0, i, :len(words)].numpy(), data.vocab_vectors[words])
    assert cropped > 0  # the crop was exercised


def test_members_of_different_structure_are_refused(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    rows = tiny_prepared.rows(subset="train")
    with pytest.raises(ValueError, match="must share"):
        train_ensemble([TrainConfig(**TINY), TrainConfig(**{**TINY, "n_filters": 2})], tiny_prepared, [rows, rows],
                       tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="one train_rows"):
        train_ensemble([TrainConfig(**TINY)], tiny_prepared, [rows, rows], tmp_path / "y", progress=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none)")
@pytest.mark.parametrize("losses,fraction", [(("joint", "recons", "cross", "cycle"), 0.0),
                                             (("joint", "recons", "cross", "cycle", "adv"), 0.4)])
def test_a_cuda_ensemble_member_trains_as_it_would_alone_on_cpu(tiny_prepared: PreparedDataset, tmp_path: Path,
                                                                 losses: tuple[str, ...], fraction: float) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False  # compare float32 with float32
    configs = [TrainConfig(**TINY, losses=losses, unpaired_fraction=fraction, seed=s) for s in range(3)]
    rows = _member_rows(tiny_prepared)
    together = train_ensemble(configs, tiny_prepared, rows, tmp_path / "ens", device="cuda", progress=False)
    assert together.executor == "vmap" and together.device.startswith("cuda")
    for i, config in enumerate(configs):
        on_cpu = TrainConfig(**{**config.to_dict(), "device": "cpu"})
        alone = train(on_cpu, tiny_prepared, rows[i], tmp_path / f"alone{i}", progress=False, executor="loop")
        _close(together.models[i].cpu(), alone.model, rtol=1e-3)


def test_the_epoch_callback_sees_the_untrained_networks_first(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    configs = [TrainConfig(**TINY, seed=s) for s in range(2)]
    rows = _member_rows(tiny_prepared)[:2]
    seen: list[tuple[int, float]] = []

    def callback(epoch, trainer):
        weight = trainer.member_networks(0).model.video_encoder.fc[0].weight
        seen.append((epoch, float(weight.detach().abs().sum())))
        trainer.histories[0][-1]["probe"] = epoch

    result = train_ensemble(configs, tiny_prepared, rows, tmp_path, progress=False, epoch_callback=callback)
    assert [e for e, _ in seen] == [-1, 0, 1]  # before training, then after each of the 2 epochs
    torch.manual_seed(0)
    untrained = train_ensemble(configs, tiny_prepared, rows, tmp_path / "none", progress=False, stop_after_epoch=0)
    assert seen[0][1] == pytest.approx(float(untrained.models[0].video_encoder.fc[0].weight.detach().abs().sum()))
    history = result.histories[0]
    assert list(history["epoch"]) == [0, 1, 2] and history["phase"].iloc[0] == "init"
    assert list(history["probe"]) == [-1, 0, 1]
    assert len(result.histories[1]) == 3


def test_one_member_trains_as_a_plain_loop_of_algorithm_1s_paired_step(tiny_prepared: PreparedDataset,
                                                                      tmp_path: Path) -> None:
    """The trainer against a plain loop written from what the trainer promises, with PyTorch's own Adam: inputs
    standardised with the statistics of the training rows (tested against NumPy in test_training); each epoch visits
    the rows in the order of a permutation seeded by (seed, epoch), batch_size rows a step, the last batch filled
    from the start of that order; each step minimises Eq. 6, λ_joint·joint + recons + λ_cross·cross + λ_cycle·cycle
    (:func:`mmar.losses.paired_losses`, whose terms test_losses checks against the equations), with distinct λs."""
    import math

    from mmar.losses import paired_losses
    from mmar.training import build_model
    from mmar.training.data import channel_statistics

    lambdas = {"lambda_joint": 3.0, "lambda_cross": 2.0, "lambda_cycle": 0.5}
    config = TrainConfig(**{**TINY, **lambdas, "epochs": 2}, losses=("joint", "recons", "cross", "cycle"), seed=4)
    rows = tiny_prepared.rows(subset="train")[:21]  # 3 batches of 8, the last one wrapping around
    trained = train(config, tiny_prepared, rows, tmp_path / "t", progress=False).model

    model, _ = build_model(config, tiny_prepared.feature_store().feature_dim, tiny_prepared.word_dim)
    source = SegmentSource(tiny_prepared, pairing=config.pairing, max_frames=config.max_frames, max_words=config.max_words)
    for kind in ("video", "text"):
        model.set_standardization(kind, *channel_statistics(source, rows, kind))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    size = config.batch_size
    for epoch in range(config.epochs):
        order = np.random.default_rng([config.seed, epoch]).permutation(rows)
        for step in range(math.ceil(len(rows) / size)):
            batch = order[np.arange(step * size, (step + 1) * size) % len(order)]
            terms = paired_losses(model, *source.videos(batch), *source.texts(batch), config.losses,
                                  config.recon_reduction)
            total = (lambdas["lambda_joint"] * terms["joint"] + terms["recons"] + lambdas["lambda_cross"] * terms["cross"]
                     + lambdas["lambda_cycle"] * terms["cycle"])
            optimiser.zero_grad()
            total.backward()
            optimiser.step()
    _close(trained, model)


def test_bf16_layers_train_alike_in_both_executors(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    """precision="bf16" under vmap (the GPU executor) computes what the loop computes, up to bfloat16 rounding
    (a loss within 1 %), and not what float32 computes (the products really are bfloat16 in both)."""
    rows = _member_rows(tiny_prepared)[:2]
    histories = {}
    for executor, precision in (("loop", "bf16"), ("vmap", "bf16"), ("loop", "float32")):
        configs = [TrainConfig(**TINY, seed=s, precision=precision) for s in range(2)]
        result = train_ensemble(configs, tiny_prepared, rows, tmp_path / f"{executor}-{precision}", executor=executor,
                                progress=False)
        histories[executor, precision] = np.array([h["total_paired"] for h in result.histories])
    np.testing.assert_allclose(histories["vmap", "bf16"], histories["loop", "bf16"], rtol=1e-2)
    for executor in ("loop", "vmap"):
        assert not np.allclose(histories[executor, "bf16"], histories["loop", "float32"], rtol=1e-5)

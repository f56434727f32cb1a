"""Trainings side by side in worker processes (mmar.parallel) give what the same trainings
give one after another in this process: the reference is the inline run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmar.data.prepared import PreparedDataset
from mmar.experiments.balance import lambda_search
from mmar.studies.trial import describe_variants, train_variants
from mmar.training import TrainConfig
from mmar.parallel import map_processes

TINY = dict(embed_dim=8, hidden_dim=16, batch_size=8, epochs=2, pretrain_epochs=1, optimizer="adam", lr=0.01,
            max_frames=None)


def test_map_processes_keeps_the_order_of_jobs() -> None:
    jobs = [3.0, 1.0, 2.0, 5.0]
    assert map_processes(np.sqrt, jobs, processes=2) == [np.sqrt(j) for j in jobs]
    assert map_processes(np.sqrt, jobs, processes=1) == [np.sqrt(j) for j in jobs]
    with pytest.raises(ValueError, match="processes must be"):
        map_processes(np.sqrt, jobs, processes=0)


def test_variants_trained_side_by_side_equal_those_trained_inline(tiny_prepared: PreparedDataset,
                                                                  tmp_path: Path) -> None:
    configs = {"full": TrainConfig(**TINY), "adv": TrainConfig(**TINY, losses=("joint", "recons", "cross", "cycle", "adv"),
                                                                unpaired_fraction=0.4)}
    rows = tiny_prepared.rows(subset="train")
    names = {v: f"t_{v}" for v in configs}
    apart = train_variants(configs, tiny_prepared, rows, tmp_path / "apart", names, processes=2)
    inline = train_variants(configs, tiny_prepared, rows, tmp_path / "inline", names, processes=1)
    assert list(apart) == list(configs)  # the caller's order, although the costlier "adv" ran first
    for variant in configs:
        for key, value in inline[variant].model.state_dict().items():
            torch.testing.assert_close(apart[variant].model.state_dict()[key], value, rtol=0, atol=0)
        assert (tmp_path / "apart" / "logs" / f"t_{variant}.csv").is_file()
    n = len(rows)
    paired = n - round(0.4 * n)  # the adversarial variant breaks the pairing of 40 % of its rows
    assert describe_variants(apart).splitlines() == [
        f"full: losses ['joint', 'recons', 'cross', 'cycle'], {n} paired / 0 unpaired rows, {len(apart['full'].history)} epochs",
        f"adv: losses ['joint', 'recons', 'cross', 'cycle', 'adv'], {paired} paired / {n - paired} unpaired rows, "
        f"{len(apart['adv'].history)} epochs"]


def test_lambda_search_over_processes_equals_inline(tiny_prepared: PreparedDataset, tmp_path: Path) -> None:
    unseen = tiny_prepared.splits[2][0]
    kwargs = dict(n_val_classes=2, max_train_rows=None, val_pairs=4, sentences_per_class=2,
                  reference_videos_per_class=2)
    candidates = {"lambda_joint": [1.0, 10.0]}
    apart, chosen_apart = lambda_search(tiny_prepared, unseen, candidates, TINY, [0, 1], tmp_path / "a", processes=2,
                                        **kwargs)
    inline, chosen_inline = lambda_search(tiny_prepared, unseen, candidates, TINY, [0, 1], tmp_path / "b", processes=1,
                                          **kwargs)
    assert chosen_apart == chosen_inline
    assert sorted(apart["seed"].unique()) == [0, 1] and len(apart) == 2 * 2 * 3  # seeds x λ x (init + 2 epochs)
    np.testing.assert_array_equal(apart.to_numpy(), inline.to_numpy())

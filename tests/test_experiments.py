"""The experiment grid: training rows never touch unseen classes, data modes give the right
counts, cells are cached and resumed, results carry the paper's labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmar.provenance import Run
from mmar import experiments as ex
from mmar.evaluation.zero_shot import seen_training_rows, zero_shot_test
from mmar.experiments.cells import probe_val_rows
from mmar.experiments.run import _probe, plan_ensembles
from mmar.results import write_results

ALL_ROWS = ex.TABLE1 + ex.TABLE6 + ex.TABLE7 + ex.TABLE8 + ex.our_ablation("n_filters", [1, 2])
TINY_GRID = ex.GridSettings(train={"epochs": 1, "batch_size": 8, "embed_dim": 8, "hidden_dim": 16, "device": "cpu",
                                   "optimizer": "adam", "lr": 0.01},
                            sentences_per_class=2, reference_videos_per_class=2, caption_length=4)


def _fix_embeddings(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Evaluation's E_V / E_T outputs replaced (rows and class labels kept): ``"constant"``, one unit vector
    for every video and sentence; ``"class"``, the one-hot vector of the item's class."""
    import mmar.training

    real = mmar.training.embed_rows

    def fixed(model, data, rows: np.ndarray, **kwargs: object) -> dict[str, np.ndarray]:
        out = real(model, data, rows, **kwargs)
        if kind == "constant":
            vectors = np.zeros((len(rows), 3))
            vectors[:, 0] = 1.0
        else:
            vectors = np.eye(len(data.classes))[out["class_index"]]
        return {**out, "video": vectors, "text": vectors.copy()}

    monkeypatch.setattr(mmar.training, "embed_rows", fixed)


def test_row_labels_match_the_paper_file():
    from mmar.paths import PROJECT_ROOT

    paper = pd.read_csv(PROJECT_ROOT / "report" / "paper_results.csv")
    cells = set(zip(paper["table"], paper["row"], paper["column"]))
    for row in ex.TABLE1:
        for k in (5, 10, 20, 50):
            assert (row.paper_table, row.paper_row, row.column(k)) in cells
    for row in ex.TABLE6 + ex.TABLE7 + ex.TABLE8:
        assert (row.paper_table, row.paper_row, row.paper_column) in cells
    for table5_row in ex.TABLE5_MODELS:
        assert ("Table 5", table5_row, "METEOR") in cells and ("Table 5", table5_row, "CIDEr") in cells
    assert len(ex.TABLE1) == 11 == len(set(r.label for r in ex.TABLE1))


def test_each_table1_row_trains_the_terms_and_data_its_label_names():
    """The paper's row label, read independently of the code's row list: "Paired" / "Paired + Unpaired" before the
    colon, the loss terms after it ("a + b + c", a parenthesised note dropped); the baseline and "All terms" rows
    named by hand."""
    by_hand = {"Fixed Text Representation": {"fixed_text"}, "All terms": {"joint", "recons", "cross", "cycle", "adv"}}
    for row in ex.TABLE1:
        data, terms = row.paper_row.split(": ", 1)  # a row of report/paper_results.csv (the test above)
        terms = terms.split(" (", 1)[0]
        expected = by_hand.get(terms, set(terms.split(" + ")))
        assert set(row.losses) == expected, row.label
        assert row.data_mode == {"Paired": ex.PAIRED, "Paired + Unpaired": ex.PAIRED_UNPAIRED}[data], row.label


def test_unseen_classes_never_in_training_rows(tiny_prepared):
    data = tiny_prepared
    settings = ex.GridSettings(max_train_rows=10, max_unpaired_rows=4)
    classes = data.sentences["class_name"].to_numpy()
    cells = [ex.make_cell(data, row, k, t, settings) for row in ALL_ROWS for k in data.splits
             for t in range(len(data.splits[k]))]
    assert len(cells) == len(ALL_ROWS) * 3
    for cell in cells:
        used = np.concatenate([cell.train_rows, cell.unpaired_rows])
        assert len(used) > 0
        assert not set(classes[used]) & set(cell.unseen), (cell.row.label, cell.k, cell.trial)
        assert set(cell.unseen) == set(data.splits[cell.k][cell.trial])


def test_the_probes_held_out_pairs_are_never_training_rows(tiny_prepared):
    """Every row's cells, the Paired + Unpaired ones with every val row they may take (no cap): the pairs on which
    the per-epoch probe measures held-out losses are seen-class val rows outside the cell's paired and unpaired
    rows; the Paired + Unpaired cells take all the other val rows. Asked for more pairs than half the val rows,
    the probe takes half (rounded up), and the grid's probe is handed exactly these rows."""
    data = tiny_prepared
    subset = data.sentences["subset"].to_numpy()
    for pairs in (3, 10_000):
        settings = ex.GridSettings(max_train_rows=None, max_unpaired_rows=None, curve_val_pairs=pairs,
                                   sentences_per_class=2, reference_videos_per_class=2)
        for row in ALL_ROWS:
            for k in data.splits:
                cell = ex.make_cell(data, row, k, 0, settings)
                probe = probe_val_rows(data, cell.unseen, k, 0, settings)
                val = seen_training_rows(data, cell.unseen, "val")
                assert len(probe) == min(pairs, (len(val) + 1) // 2) and set(subset[probe]) == {"val"}
                assert not set(probe) & (set(cell.train_rows) | set(cell.unpaired_rows)), (row.label, k)
                if row.data_mode == ex.PAIRED_UNPAIRED:
                    assert set(cell.unpaired_rows) | set(probe) == set(val), (row.label, k)
        # what the grid's probe is handed: these rows
        cells = [ex.make_cell(data, row, k, 0, settings) for row in ALL_ROWS for k in data.splits]
        for plan in plan_ensembles(cells):
            for cell, rows in zip(plan.cells, _probe(data, plan, settings).val_rows):
                np.testing.assert_array_equal(rows, probe_val_rows(data, cell.unseen, cell.k, 0, settings))
                assert not set(rows) & (set(cell.train_rows) | set(cell.unpaired_rows))


def test_a_single_val_row_is_the_probes_and_unequal_members_are_probed_on_a_random_subset(tiny_prepared,
                                                                                           monkeypatch):
    """Val pools of 1, 2 and 3 rows give the probe 1, 1 and 2 of them (half, rounded up); an ensemble's members
    with more held-out pairs than the fewest are probed on a seeded random subset, sorted, not on their lowest rows."""
    from mmar.evaluation import zero_shot
    from mmar.experiments.convergence import _subset

    unseen = tiny_prepared.splits[2][0]
    for pool, expected in (([7], 1), ([7, 9], 1), ([7, 9, 11], 2)):
        monkeypatch.setattr(zero_shot, "seen_training_rows", lambda data, unseen, subset, pool=pool: np.array(pool))
        rows = probe_val_rows(tiny_prepared, unseen, 2, 0, ex.GridSettings())
        assert len(rows) == expected and set(rows) <= set(pool)
    rows = np.arange(100, 200)
    kept = _subset(rows, 10)
    assert len(kept) == 10 and set(kept) <= set(rows) and list(kept) == sorted(kept)
    assert kept.max() > 150  # not the lowest ten
    np.testing.assert_array_equal(_subset(rows, 10), kept)  # seeded
    np.testing.assert_array_equal(_subset(rows, 100), rows)


def test_data_modes_give_the_documented_counts(tiny_prepared):
    data = tiny_prepared
    # 2 of the 8 val rows held out for the probe, 5 of the other 6 unpaired
    settings = ex.GridSettings(max_train_rows=20, max_unpaired_rows=5, table8_paired_fraction=0.4, curve_val_pairs=2)
    subset = data.sentences["subset"].to_numpy()
    paired = ex.make_cell(data, ex.TABLE1_BY_LABEL["Paired: joint"], 2, 0, settings)
    assert len(paired.train_rows) == 20 and len(paired.unpaired_rows) == 0
    both = ex.make_cell(data, ex.TABLE1_BY_LABEL["Paired + Unpaired: recons + cycle"], 2, 0, settings)
    # same paired rows as the paired block, plus unpaired rows from the seen classes' val subset
    np.testing.assert_array_equal(both.train_rows, paired.train_rows)
    assert len(both.unpaired_rows) == 5 and set(subset[both.unpaired_rows]) == {"val"}
    ratio = ex.make_cell(data, ex.TABLE7[1], 2, 0, settings)  # 75% / 25%
    assert ratio.config["unpaired_fraction"] == 0.25 and len(ratio.train_rows) == 20
    extra = ex.make_cell(data, ex.TABLE8[2], 2, 0, settings)  # "20k": 40% paired + 20% unpaired
    assert len(extra.train_rows) == 8 and len(extra.unpaired_rows) == 4
    assert not set(extra.train_rows) & set(extra.unpaired_rows)
    assert set(extra.train_rows) | set(extra.unpaired_rows) <= set(paired.train_rows)


def test_cell_keys_follow_what_determines_the_result(tiny_prepared):
    data = tiny_prepared
    settings = ex.GridSettings(train={"epochs": 1})
    joint = ex.make_cell(data, ex.TABLE1_BY_LABEL["Paired: joint"], 2, 0, settings)
    attention = ex.make_cell(data, ex.TABLE6[3], 2, 0, settings)  # Table 6 attention = Table 1 joint
    assert attention.key == joint.key
    assert ex.make_cell(data, ex.TABLE6[0], 2, 0, settings).key != joint.key           # max pooling
    assert ex.make_cell(data, ex.TABLE1_BY_LABEL["Paired: joint"], 2, 1, settings).key != joint.key
    longer = ex.GridSettings(train={"epochs": 2})
    assert ex.make_cell(data, ex.TABLE1_BY_LABEL["Paired: joint"], 2, 0, longer).key != joint.key
    with pytest.raises(ValueError, match="no zero-shot split"):
        ex.make_cell(data, ex.TABLE1[0], 7, 0, settings)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")  # k-means on one repeated point
def test_tiny_grid_end_to_end_with_cache(tiny_prepared, tmp_path, monkeypatch):
    """Two cells trained, evaluated and cached. Evaluation sees one constant embedding for every video and
    sentence, so by the tie rules (mmar.evaluation.metrics) 1-NN and prototype accuracy are exactly 100 / K
    and every retrieval target takes the mean place (n + 1) / 2; a second run only reads the cache."""
    data = tiny_prepared
    settings = TINY_GRID
    _fix_embeddings(monkeypatch, "constant")
    rows = [ex.TABLE1_BY_LABEL["Paired: joint + recons + cross + cycle"], ex.TABLE6[3]]
    cells = ex.make_cells(data, rows, [2], 1, settings)
    assert len({c.key for c in cells}) == 2
    results = ex.run_grid(data, cells, settings, tmp_path / "cache", progress=False)
    assert [r.row for r in results] == [c.row.label for c in cells]
    first = results[0]
    # 2 classes x (4 videos - 2 reference videos) queries; 2 classes x 2 reference sentences
    assert first.n_test_videos == 4 and first.n_sentences == 4
    # every reference ties; 2 of the 4 carry the query's class (2 per class): 50% for 1-NN and for prototypes
    assert first.zero_shot == ex.ZeroShotScores(nn_accuracy=50.0, prototype_accuracy=50.0)
    # 2 classes x 4 videos x 2 sentences, all tied: every target at place 8.5, recall@K the chance K / 16
    assert first.n_retrieval_pairs == 16
    assert first.retrieval == {f"{d}_{m}": v for d in ("t2v", "v2t") for m, v in
                               [("R@1", 6.25), ("R@5", 31.25), ("R@10", 62.5), ("median_rank", 8.5)]}
    # one point: one cluster, voted to either class, right for 2 of the 4 queries; no information
    assert first.discovery == ex.DiscoveryScores(accuracy=50.0, nmi=0.0, ari=0.0)
    assert len(first.captions.hypotheses) == 4
    assert all(1 <= len(h.split()) <= 4 for h in first.captions.hypotheses)  # 4 columns, repeats collapsed
    # a Table 5 model also gets the sentence read-out: one 4-word sentence per video, and the prior's own
    sentences = first.captions.sentence_hypotheses
    assert len(sentences) == 4 and all(len(h.split()) == 4 for h in sentences)
    assert len(first.captions.prior_sentence.split()) == 4 and first.captions.sentence_beta > 0
    assert results[1].captions.sentence_hypotheses is None     # a Table 6 row: its captions are not scored
    cached = tmp_path / "cache" / "cells" / f"{cells[0].key}.json"
    assert cached.is_file() and not list((tmp_path / "cache" / "ensembles").glob("*/checkpoint.pt"))
    assert ex.CellResult.load(cached) == first                        # the cache holds the whole typed record
    table6 = json.loads((tmp_path / "cache" / "cells" / f"{cells[1].key}.json").read_text())
    assert "sentence_hypotheses" not in table6["captions"]             # fields a row did not record stay out
    stamp = cached.stat().st_mtime_ns

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached cell was trained or evaluated again")

    with monkeypatch.context() as no_work:  # a second run reads every cell from the cache
        import mmar.experiments.run as grid_run
        import mmar.training

        for module, name in [(grid_run, "run_ensemble"), (grid_run, "evaluate_model"),
                             (mmar.training, "train_ensemble")]:
            no_work.setattr(module, name, must_not_run)
        again = ex.run_grid(data, cells, settings, tmp_path / "cache", progress=False)
    assert again == results and cached.stat().st_mtime_ns == stamp

    context = ex.ResultContext(Run("test", tmp_path, 0, data.data_source), settings, 1)
    result_rows = ex.zero_shot_rows(results, rows, context)
    table = write_results(result_rows, tmp_path / "results" / "06.csv")
    paper = table[table["paper_table"] == "Table 1"]
    assert list(paper["paper_column"]) == ["2 unseen"] and list(paper["metric"]) == ["accuracy"]
    assert paper["chance"].iloc[0] == pytest.approx(50.0)
    assert json.loads(paper["values"].iloc[0]) == [50.0]
    assert set(table.loc[table["metric"] == "prototype_accuracy", "paper_table"].fillna("")) == {""}

    captions = pd.DataFrame([r.__dict__ | {"variant": r.config["variant"]} for r in ex.caption_rows(results, 2, context)])
    readouts = {"All (paired)", "All (paired) · sentence read-out", ex.PRIOR_VARIANT}
    assert set(captions["variant"]) == readouts
    for variant in readouts:
        assert {"BLEU-1", "CIDEr", "top_word_share", "distinct_captions"} <= set(
            captions.loc[captions["variant"] == variant, "metric"])
    prior = captions[(captions["variant"] == ex.PRIOR_VARIANT) & (captions["metric"] == "distinct_captions")]
    assert list(prior["values"].iloc[0]) == [pytest.approx(100 / 4)]  # one sentence for all 4 videos
    assert set(captions["paper_table"]) == {""}                      # K = 2, not the paper's 10


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")  # k-means on one repeated point
@pytest.mark.parametrize("k", [2, 3])
def test_evaluation_scores_of_known_embeddings(tiny_prepared, monkeypatch, k: int) -> None:
    """Every protocol of a cell on embeddings whose scores the metrics' stated rules fix: one constant
    embedding (all ties) gives 1-NN, prototype and discovery accuracy 100 / K and the mean place (n + 1) / 2
    for every retrieval target (recall@K the chance K / n); a one-hot class embedding gives 100 everywhere, and the mean place among a
    target's own class's 8 rows, (8 + 1) / 2, in retrieval."""
    from mmar.training import TrainConfig, build_model

    data = tiny_prepared
    unseen = data.splits[k][0]
    model, _ = build_model(TrainConfig(embed_dim=8, hidden_dim=16), data.feature_store().feature_dim, data.word_dim)
    _fix_embeddings(monkeypatch, "constant")
    constant = ex.evaluate_model(model, data, unseen, 0, TINY_GRID, "segment", 4)
    # per class: 4 videos, 2 of them references (2 reference sentences); 2 sentences per video
    assert (constant["n_test_videos"], constant["n_sentences"], constant["n_retrieval_pairs"]) == (2 * k, 2 * k, 8 * k)
    assert constant["zero_shot"].nn_accuracy == pytest.approx(100 / k)
    assert constant["zero_shot"].prototype_accuracy == pytest.approx(100 / k)
    assert constant["discovery"].accuracy == pytest.approx(100 / k)
    n = 8 * k  # all tied: the mean place (n + 1) / 2, 8.5 or 12.5, and recall@K the chance K / n
    assert constant["retrieval"] == pytest.approx({f"{d}_{m}": v for d in ("t2v", "v2t") for m, v in
                                                   [("R@1", 100 / n), ("R@5", 500 / n), ("R@10", 1000 / n),
                                                    ("median_rank", (n + 1) / 2)]})

    _fix_embeddings(monkeypatch, "class")
    by_class = ex.evaluate_model(model, data, unseen, 0, TINY_GRID, "segment", 4)
    assert by_class["zero_shot"] == ex.ZeroShotScores(nn_accuracy=100.0, prototype_accuracy=100.0)
    assert by_class["discovery"].accuracy == 100.0
    assert by_class["discovery"].nmi == pytest.approx(1.0) and by_class["discovery"].ari == pytest.approx(1.0)
    # a target ties with its class's 8 rows: places 1-8, recall@K min(K, 8) / 8
    assert by_class["retrieval"] == {f"{d}_{m}": v for d in ("t2v", "v2t") for m, v in
                                     [("R@1", 12.5), ("R@5", 62.5), ("R@10", 100.0), ("median_rank", 4.5)]}


def test_a_cell_record_missing_a_field_is_refused_by_name(cell_result):
    record = cell_result("Paired: joint", 5).to_json()
    assert ex.CellResult.from_json(record) == cell_result("Paired: joint", 5)
    del record["discovery"]
    with pytest.raises(ValueError, match=r"lacks \['discovery'\]"):
        ex.CellResult.from_json(record)


def test_a_broken_cached_cell_names_its_file(tmp_path, cell_result):
    path = tmp_path / "cell.json"
    record = cell_result("Paired: joint", 5).to_json()
    path.write_text(json.dumps(record))
    assert ex.CellResult.load(path) == cell_result("Paired: joint", 5)
    path.write_text(json.dumps(record)[:-20])                                    # cut short
    with pytest.raises(ValueError, match="cell.json: not a cell result"):
        ex.CellResult.load(path)
    path.write_text(json.dumps({**record, "zero_shot": {"nn_accuracy": 1.0}}))  # a score missing
    with pytest.raises(ValueError, match="cell.json: not a cell result.*prototype_accuracy"):
        ex.CellResult.load(path)


def test_not_run_table_lists_dataset_tables():
    table = ex.not_run_table([("Table 1", "Paired: joint", "50 unseen")], ["no K = 50 split"])
    assert set(table["paper_table"]) == {"Table 1", "Table 2", "Table 3", "Table 4", "Table 9"}
    assert list(table.columns) == ex.NOT_RUN_COLUMNS
    assert (table["experiment"] == "not_run").all()


def test_a_failing_cell_is_reported_not_cached(tiny_prepared, tmp_path, monkeypatch):
    import mmar.training

    data = tiny_prepared
    settings = ex.GridSettings(train={"epochs": 1})
    cells = ex.make_cells(data, [ex.TABLE1_BY_LABEL["Paired: joint"]], [2], 1, settings)

    def broken(*args, **kwargs):
        raise RuntimeError("no luck")

    monkeypatch.setattr(mmar.training, "train_ensemble", broken)
    results = ex.run_grid(data, cells, settings, tmp_path, progress=False)
    assert results[0].error == "RuntimeError: no luck"
    assert not (tmp_path / "cells" / f"{cells[0].key}.json").exists()
    context = ex.ResultContext(Run("test", tmp_path, 0, data.data_source), settings, 1)
    assert ex.zero_shot_rows(results, ex.TABLE1, context) == []
    where, why = ex.failure_not_run(results, ex.TABLE1)
    assert where == [("Table 1", "Paired: joint", "2 unseen")] and "no luck" in why[0]


def test_missing_paper_cells_name_each_column_once(tiny_prepared):
    where, why = ex.missing_paper_cells(ex.TABLE1, [2], tiny_prepared)
    assert where == [("Table 1", "", f"{k} unseen") for k in (5, 10, 20, 50)]
    assert all("no zero-shot split" in w for w in why)
    where, why = ex.missing_paper_cells(ex.TABLE6, [2], tiny_prepared)
    assert where == [("Table 6", "", "Accuracy")]


def test_ensembles_group_cells_that_differ_only_in_seed_weights_and_rows(tiny_prepared):
    data = tiny_prepared
    rows = list(ex.TABLE1) + list(ex.TABLE7)
    cells = ex.make_cells(data, rows, [2], 2, TINY_GRID)
    plans = ex.plan_ensembles(cells)
    assert sorted(c.key for p in plans for c in p.cells) == sorted({c.key for c in cells})
    by_row = {}
    for plan in plans:
        for c in plan.cells:
            by_row.setdefault(c.row.label, set()).add(plan.key)
    assert all(len(keys) == 1 for keys in by_row.values())      # the trials of a row train together
    # Table 7's 75/25, 50/50, 25/75 rows differ only in unpaired_fraction: one ensemble
    assert len({next(iter(by_row[r.label])) for r in ex.TABLE7[1:4]}) == 1
    # 11 Table 1 rows; Table 7 adds 100/0 (no unpaired rows) and 0/100 (no paired rows); its middle rows join
    # Table 1's "Paired + Unpaired: All terms" row (same structure, both kinds of rows)
    assert len(plans) == 11 + 2
    assert [len(p.cells) for p in ex.plan_ensembles(cells, members=1)] == [1] * len({c.key for c in cells})


def test_grid_dispatched_with_submitit_matches_inline(tiny_prepared, tmp_path):
    pytest.importorskip("submitit")
    data = tiny_prepared
    cells = ex.make_cells(data, [ex.TABLE1_BY_LABEL["Paired: joint"], ex.TABLE1_BY_LABEL["Paired: joint + recons"]],
                          [2], 1, TINY_GRID)
    inline = ex.run_grid(data, cells, TINY_GRID, tmp_path / "inline", progress=False)
    jobs = ex.run_grid(data, cells, TINY_GRID, tmp_path / "jobs", progress=False, dispatch="submitit-local")
    assert [r.zero_shot for r in jobs] == [r.zero_shot for r in inline]
    assert len(list((tmp_path / "jobs" / "submitit").iterdir())) >= 1


def test_grid_killed_mid_training_resumes_to_the_same_results(tiny_prepared, tmp_path, monkeypatch):
    """A grid process killed with SIGKILL right after its 3rd epoch checkpoint (the child kills itself
    there, so the point does not depend on timing) resumes from epoch 3 to the results of an uninterrupted run."""
    import pickle
    import signal
    import subprocess
    import sys

    import torch

    from mmar.training.ensemble import EnsembleTrainer

    data = tiny_prepared
    settings = ex.GridSettings(**{**TINY_GRID.__dict__, "train": {**TINY_GRID.train, "epochs": 8}})
    cells = ex.make_cells(data, [ex.TABLE1_BY_LABEL["Paired: joint + recons + cross + cycle"]], [2, 3], 1, settings)
    whole = ex.run_grid(data, cells, settings, tmp_path / "whole", progress=False)
    script = (
        "import os, pickle, signal, sys\n"
        "from mmar import experiments as ex\n"
        "from mmar.data.prepared import PreparedDataset\n"
        "from mmar.training import ensemble\n"
        "saved = {'n': 0}\n"
        "original = ensemble._atomic_save\n"
        "def save_then_die(obj, path):\n"
        "    original(obj, path)\n"
        "    saved['n'] += 1\n"
        "    if saved['n'] == 3:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "ensemble._atomic_save = save_then_die\n"
        "settings = pickle.loads(sys.stdin.buffer.read())\n"
        f"data = PreparedDataset.load({str(data.root)!r})\n"
        "cells = ex.make_cells(data, [ex.TABLE1_BY_LABEL['Paired: joint + recons + cross + cycle']], [2, 3], 1, settings)\n"
        f"ex.run_grid(data, cells, settings, {str(tmp_path / 'killed')!r}, progress=False)\n"
    )
    child = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(settings), capture_output=True)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    checkpoints = list((tmp_path / "killed" / "ensembles").glob("*/checkpoint.pt"))
    assert len(checkpoints) == 1  # the K = 2 and K = 3 cells train as one ensemble
    state = torch.load(checkpoints[0], weights_only=True)
    assert state["epoch"] == 3 and not state["finished"]
    assert not list((tmp_path / "killed").glob("cells/*.json"))  # killed before any cell was evaluated

    epochs_run: list[int] = []
    run_epoch = EnsembleTrainer.run_epoch

    def counted(self: EnsembleTrainer, epoch: int, *args: object, **kwargs: object) -> None:
        epochs_run.append(epoch)
        return run_epoch(self, epoch, *args, **kwargs)

    monkeypatch.setattr(EnsembleTrainer, "run_epoch", counted)
    resumed = ex.run_grid(data, cells, settings, tmp_path / "killed", progress=False)
    assert epochs_run == [3, 4, 5, 6, 7]  # from the checkpoint on, not from the start
    assert [r.zero_shot for r in resumed] == [r.zero_shot for r in whole]
    assert [r.final_losses["total_paired"] for r in resumed] == [r.final_losses["total_paired"] for r in whole]
    assert [len(r.history) for r in resumed] == [8, 8]  # the 3 epochs before the kill kept, then 5 more


@pytest.mark.parametrize("protocol", [{}, {"eval_max_frames": 1}, {"video_unit": "segment"}],
                         ids=["whole videos", "test crop of 1 step", "segments"])
def test_curves_record_each_epoch_and_end_at_the_final_evaluation(tiny_prepared, tmp_path, protocol):
    """The probe's last zero-shot accuracy is the final evaluation's, whatever the evaluation protocol (the probe
    chooses and embeds its queries as the evaluation does, not at the training crop)."""
    data = tiny_prepared
    settings = ex.GridSettings(**{**TINY_GRID.__dict__, "train": {**TINY_GRID.train, "epochs": 3}, "curves": True,
                                  "curve_val_pairs": 4, **protocol})
    cells = ex.make_cells(data, [ex.TABLE1_BY_LABEL["Paired: joint + recons + cross + cycle"]], [2], 2, settings)
    results = ex.run_grid(data, cells, settings, tmp_path, progress=False)
    for record, cell in zip(results, cells):
        curve = [h["probe_zero_shot"] for h in record.history]
        assert len(curve) == 1 + 3  # before training, then 3 epochs
        queries = len(zero_shot_test(data, cell.unseen, sentences_per_class=settings.sentences_per_class, seed=cell.trial,
                                     reference_videos_per_class=settings.reference_videos_per_class,
                                     video_unit=settings.video_unit, video_subset=settings.video_subset).video_rows)
        assert all(v * queries / 100 == pytest.approx(round(v * queries / 100)) for v in curve)  # a count of queries
        assert record.history[0]["epoch"] == 0 and record.history[0]["phase"] == "init"
        assert curve[-1] == pytest.approx(record.zero_shot.nn_accuracy)  # same queries, refs, model
        # the unweighted joint term, a mean squared distance of unit vectors: at most 4, and clearly above 0 untrained
        assert all(0.0 <= h["probe_val_joint"] <= 4.0 for h in record.history) and record.history[0]["probe_val_joint"] > 0.1


def test_the_probe_chooses_and_embeds_its_queries_as_the_evaluation_does(tiny_prepared, tmp_path, monkeypatch):
    """Segment queries cropped to 1 step in the evaluation: the probe's queries are the same rows, embedded as
    segments at the same crop (before, whole videos at the training crop, so λ was chosen on another protocol)."""
    import mmar.experiments.convergence as convergence

    data = tiny_prepared
    settings = ex.GridSettings(**{**TINY_GRID.__dict__, "curves": True, "curve_val_pairs": 4, "eval_max_frames": 1,
                                  "video_unit": "segment"})
    cells = ex.make_cells(data, [ex.TABLE1_BY_LABEL["Paired: joint"]], [2], 2, settings)
    probe = _probe(data, plan_ensembles(cells)[0], settings)
    for test, cell in zip(probe.tests, cells):
        expected = zero_shot_test(data, cell.unseen, sentences_per_class=settings.sentences_per_class, seed=cell.trial,
                                  reference_videos_per_class=settings.reference_videos_per_class, video_unit="segment")
        np.testing.assert_array_equal(test.video_rows, expected.video_rows)
    calls = []
    real = convergence.embed_rows

    def recorded(model, data, rows, **kwargs):
        calls.append(kwargs)
        return real(model, data, rows, **kwargs)

    monkeypatch.setattr(convergence, "embed_rows", recorded)
    ex.run_grid(data, cells, settings, tmp_path, progress=False)
    video_calls = [c for c in calls if "max_frames" in c or c.get("pairing") == "video"]
    assert video_calls and all(c == {"pairing": "segment", "max_frames": 1} for c in video_calls)


def test_curves_can_be_limited_to_some_rows(tiny_prepared, tmp_path):
    data = tiny_prepared
    full, joint = ex.TABLE1_BY_LABEL["Paired: joint + recons + cross + cycle"], ex.TABLE1_BY_LABEL["Paired: joint"]
    settings = ex.GridSettings(**{**TINY_GRID.__dict__, "curves": (joint.label,), "curve_val_pairs": 4})
    assert settings.curves_for(joint.label) and not settings.curves_for(full.label)
    results = ex.run_grid(data, ex.make_cells(data, [full, joint], [2], 1, settings), settings, tmp_path, progress=False)
    by_row = {r.row: r for r in results}
    assert "probe_zero_shot" in by_row[joint.label].history[-1]
    assert not any("probe_zero_shot" in h for h in by_row[full.label].history)
    assert by_row[full.label].history[0]["epoch"] == 1  # no probe: no row for the untrained networks


def test_work_estimate_counts_loss_terms(tiny_prepared):
    from mmar.experiments.run import pair_epochs, work_estimate

    settings = ex.GridSettings(train={"epochs": 2}, max_train_rows=10)
    joint, full = (ex.make_cell(tiny_prepared, ex.TABLE1_BY_LABEL[label], 2, 0, settings)
                   for label in ("Paired: joint", "Paired: joint + recons + cross + cycle"))
    assert pair_epochs(joint) == pair_epochs(full) == 10 * 2
    assert work_estimate(joint) == 20 * 2 and work_estimate(full) == 20 * 5


def test_discovery_baseline_is_called_i3d_only_on_real_features(tmp_path) -> None:
    """The raw-feature baseline row carries the paper's name "Baseline I3D features" only on ActivityNet's real
    I3D features; on generated features it says what they are."""
    from mmar.experiments.records import BaselineDiscovery, DiscoveryScores
    from mmar.experiments.tables import discovery_rows

    baseline = [BaselineDiscovery(trial=t, k=5, discovery=DiscoveryScores(30.0 + t, 0.1, 0.05)) for t in range(2)]
    variants = {}
    for source in ("stand-in", "activitynet"):
        context = ex.ResultContext(Run("test", tmp_path, 0, source), ex.GridSettings(), 5)
        rows = discovery_rows([], 5, baseline, context)
        assert [r.metric for r in rows] == ["accuracy", "nmi", "ari"] and rows[0].values == [30.0, 31.0]
        variants[source] = {r.config["variant"] for r in rows}
    assert variants == {"stand-in": {"Baseline: raw input features, mean-pooled (stand-in)"},
                        "activitynet": {"Baseline I3D features (mean-pooled input features)"}}


def test_a_caption_set_is_degenerate_by_its_top_word_or_its_few_distinct_captions() -> None:
    from mmar.experiments.tables import degenerate_note

    assert degenerate_note([0.2, 0.3], [0.5, 0.9]) == ""
    assert degenerate_note([0.2, 0.6], [0.5, 0.9]) == "; DEGENERATE caption set: in its worst trial, one word is 60% of all caption tokens"
    assert degenerate_note([0.2, 0.3], [0.01, 0.5]) == "; DEGENERATE caption set: in its worst trial, only 1% of the captions are distinct"
    assert degenerate_note([0.51], [0.05]) == ("; DEGENERATE caption set: in its worst trial, one word is 51% of all caption tokens and "
                                               "only 5% of the captions are distinct")
    assert degenerate_note([0.5], [0.1]) == ""  # the bounds themselves are not degenerate


def test_evaluation_wires_the_seen_words_and_the_round_trips_rows(tiny_prepared, monkeypatch) -> None:
    """evaluate_model hands the sentence read-out the seen classes' words as its allowed words, and the round trip
    sentences of every unseen class (with at most 4 of them, evenly spaced over the class-ordered rows)."""
    import mmar.evaluation.captioning as captioning
    from mmar.evaluation.captioning import seen_class_words
    from mmar.evaluation.sentence_readout import SentenceReadout
    from mmar.experiments import run as grid_run
    from mmar.training import TrainConfig, build_model

    data = tiny_prepared
    unseen = data.splits[2][0]
    model, _ = build_model(TrainConfig(embed_dim=8, hidden_dim=16), data.feature_store().feature_dim, data.word_dim)
    handed = {}
    real_fit, real_trip = SentenceReadout.fit.__func__, captioning.round_trip_word_accuracy

    def fit(cls, *args, **kwargs):
        handed["allowed"] = kwargs.get("allowed")
        return real_fit(cls, *args, **kwargs)

    def round_trip(model, data, rows, **kwargs):
        handed["rows"] = rows
        return real_trip(model, data, rows, **kwargs)

    monkeypatch.setattr(SentenceReadout, "fit", classmethod(fit))
    monkeypatch.setattr(captioning, "round_trip_word_accuracy", round_trip)
    monkeypatch.setattr(grid_run, "ROUND_TRIP_SENTENCES", 4)
    grid_run.evaluate_model(model, data, unseen, 0, TINY_GRID, "segment", 4, sentence_readout=True)
    np.testing.assert_array_equal(handed["allowed"], seen_class_words(data, unseen))
    classes = data.sentences["class_name"].to_numpy()
    assert len(handed["rows"]) == 4 and set(classes[handed["rows"]]) == set(unseen)


def test_captions_vocabulary_holds_only_the_seen_classes_words(tiny_prepared) -> None:
    """word_source "prepared": the padding row, then exactly the words of seen_class_words, with their vectors
    (so no word that only the trial's unseen classes use can be said); the round trip's rows cover every unseen
    class."""
    from mmar.evaluation.captioning import seen_class_words
    from mmar.experiments import run as grid_run

    data = tiny_prepared
    unseen = data.splits[min(data.splits)][0]
    vectors, words = grid_run._vocabulary(data, "prepared", unseen)
    seen = np.flatnonzero(seen_class_words(data, unseen))
    assert words == ["<pad>" if i == 0 else str(data.vocab_words[i]) for i in [0, *seen]]
    np.testing.assert_array_equal(vectors, data.vocab_vectors[[0, *seen]])
    assert len(words) - 1 < len(data.vocab_words) - 1  # some words are left out
    rows = np.concatenate([np.full(n, c) for c, n in enumerate([216, 84, 400, 150, 150])])  # class-ordered rows
    picked = grid_run._evenly_spaced(rows, grid_run.ROUND_TRIP_SENTENCES)
    assert len(picked) == 300 and set(picked) == set(range(5))  # rows[:300] would hold classes 0 and 1 only

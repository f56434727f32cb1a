"""How well a joint model's text decoder says sentences back, per training setting.

``python benchmarks/text_round_trip.py RUN_DIR [--set key=value ...] [--seed S]``

On the prepared dataset of ``RUN_DIR`` (e.g. ``runs/default``), as notebook 05's λ search does: the
K = 5 split of trial ``seed`` is left out, ``n_val_classes`` *seen* classes become pseudo-unseen
validation classes, and one model (the full paired model, TrainConfig defaults plus the default
profile's Adam schedule, plus ``--set`` overrides) trains on up to 5,000 pairs of the remaining seen
classes. Printed, for the validation classes: zero-shot 1-NN accuracy (disjoint reference videos),
the text round trip's word accuracy (:func:`mmar.evaluation.captioning.round_trip_word_accuracy`)
beside its chance line, the top-word share of the captions, and a few captions. The split's unseen
classes are never looked at. A measurement for choosing a setting, not a result of the report.
Each run appends one row, labelled with the data source and seed, to
``<RUN_DIR>/benchmarks/text_round_trip.csv``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mmar.data.prepared import PreparedDataset
from mmar.evaluation.captioning import decode_captions, round_trip_word_accuracy, top_word_share
from mmar.evaluation.zero_shot import seen_training_rows, zero_shot_scores, zero_shot_test
from mmar.experiments.balance import validation_classes
from mmar.provenance import code_fingerprint
from mmar.training import TrainConfig, embed_rows, train

SCHEDULE = {"optimizer": "adam", "lr": 0.001, "batch_size": 128, "epochs": 3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a TrainConfig override, the value as JSON (e.g. --set epochs=30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--n-val-classes", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: expected KEY=VALUE")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            parser.error(f"--set {item!r}: the value must be JSON (strings in double quotes)")
    if not (args.run_dir / "data").is_dir():
        parser.error(f"{args.run_dir / 'data'}: no prepared dataset (run notebook 01 for this run first)")
    data = PreparedDataset.load(args.run_dir / "data")
    unseen = data.splits[5][args.seed]
    held_out = validation_classes(data, unseen, args.n_val_classes, args.seed)
    pool = seen_training_rows(data, list(unseen) + held_out, "train")
    rows = np.sort(np.random.default_rng([args.seed, 15485863]).permutation(pool)[:args.train_rows])
    config = TrainConfig.from_dict({**SCHEDULE, "seed": args.seed, **overrides})
    tic = time.perf_counter()
    model = train(config, data, rows, tempfile.mkdtemp(), progress=False).model
    seconds = time.perf_counter() - tic
    test = zero_shot_test(data, held_out, sentences_per_class=20, seed=args.seed, reference_videos_per_class=4)
    videos = embed_rows(model, data, test.video_rows, pairing="video")
    sentences = embed_rows(model, data, test.sentence_rows)
    scores = zero_shot_scores(videos["video"], videos["class_index"], sentences["text"], sentences["class_index"])
    round_trip = round_trip_word_accuracy(model, data, data.rows(classes=held_out)[:300], vectors=data.vocab_vectors,
                                          words=data.vocab_words)
    captions = decode_captions(model, data, test.video_rows[::25], length=13, vectors=data.vocab_vectors,
                               words=data.vocab_words)
    print(f"{json.dumps(overrides)} seed {args.seed}: {len(rows)} pairs, trained in {seconds:.0f} s; validation "
          f"zero-shot {scores['nn_accuracy']:.1f}% (prototype {scores['prototype_accuracy']:.1f}%); text round trip "
          f"{round_trip['word_accuracy']:.1f}% of words (chance {round_trip['chance']:.1f}%); caption top-word share "
          f"{top_word_share(captions):.2f}")
    for caption in captions[:4]:
        print("   ", caption)
    record = {"setting": json.dumps(overrides, sort_keys=True), "seed": args.seed, "data_source": data.data_source,
              "pairs": len(rows), "train_seconds": round(seconds, 1), "zero_shot": scores["nn_accuracy"],
              "prototype": scores["prototype_accuracy"], "round_trip_word_accuracy": round_trip["word_accuracy"],
              "round_trip_chance": round_trip["chance"], "caption_top_word_share": top_word_share(captions),
              "code_fingerprint": code_fingerprint()}
    out = args.run_dir / "benchmarks" / "text_round_trip.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([record]).to_csv(out, mode="a", header=not out.is_file(), index=False)
    print(f"appended to {out}")


if __name__ == "__main__":
    main()

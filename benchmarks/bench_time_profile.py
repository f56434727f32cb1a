"""Where a finished run spent its time: seconds per notebook, the costliest cells of each, and the grid's
training vs evaluation seconds. Reads what every run records; trains nothing.

    python -m mmar bench time_profile runs/default [--cells 3]

Sources: ``<run>/run.json`` (when it started), ``<run>/timings.json`` (seconds and peak memory per notebook, of its largest process and of all
its processes together, written by the runner), the
executed notebooks' papermill metadata (each cell's duration) and the grid's cell records
(``experiments/cells/*.json`` and the difficulty sweep's ``sweep/*/experiments/cells/*.json``:
``train_seconds``, ``eval_seconds``, row counts and epochs per cell, summed over the worker processes,
so CPU seconds rather than wall-clock seconds when the grid ran in two processes). A grid's end-to-end
rate is its pair-epochs over its cell's wall-clock seconds (the costliest cells).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from mmar.report.rundata import read_json_object


def notebook_seconds(run_dir: Path) -> pd.DataFrame:
    """One row per notebook: seconds, share of the run, peak memory (MB) of its largest process and of all its
    processes together (runs before the runner sampled the latter: empty)."""
    timings = json.loads((run_dir / "timings.json").read_text())
    table = pd.DataFrame([{"notebook": name, "seconds": entry["seconds"], "peak MB": entry.get("peak_rss_mb"),
                           "peak MB, all processes": entry.get("peak_all_mb")}
                          for name, entry in timings.items() if isinstance(entry, dict) and "seconds" in entry])
    table["share %"] = 100 * table["seconds"] / table["seconds"].sum()
    return table


def costliest_cells(run_dir: Path, per_notebook: int) -> pd.DataFrame:
    """The ``per_notebook`` longest code cells of each executed notebook: seconds and the cell's first code
    line, with how many more it has (the time is the whole cell's)."""
    rows = []
    for path in sorted((run_dir / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        timed = [(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0, c) for c in cells
                 if c["cell_type"] == "code"]
        for seconds, cell in sorted(timed, key=lambda item: -item[0])[:per_notebook]:
            lines = [line for line in "".join(cell["source"]).splitlines() if line.strip() and not line.startswith("#")]
            more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
            rows.append({"notebook": path.stem, "seconds": seconds, "cell": (lines[0] if lines else "")[:80] + more})
    return pd.DataFrame(rows)


def pair_epochs(record: dict) -> int:
    """Training pairs times trained epochs of one cell record (the history's "init" row is no epoch)."""
    epochs = sum(1 for h in record.get("history", []) if h.get("phase") != "init")
    return (record.get("n_paired", 0) + record.get("n_unpaired", 0)) * epochs


def grid_seconds(run_dir: Path) -> pd.DataFrame:
    """Per cell cache (the main grid, each sweep dataset's): cells, summed training and evaluation seconds,
    training pair-epochs and pair-epochs per training CPU-second (setup, i.e. reading the rows into memory,
    included). Only the cells this run computed: the caches outlive runs, so a cell written before the run
    started (``run.json``'s ``started_unix``; all cells when it records none) was another run's work."""
    started = read_json_object(run_dir / "run.json").get("started_unix", 0.0)
    rows = []
    for folder in sorted([run_dir / "experiments" / "cells", *(run_dir / "sweep").glob("*/experiments/cells")]):
        records = [json.loads(p.read_text()) for p in folder.glob("*.json") if p.stat().st_mtime >= started]
        if records:
            rows.append({"grid": str(folder.relative_to(run_dir).parent.parent) if "sweep" in folder.parts else "06/07",
                         "cells": len(records), "train CPU-s": sum(r.get("train_seconds", 0.0) for r in records),
                         "eval CPU-s": sum(r.get("eval_seconds", 0.0) for r in records),
                         "pair-epochs": sum(pair_epochs(r) for r in records)})
    table = pd.DataFrame(rows)
    if len(table):
        table["pair-epochs per train CPU-s"] = table["pair-epochs"] / table["train CPU-s"]
    return table


def run_processor(run_dir: Path) -> str:
    """The processor ``run_dir/run.json`` records ("not recorded" for runs before it was recorded)."""
    try:
        return str(read_json_object(run_dir / "run.json").get("cpu", "not recorded"))
    except ValueError as error:
        raise SystemExit(str(error)) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--cells", type=int, default=3, help="costliest cells shown per notebook")
    args = parser.parse_args()
    if not (args.run_dir / "timings.json").is_file():
        raise SystemExit(f"{args.run_dir}: no timings.json (not a finished run folder)")
    processor = run_processor(args.run_dir)
    with pd.option_context("display.width", 160, "display.max_colwidth", 90, "display.float_format", "{:.1f}".format):
        print(f"run {args.run_dir} (processor: {processor})\n\nseconds per notebook\n{notebook_seconds(args.run_dir).to_string(index=False)}")
        print(f"\ncostliest cells\n{costliest_cells(args.run_dir, args.cells).to_string(index=False)}")
        print(f"\ngrid cells (summed over worker processes)\n{grid_seconds(args.run_dir).to_string(index=False)}")


if __name__ == "__main__":
    main()

"""Compare two finished runs of one profile: ``python benchmarks/compare_runs.py REFERENCE OTHER [--tolerances FILE]``.

For a change that is meant to leave the results where they are (another precision, another kernel, another
machine), it prints, OTHER against REFERENCE:

1. the notebooks' compared cells (``# NBVAL_CHECK_OUTPUT``) that differ beyond the profile's measured
   tolerances (``tests/expected/tolerances-<profile>.json``), each with its largest deviation (the check
   ``make test-default`` would make if OTHER's notebooks were the published ones);
2. per metric with per-trial values, the paired differences OTHER - REFERENCE (same split, same seed, trial by
   trial): their mean with its 95 % t-interval, and the largest single difference; Table 1's accuracies first;
3. the claims audit's verdicts of both runs side by side.

Compare a float32 perturbation with its reference the same way (``runs/tolerances/avx2`` against
``runs/tolerances/reference``) for the yardstick: how far rounding alone moves a trial.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from mmar.evaluation.paired import t_interval
from mmar.report import claims
from mmar.report.paper import load_paper_results
from mmar.report.rundata import load_run
from mmar.tolerances import (TOLERANCE_FILES, cell_tolerance, compared_cells, load_tolerances, notebook_names,
                             number_deviations, within)


def cell_deviations(reference: Path, other: Path, tolerances: dict) -> pd.DataFrame:
    """One row per compared cell of REFERENCE's notebooks: its tolerance, the largest deviation of OTHER's
    numbers (inf when the texts differ beyond their numbers) and whether it is within."""
    rows = []
    for name in notebook_names():
        ref_cells = compared_cells(json.loads((reference / "notebooks" / f"{name}.ipynb").read_text()))
        got_cells = compared_cells(json.loads((other / "notebooks" / f"{name}.ipynb").read_text()))
        for cell_id, texts in ref_cells.items():
            atol = cell_tolerance(tolerances, f"{name}.ipynb", cell_id)
            got = got_cells.get(cell_id) or []
            largest = 0.0 if len(got) == len(texts) else math.inf
            for test, ref in zip(got, texts):
                deviations = number_deviations(test, ref)
                largest = math.inf if deviations is None else max([largest] + [d for d, _, _ in deviations])
            # the verdict is the check's own (mmar.tolerances.within: a last-digit unit is always allowed)
            passes = len(got) == len(texts) and all(within(t, r, atol) for t, r in zip(got, texts))
            rows.append({"cell": f"{name}/{cell_id}", "tolerance": atol, "largest_deviation": largest,
                         "within": math.isinf(atol) or passes})
    return pd.DataFrame(rows)


def trial_values(row: pd.Series) -> dict[int, float]:
    """``{trial (seed): value}`` of a result row (``values`` in the order of ``seeds``; trial i without ``seeds``);
    empty for a row whose values are not one per seed (e.g. one number computed over all the trials' data)."""
    values = json.loads(row["values"])
    seeds = json.loads(row["seeds"]) if str(row.get("seeds", "")).startswith("[") else list(range(len(values)))
    return dict(zip(seeds, values)) if len(seeds) == len(values) else {}


def paired_differences(reference: Path, other: Path) -> pd.DataFrame:
    """Per result row with per-trial values in both runs: OTHER - REFERENCE over the trials (seeds) both have. Rows
    are paired by file, experiment, paper cell and metric, in file order (their notes may differ: a caption length,
    a count)."""
    keys = ["file", "experiment", "paper_table", "paper_row", "paper_column", "metric"]
    frames = []
    for run in (reference, other):
        parts = [pd.read_csv(f, keep_default_na=False).assign(file=f.name)
                 for f in sorted((run / "results").glob("0[5-7]_*.csv"))]
        frame = pd.concat([p for p in parts if "values" in p.columns], ignore_index=True)
        frame = frame[frame["values"].str.startswith("[")]
        frames.append(frame.assign(occurrence=frame.groupby(keys).cumcount()).set_index(keys + ["occurrence"]))
    rows = []
    for key, ref in frames[0].iterrows():
        if key not in frames[1].index:
            continue
        got = frames[1].loc[[key]].iloc[0]
        a, b = trial_values(ref), trial_values(got)
        trials = sorted(set(a) & set(b))  # the same trial (seed) in both runs
        if len(trials) < 2:
            continue
        diffs = [b[t] - a[t] for t in trials]
        mean, low, high = t_interval(diffs)
        rows.append({**dict(zip(keys + ["occurrence"], key)), "notes": ref["notes"],
                     "reference": sum(a[t] for t in trials) / len(trials), "other": sum(b[t] for t in trials) / len(trials),
                     "mean_diff": mean, "low": low, "high": high, "largest_diff": max(diffs, key=abs),
                     "trials": len(trials)})
    return pd.DataFrame(rows)


def verdicts(reference: Path, other: Path) -> pd.DataFrame:
    """The claims audit of both runs: one row per claim, one column per run."""
    run = load_run(reference, extra_runs=[other])
    audit = claims.audit(load_paper_results(), run.results, run.paper_columns)
    return pd.DataFrame([{"claim": a.claim.ident, **{str(c): a.by_column[c].verdict for c in run.paper_columns}}
                         for a in audit])


def run_profile(run: Path, parser: argparse.ArgumentParser) -> str:
    """The profile of the finished run folder ``run`` (its ``run.json``); a usage error naming what is missing."""
    missing = [item for item in ("run.json", "notebooks", "results") if not (run / item).exists()]
    if missing:
        parser.error(f"{run} is not a finished run folder: it has no {' and no '.join(missing)}")
    try:
        return str(json.loads((run / "run.json").read_text())["profile"])
    except (ValueError, KeyError) as error:
        parser.error(f"{run / 'run.json'}: no readable 'profile' ({error!r})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reference", type=Path)
    parser.add_argument("other", type=Path)
    parser.add_argument("--tolerances", type=Path, help="tolerance file (default: the one of the reference run's profile)")
    args = parser.parse_args(argv)
    profiles = [run_profile(run, parser) for run in (args.reference, args.other)]
    if profiles[0] != profiles[1]:
        parser.error(f"{args.reference} is a {profiles[0]!r} run and {args.other} a {profiles[1]!r} run: compare runs of "
                     "one profile")
    if args.tolerances is None and profiles[0] not in TOLERANCE_FILES:
        parser.error(f"no tolerance file is measured for the profile {profiles[0]!r} (measured: "
                     f"{', '.join(TOLERANCE_FILES)}); give one with --tolerances")
    tolerances = load_tolerances(args.tolerances or TOLERANCE_FILES[profiles[0]])
    pd.set_option("display.width", 200, "display.max_colwidth", 60, "display.max_rows", 500)
    cells = cell_deviations(args.reference, args.other, tolerances)
    beyond = cells[~cells["within"]]
    print(f"1. compared cells: {len(cells)}, beyond their tolerance: {len(beyond)}")
    if len(beyond):
        print(beyond.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    diffs = paired_differences(args.reference, args.other)
    diffs["table1"] = diffs["paper_table"].eq("Table 1") & diffs["metric"].eq("accuracy")
    diffs = diffs.sort_values(["table1", "experiment", "metric"], ascending=[False, True, True])
    shown = ["experiment", "paper_row", "metric", "reference", "other", "mean_diff", "low", "high", "largest_diff"]
    print(f"\n2. paired differences (other - reference), {len(diffs)} result rows with per-trial values")
    print(diffs[shown].to_string(index=False, float_format=lambda x: f"{x:.2f}", max_colwidth=48))
    print("\n3. claims audit")
    print(verdicts(args.reference, args.other).to_string(index=False))


if __name__ == "__main__":
    main()

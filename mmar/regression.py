"""Results regression check: the smoke run's key metrics against values committed in the repository.

``python -m mmar expected`` compares the result rows of ``runs/nbval-smoke`` (left by the nbval run of
``make test``) with ``tests/expected/smoke_metrics.json`` and prints every difference;
``python -m mmar expected --update`` rewrites that file from the run and prints the same diff, so an
intended change of results is a reviewed commit of the file, not a silent drift.

A metric is one result row (``results/*.csv``, not-run files excluded), keyed by file, experiment,
metric, paper cell, data source and the start of its note with its numbers masked (plus ``#2``, ``#3`` ... for rows that
would share a key). Its ``mean`` must agree within its family's measured tolerance
(``tests/expected/tolerances.json``, :mod:`mmar.tolerances`) and its ``n_trials`` exactly; a metric
that is missing or new is a difference too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from mmar.paths import NOTEBOOKS_DIR, PACKAGE_DIR, PROJECT_ROOT, PUBLISHED_RUN_DIR, REPORT_SOURCE_DIR
from mmar.tolerances import FLOOR_RTOL, TOLERANCE_FILE, load_tolerances, metric_tolerance

EXPECTED_FILE = PROJECT_ROOT / "tests" / "expected" / "smoke_metrics.json"
SMOKE_RUN = PROJECT_ROOT / "runs" / "nbval-smoke"
NOTE_CHARS = 60
#: Numbers inside a note (e.g. "probability=0.3553") are masked in the key: they are values, not names.
NOTE_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
NOT_RUN_FILES = ("not_run.csv",)


@dataclass(frozen=True)
class Difference:
    key: str
    kind: str  # "changed", "missing" (expected, not in the run), "added" (in the run, not expected)
    expected: Mapping | None = None
    actual: Mapping | None = None

    def __str__(self) -> str:
        if self.kind == "missing":
            return f"- {self.key}: expected {self.expected['mean']!r} (n={self.expected['n_trials']}), not in the run"
        if self.kind == "added":
            return f"+ {self.key}: {self.actual['mean']!r} (n={self.actual['n_trials']}), not expected"
        e, a = self.expected, self.actual
        change = a["mean"] - e["mean"]
        rel = f", {change / abs(e['mean']):+.2%}" if e["mean"] else ""
        trials = "" if e["n_trials"] == a["n_trials"] else f"; n {e['n_trials']} -> {a['n_trials']}"
        return f"~ {self.key}: {e['mean']!r} -> {a['mean']!r} ({change:+.6g}{rel}){trials}"


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def key_metrics(run_dir: str | Path) -> dict[str, dict[str, float | int]]:
    """``{key: {"mean": float, "n_trials": int}}`` for every result row of ``<run_dir>/results/*.csv``."""
    results = Path(run_dir) / "results"
    if not results.is_dir():
        raise FileNotFoundError(f"{results}: no result files (run `make test` or `pytest --nbval notebooks` first)")
    metrics: dict[str, dict[str, float | int]] = {}
    for csv in sorted(results.glob("*.csv")):
        if csv.name in NOT_RUN_FILES or csv.name.endswith("_not_run.csv"):
            continue
        try:
            table = pd.read_csv(csv, keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError:
            continue
        if not {"experiment", "metric", "mean", "n_trials"} <= set(table.columns):
            continue
        for _, row in table.iterrows():
            if row["experiment"] == "not_run":
                continue
            parts = [csv.stem, row["experiment"], row["metric"], _text(row.get("paper_table")),
                     _text(row.get("paper_row")), _text(row.get("paper_column")), _text(row.get("data_source")),
                     NOTE_NUMBER.sub("#", _text(row.get("notes")))[:NOTE_CHARS]]
            base = " | ".join(parts)
            key, n = base, 1
            while key in metrics:
                n += 1
                key = f"{base} #{n}"
            metrics[key] = {"mean": float(row["mean"]), "n_trials": int(row["n_trials"])}
    return metrics


def compare(expected: Mapping[str, Mapping], actual: Mapping[str, Mapping], *,
            tolerances: Mapping[str, Any] | None = None, files: Sequence[str] | None = None,
            exclude_sources: Sequence[str] = ()) -> list[Difference]:
    """Differences between expected and actual metrics, each within its family's tolerance (``tolerances``:
    the content of the tolerance file; None: the floor, :data:`mmar.tolerances.FLOOR_RTOL` of the value,
    alone); ``files``: compare only keys of these result-file stems (e.g. when only some notebooks ran);
    ``exclude_sources``: leave out keys of these data sources (e.g. the real annotations on a machine
    without them)."""
    def wanted(key: str) -> bool:
        parts = key.split(" | ")
        return (files is None or parts[0] in files) and (len(parts) < 7 or parts[6] not in exclude_sources)

    def tolerance(key: str, value: float) -> float:
        return FLOOR_RTOL * abs(value) if tolerances is None else metric_tolerance(tolerances, key, value)

    differences = []
    for key, want in expected.items():
        if not wanted(key):
            continue
        got = actual.get(key)
        if got is None:
            differences.append(Difference(key, "missing", want, None))
        elif (got["n_trials"] != want["n_trials"]
              or not abs(got["mean"] - want["mean"]) <= tolerance(key, want["mean"])):
            differences.append(Difference(key, "changed", want, got))
    differences += [Difference(key, "added", None, got) for key, got in actual.items()
                    if key not in expected and wanted(key)]
    return differences


def load_expected(path: str | Path = EXPECTED_FILE) -> dict:
    """The committed expected values: ``{"about": ..., "metrics": {key: {"mean", "n_trials"}}}``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no expected values (make them with `python -m mmar expected --update`)")
    return json.loads(path.read_text())


def write_expected(run_dir: str | Path = SMOKE_RUN, path: str | Path = EXPECTED_FILE) -> dict:
    """Write the run's key metrics as the expected values."""
    data = {
        "about": "Key metrics of the smoke run (pytest --nbval notebooks -> runs/nbval-smoke), checked by "
                 "tests/test_regression.py. Regenerate with `python -m mmar expected --update` and review the diff.",
        "metrics": key_metrics(run_dir),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


#: Data sources whose rows exist only where the real ActivityNet annotations are (``../shared/data``).
REAL_ANNOTATION_SOURCES = ("activitynet", "activitynet annotations")


def check_run(run_dir: str | Path = SMOKE_RUN, path: str | Path = EXPECTED_FILE,
              files: Sequence[str] | None = None, exclude_sources: Sequence[str] = (),
              tolerance_file: str | Path = TOLERANCE_FILE) -> list[Difference]:
    """The differences of a run from the expected values, within the measured tolerances."""
    return compare(load_expected(path)["metrics"], key_metrics(run_dir), tolerances=load_tolerances(tolerance_file),
                   files=files, exclude_sources=exclude_sources)


# -- behaviour changes on a copy of the project -------------------------------------------------------
def mutated_copy(dest: str | Path, mutations: Sequence[tuple[str, str, str]]) -> Path:
    """Copy the package, the notebooks and the report's sources (the paper's numbers; not the published default
    run, which no notebook reads) to ``dest`` and apply
    ``(file under mmar/, regex, replacement)`` edits, each of which must match exactly once. Returns ``dest``."""
    dest = Path(dest)
    shutil.copytree(PACKAGE_DIR, dest / "mmar", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(NOTEBOOKS_DIR, dest / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(REPORT_SOURCE_DIR, dest / "report", ignore=shutil.ignore_patterns(PUBLISHED_RUN_DIR.name))
    for relative, pattern, replacement in mutations:
        path = dest / "mmar" / relative
        text, count = re.subn(pattern, replacement, path.read_text())
        if count != 1:
            raise ValueError(f"mutation {pattern!r} matched {count} times in mmar/{relative}, not once: "
                             "update the mutation to the current code")
        path.write_text(text)
    return dest


def project_env(project: str | Path, env: Mapping[str, str] | None = None, python: str | None = None) -> dict[str, str]:
    """The environment of a process that runs the code of ``project`` (a copy of the package, or the project
    itself): this one's, with ``env`` added, ``project`` first on the path, the real data of this checkout
    (``../shared/data``) still found, no inherited run id, and ``python``'s venv (another venv's interpreter)
    first on the PATH so that the notebooks' kernel is its own."""
    env = {**os.environ, **(env or {}),
           "PYTHONPATH": os.pathsep.join([str(project), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    shared = PROJECT_ROOT.parent / "shared" / "data"
    if "MMAR_SHARED_DATA" not in env and shared.is_dir():
        env["MMAR_SHARED_DATA"] = str(shared)  # a copy lives elsewhere: point it at the same real data
    env.pop("MMAR_RUN_ID", None)
    if python:
        env["PATH"] = os.pathsep.join([str(Path(python).parent), env.get("PATH", "")])
    return env


def run_notebooks(project: str | Path, notebooks: Sequence[str], timeout: float = 600,
                  env: Mapping[str, str] | None = None, python: str | None = None) -> Path:
    """Execute ``notebooks`` (names without .ipynb) of the copy ``project`` at their defaults, as nbval does,
    with ``project``'s package first on the path, ``env`` added to the environment and ``python`` (another
    venv's interpreter; default this one) running papermill and the kernel. The executed notebooks go to
    ``<project>/executed/``. Returns the run folder they wrote (``runs/nbval-smoke``)."""
    project = Path(project)
    env = project_env(project, env, python)
    for name in notebooks:
        source = project / "notebooks" / f"{name}.ipynb"
        output = project / "executed" / f"{name}.ipynb"
        output.parent.mkdir(exist_ok=True)
        code = ("import papermill, sys; papermill.execute_notebook(sys.argv[1], sys.argv[2], cwd=sys.argv[3], "
                "progress_bar=False, kernel_name='python3')")
        done = subprocess.run([python or sys.executable, "-c", code, str(source), str(output), str(source.parent)],
                              env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed on the copy:\n{done.stderr[-2000:]}")
    return project / "runs" / "nbval-smoke"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmar expected", description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite the expected values from the run")
    parser.add_argument("--run", default=str(SMOKE_RUN), help=f"run folder (default {SMOKE_RUN})")
    parser.add_argument("--file", default=str(EXPECTED_FILE), help=f"expected values (default {EXPECTED_FILE})")
    args = parser.parse_args(argv)
    old = load_expected(args.file)["metrics"] if Path(args.file).is_file() else {}
    differences = compare(old, key_metrics(args.run), tolerances=load_tolerances())
    for difference in differences:
        print(difference)
    if args.update:
        data = write_expected(args.run, args.file)
        print(f"wrote {len(data['metrics'])} metrics to {args.file} ({len(differences)} differences from before)")
        return 0
    print(f"{len(differences)} differences from {args.file}" if differences else
          f"the run matches {args.file} ({len(old)} metrics)")
    return 1 if differences else 0

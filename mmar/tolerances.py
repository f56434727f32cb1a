"""Tolerances of the checks, measured against the noise of other machines and installs.

Two checks compare a fresh smoke run with values stored in the repository: ``tests/test_regression.py``
compares every result row (``tests/expected/smoke_metrics.json``, full precision) and nbval compares
the printed numbers of the notebook cells marked ``# NBVAL_CHECK_OUTPUT``. Neither may fail on a
machine or install other than the one that stored the values, and both must fail when behaviour
changes. So each tolerance comes from a measurement (``python -m mmar tolerances --measure``, or
``make tolerances``): the smoke notebooks run on copies of the project under perturbations that
stand for another machine or install (:data:`PERTURBATIONS`), and every number is compared with an
unperturbed run of the same code:

* a result-row *family* (result file | experiment | metric, e.g. ``06_evaluation | retrieval |
  v2t_R@1``: all rows of one metric, pooled so that a flip seen in one row of a metric counts for
  all) gets ``atol = MARGIN x`` the largest deviation of any of its rows under any perturbation,
  at least :data:`FLOOR_RTOL` of its largest value (float32 rounding, for families that never moved);
* a compared notebook *cell* gets ``atol = MARGIN x`` the largest deviation of its printed numbers,
  and each printed number may in any case differ by one unit of its last printed digit (a value on a
  rounding boundary flips it).

A third check compares a whole default run: ``make test-default`` re-executes the published default run's
notebooks (``report/default-run/``) and compares their marked cells the same way, within tolerances measured
the same way at the default size (``--profile default``: one ``python -m mmar run --profile default`` per
perturbation, about 9 minutes each on 2 cores; :data:`TOLERANCE_FILES`). A whole run decodes words that a
perturbation can flip; a marked cell whose text changed beyond its numbers is listed there as not comparable
(``uncompared``), where the smoke profile's measurement refuses it (the smoke outputs are made stable instead).

Discrete metrics are why these are not float-noise tolerances: a retrieval or accuracy score moves
by one query (0.7 points at the smoke size) when a near-tie between two distances (1e-7 apart)
flips, which a change of kernels or library versions does (see :mod:`mmar.evaluation.metrics` for
the rules for exact ties).
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from mmar.paths import PROJECT_ROOT
from mmar.provenance import cpu_description, cpu_fields

TOLERANCE_FILE = PROJECT_ROOT / "tests" / "expected" / "tolerances.json"
#: The tolerance file of each profile measured: the smoke profile's serves ``make test`` (nbval on
#: ``notebooks/`` and tests/test_regression.py), the default profile's ``make test-default`` (nbval on the
#: published default run, ``report/default-run/``).
TOLERANCE_FILES = {"smoke": TOLERANCE_FILE, "default": PROJECT_ROOT / "tests" / "expected" / "tolerances-default.json"}
#: Measured spread times this is the tolerance: five perturbations see only part of the tail.
MARGIN = 4.0
#: Smallest relative tolerance of a result-row family (about 100 float32 rounding steps).
FLOOR_RTOL = 1e-5
#: Environment variable read by :meth:`mmar.data.glove.GloveVectors.load_default`: move every input
#: word vector by this many units in the last place (float32), a stand-in for last-bit differences of
#: the inputs on another machine.
PERTURB_ULPS_ENV = "MMAR_PERTURB_ULPS"


@dataclass(frozen=True)
class Perturbation:
    """One way another machine or install could differ: environment variables, or another interpreter."""

    name: str
    description: str
    env: Mapping[str, str]
    python: str | None = None  # another venv's interpreter (None: this one)
    cpu_flag: str | None = None  # a flag of /proc/cpuinfo the kernels it selects need (None: any x86-64 CPU)


_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
_TWO_THREADS = {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}

#: The perturbations measured (``oldest-deps`` needs ``--oldest-python``: a venv with the lowest
#: versions that pyproject.toml's ranges allow, made by ``make tolerances``).
PERTURBATIONS = (
    Perturbation("threads-1", "1 thread for OpenMP / MKL / OpenBLAS (the reference run uses 2)", _ONE_THREAD),
    Perturbation("avx2", "ATEN_CPU_CAPABILITY=avx2 (PyTorch's AVX2 kernels instead of AVX-512), 1 thread",
                 {"ATEN_CPU_CAPABILITY": "avx2", **_ONE_THREAD}),
    # Which kernels the BLAS libraries pick depends on the processor: MKL (PyTorch's matrix products and
    # convolutions on CPU) has one code path per instruction set, and OpenBLAS (numpy's, scipy's and
    # scikit-learn's) picks AVX-512 kernels on an Intel Xeon or AMD Zen 4 but AVX2 ones on a Zen 5 it does
    # not know. MKL_CBWR=COMPATIBLE is MKL's path for any x86-64 CPU (on this project's AMD EPYC, asking MKL
    # for its AVX2 or AVX-512 path changed no bit of a test product; this one does).
    Perturbation("mkl-compatible", "MKL_CBWR=COMPATIBLE (PyTorch's matrix products and convolutions on MKL's "
                 "kernels for any x86-64 CPU)", {"MKL_CBWR": "COMPATIBLE"}),
    Perturbation("openblas-haswell", "OPENBLAS_CORETYPE=Haswell (numpy's and scikit-learn's OpenBLAS on its AVX2 "
                 "kernels)", {"OPENBLAS_CORETYPE": "Haswell"}),
    Perturbation("openblas-skylakex", "OPENBLAS_CORETYPE=SkylakeX (numpy's and scikit-learn's OpenBLAS on its "
                 "AVX-512 kernels)", {"OPENBLAS_CORETYPE": "SkylakeX"}, cpu_flag="avx512f"),
    Perturbation("ulp+1", "every GloVe input vector one float32 unit in the last place up", {PERTURB_ULPS_ENV: "1"}),
    Perturbation("ulp-1", "every GloVe input vector one float32 unit in the last place down", {PERTURB_ULPS_ENV: "-1"}),
    Perturbation("oldest-deps", "the oldest versions pyproject.toml allows (numpy 1.26.0, pandas 2.1.0, scipy 1.11.0, "
                 "scikit-learn 1.4.0, ...) instead of the lock", {}, python="oldest"),
)
REFERENCE_ENV = _TWO_THREADS


def cpu_flags() -> set[str]:
    """The instruction-set flags of this machine's first processor (empty where /proc/cpuinfo is absent)."""
    return set(cpu_fields().get("flags", "").split())


def runnable(perturbations: Iterable[Perturbation], flags: set[str]) -> tuple[list[Perturbation], list[Perturbation]]:
    """``(runnable, skipped)``: the perturbations whose kernels this CPU (``flags``) can run, and the others."""
    perturbations = list(perturbations)
    ok = [p for p in perturbations if p.cpu_flag is None or p.cpu_flag in flags]
    return ok, [p for p in perturbations if p not in ok]


def perturb_ulps(values: np.ndarray, ulps: int) -> np.ndarray:
    """``values`` (any shape, float32) moved by ``ulps`` units in the last place (up if > 0)."""
    values = np.asarray(values, dtype=np.float32)
    target = np.float32(np.inf if ulps > 0 else -np.inf)
    for _ in range(abs(int(ulps))):
        values = np.nextafter(values, target)
    return values


# -- numbers printed in notebook cells -----------------------------------------------------------------
#: A number standing alone (not part of a word such as ``R@1``, ``N12`` or ``t2v``).
NUMBER = re.compile(r"(?<![\w@.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w@])")


def last_digit_unit(token: str) -> float:
    """One unit of the last printed digit of a number token: ``"0.6944"`` -> 1e-4, ``"8.848e+04"`` -> 10.

    A token without a decimal point or exponent (``"74"``, ``"0"``) may be a rounded float printed at 4
    significant digits or a count: its unit is that of the 4th significant digit, at most 1, and 0 for
    ``"0"`` (so that ``"0"`` against ``"0.6944"`` is a real difference, not a rounding flip).
    """
    mantissa, _, exponent = token.lower().partition("e")
    if "." in mantissa or exponent:
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return 10.0 ** (int(exponent or 0) - decimals)
    value = abs(int(mantissa))
    return 0.0 if value == 0 else min(1.0, 10.0 ** (math.floor(math.log10(value)) - 3))


def split_numbers(text: str) -> tuple[list[str], list[str]]:
    """``(skeleton, numbers)``: the text between numbers (whitespace runs collapsed, so that table columns
    that widen do not count) and the number tokens."""
    numbers = NUMBER.findall(text)
    skeleton = [re.sub(r"\s+", " ", part) for part in NUMBER.split(text)]
    return skeleton, numbers


def number_deviations(test: str, reference: str) -> list[tuple[float, float, float]] | None:
    """``[(|test - reference|, reference, last-digit unit of reference)]`` per number, or None when the two
    texts differ in more than their numbers."""
    test_skeleton, test_numbers = split_numbers(test)
    ref_skeleton, ref_numbers = split_numbers(reference)
    if test_skeleton != ref_skeleton or len(test_numbers) != len(ref_numbers):
        return None
    return [(abs(float(t) - float(r)), float(r), last_digit_unit(r)) for t, r in zip(test_numbers, ref_numbers)]


def within(test: str, reference: str, atol: float) -> bool:
    """Whether ``test`` equals ``reference`` but for numbers that differ by at most ``atol`` or one unit
    of the reference's last printed digit."""
    deviations = number_deviations(test, reference)
    return deviations is not None and all(d <= max(atol, unit) * (1 + 1e-9) for d, _, unit in deviations)


def texts_of(outputs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The compared text of a cell's outputs: each stream's text joined by stream name, then each
    ``text/plain`` result, in order (figures and other MIME types are not compared here)."""
    streams: dict[str, str] = {}
    plain = []
    for output in outputs:
        if output.get("output_type") == "stream":
            streams[output.get("name", "stdout")] = streams.get(output.get("name", "stdout"), "") + as_text(output["text"])
        elif "text/plain" in output.get("data", {}):
            plain.append(as_text(output["data"]["text/plain"]))
    return [streams[name] for name in sorted(streams)] + plain


def as_text(value: str | Sequence[str]) -> str:
    """A notebook output's text, stored as one string or as a list of lines."""
    return value if isinstance(value, str) else "".join(value)


def compared_cells(notebook: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{cell id: [text, ...]}`` of the cells whose outputs nbval compares (``# NBVAL_CHECK_OUTPUT``), each
    text as nbval compares it: sanitised by ``notebooks/nbval_sanitize.cfg`` (times, sizes, run folders)."""
    cells = {}
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code" and "NBVAL_CHECK_OUTPUT" in as_text(cell["source"]):
            cells[str(cell.get("id", index))] = [sanitized(text) for text in texts_of(cell.get("outputs", []))]
    return cells


def sanitized(text: str) -> str:
    """``text`` with nbval's substitutions of ``notebooks/nbval_sanitize.cfg`` applied, in the file's order."""
    for regex, replacement in _sanitize_patterns():
        text = re.sub(regex, replacement, text)
    return text


@functools.cache
def _sanitize_patterns() -> tuple[tuple[str, str], ...]:
    from nbval.plugin import get_sanitize_patterns

    from mmar.paths import NOTEBOOKS_DIR

    return tuple(get_sanitize_patterns((NOTEBOOKS_DIR / "nbval_sanitize.cfg").read_text()))


def cell_key(notebook_name: str, cell_id: str) -> str:
    return f"{notebook_name}::{cell_id}"


# -- the measurement ----------------------------------------------------------------------------------
#: Metrics pooled into one family with the others of their experiment that count the same queries: recall at
#: any K in either direction (a near-tie flip moves one partner's rank across whichever cut-off it is near),
#: and the 1-NN and prototype accuracies (one unseen test query more or less right).
POOLED_METRICS = ((re.compile(r"^(?:t2v|v2t)_R@\d+$"), "R@K"),
                  (re.compile(r"^(.*?)(?:nn_|prototype_)?accuracy$"), r"\1accuracy"))


def family(metric_key: str) -> str:
    """A result-row key's family: its result file, experiment and metric (a metric of
    :data:`POOLED_METRICS` under its pooled name). A family's name is its own family."""
    parts = metric_key.split(" | ")[:3]
    if len(parts) == 3:
        for pattern, pooled in POOLED_METRICS:
            if pattern.match(parts[2]):
                parts[2] = pattern.sub(pooled, parts[2])
                break
    return " | ".join(parts)


def metric_spreads(reference: Mapping[str, Mapping], perturbed: Mapping[str, Mapping[str, Mapping]]
                   ) -> dict[str, dict[str, Any]]:
    """Per family: the largest absolute deviation from ``reference`` of any row under any perturbation
    (``perturbed``: name -> key metrics), which perturbation gave it, and the family's largest value."""
    spreads: dict[str, dict[str, Any]] = {}
    for key, want in reference.items():
        entry = spreads.setdefault(family(key), {"spread": 0.0, "by": None, "scale": 0.0, "rows": 0})
        entry["rows"] += 1
        entry["scale"] = max(entry["scale"], abs(want["mean"]))
        for name, metrics in perturbed.items():
            got = metrics.get(key)
            deviation = math.inf if got is None else abs(got["mean"] - want["mean"])
            if deviation > entry["spread"] or (math.isnan(deviation) and not math.isnan(entry["spread"])):
                entry["spread"], entry["by"] = deviation, name
    return spreads


def cell_spreads(reference: Mapping[str, Mapping], perturbed: Mapping[str, Mapping[str, Mapping]]
                 ) -> dict[str, dict[str, Any]]:
    """Per compared cell (``reference``: notebook name -> notebook JSON; ``perturbed``: name -> the same):
    the largest deviation of a printed number beyond one unit of its last digit, and which perturbation
    gave it. A cell whose text changed beyond its numbers has an infinite spread."""
    spreads: dict[str, dict[str, Any]] = {}
    for notebook_name, notebook in reference.items():
        for cell_id, texts in compared_cells(notebook).items():
            entry = spreads.setdefault(cell_key(notebook_name, cell_id), {"spread": 0.0, "by": None})
            for name, notebooks in perturbed.items():
                other = compared_cells(notebooks[notebook_name]).get(cell_id, [])
                for got, want in zip(other, texts) if len(other) == len(texts) else [("", "x")]:
                    deviations = number_deviations(got, want)
                    worst = math.inf if deviations is None else max(
                        [d for d, _, unit in deviations if d > unit * (1 + 1e-9)], default=0.0)
                    if worst > entry["spread"]:
                        entry["spread"], entry["by"] = worst, name
    return spreads


def tolerances_from(metrics: Mapping[str, Mapping[str, Any]], cells: Mapping[str, Mapping[str, Any]],
                    perturbations: Iterable[Perturbation], margin: float = MARGIN, machine: str = "",
                    earlier: Mapping[str, Any] | None = None, profile: str = "smoke") -> dict[str, Any]:
    """The tolerance file's content from spreads measured on ``machine``, pooled with an ``earlier`` file's
    (measured on other machines): each family and cell keeps the larger spread, and with it the perturbation
    and machine that gave it. Families and cells the new measurement lacks (gone from the code) are dropped, and
    so are the earlier file's entries from ``machine`` itself (this measurement replaces them)."""
    perturbations = list(perturbations)
    metrics = {name: {**entry, "machine": machine} for name, entry in metrics.items()}
    cells = {name: {**entry, "machine": machine} for name, entry in cells.items()}
    measurements = [{"machine": machine, "perturbations": [p.name for p in perturbations]}]
    described = {p.name: p.description for p in perturbations}
    if earlier is not None:
        for kind, current in (("metrics", metrics), ("cells", cells)):
            for name, entry in earlier[kind].items():
                name = family(name) if kind == "metrics" else name
                if entry.get("machine") == machine:
                    continue
                if name in current and _larger(entry["spread"], current[name]["spread"]):
                    current[name] = {**current[name], **{k: entry.get(k) for k in ("spread", "by", "machine")}}
        for name, entry in earlier.get("uncompared", {}).items():
            if entry.get("machine") != machine and name in cells:
                cells[name] = {**cells[name], "spread": math.inf, "by": entry["by"], "machine": entry["machine"]}
        measurements += [m for m in earlier.get("measurements", []) if m["machine"] != machine]
        described = {**earlier["perturbations"], **described}
    uncompared = {}
    if profile != "smoke":  # a whole run's word read-outs may flip: such a cell runs but cannot be compared
        for name in [n for n, entry in cells.items() if math.isinf(entry["spread"])]:
            entry = cells.pop(name)
            uncompared[name] = {"by": entry["by"], "machine": entry["machine"]}
    return {
        "about": _ABOUT[profile],
        "profile": profile,
        "margin": margin,
        "floor_rtol": FLOOR_RTOL,
        "measurements": measurements,
        "perturbations": described,
        "metrics": {name: {**entry, "atol": max(margin * entry["spread"], FLOOR_RTOL * entry["scale"])}
                    for name, entry in sorted(metrics.items())},
        "cells": {name: {**entry, "atol": margin * entry["spread"]} for name, entry in sorted(cells.items())},
        "uncompared": dict(sorted(uncompared.items())),
    }


_ABOUT = {
    "smoke": "Tolerances of tests/test_regression.py (metrics: per result-row family) and of nbval (cells: per "
             "compared cell), each MARGIN x the largest deviation measured under the perturbations on any of "
             "the machines measured. Measure again on another machine with `make tolerances` (python -m mmar "
             "tolerances --measure; it keeps what this file holds unless --fresh); see mmar/tolerances.py.",
    "default": "Tolerances of `make test-default` (nbval on the published default run, report/default-run/; cells: "
               "per compared cell) and, for information, of the default run's result rows (metrics: per family), "
               "each MARGIN x the largest deviation of a whole default run under the perturbations on any of the "
               "machines measured. A compared cell whose text changed beyond its numbers under a perturbation (a "
               "decoded word flipped) is listed under uncompared: it runs, but its output is not compared. Measure "
               "again with `make tolerances-default` (python -m mmar tolerances --measure --profile default; about 9 "
               "minutes per perturbation on 2 cores); see mmar/tolerances.py.",
}


def _larger(spread: float, than: float) -> bool:
    """Whether an earlier ``spread`` replaces a new one (NaN, a row that came out NaN, counts as the largest)."""
    return (math.isnan(spread) and not math.isnan(than)) or spread > than


def load_tolerances(path: str | Path = TOLERANCE_FILE) -> dict[str, Any]:
    """The measured tolerances (see :func:`tolerances_from`); an error names the file if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no measured tolerances (measure them with `make tolerances`)")
    data = json.loads(path.read_text())
    for name, entry in [*data["metrics"].items(), *data["cells"].items()]:
        if not math.isfinite(entry["atol"]):
            raise ValueError(f"{path}: {name} has no finite tolerance (it changed beyond its numbers under "
                             f"{entry['by']}): make its output stable, then remeasure")
    return data


def metric_tolerance(tolerances: Mapping[str, Any], metric_key: str, value: float) -> float:
    """The absolute tolerance of one result row; a family not measured gets the floor."""
    entry = tolerances["metrics"].get(family(metric_key))
    return entry["atol"] if entry is not None else FLOOR_RTOL * abs(value)


def cell_tolerance(tolerances: Mapping[str, Any], notebook_name: str, cell_id: str) -> float:
    """The absolute tolerance of a compared cell's printed numbers (0 if not measured: last digit only; infinite
    for a cell the measurement found not comparable, :func:`tolerances_from`'s ``uncompared``)."""
    key = cell_key(notebook_name, cell_id)
    if key in tolerances.get("uncompared", {}):
        return math.inf
    entry = tolerances["cells"].get(key)
    return entry["atol"] if entry is not None else 0.0


def notebook_differences(executed: Mapping[str, Any], stored: Mapping[str, Any], notebook_name: str,
                         tolerances: Mapping[str, Any]) -> list[str]:
    """Compared cells of ``executed`` whose text differs from ``stored`` beyond their tolerance (their ids; the
    cells the measurement found not comparable are left out)."""
    got = compared_cells(executed)
    differing = []
    for cell_id, texts in compared_cells(stored).items():
        other = got.get(cell_id)
        atol = cell_tolerance(tolerances, notebook_name, cell_id)
        if math.isinf(atol):
            continue
        if other is None or len(other) != len(texts) or not all(within(t, r, atol) for t, r in zip(other, texts)):
            differing.append(cell_id)
    return differing


def table(tolerances: Mapping[str, Any]) -> str:
    """A Markdown table of the measured spreads and tolerances (families and cells that moved), then the
    machines measured, numbered as the table's "under" column names them; a family's name ``file | experiment |
    metric`` is written ``file · experiment · metric``, since ``|`` splits columns."""
    machines = [m["machine"] for m in tolerances.get("measurements", [])]
    lines = ["| compared | largest deviation measured | under (machine) | tolerance |", "|---|---|---|---|"]
    for kind in ("metrics", "cells"):
        for name, entry in tolerances[kind].items():
            if entry["spread"] > 0:
                shown = name.replace(" | ", " · ")
                where = f" [{machines.index(entry['machine']) + 1}]" if entry.get("machine") in machines else ""
                lines.append(f"| {shown} | {entry['spread']:.3g} | {entry['by']}{where} | {entry['atol']:.3g} |")
    still = [name for kind in ("metrics", "cells") for name, e in tolerances[kind].items() if e["spread"] == 0]
    lines.append(f"\n{len(still)} families and cells did not move under any perturbation (tolerance: "
                 f"{tolerances['floor_rtol']:g} of the value for result rows, the last printed digit for cells).")
    for name, entry in tolerances.get("uncompared", {}).items():
        where = f" [{machines.index(entry['machine']) + 1}]" if entry.get("machine") in machines else ""
        lines.append(f"\nNot compared: {name} (its text changed beyond its numbers under {entry['by']}{where}).")
    for number, measurement in enumerate(tolerances.get("measurements", []), start=1):
        lines.append(f"\n[{number}] {measurement['machine']}: {', '.join(measurement['perturbations'])}.")
    return "\n".join(lines)


def notebook_names() -> list[str]:
    from mmar.paths import NOTEBOOKS_DIR

    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("0*.ipynb"))


def _run_copy(workdir: Path, name: str, env: Mapping[str, str], python: str | None) -> None:
    """Run every smoke notebook on a fresh copy of the project in ``workdir/name``."""
    import shutil

    from mmar.regression import mutated_copy, run_notebooks

    project = workdir / name
    if project.exists():
        shutil.rmtree(project)
    run_notebooks(mutated_copy(project, []), notebook_names(), env=env, python=python)


def _run_profile(workdir: Path, name: str, env: Mapping[str, str], python: str | None, profile: str,
                 resume: bool = False) -> None:
    """A whole run of ``profile`` (``python -m mmar run``, no book) in the run folder ``workdir/name``. With
    ``resume``, a run already finished there is kept and an interrupted one goes on (``--resume``)."""
    import shutil
    import subprocess
    import sys

    from mmar.profiles import NOTEBOOKS
    from mmar.regression import project_env
    from mmar.runner import finished_notebooks

    out = workdir / name
    going_on = resume and (out / "run.json").is_file()
    if going_on and set(NOTEBOOKS) <= finished_notebooks(out):
        return
    if out.exists() and not going_on:
        shutil.rmtree(out)
    command = [python or sys.executable, "-m", "mmar", "run", "--profile", profile, "--no-report", "--out", str(out)]
    done = subprocess.run(command + (["--resume"] if going_on else []), cwd=PROJECT_ROOT,
                          env=project_env(PROJECT_ROOT, env, python), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the {profile} run {name} failed:\n{(done.stdout + done.stderr)[-2000:]}")


def _outputs(measured: Path, profile: str) -> tuple[dict, dict]:
    """A measured copy's (smoke) or run folder's (other profiles) key metrics and executed notebooks."""
    from mmar.regression import key_metrics

    notebooks, run_dir = ((measured / "executed", measured / "runs" / "nbval-smoke") if profile == "smoke"
                          else (measured / "notebooks", measured))
    executed = {f"{nb}.ipynb": json.loads(_as_profile_run((notebooks / f"{nb}.ipynb").read_text(), run_dir, profile))
                for nb in notebook_names()}
    return key_metrics(run_dir), executed


def _as_profile_run(text: str, run_dir: Path, profile: str) -> str:
    """``text`` with every path to the run folder ``run_dir`` (absolute, or relative as ``display_path`` prints
    it: from the repository root, its parent or the home folder) written as the profile's own folder,
    ``runs/<profile>/``: each measured run has a folder of its own, which is not a difference between them."""
    own_folder = re.compile(r"(?<![^\s'\"])(?:[^\s'\"]*/)?" + re.escape(run_dir.name) + "/")
    return own_folder.sub(f"runs/{profile}/", text)


def measure(workdir: str | Path, oldest_python: str | None, path: str | Path | None = None,
            margin: float = MARGIN, rerun: bool = True, fresh: bool = False, profile: str = "smoke",
            resume: bool = False) -> dict[str, Any]:
    """Run the reference and every perturbation (:data:`PERTURBATIONS`; ``oldest-deps`` only with
    ``oldest_python``) in ``workdir`` (``rerun=False``: use the runs already there), write the tolerance
    file (``path``; default the profile's, :data:`TOLERANCE_FILES`) and return its content. The smoke profile
    runs its notebooks at their defaults on copies of the project, as nbval does; another profile (``default``)
    runs ``python -m mmar run --profile <profile>`` into one run folder per perturbation, as ``make report``
    does (about 9 minutes each on 2 cores); with ``resume`` the runs finished in ``workdir`` are kept and an
    interrupted one goes on, so an interrupted measurement loses at most the notebook it was in."""
    import time

    from tqdm.auto import tqdm

    if profile not in TOLERANCE_FILES:
        raise ValueError(f"no tolerance file for profile {profile!r}; measured: {', '.join(TOLERANCE_FILES)}")
    path = TOLERANCE_FILES[profile] if path is None else path
    workdir = Path(workdir)
    chosen = [p for p in PERTURBATIONS if p.python != "oldest" or oldest_python or not rerun]
    chosen, skipped = runnable(chosen, cpu_flags())
    for perturbation in skipped:
        print(f"{perturbation.name}: skipped (this CPU lacks {perturbation.cpu_flag})")
    if rerun:
        for perturbation in tqdm([None, *chosen], desc=f"{profile} runs", unit="run"):
            start = time.perf_counter()
            name = "reference" if perturbation is None else perturbation.name
            env = {**REFERENCE_ENV, **(perturbation.env if perturbation else {})}
            python = oldest_python if perturbation is not None and perturbation.python == "oldest" else None
            if profile == "smoke":
                _run_copy(workdir, name, env, python)
            else:
                _run_profile(workdir, name, env, python, profile, resume)
            tqdm.write(f"{name}: {time.perf_counter() - start:.0f} s")
    measured_dir = "executed" if profile == "smoke" else "notebooks"
    chosen = [p for p in chosen if (workdir / p.name / measured_dir).is_dir()]
    reference_metrics, reference_notebooks = _outputs(workdir / "reference", profile)
    outputs = {p.name: _outputs(workdir / p.name, profile) for p in chosen}
    earlier = None if fresh or not Path(path).is_file() else _earlier_measurement(Path(path))
    data = tolerances_from(metric_spreads(reference_metrics, {n: o[0] for n, o in outputs.items()}),
                           cell_spreads(reference_notebooks, {n: o[1] for n, o in outputs.items()}), chosen, margin,
                           machine=cpu_description(), earlier=earlier, profile=profile)
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def _earlier_measurement(path: Path) -> dict[str, Any]:
    """The tolerance file a new measurement adds to; an error names the file when it is not one."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a tolerance file ({error}); measure with --fresh to start over") from error
    missing = [key for key in ("metrics", "cells", "perturbations") if key not in data]
    if missing:
        raise ValueError(f"{path}: not a tolerance file (no {', '.join(missing)}); measure with --fresh to start over")
    return data


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mmar tolerances", description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", action="store_true",
                        help="run the smoke notebooks under every perturbation and rewrite the tolerance file")
    parser.add_argument("--profile", choices=sorted(TOLERANCE_FILES), default="smoke",
                        help="whose checks: smoke (make test, the default) or default (make test-default: the "
                             "published default run; about 9 minutes per perturbation on 2 cores)")
    parser.add_argument("--workdir", default=None,
                        help="where the copies of the project (smoke) or the runs (default) go "
                             "(default runs/tolerances, runs/tolerances-default)")
    parser.add_argument("--summarise", action="store_true",
                        help="rewrite the tolerance file from the copies already measured in --workdir")
    parser.add_argument("--resume", action="store_true",
                        help="with --profile default: keep the runs finished in --workdir and go on with an "
                             "interrupted one, instead of starting every run again")
    parser.add_argument("--oldest-python", help="interpreter of a venv with the oldest allowed versions")
    parser.add_argument("--fresh", action="store_true",
                        help="forget the other machines' measurements the tolerance file holds (default: keep the "
                             "larger spread of theirs and this machine's, per family and cell)")
    parser.add_argument("--file", default=None,
                        help="tolerance file (default the profile's: tests/expected/tolerances.json for smoke, "
                             "tests/expected/tolerances-default.json for default)")
    args = parser.parse_args(argv)
    path = args.file or TOLERANCE_FILES[args.profile]
    workdir = args.workdir or PROJECT_ROOT / "runs" / ("tolerances" if args.profile == "smoke" else
                                                       f"tolerances-{args.profile}")
    if args.measure or args.summarise:
        data = measure(workdir, args.oldest_python, path, rerun=args.measure, fresh=args.fresh, profile=args.profile,
                       resume=args.resume)
    else:
        data = load_tolerances(path)
    print(table(data))
    return 0

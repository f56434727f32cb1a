"""The mutation suite: one silent change of behaviour at a time, on a copy of the project, must make the
checks of ``make test`` fail: nbval's (the compared cells' printed numbers within their measured
tolerances) and the regression check's (result rows within theirs); the unchanged copy must pass both.
(The split mutant shows in the result rows through 01's per-trial counts of unseen classes with a
Kinetics-400 counterpart.)

Each mutant runs only the notebooks where its change shows (01 prepares the data once for all).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mmar.paths import NOTEBOOKS_DIR, shared_data_dir
from mmar.regression import REAL_ANNOTATION_SOURCES, check_run, mutated_copy, run_notebooks
from mmar.tolerances import load_tolerances, notebook_differences

pytestmark = pytest.mark.heavy  # each mutant runs notebooks: scheduled first (tests/conftest.py)

#: name -> ((file under mmar/, regex, replacement), notebooks that show it)
MUTANTS = {
    "cycle weight 1.0 -> 0.5": (("training/config.py", r"lambda_cycle: float = 1\.0\b", "lambda_cycle: float = 0.5"),
                                ["05_joint_training"]),
    "cross weight 1.0 -> 2.0": (("training/config.py", r"lambda_cross: float = 1\.0\b", "lambda_cross: float = 2.0"),
                                ["05_joint_training"]),
    "cross term dropped from the paired total": (
        ("training/ensemble.py", r"for k, value in terms\.items\(\)\)\n",
         "for k, value in terms.items() if k != \"cross\")\n"), ["05_joint_training"]),
    "learning rate halved": (("training/ensemble.py", r"self\._lr = c\.lr \*", "self._lr = 0.5 * c.lr *"),
                             ["03_video_autoencoder"]),
    "attention filters 25% wider": (
        ("models/attention.py", r"return torch\.exp\(self\.width\)\[None, :\] \* lengths\[:, None\] / self\.n_filters",
         "return 1.25 * torch.exp(self.width)[None, :] * lengths[:, None] / self.n_filters"), ["03_video_autoencoder"]),
    "zero-shot split off by one class": (("data/splits.py", r"trials\.append\(\[names\[i\] for i in chosen\]\)",
                                          "trials.append([names[i - 1] for i in chosen])"), ["01_data"]),
}



def _excluded_sources() -> tuple[str, ...]:
    return () if shared_data_dir() is not None else REAL_ANNOTATION_SOURCES


def _failing_checks(project: Path, notebooks: list[str]) -> dict[str, list[str]]:
    """What the two checks of ``make test`` find in the copy's run of ``notebooks``."""
    tolerances = load_tolerances()
    regression = check_run(project / "runs" / "nbval-smoke", files=notebooks, exclude_sources=_excluded_sources())
    nbval = []
    for name in notebooks:
        executed = json.loads((project / "executed" / f"{name}.ipynb").read_text())
        stored = json.loads((NOTEBOOKS_DIR / f"{name}.ipynb").read_text())
        nbval += [f"{name}::{cell}" for cell in notebook_differences(executed, stored, f"{name}.ipynb", tolerances)]
    return {"regression": [str(d) for d in regression], "nbval": nbval}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unchanged copy with notebook 01 run: its prepared data serve every mutant of a later notebook."""
    project = mutated_copy(tmp_path_factory.mktemp("unchanged") / "project", [])
    run_notebooks(project, ["01_data"])
    return project


def test_the_unchanged_copy_passes_both_checks(prepared: Path) -> None:
    notebooks = ["01_data", "03_video_autoencoder", "05_joint_training"]
    run_notebooks(prepared, notebooks[1:])
    assert _failing_checks(prepared, notebooks) == {"regression": [], "nbval": []}


@pytest.mark.parametrize("name", list(MUTANTS))
def test_the_mutant_fails_both_checks(name: str, prepared: Path, tmp_path: Path) -> None:
    mutation, notebooks = MUTANTS[name]
    project = mutated_copy(tmp_path / "project", [mutation])
    if notebooks != ["01_data"]:  # the prepared data only: no checkpoint of the unchanged run to resume from
        shutil.copytree(prepared / "runs" / "nbval-smoke" / "data", project / "runs" / "nbval-smoke" / "data")
    run_notebooks(project, notebooks)
    found = _failing_checks(project, notebooks)
    assert found["nbval"], f"{name}: no compared cell moved beyond its tolerance"
    assert found["regression"], f"{name}: no result row moved beyond its tolerance"
    print(f"{name}: {len(found['regression'])} result rows and {len(found['nbval'])} compared cells differ")

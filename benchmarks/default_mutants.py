"""The mutation suite of ``tests/test_mutants.py`` against ``make test-default``'s check (about 8 minutes on 2 cores).

``make test-default`` compares the published default run's notebooks (``report/default-run/``) re-executed with
their stored outputs, within tolerances measured at the default size (``tests/expected/tolerances-default.json``,
several times wider than the smoke profile's: a default run's trained numbers move by points between machines).
Wide tolerances must still catch a change of behaviour. This script runs each silent change of the mutation suite
on a copy of the project, at the default profile, through the notebooks where it shows (``python -m mmar run
--profile default --only 01,...``: notebook 01 prepares each copy's data), and prints which compared cells of the
published notebooks differ beyond their tolerances; the unchanged copy, run the same way, must show none.

    python benchmarks/default_mutants.py [--workdir runs/default-mutants] [--tolerances FILE]

Not a unit test: a whole check takes minutes, so it runs by hand after a new tolerance measurement, and the README
records its result.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mmar.paths import PROJECT_ROOT, PUBLISHED_RUN_DIR
from mmar.regression import mutated_copy, project_env
from mmar.tolerances import TOLERANCE_FILES, load_tolerances, notebook_differences

sys.path.insert(0, str(PROJECT_ROOT / "tests"))
from test_mutants import MUTANTS  # noqa: E402  (the suite's mutations, one list for both checks)


def run_copy(project: Path, notebooks: list[str]) -> Path:
    """Run ``01_data`` and ``notebooks`` of the copy ``project`` at the default profile; return the run folder."""
    out = project / "runs" / "default"
    only = ",".join(dict.fromkeys(["01_data", *notebooks]))
    done = subprocess.run([sys.executable, "-m", "mmar", "run", "--profile", "default", "--only", only, "--no-report",
                           "--out", str(out)], cwd=project, env=project_env(project), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{project.name}: the run failed:\n{(done.stdout + done.stderr)[-2000:]}")
    return out


def failing_cells(run_dir: Path, notebooks: list[str], tolerances: dict) -> list[str]:
    """The compared cells of ``notebooks`` whose output differs from the published run's beyond tolerance."""
    failing = []
    for name in notebooks:
        executed = json.loads((run_dir / "notebooks" / f"{name}.ipynb").read_text())
        published = json.loads((PUBLISHED_RUN_DIR / f"{name}.ipynb").read_text())
        failing += [f"{name}::{cell}" for cell in notebook_differences(executed, published, f"{name}.ipynb", tolerances)]
    return failing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=str(PROJECT_ROOT / "runs" / "default-mutants"))
    parser.add_argument("--tolerances", default=str(TOLERANCE_FILES["default"]), help="tolerance file (default %(default)s)")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    tolerances = load_tolerances(args.tolerances)
    cases = {"unchanged": (None, ["03_video_autoencoder", "05_joint_training"]), **MUTANTS}
    caught = 0
    for name, (mutation, notebooks) in cases.items():
        start = time.perf_counter()
        project = workdir / name.replace(" ", "-").replace(">", "").replace("%", "pc")
        if project.exists():
            shutil.rmtree(project)
        run_dir = run_copy(mutated_copy(project, [mutation] if mutation else []), notebooks)
        failing = failing_cells(run_dir, list(dict.fromkeys(["01_data", *notebooks])), tolerances)
        caught += bool(failing) and mutation is not None
        print(f"{name}: {len(failing)} compared cells beyond tolerance {failing} ({time.perf_counter() - start:.0f} s)",
              flush=True)
    print(f"{caught} of {len(MUTANTS)} mutants caught")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

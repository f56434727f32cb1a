"""The notebooks run under the ``activitynet-smoke`` profile (real ActivityNet Captions annotations,
stand-in video): papermill executes them in order with ``profile = "activitynet-smoke"``, in a
subprocess. Their outputs are not compared with the stored ones (those are the smoke profile's, on
the stand-in data); every cell has to run, and the notebooks' own checks (which raise) have to pass.

Skipped when ``../shared/data/activitynet`` is absent. Runs whichever numbered notebooks exist (in
series order, stopping at the first gap, since each notebook reads what the earlier ones wrote),
except :data:`DATA_INDEPENDENT`: notebooks that never read the prepared dataset and get the same
settings under ``activitynet-smoke`` as under ``smoke``, so the main nbval run already covers them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmar.paths import NOTEBOOKS_DIR, PROJECT_ROOT
from mmar.profiles import NOTEBOOKS
from mmar.studies import settings_classes

pytestmark = pytest.mark.heavy  # runs six notebooks: scheduled first (tests/conftest.py)

PROFILE = "activitynet-smoke"
#: 02 runs I3D on the reference clips (and extracts a video folder only when given one).
DATA_INDEPENDENT = {"02_i3d_features"}


def _present_notebooks() -> list[str]:
    present = []
    for name in NOTEBOOKS:
        if not (NOTEBOOKS_DIR / f"{name}.ipynb").is_file():
            break
        if name not in DATA_INDEPENDENT:
            present.append(name)
    return present


def test_notebooks_run_under_activitynet_smoke(anet_dir: Path, tmp_path: Path) -> None:
    notebooks = _present_notebooks()
    if not notebooks:
        pytest.skip("no numbered notebooks in notebooks/ yet")
    classes = settings_classes()
    for name in DATA_INDEPENDENT:
        assert classes[name].from_profile(PROFILE) == classes[name].from_profile("smoke"), name
    run_dir = tmp_path / "run"
    jobs = []
    for name in notebooks:
        overrides = {"annotations_dir": str(anet_dir)} if "annotations_dir" in classes[name].names() else {}
        params = {"profile": PROFILE, "run_dir": str(run_dir), "overrides": overrides}
        jobs.append((str(NOTEBOOKS_DIR / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"), params))
    script = ("import json, sys, papermill\n"
              "for source, target, params in json.loads(sys.argv[1]):\n"
              "    papermill.execute_notebook(source, target, parameters=params, cwd=str(sys.argv[2]), "
              "progress_bar=False, kernel_name='python3')\n")
    command = [sys.executable, "-c", script, json.dumps(jobs), str(NOTEBOOKS_DIR)]
    child = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert child.returncode == 0, f"a notebook failed on {notebooks}:\n{child.stdout[-3000:]}\n{child.stderr[-6000:]}"
    if "01_data" in notebooks:
        meta = json.loads((run_dir / "data" / "dataset.json").read_text())
        assert meta["data_source"] == "anet-text + stand-in video" and meta["video_is_generated"]

"""nbval over the notebooks under the ``activitynet-smoke`` profile (real ActivityNet Captions
annotations, stand-in video): papermill injects each notebook's profile parameters without executing
(``prepare_only``), then ``pytest --nbval-lax`` executes them in order in a subprocess.

Skipped when ``../shared/data/activitynet`` is absent. Runs whichever numbered notebooks exist (in
series order, stopping at the first gap, since each notebook reads what the earlier ones wrote),
except :data:`DATA_INDEPENDENT`: notebooks that never read the prepared dataset and get the same
parameters under ``activitynet-smoke`` as under ``smoke``, so the main nbval run already covers them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmar.paths import NOTEBOOKS_DIR, PROJECT_ROOT
from mmar.profiles import NOTEBOOKS, notebook_parameters, resolve_profile

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


def test_notebooks_nbval_activitynet_smoke(anet_dir: Path, tmp_path: Path) -> None:
    import papermill

    notebooks = _present_notebooks()
    if not notebooks:
        pytest.skip("no numbered notebooks in notebooks/ yet")
    profile = resolve_profile(PROFILE)
    smoke = resolve_profile("smoke")
    for name in DATA_INDEPENDENT:
        assert notebook_parameters(profile, name, []) == notebook_parameters(smoke, name, []), name
    run_dir = tmp_path / "run"
    prepared = []
    for name in notebooks:
        source = NOTEBOOKS_DIR / f"{name}.ipynb"
        declared = set(papermill.inspect_notebook(str(source)))
        params = {k: v for k, v in notebook_parameters(profile, name, []).items() if k in declared}
        params.update({k: v for k, v in {"profile": PROFILE, "run_dir": str(run_dir)}.items() if k in declared})
        if "annotations_dir" in declared:
            params["annotations_dir"] = str(anet_dir)
        target = tmp_path / f"{name}.ipynb"
        papermill.execute_notebook(str(source), str(target), parameters=params, prepare_only=True, progress_bar=False)
        prepared.append(str(target))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
               "--nbval-sanitize-with", str(NOTEBOOKS_DIR / "nbval_sanitize.cfg"), *prepared]
    child = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert child.returncode == 0, f"nbval failed on {notebooks}:\n{child.stdout[-6000:]}\n{child.stderr[-2000:]}"
    if "01_data" in notebooks:
        meta = json.loads((run_dir / "data" / "dataset.json").read_text())
        assert meta["data_source"] == "anet-text + stand-in video" and meta["video_is_generated"]

"""The measured tolerances: number comparison of printed text, spreads and tolerances by hand, the nbval
plugin (mmar/nbval_plugin.py, loaded by notebooks/conftest.py) on tiny notebooks, the default profile's
measurement layout, and the two tolerance files themselves."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mmar.nbval_plugin import with_run_dir
from mmar.paths import NOTEBOOKS_DIR, PUBLISHED_RUN_DIR
from mmar.tolerances import (FLOOR_RTOL, PERTURBATIONS, TOLERANCE_FILES, cell_spreads, cpu_flags, family,
                             last_digit_unit, load_tolerances, measure, metric_spreads, notebook_differences,
                             notebook_names, perturb_ulps, runnable, split_numbers, table, tolerances_from, within)


def test_last_digit_unit() -> None:
    assert last_digit_unit("0.6944") == pytest.approx(1e-4)
    assert last_digit_unit("8.848e+04") == pytest.approx(10.0)
    assert last_digit_unit("71.5") == pytest.approx(0.1)
    assert last_digit_unit("74") == pytest.approx(0.01)       # 4 significant digits of a rounded float
    assert last_digit_unit("123456") == 1.0                   # a count: exact
    assert last_digit_unit("0") == 0.0                         # "0" against "0.6944" is a real difference


def test_numbers_are_tokens_standing_alone() -> None:
    skeleton, numbers = split_numbers("t2v_R@1   73.5 N12 K=5 -0.5e-3")
    assert numbers == ["73.5", "5", "-0.5e-3"]
    assert skeleton == ["t2v_R@1 ", " N12 K=", " ", ""]


def test_within_by_hand() -> None:
    stored = "row a   74  0.6944\nrow b  4.861   3.472"
    assert within(stored, stored, 0.0)
    # one query moved (median 74 -> 73.5, R@1 0.6944 -> 0): the columns narrow, the text is otherwise equal
    moved = "row a 73.5       0\nrow b  4.861   3.472"
    assert not within(moved, stored, 0.0) and not within(moved, stored, 0.6)
    assert within(moved, stored, 0.7)
    assert within("row a   74  0.6945\nrow b  4.862   3.472", stored, 0.0)       # one unit of the last digit
    assert not within("row a   74  0.6946\nrow b  4.861   3.472", stored, 0.0)   # two units
    assert not within("row c   74  0.6944\nrow b  4.861   3.472", stored, 10.0)  # words never pass
    assert not within("row a   74  0.6944\nrow b  4.861", stored, 10.0)          # nor a missing number


def test_perturb_ulps_moves_by_units_in_the_last_place() -> None:
    x = np.array([1.0, -2.5, 1e-3, 0.0], dtype=np.float32)
    up = perturb_ulps(x, 1)
    np.testing.assert_array_equal(up - x, np.abs(np.spacing(x)))  # np.spacing is negative below 0
    np.testing.assert_array_equal(perturb_ulps(up, -1), x)
    assert perturb_ulps(x, 3).dtype == np.float32 and (perturb_ulps(x, 3) > up).all()


def _metrics(**means: float) -> dict:
    return {key.replace("_", " | "): {"mean": mean, "n_trials": 1} for key, mean in means.items()}


def test_metric_spreads_pool_a_family_by_hand() -> None:
    reference = _metrics(f_e_a_r1=10.0, f_e_a_r2=20.0, f_e_b=3.0)
    perturbed = {"p1": _metrics(f_e_a_r1=10.5, f_e_a_r2=20.0, f_e_b=3.0),
                 "p2": _metrics(f_e_a_r1=10.0, f_e_a_r2=19.0, f_e_b=3.0)}
    spreads = metric_spreads(reference, perturbed)
    assert spreads["f | e | a"] == {"spread": 1.0, "by": "p2", "scale": 20.0, "rows": 2}
    assert spreads["f | e | b"] == {"spread": 0.0, "by": None, "scale": 3.0, "rows": 1}
    data = tolerances_from(spreads, {}, PERTURBATIONS, margin=4.0)
    assert data["metrics"]["f | e | a"]["atol"] == 4.0
    assert data["metrics"]["f | e | b"]["atol"] == pytest.approx(FLOOR_RTOL * 3.0)
    missing = metric_spreads(reference, {"p3": _metrics(f_e_a_r1=10.0, f_e_b=3.0)})
    assert missing["f | e | a"]["spread"] == math.inf          # a row that disappears has no tolerance


def test_metrics_counting_the_same_queries_share_a_family() -> None:
    """Recall at any K in either direction is one family, and so are the 1-NN and prototype accuracies of one
    experiment; other metrics stay their own (by hand)."""
    assert family("06 | retrieval | v2t_R@1 | row | k5") == family("06 | retrieval | t2v_R@10") == "06 | retrieval | R@K"
    assert family("06 | zero_shot | prototype_accuracy | x") == family("06 | zero_shot | accuracy") == "06 | zero_shot | accuracy"
    assert family("05 | sanity | zero_shot_nn_accuracy") == family("05 | sanity | zero_shot_prototype_accuracy") == (
        "05 | sanity | zero_shot_accuracy")
    for own in ("06 | retrieval | v2t_median_rank", "06 | captioning | text_round_trip_word_accuracy",
                "01 | stats | raw_kmeans_accuracy_k5", "06 | captioning | BLEU-1"):
        assert family(own + " | row") == own
    spreads = metric_spreads({"06 | retrieval | v2t_R@1 | a": {"mean": 0.0}, "06 | retrieval | t2v_R@5 | a": {"mean": 2.0}},
                             {"p": {"06 | retrieval | v2t_R@1 | a": {"mean": 0.0}, "06 | retrieval | t2v_R@5 | a": {"mean": 2.7}}})
    assert spreads == {"06 | retrieval | R@K": {"spread": pytest.approx(0.7), "by": "p", "scale": 2.0, "rows": 2}}


def test_a_measurement_keeps_the_larger_spread_of_each_machine() -> None:
    """A new machine's measurement pooled with an earlier file: per family and cell the larger spread wins with
    its perturbation and machine; earlier families are pooled under today's names; a family or cell the new
    measurement lacks is dropped; both machines are listed and the table numbers them."""
    earlier = tolerances_from({"f | e | a": {"spread": 2.0, "by": "p1", "scale": 10.0, "rows": 1},
                               "f | e | b": {"spread": 0.5, "by": "p1", "scale": 10.0, "rows": 1},
                               "f | r | v2t_R@1": {"spread": 0.7, "by": "p2", "scale": 5.0, "rows": 1},
                               "f | e | gone": {"spread": 9.0, "by": "p1", "scale": 10.0, "rows": 1}},
                              {"n::c1": {"spread": 3.0, "by": "p1"}}, PERTURBATIONS[:2], 4.0, machine="old CPU")
    new = tolerances_from({"f | e | a": {"spread": 1.0, "by": "q", "scale": 10.0, "rows": 1},
                           "f | e | b": {"spread": 1.5, "by": "q", "scale": 10.0, "rows": 1},
                           "f | r | R@K": {"spread": 0.0, "by": None, "scale": 5.0, "rows": 2}},
                          {"n::c1": {"spread": 1.0, "by": "q"}}, PERTURBATIONS[2:4], 4.0, machine="new CPU",
                          earlier=earlier)
    assert new["metrics"]["f | e | a"] | {"scale": 0} == {"spread": 2.0, "by": "p1", "machine": "old CPU", "scale": 0,
                                                          "rows": 1, "atol": 8.0}
    assert (new["metrics"]["f | e | b"]["spread"], new["metrics"]["f | e | b"]["machine"]) == (1.5, "new CPU")
    assert new["metrics"]["f | r | R@K"]["atol"] == pytest.approx(2.8)
    assert "f | e | gone" not in new["metrics"] and new["cells"]["n::c1"]["atol"] == 12.0
    assert [m["machine"] for m in new["measurements"]] == ["new CPU", "old CPU"]
    assert set(new["perturbations"]) == {p.name for p in PERTURBATIONS[:4]}
    assert "| f · e · a | 2 | p1 [2] | 8 |" in table(new) and "[1] new CPU: " in table(new)
    again = tolerances_from({"f | e | a": {"spread": 0.5, "by": "q", "scale": 10.0, "rows": 1}}, {}, PERTURBATIONS[2:4],
                            4.0, machine="old CPU", earlier=earlier)  # the same machine measures again: replaced
    assert again["metrics"]["f | e | a"]["spread"] == 0.5 and [m["machine"] for m in again["measurements"]] == ["old CPU"]


def test_a_broken_earlier_tolerance_file_is_named(tmp_path: Path) -> None:
    from mmar.tolerances import _earlier_measurement

    broken, other = tmp_path / "broken.json", tmp_path / "other.json"
    broken.write_text("{")
    other.write_text('{"metrics": {}}')
    with pytest.raises(ValueError, match=r"broken\.json: not a tolerance file .*--fresh"):
        _earlier_measurement(broken)
    with pytest.raises(ValueError, match=r"other\.json: not a tolerance file \(no cells, perturbations\)"):
        _earlier_measurement(other)


def test_a_family_without_a_finite_tolerance_is_refused_by_name(tmp_path: Path) -> None:
    """A row that came out NaN under a perturbation, or disappeared, leaves its family no finite tolerance: the
    measurement is recorded, but loading it fails and names the family and the perturbation."""
    import json

    nan = metric_spreads(_metrics(f_e_a_r1=10.0), {"p1": _metrics(f_e_a_r1=math.nan)})
    assert math.isnan(nan["f | e | a"]["spread"]) and nan["f | e | a"]["by"] == "p1"
    gone = metric_spreads(_metrics(f_e_a_r1=10.0), {"p2": {}})
    for spreads, by in ((nan, "p1"), (gone, "p2")):
        data = tolerances_from(spreads, {}, PERTURBATIONS, margin=4.0)
        path = tmp_path / f"{by}.json"
        path.write_text(json.dumps(data))  # NaN and Infinity as JSON writes them
        with pytest.raises(ValueError, match=rf"f \| e \| a has no finite tolerance .*under {by}"):
            load_tolerances(path)


def _notebook(*texts: str) -> dict:
    cells = [nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(x)", id=f"c{i}",
                                       outputs=[nbformat.v4.new_output("stream", name="stdout", text=text)])
             for i, text in enumerate(texts)]
    return nbformat.v4.new_notebook(cells=cells)


def test_cell_spreads_and_notebook_differences_by_hand() -> None:
    reference = {"n.ipynb": _notebook("a 74 0.6944", "loss 1.234")}
    perturbed = {"p1": {"n.ipynb": _notebook("a 73.5 0", "loss 1.235")},     # 0.6944 beyond; 1.235 a last digit
                 "p2": {"n.ipynb": _notebook("a 74 0.6944", "loss 1.234")}}
    spreads = cell_spreads(reference, perturbed)
    assert spreads["n.ipynb::c0"] == {"spread": pytest.approx(0.6944), "by": "p1"}
    assert spreads["n.ipynb::c1"] == {"spread": 0.0, "by": None}
    assert cell_spreads(reference, {"p3": {"n.ipynb": _notebook("b 74 0.6944", "loss 1.234")}})["n.ipynb::c0"][
        "spread"] == math.inf
    tolerances = tolerances_from({}, spreads, PERTURBATIONS, margin=2.0)
    assert tolerances["cells"]["n.ipynb::c0"]["atol"] == pytest.approx(1.3888)
    assert notebook_differences(perturbed["p1"]["n.ipynb"], reference["n.ipynb"], "n.ipynb", tolerances) == []
    worse = _notebook("a 72 0", "loss 1.236")
    assert notebook_differences(worse, reference["n.ipynb"], "n.ipynb", tolerances) == ["c0", "c1"]


def test_a_perturbation_needing_an_instruction_set_runs_only_where_the_cpu_has_it() -> None:
    skylakex = next(p for p in PERTURBATIONS if p.name == "openblas-skylakex")
    assert runnable([skylakex], {"avx2", "fma"}) == ([], [skylakex])
    assert runnable([skylakex], {"avx2", "avx512f"}) == ([skylakex], [])
    assert all(p.cpu_flag is None or p.cpu_flag == "avx512f" for p in PERTURBATIONS)


_PRODUCTS = """
import hashlib, numpy as np, torch
x = np.random.default_rng(0).standard_normal((257, 300)).astype(np.float32)
print(hashlib.sha256((x @ x.T).tobytes()).hexdigest(), hashlib.sha256((torch.from_numpy(x) @ torch.from_numpy(x).T).numpy().tobytes()).hexdigest())
"""


def _product_digests(env: dict[str, str]) -> tuple[str, str]:
    """sha256 of a float32 product by numpy (OpenBLAS) and by PyTorch (MKL) in a process with ``env``."""
    import os

    result = subprocess.run([sys.executable, "-c", _PRODUCTS], env={**os.environ, "OMP_NUM_THREADS": "2", **env},
                            capture_output=True, text=True, check=True)
    numpy_digest, torch_digest = result.stdout.split()
    return numpy_digest, torch_digest


def test_the_kernel_perturbations_change_the_last_bits_they_stand_for() -> None:
    """Each BLAS perturbation changes the bits of a float32 product of the library it names (else it would measure
    nothing): OpenBLAS's two kernel families differ from each other (one of them may be this CPU's own), and MKL's
    path for any x86-64 CPU differs from its own path here."""
    by_name = {p.name: p for p in PERTURBATIONS}
    native = _product_digests({})
    assert _product_digests(dict(by_name["mkl-compatible"].env))[1] != native[1]
    if "avx512f" not in cpu_flags():
        pytest.skip("this CPU lacks AVX-512: OpenBLAS's SkylakeX kernels cannot run here")
    haswell = _product_digests(dict(by_name["openblas-haswell"].env))
    skylakex = _product_digests(dict(by_name["openblas-skylakex"].env))
    assert haswell[0] != skylakex[0] and haswell[1] == skylakex[1] == native[1]


@pytest.mark.parametrize("profile, folder", [("smoke", NOTEBOOKS_DIR), ("default", PUBLISHED_RUN_DIR)])
def test_the_tolerance_file_covers_every_compared_cell(profile: str, folder: Path) -> None:
    """Each profile's file was measured under every perturbation (those needing an instruction set only where
    the CPU had it) and holds every cell its check compares: the smoke notebooks' (make test) and the published
    default run's (make test-default); a compared cell added or renamed since the measurement fails here."""
    tolerances = load_tolerances(TOLERANCE_FILES[profile])
    assert tolerances.get("profile", "smoke") == profile
    measured = set(tolerances["perturbations"])
    assert {p.name for p in PERTURBATIONS if p.cpu_flag is None} <= measured <= {p.name for p in PERTURBATIONS}
    for path in sorted(folder.glob("0*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in cell.source:
                key = f"{path.name}::{cell.id}"
                assert key in tolerances["cells"] or key in tolerances.get("uncompared", {}), f"{key} not measured"
    assert profile != "smoke" or not tolerances.get("uncompared")  # the smoke outputs are made stable instead


def test_the_nbval_plugin_passes_noise_and_fails_changes(tmp_path: Path) -> None:
    """nbval with notebooks/conftest.py on a tiny notebook: a stored value one unit of its last digit away
    from the printed one passes, two units away fails (the cell is not in the tolerance file: atol 0)."""
    shutil.copy(NOTEBOOKS_DIR / "conftest.py", tmp_path / "conftest.py")

    def nbval(stored: str) -> int:
        cell = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(f'loss {0.3:.4f} n 96')", id="c0",
                                         execution_count=1,
                                         outputs=[nbformat.v4.new_output("stream", name="stdout", text=stored)])
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / "tiny.ipynb")
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                               "tiny.ipynb"], cwd=tmp_path, capture_output=True, text=True).returncode

    assert nbval("loss 0.3000 n 96\n") == 0
    assert nbval("loss 0.3001 n 96\n") == 0
    assert nbval("loss 0.3002 n 96\n") == 1
    assert nbval("loss 0.3000 n 97\n") == 1


def test_the_tolerance_table_has_four_columns_in_every_row() -> None:
    from mmar.tolerances import load_tolerances, table

    rows = [line for line in table(load_tolerances()).splitlines() if line.startswith("|")]
    assert len(rows) > 2 and all(line.count("|") == 5 for line in rows)  # 4 columns: 5 separators


def _tiny_notebook(path: Path, parameters: str, tag: str, stored: str) -> None:
    """A notebook of a tagged parameters cell and a compared cell printing ``run_dir`` (stored: ``stored``)."""
    cells = [nbformat.v4.new_code_cell(parameters, id="p0", metadata={"tags": [tag]}),
             nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(run_dir)", id="c0", execution_count=1,
                                       outputs=[nbformat.v4.new_output("stream", name="stdout", text=stored)])]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)


def _nbval(folder: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "mmar.nbval_plugin",
                           "--nbval-lax", "tiny.ipynb", *options], cwd=folder, capture_output=True, text=True)


def test_mmar_run_dir_rewrites_the_injected_run_dir_before_the_notebook_runs(tmp_path: Path) -> None:
    """make test-default re-executes the published notebooks into another folder: --mmar-run-dir sets the
    injected parameters' ``run_dir`` (the later of papermill's two parameters cells), and only that line."""
    _tiny_notebook(tmp_path / "tiny.ipynb", 'profile = "default"\nrun_dir = "runs/default"\noverrides = {}',
                   "injected-parameters", "runs/nbval-default\n")
    assert _nbval(tmp_path).returncode == 1  # prints runs/default: differs from the stored text
    assert _nbval(tmp_path, "--mmar-run-dir", "runs/nbval-default").returncode == 0
    assert _nbval(tmp_path, "--mmar-run-dir", "runs/other").returncode == 1

    _tiny_notebook(tmp_path / "tiny.ipynb", 'print("no run folder here")', "no-tag", "runs/x\n")
    refused = _nbval(tmp_path, "--mmar-run-dir", "runs/x")
    assert refused.returncode == 4 and "has no parameters cell to set run_dir in" in refused.stderr


def test_with_run_dir_sets_exactly_one_line() -> None:
    source = 'profile = "default"\nrun_dir = "runs/default"\noverrides = {"n_trials": 3}'
    assert with_run_dir(source, "runs/nbval-default") == ('profile = "default"\nrun_dir = \'runs/nbval-default\'\n'
                                                          'overrides = {"n_trials": 3}')
    with pytest.raises(pytest.UsageError, match="has 0 `run_dir = ...` lines, not one"):
        with_run_dir('profile = "default"', "runs/x")
    with pytest.raises(pytest.UsageError, match="has 2 `run_dir = ...` lines"):
        with_run_dir('run_dir = "a"\nrun_dir = "b"', "runs/x")


def test_the_default_profile_is_measured_from_whole_run_folders(tmp_path: Path) -> None:
    """``--profile default`` reads each perturbation's run folder as ``python -m mmar run`` leaves it
    (``<run>/notebooks/*.ipynb``, ``<run>/results/*.csv``) and writes the default profile's file; a path to a
    run's own folder, which differs from run to run, is not a difference."""
    def run_folder(name: str, accuracy: float) -> None:
        (tmp_path / name / "results").mkdir(parents=True)
        (tmp_path / name / "results" / "06_evaluation.csv").write_text(
            f"experiment,metric,mean,n_trials\nzero_shot,accuracy,{accuracy},5\n")
        (tmp_path / name / "notebooks").mkdir()
        for notebook in notebook_names():
            cell = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT", id="c0", execution_count=1,
                                             outputs=[nbformat.v4.new_output("stream", name="stdout",
                                                                             text=f"accuracy {accuracy:.1f} in "
                                                                                  f"{tmp_path / name}/results\n")])
            nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / name / "notebooks" / f"{notebook}.ipynb")

    run_folder("reference", 22.2)
    run_folder("threads-1", 20.4)
    data = measure(tmp_path, None, tmp_path / "tolerances.json", rerun=False, fresh=True, profile="default")
    assert data["profile"] == "default" and "make test-default" in data["about"]
    assert [m["perturbations"] for m in data["measurements"]] == [["threads-1"]]
    assert data["cells"]["06_evaluation.ipynb::c0"]["spread"] == pytest.approx(1.8)
    assert data["metrics"]["06_evaluation | zero_shot | accuracy"]["atol"] == pytest.approx(4 * 1.8)
    with pytest.raises(ValueError, match="no tolerance file for profile 'paper'"):
        measure(tmp_path, None, rerun=False, profile="paper")


def test_a_cell_that_changes_beyond_its_numbers_is_uncompared_in_a_whole_run_only() -> None:
    """At the smoke size such a cell makes the file unusable (its output must be made stable); in a default
    run's measurement it is listed as not comparable: it runs, nothing is compared, and the table says so."""
    reference = {"n.ipynb": _notebook("said: the man rides a bike 0.5", "loss 1.234")}
    perturbed = {"avx2": {"n.ipynb": _notebook("said: the man rides a horse 0.5", "loss 1.236")}}
    spreads = cell_spreads(reference, perturbed)
    smoke = tolerances_from({}, spreads, PERTURBATIONS)
    assert smoke["cells"]["n.ipynb::c0"]["atol"] == math.inf and smoke["uncompared"] == {}
    default = tolerances_from({}, spreads, PERTURBATIONS, machine="m", profile="default")
    assert default["uncompared"] == {"n.ipynb::c0": {"by": "avx2", "machine": "m"}}
    assert list(default["cells"]) == ["n.ipynb::c1"]
    changed = _notebook("said: a dog 0.1", "loss 1.244")
    assert notebook_differences(changed, reference["n.ipynb"], "n.ipynb", default) == ["c1"]
    assert "Not compared: n.ipynb::c0 (its text changed beyond its numbers under avx2 [1])" in table(default)
    # a later measurement on another machine keeps it uncompared, even where it did not change there
    again = tolerances_from({}, cell_spreads(reference, {"avx2": reference}), PERTURBATIONS, machine="m2",
                            earlier=default, profile="default")
    assert again["uncompared"] == {"n.ipynb::c0": {"by": "avx2", "machine": "m"}}


def test_compared_texts_are_sanitised_as_nbval_sanitises_them() -> None:
    """Run folders, times and sizes are masked before numbers are compared (notebooks/nbval_sanitize.cfg), so that
    a default run measured in another folder, or re-executed into runs/nbval-default, is not a difference."""
    published = _notebook("merged into runs/default/i3d/sample_features.h5 in 3.2 s")
    rerun = _notebook("merged into /tmp/w/avx2/runs/nbval-default/i3d/sample_features.h5 in 4.0 s")
    assert notebook_differences(rerun, published, "n.ipynb", {"cells": {}}) == []
    assert notebook_differences(_notebook("merged into runs/default/i3d/other.h5 in 3.2 s"), published, "n.ipynb",
                                {"cells": {}}) == ["c0"]


def test_an_uncompared_cell_runs_without_comparison_and_is_named(tmp_path: Path) -> None:
    key = "tiny.ipynb::c0"
    (tmp_path / "tolerances.json").write_text(json.dumps({"metrics": {}, "cells": {}, "perturbations": {},
                                                          "uncompared": {key: {"by": "avx2", "machine": "m"}}}))
    _tiny_notebook(tmp_path / "tiny.ipynb", 'run_dir = "runs/default"', "parameters", "a flipped word\n")
    assert _nbval(tmp_path).returncode == 1  # with the smoke file: compared, and it differs
    done = _nbval(tmp_path, "--mmar-tolerances", "tolerances.json")
    assert done.returncode == 0 and "1 marked cell(s) ran but were not compared" in done.stdout and key in done.stdout


def test_an_interrupted_default_measurement_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``resume``, a run folder whose notebooks all finished is kept, an interrupted one goes on with
    ``python -m mmar run --resume``, and a missing one starts; without it every run starts again."""
    from mmar import tolerances
    from mmar.profiles import NOTEBOOKS

    commands = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: commands.append(command) or
                        subprocess.CompletedProcess(command, 0, "", ""))

    def run_folder(name: str, finished: list[str]) -> None:
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text("{}")
        (tmp_path / name / "timings.json").write_text(json.dumps({n: {"status": "ok"} for n in finished}))

    run_folder("avx2", list(NOTEBOOKS))
    run_folder("ulp+1", list(NOTEBOOKS[:3]))
    for name in ("avx2", "ulp+1", "ulp-1"):
        tolerances._run_profile(tmp_path, name, {}, None, "default", resume=True)
    assert [(c[c.index("--out") + 1], c[-1]) for c in commands] == [(str(tmp_path / "ulp+1"), "--resume"),
                                                                    (str(tmp_path / "ulp-1"), str(tmp_path / "ulp-1"))]
    commands.clear()
    tolerances._run_profile(tmp_path, "avx2", {}, None, "default")
    assert len(commands) == 1 and "--resume" not in commands[0] and not (tmp_path / "avx2").exists()


def test_a_missing_tolerance_file_is_a_usage_error(tmp_path: Path) -> None:
    _tiny_notebook(tmp_path / "tiny.ipynb", 'run_dir = "runs/default"', "parameters", "runs/default\n")
    done = _nbval(tmp_path, "--mmar-tolerances", "absent.json")
    assert done.returncode == 4 and "--mmar-tolerances: " in done.stderr and "absent.json" in done.stderr

"""Profiles resolve with inheritance and overrides; the papermill runner runs, times and stops on failure."""

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from mmar.profiles import NOTEBOOKS, ProfileError, notebook_settings, parse_override, resolve_profile
from mmar.provenance import cpu_description
from mmar.runner import NotebookFailed, run_profile, select_notebooks


def test_every_profile_resolves() -> None:
    from mmar.profiles import load_profiles

    assert {"smoke", "default", "paper", "activitynet", "activitynet-smoke", "activitynet-paper"} <= set(load_profiles())
    for name in load_profiles():
        profile = resolve_profile(name)
        assert profile["description"]
        assert "seed" in profile["common"]


def test_inheritance_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(
        "base:\n  description: b\n  common: {seed: 1, epochs: 2}\n  05_joint_training: {epochs: 3}\n"
        "child:\n  description: c\n  extends: base\n  common: {seed: 7}\n"
    )
    child = resolve_profile("child", path)
    assert notebook_settings(child, "05_joint_training") == {"seed": 7, "epochs": 3}
    assert notebook_settings(child, "03_video_autoencoder") == {"seed": 7, "epochs": 2}
    assert parse_override("epochs=9") == (None, "epochs", 9) and parse_override("name=x y") == (None, "name", "x y")
    assert parse_override("05.lr=0.1") == ("05_joint_training", "lr", 0.1)
    with pytest.raises(ProfileError, match="unknown profile"):
        resolve_profile("nope", path)
    with pytest.raises(ProfileError, match="key=value"):
        parse_override("epochs")


def test_select_notebooks() -> None:
    assert select_notebooks("03,1") == ["01_data", "03_video_autoencoder"]
    assert select_notebooks(None) == list(NOTEBOOKS)
    with pytest.raises(ProfileError, match="unknown notebook"):
        select_notebooks("09")


def _notebook(path: Path, source: str) -> None:
    """A notebook with the numbered notebooks' parameters cell; ``value`` is its ``seed`` override (1 without)."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = 'x'\nrun_dir = 'x'\noverrides = {}")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("value = overrides.get('seed', 1)"), nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_runner_runs_in_order_then_stops_on_failure(tmp_path: Path) -> None:
    notebooks = tmp_path / "nbs"
    notebooks.mkdir()
    write = "from pathlib import Path\nPath(run_dir, 'out_{n}.txt').write_text(str(value))"
    _notebook(notebooks / "01_data.ipynb", write.format(n=1))
    _notebook(notebooks / "02_i3d_features.ipynb", "raise ValueError('broken on purpose')")
    _notebook(notebooks / "03_video_autoencoder.ipynb", write.format(n=3))
    run_dir = tmp_path / "run"
    with pytest.raises(NotebookFailed, match=r"02_i3d_features failed in cell \d+: ValueError: broken on purpose"):
        run_profile("smoke", only="01,02,03", out=run_dir, notebooks_dir=notebooks, build_report=False,
                    overrides=["01.seed=5"])
    assert (run_dir / "out_1.txt").read_text() == "5"          # override reached notebook 01
    assert not (run_dir / "out_3.txt").exists()                  # the run stopped at 02
    assert (run_dir / "notebooks" / "01_data.ipynb").is_file()   # earlier outputs stay
    timings = json.loads((run_dir / "timings.json").read_text())
    assert timings["01_data"]["status"] == "ok" and timings["01_data"]["seconds"] > 0
    assert timings["01_data"]["peak_all_mb"] >= timings["01_data"]["peak_rss_mb"] > 10
    assert timings["02_i3d_features"]["status"] == "failed"
    assert timings["01_data"]["overrides"] == {"seed": 5}
    assert timings["01_data"]["settings"]["seed"] == 5 and timings["01_data"]["settings"]["n_classes"] == 12


def test_runner_rejects_unknown_settings_before_running(tmp_path: Path) -> None:
    notebooks = tmp_path / "nbs"
    notebooks.mkdir()
    _notebook(notebooks / "01_data.ipynb", "pass")
    _notebook(notebooks / "03_video_autoencoder.ipynb", "pass")
    with pytest.raises(ProfileError, match="no selected notebook has a setting 'nonsense'"):
        run_profile("smoke", only="01", out=tmp_path / "run", notebooks_dir=notebooks, build_report=False,
                    overrides=["nonsense=1"])
    with pytest.raises(ProfileError, match="01_data has no setting 'max_eval_rows'; its settings are "):  # 03's
        run_profile("smoke", only="01,03", out=tmp_path / "run", notebooks_dir=notebooks, build_report=False,
                    overrides=["01.max_eval_rows=1"])
    assert not (tmp_path / "run" / "run.json").exists()  # refused before the run started


def test_overrides_go_to_the_notebooks_with_that_setting() -> None:
    from mmar.runner import notebook_overrides

    per = notebook_overrides(["01_data", "03_video_autoencoder", "06_evaluation"],
                             ["seed=3", "03.train.epochs=2", "max_train_rows=9"])
    assert per["01_data"] == {"seed": 3}
    assert per["03_video_autoencoder"] == {"seed": 3, "train": {"epochs": 2}, "max_train_rows": 9}
    assert per["06_evaluation"] == {"seed": 3, "max_train_rows": 9}


def test_each_run_has_its_id_and_moves_the_previous_one_aside(tmp_path: Path) -> None:
    """Two invocations in one folder: the second gets a new run id, the first's outputs go to previous/<id>/,
    result rows carry the id of the run that wrote them, and timings.json holds only the second run."""
    notebooks = tmp_path / "nbs"
    notebooks.mkdir()
    _notebook(notebooks / "01_data.ipynb",
              "from pathlib import Path\nfrom mmar.results import ResultRow, write_results\n"
              "write_results([ResultRow(experiment='x', metric='m', values=[value], data_source='stand-in', "
              "profile='t', run_path=run_dir)], Path(run_dir) / 'results' / '01_data.csv')")
    _notebook(notebooks / "03_video_autoencoder.ipynb", "pass")
    run_dir = tmp_path / "run"
    run_profile("smoke", only="01,03", out=run_dir, notebooks_dir=notebooks, build_report=False)
    first = json.loads((run_dir / "run.json").read_text())
    assert {"run_id", "commit", "dirty", "code_fingerprint", "started", "cpu"} <= set(first)
    assert first["cpu"] == cpu_description() and first["cpu"]
    assert pd.read_csv(run_dir / "results" / "01_data.csv", dtype=str)["run_id"].tolist() == [first["run_id"]]
    (run_dir / "data").mkdir()
    (run_dir / "data" / "kept.txt").write_text("prepared data stay")

    run_profile("smoke", only="01", out=run_dir, notebooks_dir=notebooks, build_report=False,
                overrides=["seed=2"])
    second = json.loads((run_dir / "run.json").read_text())
    assert second["run_id"] != first["run_id"]
    rows = pd.read_csv(run_dir / "results" / "01_data.csv", dtype={"run_id": str})
    assert rows["run_id"].tolist() == [second["run_id"]] and rows["mean"].tolist() == [2.0]
    assert set(json.loads((run_dir / "timings.json").read_text())) == {"01_data"}  # no entry of the first run
    previous = run_dir / "previous" / first["run_id"]
    assert json.loads((previous / "run.json").read_text()) == first
    assert set(json.loads((previous / "timings.json").read_text())) == {"01_data", "03_video_autoencoder"}
    assert (previous / "results" / "01_data.csv").is_file()
    assert (run_dir / "data" / "kept.txt").is_file()


def _counting_notebooks(folder: Path) -> Path:
    """01 and 03 count their executions in ``count_<n>.txt`` (01 also writes a result row with its ``seed``);
    02 fails until ``fixed`` exists in the run folder."""
    folder.mkdir()
    count = ("from pathlib import Path\np = Path(run_dir, 'count_{n}.txt')\n"
             "p.write_text(str(int(p.read_text()) + 1) if p.exists() else '1')")
    _notebook(folder / "01_data.ipynb", count.format(n=1) + "\nfrom mmar.results import ResultRow, write_results\n"
              "write_results([ResultRow(experiment='x', metric='m', values=[value], data_source='stand-in', "
              "profile='t', run_path=run_dir)], Path(run_dir) / 'results' / '01_data.csv')")
    _notebook(folder / "02_i3d_features.ipynb",
              "from pathlib import Path\nif not Path(run_dir, 'fixed').exists():\n    raise ValueError('not fixed yet')")
    _notebook(folder / "03_video_autoencoder.ipynb", count.format(n=3))
    return folder


def test_resume_goes_on_where_a_run_stopped(tmp_path: Path) -> None:
    """A failed run, resumed once its cause is fixed, runs only the notebooks not finished, in the same run
    (id, --set values, outputs); ``--only`` with ``--resume`` re-runs a finished notebook within the run."""
    notebooks = _counting_notebooks(tmp_path / "nbs")
    run_dir = tmp_path / "run"
    with pytest.raises(NotebookFailed, match="--resume"):  # the failure says how to go on
        run_profile("smoke", only="01,02,03", out=run_dir, notebooks_dir=notebooks, build_report=False,
                    overrides=["01.seed=5"])
    first = json.loads((run_dir / "run.json").read_text())
    (run_dir / "fixed").write_text("")

    run_profile("smoke", out=run_dir, notebooks_dir=notebooks, build_report=False, resume=True)
    assert (run_dir / "count_1.txt").read_text() == "1" and (run_dir / "count_3.txt").read_text() == "1"
    info = json.loads((run_dir / "run.json").read_text())
    assert info["run_id"] == first["run_id"] and info["overrides"] == ["01.seed=5"]
    assert [r["notebooks"] for r in info["resumed"]] == [["02_i3d_features", "03_video_autoencoder"]]
    assert not (run_dir / "previous").exists()
    timings = json.loads((run_dir / "timings.json").read_text())
    assert {k: v["status"] for k, v in timings.items()} == dict.fromkeys(
        ["01_data", "02_i3d_features", "03_video_autoencoder"], "ok")

    run_profile("smoke", only="01", out=run_dir, notebooks_dir=notebooks, build_report=False, resume=True)
    assert (run_dir / "count_1.txt").read_text() == "2" and (run_dir / "count_3.txt").read_text() == "1"
    rows = pd.read_csv(run_dir / "results" / "01_data.csv", dtype={"run_id": str})
    assert rows["run_id"].tolist() == [first["run_id"]] and rows["mean"].tolist() == [5.0]  # its own --set kept

    run_profile("smoke", out=run_dir, notebooks_dir=notebooks, build_report=False, resume=True)  # all finished
    assert (run_dir / "count_1.txt").read_text() == "2" and (run_dir / "count_3.txt").read_text() == "1"


def test_an_interrupted_notebook_is_recorded_and_the_way_on_printed(tmp_path: Path, monkeypatch, capsys) -> None:
    """Ctrl-C while a notebook runs: timings.json says "interrupted", the runner prints the --resume command,
    and a resumed run runs that notebook again."""
    import mmar.runner

    notebooks = _counting_notebooks(tmp_path / "nbs")
    run_dir = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(mmar.runner, "run_child", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_profile("smoke", only="01", out=run_dir, notebooks_dir=notebooks, build_report=False)
    assert json.loads((run_dir / "timings.json").read_text())["01_data"]["status"] == "interrupted"
    assert f"python -m mmar run --profile smoke --resume --out {run_dir}" in capsys.readouterr().out
    run_profile("smoke", out=run_dir, notebooks_dir=notebooks, build_report=False, resume=True)
    assert (run_dir / "count_1.txt").read_text() == "1"


def test_resume_refuses_a_run_it_would_mix_with(tmp_path: Path, monkeypatch) -> None:
    """--resume refuses another profile, other --set values, changed result code and a broken run.json, before
    running anything; in a folder without a run it starts a new one."""
    import mmar.runner

    notebooks = _counting_notebooks(tmp_path / "nbs")
    run_dir = tmp_path / "run"
    run_profile("smoke", only="01", out=run_dir, notebooks_dir=notebooks, build_report=False, resume=True)
    assert (run_dir / "count_1.txt").read_text() == "1" and "resumed" not in json.loads((run_dir / "run.json").read_text())
    with pytest.raises(ProfileError, match="of profile 'smoke', not 'default'"):
        run_profile("default", only="01", out=run_dir, notebooks_dir=notebooks, build_report=False, resume=True)
    with pytest.raises(ProfileError, match=r"started with --set nothing, not \['seed=2'\]"):
        run_profile("smoke", only="01", out=run_dir, notebooks_dir=notebooks, build_report=False, resume=True,
                    overrides=["seed=2"])
    monkeypatch.setattr(mmar.runner, "code_fingerprint", lambda: "0123456789abcdef")
    with pytest.raises(ProfileError, match="result-determining code changed"):
        run_profile("smoke", only="01", out=run_dir, notebooks_dir=notebooks, build_report=False, resume=True)
    assert (run_dir / "count_1.txt").read_text() == "1"
    (run_dir / "run.json").write_text("{broken")
    with pytest.raises(ProfileError, match="run.json: not valid JSON"):
        run_profile("smoke", only="01", out=run_dir, notebooks_dir=notebooks, build_report=False, resume=True)


def test_process_tree_memory_adds_up_a_process_and_its_children() -> None:
    """A process holding 200 MB whose child holds 150 MB: the tree holds both, the child alone its own share."""
    import os
    import signal
    import subprocess
    import sys

    from mmar.runner import process_tree_memory_mb

    hold = "import sys, time\nblock = b'x' * ({mb} * 2**20)\nprint('ready', flush=True)\n{then}"
    child_code = hold.format(mb=150, then="time.sleep(60)")
    parent_code = hold.format(mb=200, then=(
        "import subprocess\nchild = subprocess.Popen([sys.executable, '-c', sys.argv[1]], stdout=subprocess.PIPE, "
        "text=True)\nchild.stdout.readline()\nprint(child.pid, flush=True)\ntime.sleep(60)"))
    parent = subprocess.Popen([sys.executable, "-c", parent_code, child_code], stdout=subprocess.PIPE, text=True)
    child_pid = None
    try:
        assert parent.stdout.readline().strip() == "ready"
        child_pid = int(parent.stdout.readline())
        tree, child = process_tree_memory_mb(parent.pid), process_tree_memory_mb(child_pid)
    finally:
        for pid in (child_pid, parent.pid):
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        parent.wait()
    assert 150 <= child < 150 + 100        # its bytes plus an interpreter
    assert 350 <= tree < 350 + 200 and tree > child
    assert process_tree_memory_mb(parent.pid) is None  # ended


def test_code_fingerprint_follows_the_result_code(tmp_path: Path) -> None:
    from mmar.paths import PACKAGE_DIR
    from mmar.provenance import code_fingerprint, fingerprinted_files

    copy = tmp_path / "mmar"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    original = code_fingerprint(copy)
    assert original == code_fingerprint(PACKAGE_DIR)  # independent of where the package lives
    names = {p.relative_to(copy).as_posix() for p in fingerprinted_files(copy)}
    assert {"training/config.py", "training/ensemble.py", "losses.py", "experiments/cells.py", "experiments/run.py",
            "models/attention.py", "data/standin.py", "evaluation/zero_shot.py"} <= names
    assert not any(n.startswith("report/") or n in ("cli.py", "runner.py") for n in names)

    training = copy / "training" / "config.py"
    source = training.read_text()
    training.write_text(source + "\nDEFAULT_CHANGED = 0.5\n")
    assert code_fingerprint(copy) != original
    training.write_text(source)
    assert code_fingerprint(copy) == original
    (copy / "models" / "extra.py").write_text("X = 1\n")  # a new module counts too
    assert code_fingerprint(copy) != original
    (copy / "models" / "extra.py").unlink()
    (copy / "report" / "pages.py").write_text("# reworded\n")  # presentation only: unchanged
    assert code_fingerprint(copy) == original


def test_the_processor_is_named_with_the_features_that_choose_its_kernels(monkeypatch) -> None:
    """A hand-written /proc/cpuinfo of two cores: the first core's model name, family and model and, of its
    flags, the kernel-choosing ones in a fixed order; a PyTorch kernel limit in the environment is added."""
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    core = ("processor\t: {i}\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: {i}\nmodel name\t: Example EPYC {i}\n"
            "flags\t\t: fpu sse avx512_bf16 avx512f fma avx2 avx512vl\n\n")
    cpuinfo = core.format(i=0) + core.format(i=1)
    assert cpu_description(cpuinfo) == "Example EPYC 0, family 26 model 0 (avx2, fma, avx512f, avx512_bf16)"
    assert cpu_description("model name : Old Core\nflags : sse sse2\n") == "Old Core (no avx2)"
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert cpu_description(cpuinfo).endswith("; PyTorch kernels limited to avx2")


def test_runner_reports_a_kernel_that_died(tmp_path: Path) -> None:
    """A kernel that exits mid-notebook stops the run with the notebook's name and the kind of failure,
    and the notebook's log (papermill's and the kernel's output) is kept beside it."""
    notebooks = tmp_path / "nbs"
    notebooks.mkdir()
    _notebook(notebooks / "01_data.ipynb", "import os\nos._exit(3)")
    run_dir = tmp_path / "run"
    with pytest.raises(NotebookFailed, match="01_data: DeadKernelError"):
        run_profile("smoke", only="01", out=run_dir, notebooks_dir=notebooks, build_report=False)
    assert (run_dir / "notebooks" / "01_data.log").is_file()
    assert json.loads((run_dir / "timings.json").read_text())["01_data"]["status"] == "failed"

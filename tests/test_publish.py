"""``python -m mmar publish``: the default run that the repository shows in ``report/default-run/``."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from mmar.cli import main as cli_main
from mmar.paths import NOTEBOOKS_DIR, PUBLISHED_RUN_DIR
from mmar.profiles import NOTEBOOKS
from mmar.report.book import WIDGET_MIME
from mmar.report.publish import CARD, PublishError, publish

WIDGET = nbformat.v4.new_output("display_data", data={WIDGET_MIME: {"model_id": "x"}, "text/plain": "progress"})


def _run_folder(root: Path, *, profile: str = "default", dirty: bool = False, failed: str | None = None,
                overrides: tuple[str, ...] = ()) -> Path:
    """A finished run folder as ``python -m mmar run`` leaves it (tiny notebooks, one widget output each)."""
    (root / "notebooks").mkdir(parents=True)
    (root / "data").mkdir()
    run = {"run_id": "20990101-000000-abcdef", "profile": profile, "overrides": list(overrides), "started": "2099-01-01 00:00:00", "commit": "c0ffee",
           "dirty": dirty, "code_fingerprint": "f1", "cpu": "Some CPU (avx2)", "cpu_count": 2, "python": "3.11.7",
           "lock": "the locked set"}
    timings = {n: {"seconds": 10.0 * i, "peak_all_mb": 1000.0 + i, "status": "failed" if n == failed else "ok"}
               for i, n in enumerate(NOTEBOOKS, start=1)}
    timings["report"] = {"seconds": 30.0}
    (root / "run.json").write_text(json.dumps(run))
    (root / "timings.json").write_text(json.dumps(timings))
    (root / "data" / "dataset.json").write_text(json.dumps({"data_source": "stand-in", "description": "generated"}))
    checkout = "/home/someone/mmar"  # where the run's repository was: papermill records absolute paths
    for n in NOTEBOOKS:
        injected = nbformat.v4.new_code_cell(f'profile = "default"\nrun_dir = "{checkout}/runs/default"\n',
                                             metadata={"tags": ["injected-parameters"]})
        cell = nbformat.v4.new_code_cell(f"print('{n}')", outputs=[nbformat.v4.new_output("stream", text=f"{n}\n"),
                                                                     WIDGET])
        notebook = nbformat.v4.new_notebook(cells=[injected, cell])
        notebook.metadata["papermill"] = {"input_path": f"{checkout}/notebooks/{n}.ipynb",
                                          "output_path": f"{checkout}/runs/default/notebooks/{n}.ipynb",
                                          "parameters": {"profile": "default", "run_dir": f"{checkout}/runs/default"}}
        nbformat.write(notebook, root / "notebooks" / f"{n}.ipynb")
    (root / "book.pdf").write_bytes(b"%PDF-1.4 book")
    return root


def test_publish_copies_the_run_without_widgets_and_says_where_it_comes_from(tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "run")
    target = tmp_path / "published"
    target.mkdir()
    (target / "stale.ipynb").write_text("{}")  # an earlier publication's file goes
    card = publish(run, target)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [f"{n}.ipynb" for n in NOTEBOOKS] + ["README.md", "book.pdf", "run.json", "timings.json"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["published", "run"]  # no staging folder left
    for n in NOTEBOOKS:
        published = nbformat.read(target / f"{n}.ipynb", as_version=4)
        assert [o.get("text") for o in published.cells[1].outputs] == [f"{n}\n"]  # the printed output stays, the widget goes
        assert published.cells[0].source == 'profile = "default"\nrun_dir = "runs/default"\n'  # from the repository root
        assert published.metadata.papermill == {"input_path": f"notebooks/{n}.ipynb",
                                                "output_path": f"runs/default/notebooks/{n}.ipynb",
                                                "parameters": {"profile": "default", "run_dir": "runs/default"}}
    assert (target / "book.pdf").read_bytes() == b"%PDF-1.4 book"
    text = card.read_text()
    assert "run `20990101-000000-abcdef`, started 2099-01-01 00:00:00, profile `default`" in text
    assert "commit `c0ffee` (clean tree)" in text and "processor: Some CPU (avx2), 2 cores" in text
    assert "computed on stand-in data in this run. They are not a reproduction of the paper's numbers" in text
    assert "| 06_evaluation | 60 | 1,006 |" in text and "| book | 30 | |" in text


def test_publish_refuses_what_is_not_a_finished_default_run_of_a_committed_tree(tmp_path: Path, capsys) -> None:
    assert cli_main(["publish", str(tmp_path / "nothing")]) == 1
    assert capsys.readouterr().err.startswith(f"error: {tmp_path}/nothing/run.json not found")
    with pytest.raises(PublishError, match="run.json not found"):
        publish(tmp_path / "nothing", tmp_path / "out")
    with pytest.raises(PublishError, match=r"did not finish \['06_evaluation'\]: go on with .*--resume"):
        publish(_run_folder(tmp_path / "a", failed="06_evaluation"), tmp_path / "out")
    with pytest.raises(PublishError, match="uncommitted changes"):
        publish(_run_folder(tmp_path / "b", dirty=True), tmp_path / "out")
    with pytest.raises(PublishError, match="profile 'smoke'"):
        publish(_run_folder(tmp_path / "c", profile="smoke"), tmp_path / "out")
    with pytest.raises(PublishError, match="started with --set seed=3: the repository shows the 'default' profile as it is"):
        publish(_run_folder(tmp_path / "d", overrides=("seed=3",)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _code(notebook: nbformat.NotebookNode) -> list[str]:
    """The code cells' sources, without the parameters cells (the injected one holds the run's values)."""
    return [c.source for c in notebook.cells if c.cell_type == "code"
            and not {"parameters", "injected-parameters"} & set(c.metadata.get("tags", []))]


def test_the_published_default_run_is_a_run_of_the_notebooks_in_the_repository() -> None:
    """``report/default-run/`` holds a whole default run whose notebooks' code is today's: after a notebook's code
    changes, publish a new run (`make report`, then `make publish`)."""
    run = json.loads((PUBLISHED_RUN_DIR / "run.json").read_text())
    assert run["profile"] == "default" and run["dirty"] is False
    assert f"run `{run['run_id']}`" in (PUBLISHED_RUN_DIR / CARD).read_text()
    for n in NOTEBOOKS:
        published = nbformat.read(PUBLISHED_RUN_DIR / f"{n}.ipynb", as_version=4)
        injected = [c.source for c in published.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and 'profile = "default"' in injected[0] and 'run_dir = "runs/default"' in injected[0], n
        assert _code(published) == _code(nbformat.read(NOTEBOOKS_DIR / f"{n}.ipynb", as_version=4)), (
            f"{n}: its code changed since run {run['run_id']} was published: `make report`, then `make publish`")
        assert not any(WIDGET_MIME in o.get("data", {}) for c in published.cells for o in c.get("outputs", []))
        assert any(c.get("outputs") for c in published.cells if c.cell_type == "code"), n

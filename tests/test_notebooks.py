"""The notebooks stay thin and checkable: no function defined in them, about 60 lines of code, no call
with more than a handful of arguments, key numbers in compared cells, one shape for training settings,
no machine paths in stored outputs; a parameters cell holds only profile, run_dir and overrides, and the
profiles hold each value once and only settings the notebooks have."""

from __future__ import annotations

import ast
import dataclasses
import re
import tomllib

import nbformat
import pytest
import yaml

from mmar.paths import NOTEBOOKS_DIR, PROJECT_ROOT
from mmar.profiles import NOTEBOOKS, PROFILES_FILE, ProfileError, load_profiles, notebook_settings, resolve_profile
from mmar.studies import settings_classes
from mmar.studies.settings import SELECTED, checked_train, variant_configs
from mmar.training import TrainConfig

#: Code lines (non-blank) a notebook may hold, parameters cell included ("about 60").
MAX_CODE_LINES = 65
#: Arguments (positional and keyword) a call in a notebook may pass ("a handful").
MAX_CALL_ARGUMENTS = 5
#: What a notebook's parameters cell holds: the profile, the run folder and overrides of its settings.
PARAMETERS = {"profile": "smoke", "run_dir": "runs/nbval-smoke", "overrides": {}}
#: Absolute paths of a particular machine (home folders, temporary or work folders, Windows drives).
MACHINE_PATH = re.compile(r"(?<![\w.])(/home/|/root/|/Users/|/tmp/|/work/|/private/|/var/folders/|[A-Z]:\\\\)")
TRAINING_NOTEBOOKS = ("03_video_autoencoder", "04_text_autoencoder", "05_joint_training", "06_evaluation",
                      "07_ablations")


def _notebook(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)


def _code_cells(name: str) -> list[str]:
    return [c.source for c in _notebook(name).cells if c.cell_type == "code"]


def _parameters(name: str) -> dict:
    cell = next(c for c in _notebook(name).cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(cell.source, namespace)  # literals only (checked below)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_thin(name: str) -> None:
    cells = _code_cells(name)
    for source in cells:
        tree = ast.parse(source)
        defined = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                                                 ast.ClassDef))]
        assert not defined, f"{name} defines {[type(n).__name__ for n in defined]}: move it into the package"
    lines = sum(1 for source in cells for line in source.splitlines() if line.strip())
    assert lines <= MAX_CODE_LINES, f"{name}: {lines} lines of code"


def _long_calls(source: str) -> list[tuple[str, int]]:
    """``(callee, argument count)`` of each call in ``source`` passing more than MAX_CALL_ARGUMENTS arguments
    (positional and keyword, ``*args`` and ``**kwargs`` counting one each), nested calls included."""
    return [(ast.unparse(node.func), len(node.args) + len(node.keywords)) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and len(node.args) + len(node.keywords) > MAX_CALL_ARGUMENTS]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_calls_pass_a_handful_of_arguments(name: str) -> None:
    """Settings travel as one object (and the run as a Run), so no call needs long argument lists."""
    for source in _code_cells(name):
        assert not _long_calls(source), f"{name}: calls with more than {MAX_CALL_ARGUMENTS} arguments"


def test_the_argument_check_catches_a_long_call() -> None:
    """The helper the notebook check uses, on calls whose counts are plain to see (the limit is 5)."""
    assert MAX_CALL_ARGUMENTS == 5
    assert _long_calls("f(a, b, c, d=1, e=2, g=3)") == [("f", 6)]
    assert _long_calls("f(a, b, c, d=1, e=2)") == []  # exactly the limit passes
    assert _long_calls("x = run.settings.update(1, 2, 3, 4, 5, 6)") == [("run.settings.update", 6)]
    assert _long_calls("f(g(1, 2, 3, 4, 5, 6), *rest, **options)") == [("g", 6)]  # nested; f has 3
    assert _long_calls("f(1, 2, 3, 4, *rest, **options)") == [("f", 6)]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_cell_holds_profile_run_dir_and_overrides(name: str) -> None:
    assert _parameters(name) == PARAMETERS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_compares_its_key_numbers(name: str) -> None:
    nb = _notebook(name)
    checked = [c for c in nb.cells if c.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" in c.source]
    assert len(checked) >= 2, f"{name}: fewer than two compared cells"
    texts = ["".join(o.get("text", "") for o in c.get("outputs", []) if o.get("output_type") == "stream")
             for c in checked]
    assert all(texts), f"{name}: a compared cell has no stored output (run make refresh-notebooks)"
    assert sum(bool(re.search(r"\d", t)) for t in texts) >= 2, f"{name}: fewer than two compared cells print numbers"
    for cell in checked:
        assert not any(o.get("name") == "stderr" for o in cell.get("outputs", [])), f"{name}: stderr in a compared cell"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_stored_outputs_hold_no_machine_paths(name: str) -> None:
    for cell in _notebook(name).cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "") + "".join(str(v) for k, v in output.get("data", {}).items()
                                                     if k.startswith("text/"))
            text += "\n".join(output.get("traceback", []))
            found = MACHINE_PATH.search(text)
            assert not found, f"{name}: machine path in a stored output: ...{text[max(0, found.start() - 80):found.end() + 80]}..."
            assert "TqdmWarning" not in text and "IProgress not found" not in text, f"{name}: progress bars do not render"


@pytest.mark.parametrize("name", TRAINING_NOTEBOOKS)
def test_training_notebooks_take_train_and_variants(name: str) -> None:
    settings = settings_classes()[name].from_profile("smoke")
    assert isinstance(settings.train, dict)
    checked_train(settings.train)
    if hasattr(settings, "variants"):
        variant_configs(settings.train, settings.variants)
    assert not {"epochs", "lr", "optimizer", "base", "train_overrides", "kernels"} & set(settings.names()), name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_one_name_per_concept(name: str) -> None:
    settings = settings_classes()[name].from_profile("smoke")
    assert not {"k", "ks", "eval_k", "unseen_counts", "trials"} & set(settings.names()), name
    if hasattr(settings, "unseen_k"):
        assert isinstance(settings.unseen_k, int)
    if hasattr(settings, "unseen_ks"):
        assert isinstance(settings.unseen_ks, list)


@pytest.mark.parametrize("profile", sorted(load_profiles()))
def test_every_profile_gives_every_notebook_valid_settings(profile: str) -> None:
    for name, cls in settings_classes().items():
        settings = cls.from_profile(profile)
        assert set(resolve_profile(profile).get(name) or {}) <= set(cls.names())
        if hasattr(settings, "train"):  # a λ that notebook 05 chooses ("selected") stands in as 1.0
            train = {k: 1.0 if v == SELECTED else v for k, v in settings.train.items()}
            variant_configs(train, getattr(settings, "variants", None))


def test_settings_refuse_unknown_names_and_merge_dict_overrides(tmp_path) -> None:
    cls = settings_classes()["05_joint_training"]
    with pytest.raises(ProfileError, match=r"no setting \['epochz'\]; its settings are seed, unseen_k"):
        cls.from_profile("smoke", {"epochz": 3})
    merged = cls.from_profile("smoke", {"train": {"epochs": 7}})
    assert merged.train == {**cls.from_profile("smoke").train, "epochs": 7}
    path = tmp_path / "profiles.yaml"
    path.write_text(PROFILES_FILE.read_text() + "\nbad:\n  description: x\n  extends: smoke\n"
                    "  05_joint_training: {epochz: 3}\n")
    with pytest.raises(ProfileError, match=r"profile 'bad', section 05_joint_training: no setting \['epochz'\]"):
        cls.from_profile("bad", profiles_file=path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        merged.seed = 3


def test_smoke_gives_every_setting_a_value(tmp_path) -> None:
    """Other profiles set only what differs: a setting missing from smoke would leave them without it."""
    text = re.sub(r"\n    plot_variant: .*", "", PROFILES_FILE.read_text())
    path = tmp_path / "profiles.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=r"gives 05_joint_training no value for \['plot_variant'\]"):
        settings_classes()["05_joint_training"].from_profile("default", profiles_file=path)


def test_profiles_restate_no_train_config_default() -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    for profile, sections in load_profiles().items():
        for section, values in sections.items():
            if not isinstance(values, dict):
                continue
            trains = [values.get("train") or {}] + [v for v in (values.get("variants") or {}).values()]
            for train in trains:
                same = [k for k, v in train.items() if k in defaults and defaults[k] == v]
                assert not same, f"{profile}.{section} restates TrainConfig defaults {same}"


def test_shared_values_appear_once_in_the_profiles_file() -> None:
    text = PROFILES_FILE.read_text()
    assert len(re.findall(r"optimizer: adam", text)) == 1 and len(re.findall(r"lr: 0\.001", text)) == 1
    assert yaml.safe_load(text)  # anchors and merge keys resolve


def test_ipywidgets_is_a_requirement() -> None:
    deps = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("ipywidgets") for d in deps)


def test_dict_parameters_merge_and_dotted_overrides(tmp_path) -> None:
    from mmar.profiles import merge_parameter, parse_override

    path = tmp_path / "profiles.yaml"
    path.write_text("base:\n  description: b\n  common: {seed: 1, train: {optimizer: adam, lr: 0.001}}\n"
                    "  05_joint_training: {train: {epochs: 6}}\n"
                    "child:\n  description: c\n  extends: base\n  05_joint_training: {train: {epochs: 2}}\n")
    base, child = resolve_profile("base", path), resolve_profile("child", path)
    assert notebook_settings(base, "05_joint_training")["train"] == {"optimizer": "adam", "lr": 0.001, "epochs": 6}
    assert notebook_settings(child, "05_joint_training")["train"] == {"optimizer": "adam", "lr": 0.001, "epochs": 2}
    assert notebook_settings(base, "03_video_autoencoder")["train"] == {"optimizer": "adam", "lr": 0.001}
    over = notebook_settings(base, "05_joint_training")
    merge_parameter(over, "train", parse_override("05.train.lr=0.01")[2])  # as NotebookSettings.from_profile does
    assert over["train"] == {"optimizer": "adam", "lr": 0.01, "epochs": 6}
    assert parse_override("05_joint_training.train.epochs=20") == ("05_joint_training", "train", {"epochs": 20})
    assert parse_override("train.epochs=3") == (None, "train", {"epochs": 3})
    with pytest.raises(Exception, match="unknown notebook"):
        parse_override("09.train.epochs=1")
    with pytest.raises(Exception, match=r"\[notebook.\]key\[.field\]"):
        parse_override("05.train.a.b=1")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_papermill_reads_every_parameter(name: str) -> None:
    """papermill's own reading of the parameters cell (which it uses to describe and inject them) finds
    every variable the cell assigns: a line it cannot parse would be silently left out."""
    import papermill

    declared = papermill.inspect_notebook(str(NOTEBOOKS_DIR / f"{name}.ipynb"))
    assert sorted(declared) == sorted(PARAMETERS), name

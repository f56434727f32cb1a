"""pyproject.toml, environment.yml and requirements.lock agree; the Makefile installs the lock; CI tests both
dependency sets."""

import re
import tomllib
from types import SimpleNamespace

import yaml

from mmar.paths import PROJECT_ROOT


def _normalise(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    pip_deps = dict(_normalise(r) for r in project["dependencies"])
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_deps = dict(_normalise(r) for r in pip_section if not r.startswith("-e"))
    assert conda_deps == pip_deps
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"])


def test_torch_pinned_to_local_cpu_build() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    torch = dict(_normalise(r) for r in project["dependencies"])["torch"]
    # A looser pin may pull a multi-GB CUDA build; the Makefile installs torch first from this exact pin (it reads
    # "torch==..." from pyproject.toml), so a range would leave it nothing to install.
    assert torch == "==2.13.0"


def test_readme_has_the_two_commands_and_ci_calls_the_test_one() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "make report" in readme and "make test" in readme
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_the_lock_pins_every_dependency_within_its_range() -> None:
    from packaging.requirements import Requirement

    from mmar.lock import LOCK_FILE, locked_versions, normalise

    locked = locked_versions()
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"]:
        requirement = Requirement(text)
        if requirement.name == "torch":  # outside the lock (see mmar/lock.py), installed from its exact pin
            assert normalise(requirement.name) not in locked
            continue
        version = locked.get(normalise(requirement.name))
        assert version is not None, f"{requirement.name} is not in {LOCK_FILE.name}"
        assert requirement.specifier.contains(version, prereleases=True), f"{requirement.name}=={version} vs {text}"
    lock_text = LOCK_FILE.read_text()
    assert "with Python 3.11" in lock_text
    pins = re.findall(r"^([A-Za-z0-9][\w.\-]*)==\S+ \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", lock_text, re.M)
    assert len(pins) == len(locked) > 100          # every pin carries at least one sha256 hash


def test_lock_differences_by_hand() -> None:
    from mmar.lock import differences

    locked = {"numpy": "2.4.6", "pandas": "3.1.1"}
    assert differences(locked, {"numpy": "2.4.6", "pandas": "3.1.1", "torch": "2.13.0+cpu", "pip": "25"}, "2.13.0") == []
    found = differences(locked, {"numpy": "2.4.5", "extra": "1", "torch": "2.14.0"}, "2.13.0")
    assert found == ["numpy: locked 2.4.6, installed 2.4.5", "pandas: locked 3.1.1, installed nothing",
                     "extra: installed 1, not in the lock", "torch: pinned 2.13.0, installed 2.14.0"]


def test_a_cuda_torch_builds_own_packages_lie_outside_the_lock() -> None:
    """A CUDA torch from PyPI brings nvidia-* libraries and triton (and theirs): outside the lock like torch itself.
    A package nothing requires, or one that torch requires only for one of its optional extras or under a false
    environment marker, is still reported."""
    from mmar.lock import differences, torch_dependencies

    def dist(name: str, *requires: str) -> SimpleNamespace:
        return SimpleNamespace(metadata={"Name": name}, requires=list(requires))

    installed = [dist("torch", "sympy>=1.13", 'nvidia-cudnn-cu12==9.1; python_version >= "3"', "triton==3.1",
                      'optree>=0.13; extra == "optree"', 'absent-lib; python_version < "3"'),
                 dist("nvidia-cudnn-cu12", "nvidia-cublas-cu12"), dist("nvidia-cublas-cu12"), dist("triton"),
                 dist("sympy", "mpmath"), dist("mpmath"), dist("optree"), dist("absent-lib"), dist("stray")]
    assert torch_dependencies(installed) == {"sympy", "mpmath", "nvidia-cudnn-cu12", "nvidia-cublas-cu12", "triton"}
    versions = {d.metadata["Name"]: "1" for d in installed} | {"torch": "2.13.0"}
    locked = {"sympy": "1", "mpmath": "1"}
    assert differences(locked, versions, "2.13.0", torch_dependencies(installed)) == [
        "absent-lib: installed 1, not in the lock", "optree: installed 1, not in the lock",
        "stray: installed 1, not in the lock"]
    assert torch_dependencies([dist("numpy")]) == set()


def test_the_makefile_installs_the_lock_and_ci_tests_both_dependency_sets() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "--require-hashes -r $(LOCK)" in makefile and "python -m mmar lock --check" in makefile
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test-newest$", ci, re.M)

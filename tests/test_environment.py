"""pyproject.toml and environment.yml declare the same dependencies with the same pins."""

import re
import tomllib

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
    # A looser pin may pull a multi-GB CUDA build; 2.13.0 up to 2.14.1 are on the local disk.
    assert torch == "==2.13.0" or re.fullmatch(r">=2\.1[34](\.\d+)?,<=2\.14\.1", torch)


def test_readme_has_the_two_commands_and_ci_calls_the_test_one() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "make report" in readme and "make test" in readme
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)

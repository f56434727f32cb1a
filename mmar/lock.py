"""The lock file: the exact, hashed package set that both README commands install.

``requirements.lock`` is compiled from ``pyproject.toml``'s ranges by pip-tools (``make lock``) with a
sha256 hash per file, for Python 3.11 on Linux x86-64. One package stays outside it: torch, whose
file differs by machine (the CPU build here, a CUDA build from PyPI elsewhere) and so has no single
hash; it is installed first from its exact pin in ``pyproject.toml``, then the lock with
``--no-deps --require-hashes`` (so nothing outside the lock is resolved). The packages a torch build
brings that the lock does not name (a CUDA build's ``nvidia-*`` libraries and ``triton``) stay outside
it with torch; torch's dependencies that the lock names (``sympy``, ``filelock``...) take the lock's versions.

``python -m mmar lock --check`` compares the installed distributions with the lock and exits 1 on any
difference (the Makefile runs it after every locked install); the report's environment section says
whether the run's interpreter had the locked set.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Iterable, Mapping

from packaging.requirements import InvalidRequirement, Requirement

from mmar.paths import PROJECT_ROOT

LOCK_FILE = PROJECT_ROOT / "requirements.lock"
#: Installed but not pinned by the lock: the installer itself, the project (editable), and torch (see above).
OUTSIDE_THE_LOCK = ("pip", "mmar", "torch")


def normalise(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(path: str | Path = LOCK_FILE) -> dict[str, str]:
    """``{name: version}`` of the lock's ``name==version`` lines."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no lock file (make it with `make lock`)")
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)==([^\s;\\]+)", path.read_text(), re.M)
    return {normalise(name): version for name, version in pins}


def installed_versions(distributions: Iterable[metadata.Distribution] | None = None) -> dict[str, str]:
    """``{name: version}`` of the distributions installed for this interpreter."""
    found = metadata.distributions() if distributions is None else distributions
    return {normalise(d.metadata["Name"]): d.version for d in found if d.metadata["Name"]}


def torch_pin(pyproject: str | Path = PROJECT_ROOT / "pyproject.toml") -> str:
    """The exact torch version ``pyproject.toml`` pins."""
    for requirement in tomllib.loads(Path(pyproject).read_text())["project"]["dependencies"]:
        match = re.fullmatch(r"torch\s*==\s*([\w.]+)", requirement.strip())
        if match:
            return match.group(1)
    raise ValueError(f"{pyproject}: torch is not pinned with == (the lock leaves torch to that pin)")


def torch_dependencies(distributions: Iterable[metadata.Distribution] | None = None) -> set[str]:
    """Names of every installed distribution that the installed torch requires, directly or through another
    (no extras; environment markers evaluated for this interpreter): what its build brings."""
    found = metadata.distributions() if distributions is None else distributions
    requires = {normalise(d.metadata["Name"]): d.requires or [] for d in found if d.metadata["Name"]}
    reached: set[str] = set()
    pending = ["torch"] if "torch" in requires else []
    while pending:
        for line in requires.get(pending.pop(), []):
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            name = normalise(requirement.name)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            if name in requires and name not in reached:
                reached.add(name)
                pending.append(name)
    return reached


def differences(locked: Mapping[str, str], installed: Mapping[str, str], torch_version: str,
                from_torch: Iterable[str] = ()) -> list[str]:
    """Lines naming each package whose installed version is not the locked one (missing or extra too).
    torch must equal ``torch_version`` up to a local build label (``2.13.0+cpu`` is ``2.13.0``); packages in
    ``from_torch`` (:func:`torch_dependencies`) that the lock does not name are torch's build's, not extras."""
    outside = set(OUTSIDE_THE_LOCK) | set(from_torch)
    lines = [f"{name}: locked {version}, installed {installed.get(name, 'nothing')}"
             for name, version in sorted(locked.items()) if installed.get(name) != version]
    lines += [f"{name}: installed {version}, not in the lock" for name, version in sorted(installed.items())
              if name not in locked and name not in outside]
    torch = installed.get("torch")
    if torch is None or torch.split("+")[0] != torch_version:
        lines.append(f"torch: pinned {torch_version}, installed {torch or 'nothing'}")
    return lines


def check(path: str | Path = LOCK_FILE) -> list[str]:
    """Differences between this interpreter's installed set and the lock (empty: the install is locked)."""
    return differences(locked_versions(path), installed_versions(), torch_pin(), torch_dependencies())


def lock_status() -> str:
    """One line for run.json and the report: whether this interpreter has the locked set."""
    try:
        found = check()
    except (FileNotFoundError, ValueError) as error:
        return f"unknown ({error})"
    if not found:
        return f"the locked set ({LOCK_FILE.name}, torch {torch_pin()})"
    return f"{len(found)} differences from {LOCK_FILE.name}: " + "; ".join(found[:5]) + ("; ..." if len(found) > 5 else "")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mmar lock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the installed set differs from the lock")
    parser.add_argument("--file", default=str(LOCK_FILE), help=f"lock file (default {LOCK_FILE})")
    args = parser.parse_args(argv)
    found = check(args.file)
    for line in found:
        print(line)
    print(f"{len(found)} differences from {args.file}" if found else
          f"the installed set equals {args.file} ({len(locked_versions(args.file))} packages, torch {torch_pin()})")
    return 1 if found and args.check else 0


if __name__ == "__main__":
    sys.exit(main())

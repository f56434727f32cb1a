"""Run profiles (``mmar/profiles.yaml``): load, resolve inheritance, apply overrides."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from mmar.paths import PACKAGE_DIR

PROFILES_FILE = PACKAGE_DIR / "profiles.yaml"
NOTEBOOKS = (
    "01_data",
    "02_i3d_features",
    "03_video_autoencoder",
    "04_text_autoencoder",
    "05_joint_training",
    "06_evaluation",
    "07_ablations",
)
_RESERVED = {"description", "extends", "common"}


class ProfileError(ValueError):
    """An unknown profile, a malformed profiles file or a bad override."""


class _SettingsLoader(yaml.SafeLoader):
    """YAML's safe loader that also reads ``1e-3`` as a number: YAML 1.1, which PyYAML follows, wants a
    dot in a float (``1.0e-3``) and would read ``--set 05.train.lr=1e-3`` as the string '1e-3'."""


_SettingsLoader.add_implicit_resolver("tag:yaml.org,2002:float",
                                      re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
                                      list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """``text`` read as YAML by :class:`_SettingsLoader` (safe: plain values only)."""
    return yaml.load(text, Loader=_SettingsLoader)


def load_profiles(path: str | Path = PROFILES_FILE) -> dict[str, dict[str, Any]]:
    """The raw profiles file as a dict."""
    data = load_yaml(Path(path).read_text())
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping of profile names")
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for section, values in (extra or {}).items():
        if section in ("description", "extends"):
            merged[section] = values
            continue
        merged.setdefault(section, {})
        merged[section].update(values or {})
    return merged


def resolve_profile(name: str, path: str | Path = PROFILES_FILE) -> dict[str, Any]:
    """A profile with its ``extends`` chain applied: ``{"description", "common", "<notebook>": {...}}``."""
    profiles = load_profiles(path)
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current not in profiles:
            raise ProfileError(f"unknown profile {current!r}; known: {', '.join(profiles)}")
        if current in chain:
            raise ProfileError(f"profile inheritance loops: {' -> '.join(chain + [current])}")
        chain.append(current)
        current = profiles[current].get("extends")
    resolved: dict[str, Any] = {"common": {}}
    for profile_name in reversed(chain):
        resolved = _merge(resolved, profiles[profile_name])
    resolved["name"] = name
    for section in resolved:
        if section not in _RESERVED | {"name"} and section not in NOTEBOOKS:
            raise ProfileError(f"profile {name!r}: unknown section {section!r}")
    return resolved


def parse_override(text: str) -> tuple[str | None, str, Any]:
    """``[notebook.]key[.field]=value`` -> (notebook or None, key, YAML-parsed value).

    ``field`` sets one entry of a dict setting: ``05.train.epochs=20`` gives
    ``("05_joint_training", "train", {"epochs": 20})``, merged into the notebook's ``train``
    (see :func:`merge_parameter`).
    """
    if "=" not in text:
        raise ProfileError(f"override {text!r} is not key=value")
    target, raw = text.split("=", 1)
    value = load_yaml(raw) if raw != "" else ""
    parts = target.split(".")
    notebook = None
    matches = [n for n in NOTEBOOKS if n == parts[0] or n.split("_")[0] == parts[0]]
    if len(parts) > 1 and matches:
        notebook, parts = matches[0], parts[1:]
    elif len(parts) > 1 and parts[0][:1].isdigit():
        raise ProfileError(f"override {text!r}: unknown notebook {parts[0]!r}")
    if not all(parts) or len(parts) > 2:
        raise ProfileError(f"override {text!r}: expected [notebook.]key[.field]=value")
    key = parts[0]
    return notebook, key, ({parts[1]: value} if len(parts) == 2 else value)


def merge_parameter(params: dict[str, Any], key: str, value: Any) -> None:
    """Set ``params[key]``; a dict value is merged into a dict already there (its entries win)."""
    if isinstance(value, dict) and isinstance(params.get(key), dict):
        params[key] = {**params[key], **value}
    else:
        params[key] = copy.deepcopy(value)


def notebook_settings(profile: dict[str, Any], notebook: str) -> dict[str, Any]:
    """One notebook's setting values: ``common``, then its own section
    (:class:`mmar.studies.settings.NotebookSettings` keeps those that are the notebook's settings and
    applies the overrides).

    Dict settings merge at each step: a notebook section's ``train: {epochs: 6}`` adds to (and
    overrides entries of) the ``common`` section's ``train: {optimizer: adam, lr: 0.001}``.
    """
    params: dict[str, Any] = {}
    for key, value in (profile.get("common") or {}).items():
        merge_parameter(params, key, value)
    for key, value in (profile.get(notebook) or {}).items():
        merge_parameter(params, key, value)
    return params

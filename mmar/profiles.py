"""Run profiles (``mmar/profiles.yaml``): load, resolve inheritance, apply overrides."""

from __future__ import annotations

import copy
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


def load_profiles(path: str | Path = PROFILES_FILE) -> dict[str, dict[str, Any]]:
    """The raw profiles file as a dict."""
    data = yaml.safe_load(Path(path).read_text())
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
    """``key=value`` or ``notebook.key=value`` -> (notebook or None, key, YAML-parsed value)."""
    if "=" not in text:
        raise ProfileError(f"override {text!r} is not key=value")
    target, raw = text.split("=", 1)
    value = yaml.safe_load(raw) if raw != "" else ""
    notebook, _, key = target.rpartition(".")
    if notebook:
        matches = [n for n in NOTEBOOKS if n == notebook or n.split("_")[0] == notebook]
        if not matches:
            raise ProfileError(f"override {text!r}: unknown notebook {notebook!r}")
        return matches[0], key, value
    return None, key, value


def notebook_parameters(profile: dict[str, Any], notebook: str, overrides: list[str] = ()) -> dict[str, Any]:
    """Parameters for one notebook: ``common``, then its own section, then command-line overrides."""
    params = dict(profile.get("common", {}))
    params.update(profile.get(notebook, {}) or {})
    for text in overrides:
        target, key, value = parse_override(text)
        if target is None or target == notebook:
            params[key] = value
    return params

"""Open choices of the paper (``report/open_choices.yaml``) with the values this run recorded.

Values come from the run itself: notebook settings in ``timings.json``, the prepared dataset's
``data/dataset.json`` and the ``config`` JSON of the result rows, top level or one level down (e.g. the
grid rows' ``train`` and ``evaluation`` settings), optionally only of one experiment (see the YAML's
header). A choice that no setting can change says where the code fixes it (``fixed_in_code``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mmar.paths import REPORT_SOURCE_DIR
from mmar.report.rundata import RunData

OPEN_CHOICES_FILE = REPORT_SOURCE_DIR / "open_choices.yaml"


@dataclass
class Choice:
    topic: str
    paper: str
    why: str
    parameters: list[str]
    values: list[tuple[str, str]]  # (where, "name = value") recorded by this run
    fixed_in_code: str = ""        # where the code fixes the choice, when no parameter changes it


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "…"


def _find(config: Any, key: str) -> tuple[str, Any]:
    """(path, value) of ``key`` in a result row's config: top level, else in a nested settings dict
    (e.g. ``train.optimizer``); ("", None) when absent."""
    if not isinstance(config, dict):
        return "", None
    if key in config:
        return key, config[key]
    for name, nested in config.items():
        if isinstance(nested, dict) and key in nested:
            return f"{name}.{key}", nested[key]
    return "", None


def recorded_values(name: str, run: RunData) -> list[tuple[str, str]]:
    """Where the run recorded ``name`` and with which value (distinct values only)."""
    found: list[tuple[str, str]] = []
    if name.startswith("dataset:"):
        key = name.split(":", 1)[1]
        if run.dataset_meta and key in run.dataset_meta:
            found.append(("data/dataset.json", f"{key} = {_short(run.dataset_meta[key])}"))
        return found
    if name.startswith("config:") or "@" in name:
        key, _, experiment = name.removeprefix("config:").partition("@")
        seen: dict[str, list[str]] = {}
        for _, row in run.results.iterrows():
            if experiment and row["experiment"] != experiment:
                continue
            try:
                config = json.loads(row["config"]) if isinstance(row["config"], str) and row["config"] else {}
            except json.JSONDecodeError:
                continue
            found_key, value = _find(config, key)
            if found_key:
                shown = f"{found_key} = {_short(value)}" + (f" ({experiment})" if experiment else "")
                seen.setdefault(shown, []).append(row["file"])
        return [(", ".join(sorted(set(files))), shown) for shown, files in seen.items()]
    notebook, _, key = name.rpartition(".")
    for nb, entry in run.timings.items():
        settings = entry.get("settings", {}) if isinstance(entry, dict) else {}
        if (not notebook or nb == notebook) and key in settings:
            found.append((nb, f"{key} = {_short(settings[key])}"))
    if not found and not notebook:  # not a notebook setting: the configs of the result rows may have it
        return recorded_values(f"config:{key}", run)
    return found


def load_choices(run: RunData, path: str | Path = OPEN_CHOICES_FILE) -> list[Choice]:
    """The open choices, each with the values this run recorded."""
    path = Path(path)
    entries = yaml.safe_load(path.read_text())
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of choices")
    choices = []
    for i, entry in enumerate(entries):
        missing = [k for k in ("topic", "paper", "parameters", "why") if k not in entry]
        if missing:
            raise ValueError(f"{path}: choice #{i + 1} ({entry.get('topic', '?')}) lacks {missing}")
        values = list(dict.fromkeys(v for name in entry["parameters"] for v in recorded_values(name, run)))
        choices.append(Choice(entry["topic"], str(entry["paper"]).strip(), str(entry["why"]).strip(),
                              list(entry["parameters"]), values, str(entry.get("fixed_in_code", "")).strip()))
    return choices

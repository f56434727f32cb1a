"""The environment, seeds and timings of a run, for the report's last section."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata

from mmar.lock import lock_status
from mmar.provenance import cpu_description, git_commit
from mmar.report.rundata import RunData

PACKAGES = ("torch", "numpy", "pandas", "h5py", "scikit-learn", "matplotlib", "papermill", "nbconvert", "jupyter-book")


@dataclass
class Timing:
    notebook: str
    status: str
    seconds: float | None
    peak_rss_mb: float | None   # its largest process
    peak_all_mb: float | None   # all its processes together (None: not recorded)


def package_versions() -> dict[str, str]:
    """Installed versions (without importing the packages, which would be slow for torch)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_commit() -> str:
    """The project's commit at report build time (with "+ uncommitted changes"), or "not a git checkout"."""
    commit, dirty = git_commit()
    if commit == "unknown":
        return "not a git checkout"
    return commit[:10] + (" + uncommitted changes" if dirty else "")


def _run_commit(info: dict) -> str:
    commit = info.get("commit")
    if not commit:
        return "not recorded"
    return str(commit)[:10] + {True: " + uncommitted changes", False: "", None: " (tree state unknown)"}[info.get("dirty")]


def environment(run: RunData) -> list[tuple[str, str]]:
    """(name, value) lines: the run's recorded environment, then the build machine's."""
    info = run.run_info
    lines = [
        ("profile", str(info.get("profile", "not recorded"))),
        ("overrides", " ".join(f"--set {o}" for o in info.get("overrides", [])) or "none"),
        ("run id", str(info.get("run_id", "not recorded (not made by python -m mmar run)"))),
        ("run started", str(info.get("started", "not recorded"))),
        ("commit (run)", _run_commit(info)),
        ("code fingerprint (run)", str(info.get("code_fingerprint", "not recorded"))),
        ("python (run)", str(info.get("python", "not recorded"))),
        ("platform (run)", str(info.get("platform", "not recorded"))),
        ("CPU count (run)", str(info.get("cpu_count", "not recorded"))),
        ("processor (run)", str(info.get("cpu", "not recorded"))),
        ("packages (run)", str(info.get("lock", "not recorded"))),
        ("packages (report build)", lock_status()),
        ("python (report build)", sys.version.split()[0]),
        ("platform (report build)", platform.platform()),
        ("CPU count (report build)", str(os.cpu_count())),
        ("processor (report build)", cpu_description()),
        ("commit (report build)", build_commit()),
        ("report built", time.strftime("%Y-%m-%d %H:%M:%S %Z")),
    ]
    lines += [(f"{name} version", version) for name, version in package_versions().items()]
    return lines + trainer_lines(run) + scale_lines(run)


def trainer_lines(run: RunData) -> list[tuple[str, str]]:
    """Per result file: which trainer produced its grid numbers (ensembles: executor, members, device,
    threads), from the ``trainer`` entries the grid writes into its rows' config."""
    lines = []
    for file, group in run.results.groupby("file", sort=True):
        seen: set[str] = set()
        for text in group["config"]:
            try:
                trainer = json.loads(text).get("trainer", [])
            except (TypeError, ValueError, AttributeError):
                continue
            seen.update(json.dumps(t, sort_keys=True) for t in trainer)
        if seen:
            parts = [json.loads(t) for t in sorted(seen)]
            lines.append((f"trainer ({file})", "; ".join(
                f"ensemble trainer: {p['members']} member(s) per ensemble, {p['executor']} executor, device "
                f"{p['device']}, {p['threads']} torch thread(s) per process" for p in parts)))
    return lines


def scale_lines(run: RunData) -> list[tuple[str, str]]:
    """Full-scale figures written by ``benchmarks/bench_activitynet_full.py`` to ``scale.json``, if any."""
    path = run.run_dir / "scale.json"
    if not path.is_file():
        return []
    scale = json.loads(path.read_text())
    lines = []
    prepare = scale.get("stages", {}).get("prepare", {})
    if prepare:
        counts = prepare.get("counts", {})
        lines.append(("full scale: data prepared",
                      f"{counts.get('videos', '?')} videos, {counts.get('sentences', '?')} sentences in "
                      f"{prepare.get('seconds', '?')} s, peak {prepare.get('peak_rss_mb', '?')} MB"))
    store = scale.get("store", {})
    if store:
        lines.append(("full scale: feature store", f"{store.get('entries', '?')} entries, {store.get('steps', '?')} steps, "
                      f"{store.get('bytes', 0) / 1e9:.1f} GB; {store.get('extractor', '')}"))
    stream = scale.get("stream", {}) or scale.get("stages", {}).get("stream", {})
    if stream:
        lines.append(("full scale: one streamed pass", f"{stream.get('pairs', '?')} pairs in {stream.get('seconds', '?')} s "
                      f"({stream.get('seconds_per_batch', '?')} s per batch of {stream.get('batch_size', '?')})"))
    if "peak_rss_mb_max" in scale:
        lines.append(("full scale: peak memory", f"{scale['peak_rss_mb_max']} MB (under 4 GB: {scale.get('under_4gb')})"))
    return lines


def timings(run: RunData) -> list[Timing]:
    """Per-notebook run time and peak memory from timings.json, in run order."""
    rows = []
    for notebook, entry in run.timings.items():
        if not isinstance(entry, dict):
            continue
        rows.append(Timing(notebook, str(entry.get("status", "?")), entry.get("seconds"), entry.get("peak_rss_mb"),
                           entry.get("peak_all_mb")))
    return rows


def seeds(run: RunData) -> list[tuple[str, str]]:
    """(where, seeds): the seed settings of each notebook and the seeds of each result file."""
    found = []
    for notebook, entry in run.timings.items():
        settings = entry.get("settings", {}) if isinstance(entry, dict) else {}
        named = {k: v for k, v in settings.items() if "seed" in k}
        if named:
            found.append((f"{notebook} settings", ", ".join(f"{k} = {v}" for k, v in named.items())))
    for file, group in run.results.groupby("file", sort=True):
        values: set[int] = set()
        for text in group["seeds"]:
            try:
                values.update(int(s) for s in json.loads(text))
            except (TypeError, ValueError):
                continue
        if values:
            found.append((file, ", ".join(str(s) for s in sorted(values))))
    return found

"""Open choices of the paper (``report/open_choices.yaml``) with the values this run recorded.

Values come from the run itself: notebook settings in ``timings.json``, the prepared dataset's
``data/dataset.json`` and the ``config`` JSON of the result rows, top level or one level down (e.g. the
grid rows' ``train`` and ``evaluation`` settings), optionally only of one experiment (see the YAML's
header). A choice that no setting can change says where the code fixes it (``fixed_in_code``).

A choice's ``why`` may hold run-derived text, ``{run:NAME}`` or ``{run:NAME:ARGUMENT}``, which
:func:`fill_why` replaces by what this run's records show (:data:`RUN_TEXT`): what the run used is read
from the run, never written into the YAML, so the page is true for every profile. For what a run did
not do, the text names the profiles of ``mmar/profiles.yaml`` that do it.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd
import yaml

from mmar.experiments.balance import joint_collapse_note, percent_of_start
from mmar.experiments.rows import EXTRA, PAIRED_UNPAIRED, RATIO
from mmar.i3d import FEATURE_STRIDE as I3D_STRIDE_FRAMES  # input frames per I3D feature (the authors' extractor)
from mmar.paths import REPORT_SOURCE_DIR
from mmar.profiles import PROFILES_FILE, load_profiles, notebook_settings, resolve_profile
from mmar.report.rundata import RunData, first_clause, named_list, parsed_config, row_config
from mmar.studies.settings import SELECTED  # the grids' train value that takes 05's choice

OPEN_CHOICES_FILE = REPORT_SOURCE_DIR / "open_choices.yaml"


@dataclass
class Choice:
    topic: str
    paper: str
    why: str
    parameters: list[str]
    values: list[tuple[str, str]]  # (where, "name = value") recorded by this run
    fixed_in_code: str = ""        # where the code fixes what no parameter changes


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
        results = run.results
        for row_experiment, config, file in zip(results["experiment"], results["config"], results["file"]):
            if experiment and row_experiment != experiment:
                continue
            found_key, value = _find(parsed_config(config), key)
            if found_key:
                shown = f"{found_key} = {_short(value)}" + (f" ({experiment})" if experiment else "")
                seen.setdefault(shown, []).append(file)
        return [(", ".join(sorted(set(files))), shown) for shown, files in seen.items()]
    notebook, _, key = name.rpartition(".")
    for nb, entry in run.timings.items():
        settings = entry.get("settings", {}) if isinstance(entry, dict) else {}
        if (not notebook or nb == notebook) and key in settings:
            found.append((nb, f"{key} = {_short(settings[key])}"))
    if not found and not notebook:  # not a notebook setting: the configs of the result rows may have it
        return recorded_values(f"config:{key}", run)
    return found


# -- run-derived text of the `why` column ------------------------------------------------------------
#: ``{run:NAME}`` / ``{run:NAME:ARGUMENT}`` in a choice's ``why``.
PLACEHOLDER = re.compile(r"\{run:([a-z_]+)(?::([A-Za-z0-9_]+))?\}")
#: The notebooks that train the grids of models.
GRID_NOTEBOOKS = ("06_evaluation", "07_ablations")
#: The grid rows' ``data_mode`` values that train with unpaired rows.
_UNPAIRED_MODES = (PAIRED_UNPAIRED, RATIO, EXTRA)


def _own_rows(run: RunData) -> pd.DataFrame:
    """The result rows of the run itself (the first run where a book shows several)."""
    results = run.results
    if "run" in results.columns and run.runs:
        results = results[results["run"] == run.runs[0]]
    return results


def _notebook(file: str) -> str:
    """``results/07_ablations.csv`` -> ``07_ablations``."""
    return Path(str(file)).stem


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _listing(values: Iterable[Any]) -> str:
    """Distinct values in order, ``a, b and c``."""
    items = [_number(v) for v in sorted(set(values), key=lambda v: (isinstance(v, str), v))]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _counts(values: Iterable[Any]) -> list[int]:
    """The distinct counts of ``n_paired`` / ``n_unpaired`` config entries (a number or a list per row)."""
    found: set[int] = set()
    for value in values:
        found.update(int(v) for v in (value if isinstance(value, list) else [value]) if v is not None)
    return sorted(found)


@functools.lru_cache(maxsize=8)
def _ablation_fields(profiles_file: str) -> dict[str, frozenset[str]]:
    """Per profile of ``profiles_file``: the TrainConfig fields its notebook 07 varies (read once per file)."""
    return {name: frozenset(notebook_settings(resolve_profile(name, profiles_file), "07_ablations").get("ablations")
                            or {})
            for name in load_profiles(profiles_file)}


def profiles_varying(field: str, profiles_file: str | Path = PROFILES_FILE) -> list[str]:
    """The profiles of ``mmar/profiles.yaml`` whose notebook 07 varies TrainConfig ``field`` (``ablations``)."""
    return [name for name, fields in _ablation_fields(str(profiles_file)).items() if field in fields]


def _paper_table_experiments(results: pd.DataFrame) -> set[str]:
    return set(results.loc[results["paper_table"].fillna("") != "", "experiment"])


def ablation_text(run: RunData, field: str) -> str:
    """Whether this run's notebook 07 varied ``field`` (its result rows ``ablation_<field>``), with the values,
    else what 07 varied instead and which profiles vary ``field``; a clause that starts in lower case."""
    results = _own_rows(run)
    rows = results[results["experiment"] == f"ablation_{field}"]
    values = [value for _, row in rows.iterrows() for found, value in [_find(row_config(row), field)] if found]
    if values:
        return f"this run's notebook 07 varies it ({field} = {_listing(values)}, results/07_ablations.csv)"
    ours = sorted({e.removeprefix("ablation_") for e in results["experiment"] if str(e).startswith("ablation_")}
                  - {e.removeprefix("ablation_") for e in _paper_table_experiments(results)})
    ran_07 = (results["file"].map(_notebook) == "07_ablations").any() if "file" in results.columns else False
    text = ("this run's notebook 07 does not vary it" + (f" (it varies {_listing(ours)})" if ours else "")
            if ran_07 else "this run has no results of notebook 07")
    profiles = profiles_varying(field)
    return text + (f"; notebook 07 varies it in the {named_list(profiles, 'profile', 'profiles')} (mmar/profiles.yaml)"
                   if profiles else "; no profile of mmar/profiles.yaml varies it in notebook 07")


def feature_stride_text(run: RunData, _: str = "") -> str:
    """This run's feature stride beside I3D's (data/dataset.json)."""
    meta = run.dataset_meta or {}
    if "stride_frames" not in meta:
        return "This run's data/dataset.json records no feature stride."
    stride, source = int(meta["stride_frames"]), meta.get("data_source", "unknown source")
    if stride == I3D_STRIDE_FRAMES:
        return f"This run ({source}) has I3D's stride, one feature per {stride} frames."
    return (f"This run ({source}) has one feature per {stride} frames, {stride / I3D_STRIDE_FRAMES:g} times "
            f"{'coarser' if stride > I3D_STRIDE_FRAMES else 'finer'} than I3D's {I3D_STRIDE_FRAMES}.")


def lambda_search_rows(run: RunData) -> tuple[str, dict[str, list[tuple[float, list[float]]]], float | None, int | None]:
    """Notebook 05's λ search in the result rows: (field, metric -> [(candidate, per-seed values)], chosen value,
    number of pseudo-unseen validation classes); field "" when the run has no search rows."""
    results = _own_rows(run)
    rows = results[results["experiment"] == "lambda_search"]
    field, chosen, n_val = "", None, None
    by_metric: dict[str, list[tuple[float, list[float]]]] = {}
    for _, row in rows.iterrows():
        config = row_config(row)
        fields = [k for k in config if k not in ("chosen", "train", "max_train_rows", "n_val_classes")]
        if len(fields) != 1:
            continue
        field, chosen, n_val = fields[0], config.get("chosen", chosen), config.get("n_val_classes", n_val)
        values = [float(v) for v in json.loads(row["values"] or "[]")]
        by_metric.setdefault(row["metric"], []).append((float(config[field]), values))
    return field, by_metric, (None if chosen is None else float(chosen)), n_val


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def lambda_search_text(run: RunData, _: str = "") -> str:
    """What this run's λ search chose and what the chosen value did on held-out seen-class pairs."""
    field, by_metric, chosen, n_val = lambda_search_rows(run)
    if not field:
        return "This run has no results of notebook 05's λ search."
    candidates = sorted({c for entries in by_metric.values() for c, _ in entries})
    if chosen is None:
        return f"This run's λ search tried {field} = {_listing(candidates)} but records no choice."
    rank = (", the largest of its candidates" if chosen == candidates[-1] else
            ", the smallest of its candidates" if chosen == candidates[0] else "") if len(candidates) > 1 else ""
    text = f"This run's search chose {field} = {chosen:g}{rank} ({_listing(candidates)}; results/05_joint_training.csv)"
    accuracy = {c: _mean(v) for c, v in by_metric.get("validation_zero_shot_accuracy", [])}
    if accuracy:
        chance = f"; chance {100 / n_val:.3g} %" if n_val else ""
        text += (", by validation zero-shot accuracies of " + ", ".join(f"{accuracy[c]:.1f} %" for c in candidates
                                                                        if c in accuracy)
                 + f" (in that order, mean over seeds{chance})")
    ratios = {metric: _mean(v) for metric in ("heldout_joint_last_over_initial", "heldout_recons_last_over_initial")
              for c, v in by_metric.get(metric, []) if c == chosen}
    joint, recons = ratios.get("heldout_joint_last_over_initial"), ratios.get("heldout_recons_last_over_initial")
    if joint is None:
        return text + "."
    text += (f". At {chosen:g} the held-out joint term ended at {percent_of_start(joint)} % of its value before training"
             + (f" and the reconstruction term at {100 * recons:.3g} % of its own" if recons is not None else ""))
    note = joint_collapse_note(joint)
    return text + (f": {note}" if note else "") + " (notebook 05 shows each term's share of the encoder gradient)."


def lambda_used_text(run: RunData, _: str = "") -> str:
    """Which value of the searched λ this run's grids (06/07) trained with, beside the search's choice, and whether
    their train setting asked for the choice (``"selected"``, timings.json) or set a value of its own."""
    field, _, chosen, _ = lambda_search_rows(run)
    field = field or "lambda_joint"
    results = _own_rows(run)
    used: dict[str, set[float]] = {}
    for _, row in results[results["experiment"] != f"ablation_{field}"].iterrows():
        train = row_config(row).get("train")
        if isinstance(train, dict) and field in train and _notebook(row["file"]) in GRID_NOTEBOOKS:
            used.setdefault(_notebook(row["file"]), set()).add(float(train[field]))
    if not used:
        return "This run has no grid results (06/07)."
    parts = []
    for notebook, values in sorted(used.items()):
        entry = run.timings.get(notebook) if isinstance(run.timings, dict) else None
        settings = entry.get("settings") if isinstance(entry, dict) else None
        setting = None if not isinstance(settings, dict) else (settings.get("train") or {}).get(
            field, "the TrainConfig default")
        if setting == SELECTED:
            how = f'its train setting says "{SELECTED}": the search\'s choice'
        elif setting is not None:
            how = (f'its train setting is {_number(setting)}, not "{SELECTED}"'
                   + (f"; the search chose {chosen:g}" if chosen is not None else ""))
        elif chosen is not None:
            how = "equal to the search's choice" if values == {chosen} else f"the search chose {chosen:g}"
        else:
            how = ""
        parts.append(f"{notebook} trained with {field} = {_listing(values)}" + (f" ({how})" if how else ""))
    return "In this run " + "; ".join(parts) + "."


def unpaired_sources_text(run: RunData, _: str = "") -> str:
    """Per notebook of this run: how many unpaired rows its trainings had and where they came from."""
    results = _own_rows(run)
    notebooks = sorted({_notebook(f) for f in results["file"]}) if "file" in results.columns else []
    parts = []
    for notebook in (n for n in notebooks if n[:2] in ("05", "06", "07")):
        rows = [(row, row_config(row)) for _, row in results[results["file"].map(_notebook) == notebook].iterrows()]
        found = []
        # notebook 05's variants: a fraction of the training rows loses its pairing (the variant leads the notes)
        variants = sorted({(first_clause(row["notes"]) if isinstance(row["notes"], str) else "",
                            float(config["unpaired_fraction"])) for row, config in rows
                           if float(config.get("unpaired_fraction") or 0) > 0})
        for variant, fraction in variants:
            found.append(f"{'variant ' + variant if variant else 'a model'} breaks the pairing of {100 * fraction:g} % "
                         f"of its seen-class training rows (unpaired_fraction = {fraction:g})")
        for mode in _UNPAIRED_MODES:
            cells = [config for _, config in rows if config.get("data_mode") == mode]
            unpaired = [n for n in _counts(c.get("n_unpaired") for c in cells) if n > 0]
            if not unpaired:
                continue
            paired = _counts(c.get("n_paired") for c in cells)
            if mode == PAIRED_UNPAIRED:
                found.append(f"the Paired + Unpaired rows add {_listing(unpaired)} seen-class val videos and "
                             f"sentences, pairing discarded, to {_listing(paired)} paired training rows (their "
                             "train.unpaired_fraction stays 0; n_unpaired counts them)")
            elif mode == RATIO:
                fractions = {f for c in cells for f in [float((c.get("train") or {}).get("unpaired_fraction") or 0)]
                             if f > 0}
                totals = {p[0] + u[0] for c in cells
                          for p, u in [(_counts([c.get("n_paired")]), _counts([c.get("n_unpaired")]))]
                          if len(p) == 1 and len(u) == 1}
                found.append(f"Table 7's rows break the pairing of {_listing(100 * f for f in fractions)} % of "
                             f"{_listing(totals)} seen-class training rows")
            else:
                found.append(f"Table 8's rows keep {_listing(paired)} of the seen-class training rows paired and add "
                             f"{_listing(unpaired)} others unpaired")
        parts.append(f"{notebook}: " + ("; ".join(found) if found else "no unpaired rows"))
    return ("In this run: " + ". ".join(parts) + ".") if parts else "This run has no training results (05-07)."


def text_ceiling_text(run: RunData, _: str = "") -> str:
    """The best word accuracy any output of the learned text-decoder filters reaches, per N, in this run's notebook
    04 (validation sentences)."""
    ceilings = {n: m["word_accuracy_best_fit_val"] for n, m in
                run.text_decoder_metrics(["word_accuracy_best_fit_val"]).items()}
    if not ceilings:
        return "this run has no results of notebook 04"
    return ("in this run " + ", ".join(f"{value:.0f} % of the words with N = {n}" for n, value in ceilings.items())
            + " (results/04_text_autoencoder.csv)")


#: ``{run:NAME}`` -> the function (run, argument) -> text that replaces it.
RUN_TEXT: dict[str, Callable[[RunData, str], str]] = {
    "ablation": ablation_text,
    "feature_stride": feature_stride_text,
    "lambda_search": lambda_search_text,
    "lambda_used": lambda_used_text,
    "text_ceiling": text_ceiling_text,
    "unpaired_sources": unpaired_sources_text,
}


def fill_why(text: str, run: RunData) -> str:
    """``text`` with every ``{run:NAME[:ARGUMENT]}`` replaced by what this run's records show (:data:`RUN_TEXT`)."""
    def replace(match: re.Match) -> str:
        name, argument = match.group(1), match.group(2) or ""
        if name not in RUN_TEXT:
            raise ValueError(f"{OPEN_CHOICES_FILE.name}: unknown run text {match.group(0)!r}; "
                             f"known: {sorted(RUN_TEXT)}")
        return RUN_TEXT[name](run, argument)
    filled = PLACEHOLDER.sub(replace, text)
    if "{run:" in filled:
        raise ValueError(f"{OPEN_CHOICES_FILE.name}: malformed run text in {text!r}")
    return filled


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
        choices.append(Choice(entry["topic"], str(entry["paper"]).strip(), fill_why(str(entry["why"]).strip(), run),
                              list(entry["parameters"]), values, str(entry.get("fixed_in_code", "")).strip()))
    return choices

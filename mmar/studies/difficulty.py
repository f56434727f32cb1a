"""The difficulty sweep (notebook 07): do the paper's central verdicts depend on how hard the data is?

Stand-in v2 (:mod:`mmar.data.standin_v2`) has one difficulty knob, ``nuisance``: the scale of what a
video looks like independent of its class (scene, actor, lighting, camera). For each value of the
knob the sweep generates a stand-in dataset of the same size and seed, measures its raw-feature
clustering (:func:`mmar.data.diagnostics.raw_discovery`, the data's difficulty in the paper's own
terms), trains the Table 1 rows that the central claims compare at one K over ``n_trials`` trials,
and gives each claim's per-trial paired difference (same split, same seed) with its 95 %
t-interval. A verdict that holds at every difficulty does not depend on this property of the data;
one that flips or fades does, and the stand-in cannot say which difficulty real I3D features have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from mmar import experiments as ex
from mmar.data.prepare import prepare_standin
from mmar.data.prepared import PreparedDataset
from mmar.data.stats import pooled_features
from mmar.evaluation.discovery import discovery_scores
from mmar.evaluation.paired import MIN_TRIALS, NEAR_CHANCE_FRACTION, t_interval
from mmar.provenance import Run
from mmar.results import STANDIN, ResultRow
from mmar.typed_fields import field_problems

FIXED, JOINT, RECONS_CROSS = ("Paired: Fixed Text Representation (baseline)", "Paired: joint",
                              "Paired: recons + cross (Ngiam-style baseline)")
JOINT_RECONS, ALL_PAIRED = "Paired: joint + recons", "Paired: joint + recons + cross + cycle"


@dataclass(frozen=True)
class SweepClaim:
    """A central claim as a paired difference: accuracy of ``row`` minus that of ``baseline`` (None:
    minus chance, 100/K), expected ``sign`` +1 (the paper says row > baseline) or -1 (row below baseline;
    against chance: below the claims audit's near-chance margin, 10 % of the way from chance to 100 %)."""

    name: str
    text: str
    row: str
    baseline: str | None
    sign: int = 1


#: The claims the sweep tests (the paper's §4.2, Table 1), each a difference of two rows at one K.
SWEEP_CLAIMS = (
    SweepClaim("joint", "a joint embedding beats a fixed text representation", JOINT, FIXED),
    SweepClaim("cross_cycle", "the cross-domain and cycle terms add accuracy to joint + recons", ALL_PAIRED,
               JOINT_RECONS),
    SweepClaim("no_joint", "without the joint term, recons + cross is near chance", RECONS_CROSS, None, sign=-1),
)


#: The columns of the sweep's table (:func:`claim_differences`).
SWEEP_COLUMNS = ("nuisance", "raw k-means accuracy (%)", "claim", "difference", "trials", "mean difference", "low",
                 "high", "compared with", "verdict", "per trial")


@dataclass(frozen=True)
class SweepSettings:
    """The sweep's knob values and dataset and grid sizes (the same at every value)."""

    nuisance: tuple[float, ...]
    n_classes: int
    videos_per_class: int
    n_trials: int
    max_train_rows: int | None   # None: every seen-class training row

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> "SweepSettings":
        """From notebook 07's ``difficulty_sweep`` dict; unknown or missing keys are refused."""
        names = {"nuisance", "n_classes", "videos_per_class", "n_trials", "max_train_rows"}
        if set(parameters) != names:
            raise ValueError(f"difficulty_sweep needs exactly the keys {sorted(names)}, got {sorted(parameters)}")
        minimums = {"nuisance": 0, "n_classes": 2, "videos_per_class": 1, "n_trials": 1, "max_train_rows": 1}
        problems = field_problems(cls, parameters, "difficulty_sweep", minimums)
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**{**parameters, "nuisance": tuple(float(v) for v in parameters["nuisance"])})


def sweep_rows() -> list[ex.GridRow]:
    """The Table 1 rows the claims compare, in Table 1's order."""
    labels = {c.row for c in SWEEP_CLAIMS} | {c.baseline for c in SWEEP_CLAIMS if c.baseline}
    return [row for row in ex.TABLE1 if row.label in labels]


def sweep_dataset(base: PreparedDataset, nuisance: float, sweep: SweepSettings, unseen_k: int, folder: Path
                  ) -> PreparedDataset:
    """The stand-in at ``nuisance`` with the base run's seed, feature size and stride, generator v2 and the
    sweep's sizes (reused when ``folder`` already holds it)."""
    seed = int(base.meta["split_seed"])
    wanted = {"nuisance": nuisance, "n_classes": sweep.n_classes, "videos_per_class": sweep.videos_per_class,
              "n_trials": sweep.n_trials, "unseen_ks": [unseen_k], "seed": seed}
    if (folder / "dataset.json").is_file():
        found = PreparedDataset.load(folder)
        standin = found.meta.get("standin", {})
        if {"nuisance": standin.get("nuisance"), "n_classes": standin.get("n_classes"),
                "videos_per_class": standin.get("videos_per_class"), "n_trials": found.meta["n_trials"],
                "unseen_ks": found.meta["unseen_ks"], "seed": found.meta["split_seed"]} == wanted:
            return found
    return prepare_standin(folder, n_classes=sweep.n_classes, videos_per_class=sweep.videos_per_class, seed=seed,
                           unseen_ks=[unseen_k], n_trials=sweep.n_trials, generator="v2", nuisance=nuisance,
                           feature_dim=int(base.meta["feature_dim"]), stride_frames=int(base.meta["stride_frames"]),
                           glove=None, progress=False)


def raw_clustering(data: PreparedDataset, unseen_k: int) -> float:
    """Mean raw-feature k-means + voting accuracy (%) over the dataset's trials' unseen classes at K = ``unseen_k``
    (all their videos, mean-pooled): the difficulty of the sweep's test sets in the paper's baseline terms."""
    videos = data.sentences.drop_duplicates("video_id")
    pooled = pooled_features(data.feature_store(), videos["video_id"])[1]
    labels = videos["class_name"].to_numpy()
    scores = [discovery_scores(pooled[np.isin(labels, unseen)], labels[np.isin(labels, unseen)], seed=t)["accuracy"]
              for t, unseen in enumerate(data.splits[unseen_k])]
    return float(np.mean(scores))


def summarise(claim: SweepClaim, diffs: Sequence[float], unseen_k: int) -> tuple[float, float, float, float, str]:
    """(mean, low, high, level, verdict) of one claim's per-trial paired differences: the 95 % t-interval,
    the level it is compared with (0, or for a claim against chance the near-chance margin, 10 % of the
    way from chance to 100 %, the claims audit's rule) and "supported" / "contradicted" (the claims audit's
    words) when the interval
    lies wholly on the claim's / the other side of that level, "inconclusive" otherwise, "too few
    trials" below 5 trials."""

    mean, low, high = t_interval(diffs) if len(diffs) >= 2 else (float(np.mean(diffs)), np.nan, np.nan)
    level = 0.0 if claim.baseline else NEAR_CHANCE_FRACTION * (100.0 - 100.0 / unseen_k)
    supports, opposes = (low > level, high < level) if claim.sign > 0 else (high < level, low > level)
    verdict = ("too few trials" if len(diffs) < MIN_TRIALS else "supported" if supports
               else "contradicted" if opposes else "inconclusive")
    return mean, low, high, level, verdict


def _entry(claim: SweepClaim, diffs: list[float], unseen_k: int, nuisance: float, raw: float) -> dict[str, Any]:
    mean, low, high, level, verdict = summarise(claim, diffs, unseen_k)
    return {"nuisance": nuisance, "raw k-means accuracy (%)": raw, "claim": claim.name,
            "difference": f"{claim.row} - {claim.baseline or 'chance'}", "trials": len(diffs),
            "mean difference": mean, "low": low, "high": high, "compared with": level, "verdict": verdict,
            "per trial": diffs}


def claim_differences(results: Sequence[ex.CellRecord], unseen_k: int, nuisance: float, raw: float
                      ) -> pd.DataFrame:
    """One row per claim at one knob value (:data:`SWEEP_COLUMNS`): trials, mean paired difference (points),
    95 % interval and verdict (:func:`summarise`). Trials pair by their trial index (same split, same seed)."""
    accuracy = {(r.row, r.trial): r.zero_shot.nn_accuracy for r in ex.finished(results) if r.k == unseen_k}
    entries = []
    for claim in SWEEP_CLAIMS:
        trials = sorted(t for (row, t) in accuracy if row == claim.row
                        and (claim.baseline is None or (claim.baseline, t) in accuracy))
        diffs = [accuracy[(claim.row, t)] - (accuracy[(claim.baseline, t)] if claim.baseline else 100.0 / unseen_k)
                 for t in trials]
        entries.append(_entry(claim, diffs, unseen_k, nuisance, raw))
    return pd.DataFrame(entries, columns=SWEEP_COLUMNS)


def table_from_result_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The sweep's table (:data:`SWEEP_COLUMNS`) rebuilt from the ``difficulty_sweep`` result rows of a
    results table (as :func:`mmar.results.read_results` gives; the report reads it so); empty without them."""
    rows = results[results["experiment"] == "difficulty_sweep"]
    raw = {json.loads(r["config"])["nuisance"]: float(r["mean"]) for _, r in rows.iterrows()
           if r["metric"] == "raw_kmeans_accuracy"}
    by_name = {c.name: c for c in SWEEP_CLAIMS}
    entries = []
    for _, row in rows.iterrows():
        claim = by_name.get(row["metric"].removesuffix("_difference"))
        if claim is None:
            continue
        config = json.loads(row["config"])
        entries.append(_entry(claim, [float(v) for v in json.loads(row["values"])], int(config["unseen_k"]),
                              float(config["nuisance"]), raw.get(config["nuisance"], np.nan)))
    return pd.DataFrame(entries, columns=SWEEP_COLUMNS)


def size_sentence(results: pd.DataFrame) -> str:
    """How large each swept dataset was, read from the ``difficulty_sweep`` result rows' config and seeds, and
    why its differences need not equal the main run's; "" without sweep rows."""
    rows = results[results["experiment"] == "difficulty_sweep"]
    if rows.empty:
        return ""
    config = json.loads(rows.iloc[0]["config"])
    trials = len(json.loads(rows.iloc[0]["seeds"]))
    pairs = ("every seen-class training pair" if config.get("max_train_rows") is None
             else f"at most {int(config['max_train_rows']):,} training pairs")
    return (f"Each swept dataset has {config['n_classes']} classes of {config['videos_per_class']} videos and is "
            f"trained over {trials} trials at K = {config['unseen_k']} with {pairs}: smaller than the main data, so "
            "its differences, at the main data's nuisance too, need not equal the ones above.")


def run_sweep(base: PreparedDataset, sweep: SweepSettings, settings: ex.GridSettings, unseen_k: int, run_dir: Path,
              **runtime: Any) -> pd.DataFrame:
    """Every knob value: dataset (``<run_dir>/sweep/nuisance_<v>/data``), its raw clustering, the grid of
    :func:`sweep_rows` (cached in that folder's ``experiments``) and :func:`claim_differences`; one table."""
    settings = replace(settings, max_train_rows=sweep.max_train_rows)
    tables = []
    for nuisance in sweep.nuisance:
        folder = run_dir / "sweep" / f"nuisance_{nuisance:g}"
        data = sweep_dataset(base, nuisance, sweep, unseen_k, folder / "data")
        cells = ex.make_cells(data, sweep_rows(), [unseen_k], sweep.n_trials, settings)
        results = ex.run_grid(data, cells, settings, folder / "experiments", progress=False, **runtime)
        failed = ex.failed_cells(results)
        if failed:
            raise RuntimeError(f"difficulty sweep at nuisance {nuisance:g}: {len(failed)} cells failed: {failed[0].error}")
        tables.append(claim_differences(results, unseen_k, nuisance, raw_clustering(data, unseen_k)))
    return pd.concat(tables, ignore_index=True)


def sweep_not_run(base: PreparedDataset, settings: Any) -> str | None:
    """Why notebook 07's settings run no difficulty sweep on ``base`` (None when they run one):
    ``difficulty_sweep`` is None, or the run's data is not the stand-in (the knob belongs to its generator)."""
    if not settings.difficulty_sweep:
        return "difficulty sweep not run: difficulty_sweep is None in this profile"
    if base.data_source != STANDIN:
        return f"difficulty sweep not run: it varies the stand-in generator, and this run's data is {base.data_source}"
    return None


def sweep_study(base: PreparedDataset, settings: Any, grid: ex.GridSettings, run: Run) -> pd.DataFrame:
    """:func:`run_sweep` of notebook 07's settings (:class:`mmar.studies.grid_tables.AblationSettings`:
    ``difficulty_sweep``, ``unseen_k``, ``grid_runtime``) with the grid settings ``grid``, under
    ``<run>/sweep``; an empty table when :func:`sweep_not_run` gives a reason."""
    if sweep_not_run(base, settings):
        return pd.DataFrame(columns=SWEEP_COLUMNS)
    sweep = SweepSettings.from_parameters(settings.difficulty_sweep)
    return run_sweep(base, sweep, grid, settings.unseen_k, run.dir, **settings.grid_runtime)


def verdict_sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per claim: its verdict at each knob value with the mean paired difference (row minus baseline,
    or minus chance with the near-chance margin it is compared with), and whether it depends on the data."""
    sentences = []
    for claim in SWEEP_CLAIMS:
        part = table[table["claim"] == claim.name].sort_values("nuisance")
        verdicts = list(part["verdict"])
        at = ", ".join(f"{v} at nuisance {n:g} ({d:+.1f} points"
                       + (f" above chance; near chance: below +{level:.1f})" if claim.baseline is None else ")")
                       for n, v, d, level in zip(part["nuisance"], verdicts, part["mean difference"],
                                                 part["compared with"]))
        decided = [v for v in verdicts if v in ("supported", "contradicted")]
        if "too few trials" in verdicts:
            depends = "too few trials to say whether it depends on the data"
        elif set(verdicts) == {"inconclusive"}:
            depends = "undecided at every difficulty swept"
        elif len(set(verdicts)) == 1:
            depends = "the same verdict at every difficulty swept"
        elif decided and len(set(decided)) > 1:
            depends = "the verdict flips with the difficulty: it depends on the data"
        else:
            depends = "decided at some difficulties, inconclusive at others: it depends on the data"
        sentences.append(f"'{claim.text}': {at}; {depends}.")
    return sentences


def sweep_result_rows(table: pd.DataFrame, context: ex.ResultContext, parameters: dict[str, Any] | None, unseen_k: int
                      ) -> list[ResultRow]:
    """Result rows (experiment ``difficulty_sweep``) of :func:`sweep_study`'s table (none when it is empty):
    per knob value and claim the per-trial paired differences, and per knob value the raw clustering accuracy.
    ``parameters``: notebook 07's ``difficulty_sweep`` (recorded as the rows' config)."""
    rows: list[ResultRow] = []
    if table.empty:
        return rows
    sweep = SweepSettings.from_parameters(parameters or {})
    common = dict(experiment="difficulty_sweep", data_source=context.data_source, **context.run.row_fields(),
                  seeds=list(range(sweep.n_trials)))
    config = {"n_classes": sweep.n_classes, "videos_per_class": sweep.videos_per_class,
              "max_train_rows": sweep.max_train_rows, "unseen_k": unseen_k, "generator": "v2"}
    for nuisance, part in table.groupby("nuisance", sort=True):
        point = {**config, "nuisance": float(nuisance)}
        rows.append(ResultRow(metric="raw_kmeans_accuracy", values=[float(part["raw k-means accuracy (%)"].iloc[0])],
                              unit="%", config=point, notes=f"nuisance {nuisance:g}; mean over the sweep's trials",
                              **common))
        for entry in part.to_dict("records"):
            rows.append(ResultRow(metric=f"{entry['claim']}_difference", values=entry["per trial"], unit="points",
                                  config=point, notes=f"nuisance {nuisance:g}; {entry['difference']}, paired by trial; "
                                  f"{entry['verdict']}", **common))
    return rows

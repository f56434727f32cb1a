"""The evaluation grids of notebooks 06 and 07: their settings and cells (:func:`evaluation_grid`,
:func:`ablation_grid`), and as tables over the cell results of :func:`mmar.experiments.run_grid`: the
failed-cell check, Table 1 beside the paper, discovery, captioning, retrieval, the ablation families,
and what the run does not compute. Nothing here prints: each function returns what the notebook shows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence, TypedDict

import numpy as np
import pandas as pd

from mmar import experiments as ex
from mmar.data.prepared import PreparedDataset
from mmar.evaluation.paired import MIN_TRIALS, t_interval
from mmar.paths import REPORT_SOURCE_DIR
from mmar.provenance import Run
from mmar.results import write_results
from mmar.profiles import ProfileError
from mmar.studies.settings import NotebookSettings
from mmar.typed_fields import field_problems

PAPER_RESULTS = REPORT_SOURCE_DIR / "paper_results.csv"
class GridRuntime(TypedDict, total=False):
    """``grid_runtime``, how a grid runs (never what it computes): :func:`mmar.experiments.run_grid`'s keyword
    arguments of those names, each optional. ``dispatch``: "auto", "inline", "processes", "slurm" or
    "submitit-local"; ``slurm``: submitit parameters."""

    processes: int
    threads: int | None
    device: str
    executor: str
    members: int | None
    dispatch: str
    slurm: dict[str, Any] | None


#: The keys of ``grid_runtime`` (:class:`GridRuntime`).
GRID_RUNTIME_KEYS = tuple(GridRuntime.__annotations__)
#: The least values of ``grid_runtime``'s numbers.
GRID_RUNTIME_MINIMUMS = {"processes": 1, "threads": 1, "members": 1}


@dataclass(frozen=True)
class GridNotebookSettings(NotebookSettings):
    """What notebooks 06 and 07 share: ``seed``, ``unseen_k`` (06: the K of captioning, discovery and
    retrieval), ``n_trials``, ``train`` (TrainConfig overrides; ``lambda_joint: selected`` takes 05's
    choice), the rows per cell (``max_train_rows``, ``max_unpaired_rows``), the references
    (``sentences_per_class`` from ``reference_videos_per_class`` videos per unseen class), the test
    videos (``video_unit``, ``video_subset``, ``eval_max_frames``), ``grid_runtime`` (processes,
    device, members, dispatch, slurm) and ``allow_failed_cells``."""

    seed: int
    unseen_k: int
    n_trials: int
    train: dict[str, Any]
    max_train_rows: int | None
    max_unpaired_rows: int | None
    sentences_per_class: int
    reference_videos_per_class: int
    video_unit: str
    video_subset: str
    eval_max_frames: int | None
    grid_runtime: dict[str, Any]
    allow_failed_cells: bool

    minimums: ClassVar[Mapping[str, float]] = {"seed": 0, "unseen_k": 2, "n_trials": 1, "max_train_rows": 1,
                                               "max_unpaired_rows": 0, "sentences_per_class": 1,
                                               "reference_videos_per_class": 1, "eval_max_frames": 1}

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = sorted(set(self.grid_runtime) - set(GRID_RUNTIME_KEYS))
        if unknown:
            raise ProfileError(f"{self.notebook}: grid_runtime has unknown keys {unknown}; valid keys: "
                             f"{list(GRID_RUNTIME_KEYS)}")
        problems = field_problems(GridRuntime, self.grid_runtime, f"{self.notebook}.grid_runtime", GRID_RUNTIME_MINIMUMS)
        if problems:
            raise ProfileError("; ".join(problems))


@dataclass(frozen=True)
class EvaluationSettings(GridNotebookSettings):
    """Notebook 06's settings: :class:`GridNotebookSettings`, Table 1's K values (``unseen_ks``) and rows
    (``table1_rows``, None: all), captioning (``caption_length``, ``caption_max_videos``, ``word_source``,
    ``meteor``) and the convergence ``curves``."""

    notebook: ClassVar[str] = "06_evaluation"
    unseen_ks: list[int]
    table1_rows: list[str] | None
    caption_length: int | None
    caption_max_videos: int
    word_source: str
    meteor: bool
    curves: bool

    minimums: ClassVar[Mapping[str, float]] = {"unseen_ks": 2, "caption_length": 1, "caption_max_videos": 1}


@dataclass(frozen=True)
class AblationSettings(GridNotebookSettings):
    """Notebook 07's settings: :class:`GridNotebookSettings`, ``table8_paired_fraction``, the paper's
    ablation tables (``paper_tables``), ours (``ablations``: TrainConfig field -> values) and the
    ``difficulty_sweep`` (None: none; :class:`mmar.studies.difficulty.SweepSettings`)."""

    notebook: ClassVar[str] = "07_ablations"
    table8_paired_fraction: float
    paper_tables: list[str]
    ablations: dict[str, list[Any]]
    difficulty_sweep: dict[str, Any] | None

    minimums: ClassVar[Mapping[str, float]] = {"table8_paired_fraction": 0}


class FailedCells(RuntimeError):
    """Grid cells raised and the profile does not allow failures."""


def open_data(run: Run) -> PreparedDataset:
    """The run's prepared data (notebook 01's)."""
    return PreparedDataset.load(run.dir / "data")


def data_summary(data: PreparedDataset) -> str:
    """One line: the data source, class and sentence counts."""
    return f"data source: {data.data_source} ({len(data.classes)} classes, {len(data.sentences)} sentences)"


def _failure_lines(failures: Sequence[ex.CellFailure]) -> list[str]:
    return [f"FAILED: {f.row}, K = {f.k}, trial {f.trial}: {f.error}" for f in failures]


def check_failed_cells(results: Sequence[ex.CellRecord], allow_failures: bool) -> list[ex.CellFailure]:
    """The failed cells; raises :class:`FailedCells` (naming each) when there is one and ``allow_failures``
    is false. With ``allow_failures`` the failures are returned, for ``results/not_run.csv`` and the report."""
    failures = ex.failed_cells(results)
    if failures and not allow_failures:
        raise FailedCells(f"{len(failures)} of {len(results)} grid cells failed (set allow_failed_cells = True in the "
                          "profile to report them as not run instead):\n" + "\n".join(_failure_lines(failures)))
    return failures


def failure_report(results: Sequence[ex.CellRecord]) -> str:
    """A line per failed cell, then how many cells are done."""
    failures = ex.failed_cells(results)
    return "\n".join(_failure_lines(failures)
                     + [f"{len(results) - len(failures)} of {len(results)} cells done, {len(failures)} failed"])


def unseen_ks_to_run(data, unseen_ks: Sequence[int], unseen_k: int) -> list[int]:
    """The K values of ``unseen_ks`` the prepared dataset has splits for; ``unseen_k`` (the K of
    captioning, discovery and retrieval) must be one of them."""
    ks_run = [k for k in unseen_ks if k in data.splits]
    if unseen_k not in ks_run:
        raise ValueError(f"unseen_k = {unseen_k} must be one of the K values run, {ks_run} "
                         f"(unseen_ks = {list(unseen_ks)}; the dataset has splits for {sorted(data.splits)})")
    return ks_run


def timing_summary(results: Sequence[ex.CellRecord]) -> str:
    """Training, evaluation and CPU seconds summed over the finished cells (cached cells keep theirs)."""
    done = ex.finished(results)
    return (f"summed over {len(done)} cells: training {sum(r.train_seconds for r in done):.1f} s, evaluation "
            f"{sum(r.eval_seconds for r in done):.1f} s, CPU {sum(r.cpu_seconds for r in done):.1f} s")


def paper_results() -> pd.DataFrame:
    """``report/paper_results.csv``: every number of the paper, one row each."""
    return pd.read_csv(PAPER_RESULTS)


def table1(results: Sequence[ex.CellRecord], unseen_ks: Sequence[int], data_source: str) -> pd.DataFrame:
    """Table 1: 1-NN zero-shot accuracy "mean ± std (n)" per row and K beside the paper's number."""
    table = ex.summary_table(results, lambda r: r.zero_shot.nn_accuracy)
    table.columns = [f"{k} unseen (ours, {data_source})" for k in table.columns]
    paper = paper_results()
    paper1 = paper[paper["table"] == "Table 1"].pivot(index="row", columns="column", values="value")
    return table.join(paper1[[f"{k} unseen" for k in unseen_ks]].add_suffix(" (paper)"))


def prototype_table(results: Sequence[ex.CellRecord]) -> pd.DataFrame:
    """Class-prototype zero-shot accuracy "mean ± std (n)" per row and K (ours, not in the paper)."""
    return ex.summary_table(results, lambda r: r.zero_shot.prototype_accuracy).add_suffix(
        " unseen: prototype accuracy (%)")


def _mean_std(values: Sequence[float]) -> str:
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.2f}"


def discovery_table(results: Sequence[ex.CellRecord], baseline: Sequence[ex.BaselineDiscovery],
                    unseen_k: int) -> pd.DataFrame:
    """k-means discovery on the unseen classes at ``unseen_k``: accuracy, NMI, ARI "mean ± std" for
    the mean-pooled-feature baseline and each model of :data:`mmar.experiments.DISCOVERY_MODELS`."""
    at_k = [r for r in ex.finished(results) if r.k == unseen_k]
    models = [("Baseline: mean-pooled input features", [r.discovery for r in baseline])]
    models += [(variant, [r.discovery for r in at_k if r.row == label]) for variant, label in ex.DISCOVERY_MODELS.items()]
    table = pd.DataFrame({variant: {m: _mean_std([getattr(s, m) for s in scores]) for m in ("accuracy", "nmi", "ari")}
                          for variant, scores in models if scores}).T  # models whose row this run trained
    table.columns = ["accuracy (%)", "NMI", "ARI"]
    return table


def caption_table(caption_results: Sequence[Any]) -> pd.DataFrame:
    """Captioning metrics (x100, mean over trials) per Table 5 model, with the chance line of the text
    round trip's word accuracy (``text_round_trip_chance``)."""
    entries = [{"model": r.config["variant"], "metric": r.metric, "mean (x100)": float(np.mean(r.values))}
               for r in caption_results]
    entries += [{"model": r.config["variant"], "metric": "text_round_trip_chance", "mean (x100)": r.chance}
                for r in caption_results if r.metric == "text_round_trip_word_accuracy"]
    return pd.DataFrame(entries).pivot(index="model", columns="metric", values="mean (x100)")


def caption_floor(caption_results: Sequence[Any], metrics: Sequence[str] = ("METEOR", "CIDEr")) -> pd.DataFrame:
    """Each read-out of each Table 5 model against the seen-class prior's own sentence (the floor,
    :data:`mmar.experiments.PRIOR_VARIANT`): the mean per-trial difference of ``metrics`` (x100) with its
    95% t-interval, paired by trial seed; "above the prior" / "below the prior" when the interval
    excludes 0, "inconclusive" when it does not, "too few trials" below 5 paired trials."""

    by_key = {(r.config["variant"], r.metric): dict(zip(r.seeds, r.values)) for r in caption_results}
    entries = []
    for (variant, metric), values in by_key.items():
        floor = by_key.get((ex.PRIOR_VARIANT, metric))
        if variant == ex.PRIOR_VARIANT or metric not in metrics or floor is None:
            continue
        seeds = sorted(set(values) & set(floor))
        diffs = [values[s] - floor[s] for s in seeds]
        mean, low, high = t_interval(diffs) if len(diffs) >= 2 else (float(np.mean(diffs)), np.nan, np.nan)
        verdict = ("too few trials" if len(diffs) < MIN_TRIALS else "above the prior" if low > 0
                   else "below the prior" if high < 0 else "inconclusive")
        entries.append({"model · read-out": variant, "metric": metric, "trials": len(diffs),
                        "mean difference": round(mean, 2), "95% interval": f"[{low:.2f}, {high:.2f}]",
                        "verdict": verdict})
    return pd.DataFrame(entries, columns=["model · read-out", "metric", "trials", "mean difference", "95% interval",
                                          "verdict"])


def example_captions(results: Sequence[ex.CellRecord], unseen_k: int) -> pd.DataFrame:
    """Generated captions of the "All (paired + unpaired)" model at ``unseen_k`` (first trial), by the
    paper's read-out and (when recorded) the sentence read-out, each with a reference: one row per
    captioned video. Empty when that cell did not finish."""
    label = ex.TABLE5_MODELS["All (paired + unpaired)"]
    example = next((r for r in ex.finished(results) if r.row == label and r.k == unseen_k), None)
    if example is None:
        return pd.DataFrame(columns=["class", "generated caption", "a reference"])
    captions = example.captions
    examples = pd.DataFrame({"class": captions.classes, "generated caption": captions.hypotheses}
                            | ({"sentence read-out": captions.sentence_hypotheses}
                               if captions.sentence_hypotheses is not None else {})
                            | {"a reference": [refs[0] for refs in captions.references]})
    return examples


def one_per_class(examples: pd.DataFrame, n_classes: int = 8) -> pd.DataFrame:
    """The first example caption of each of the first ``n_classes`` classes (:func:`example_captions`)."""
    return examples.drop_duplicates("class").head(n_classes).reset_index(drop=True)


def prior_sentence(results: Sequence[ex.CellRecord], unseen_k: int) -> str | None:
    """The seen-class prior's own sentence at ``unseen_k`` (first trial that recorded one), as a sentence to
    print; None when no cell recorded one."""
    priors = sorted({(r.trial, r.captions.prior_sentence) for r in ex.finished(results)
                     if r.k == unseen_k and r.captions.prior_sentence is not None})
    if not priors:
        return None
    trial, sentence = priors[0]
    return f"the seen-class prior's own sentence (trial {trial}), every video's caption in '{ex.PRIOR_VARIANT}': {sentence!r}"


def retrieval_table(retrieval_results: Sequence[Any]) -> pd.DataFrame:
    """Retrieval metrics (mean over trials) per model."""
    return pd.DataFrame([{"model": r.config["row"], "metric": r.metric, "mean": float(np.mean(r.values))}
                         for r in retrieval_results]).pivot(index="model", columns="metric", values="mean")


def evaluation_not_run(results: Sequence[ex.CellRecord], grid: EvaluationGrid, data: PreparedDataset,
                       meteor_reason: str | None) -> pd.DataFrame:
    """What notebook 06 does not compute (``results/not_run.csv``, :func:`write_evaluation`): the paper
    tables needing other datasets, Table 1 columns outside the grid's K values, Table 1 rows outside its
    rows, Table 5 unless captioning ran at 10 unseen classes (and its METEOR when no scorer ran), and every
    failed cell with its error."""
    unseen_ks, unseen_k, rows = grid.unseen_ks, grid.unseen_k, grid.table1_rows
    missing, reasons = ex.missing_paper_cells(ex.TABLE1, unseen_ks, data)
    run_labels = {row.label for row in rows}
    for row in ex.TABLE1:
        if row.label not in run_labels:
            for k in unseen_ks:
                missing.append(row.paper_cell(k))
                reasons.append("not among this profile's Table 1 rows (table1_rows; the paper profile runs every row)")
    if unseen_k != 10:
        for model in ex.TABLE5_MODELS:
            for metric in ("METEOR", "CIDEr"):
                missing.append(("Table 5", model, metric))
                reasons.append(f"captioning ran at {unseen_k} unseen classes in this profile; Table 5 is at 10")
    elif meteor_reason:
        for model in ex.TABLE5_MODELS:
            missing.append(("Table 5", model, "METEOR"))
            reasons.append(meteor_reason)
    failed, why = ex.failure_not_run(results, ex.TABLE1)
    return ex.not_run_table(missing + failed, reasons + why)


def ablation_families(paper_tables: Sequence[str], ablations: dict[str, Sequence[Any]]) -> dict[str, tuple]:
    """``{family name: grid rows}``: the paper's ablation tables asked for (Tables 6, 7, 8) and one
    family ``ours: <field>`` per TrainConfig field varied in ``ablations``."""
    paper_rows = {"Table 6": ex.TABLE6, "Table 7": ex.TABLE7, "Table 8": ex.TABLE8}
    unknown = sorted(set(paper_tables) - set(paper_rows))
    if unknown:
        raise ValueError(f"paper_tables: unknown {unknown}; known: {sorted(paper_rows)}")
    families = {table: paper_rows[table] for table in paper_tables}
    families |= {f"ours: {name}": ex.our_ablation(name, values) for name, values in ablations.items()}
    return families


def ablations_not_run(results: Sequence[ex.CellRecord], rows: Sequence[Any], paper_tables: Sequence[str],
                      path: Path | None = None) -> pd.DataFrame:
    """``results/07_not_run.csv`` of notebook 07: the paper's ablation tables (6, 7, 8) outside this
    profile's ``paper_tables``, and every failed cell with its error. Written to ``path`` when given."""
    skipped = [table for table in ("Table 6", "Table 7", "Table 8") if table not in paper_tables]
    missing = [(table, "", "") for table in skipped]
    reasons = ["not among this profile's paper_tables (the paper profile runs Tables 6-8)"] * len(skipped)
    failed, why = ex.failure_not_run(results, rows)
    table = ex.not_run_table(missing + failed, reasons + why, include_datasets=False)
    if path is not None:
        table.to_csv(path, index=False)
    return table


def ablation_table(families: dict[str, tuple], results: Sequence[ex.CellRecord], data_source: str) -> pd.DataFrame:
    """Per family and row: 1-NN accuracy "mean ± std (n)", the paired / unpaired row counts, the paper's value."""
    done, paper = ex.finished(results), paper_results()
    tables = []
    for family, rows in families.items():
        labels = [row.label for row in rows]
        part = ex.summary_table([r for r in done if r.row in labels], lambda r: r.zero_shot.nn_accuracy)
        part.columns = [f"ours, {data_source}"]
        part = part.reindex(labels)
        counts = pd.DataFrame([{"row": r.row, "paired rows": r.n_paired, "unpaired rows": r.n_unpaired}
                               for r in done if r.row in labels], columns=["row", "paired rows", "unpaired rows"])
        part = part.join(counts.groupby("row", sort=False).first())
        if family.startswith("Table"):
            part = part.join(paper[paper["table"] == family].set_index("row")["value"].rename("paper"))
        part.insert(0, "ablation", family)
        tables.append(part)
    return pd.concat(tables)


def results_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Rows per (experiment, metric) of a written result table."""
    return table.groupby(["experiment", "metric"]).size().rename("rows").reset_index()


#: The rows of notebook 06's convergence figure: the full model and two others.
CONVERGENCE_ROWS = ("Paired: joint + recons + cross + cycle", "Paired: joint", "Paired: recons + cross (Ngiam-style baseline)")


def curve_rows(curves: bool) -> tuple[str, ...]:
    """The rows whose cells record per-epoch curves: those of the convergence figure when ``curves``."""
    return CONVERGENCE_ROWS if curves else ()


def grid_train(train: dict[str, Any], run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(train checked with every "selected" value replaced by notebook 05's λ search choice, the values
    replaced)``."""
    from mmar.studies.settings import checked_train, resolve_selected

    train, selected = resolve_selected(train, run_dir)
    return checked_train(train), selected


def selection_note(selected: dict[str, Any]) -> list[str]:
    """The line saying which values came from notebook 05's λ search (none when nothing was selected)."""
    return [f"from notebook 05's λ search: {selected}"] if selected else []


def grid_projection(data: PreparedDataset, cells: Sequence[ex.Cell], cache_dir: Path, runtime: dict[str, Any]) -> str:
    """One line: the projected training time of the cells not cached in ``cache_dir``, measured on this
    machine for the grid's ``runtime`` (:data:`GRID_RUNTIME_KEYS`)."""
    from mmar.experiments.projection import describe_projection, project_training_seconds

    projection = {k: v for k, v in runtime.items() if k in ("processes", "device", "executor", "members", "threads")}
    return describe_projection(project_training_seconds(data, cells, cache_dir, **projection))


@dataclass(frozen=True)
class Meteor:
    """METEOR for the captioning tables: its ``scorer`` (None when it does not run) and the ``reason`` it
    does not (None when it runs)."""

    scorer: Any
    reason: str | None

    def describe(self) -> str:
        return self.reason or "METEOR 1.5 (pycocoevalcap, Java) is running"


def meteor(wanted: bool) -> Meteor:
    """:func:`mmar.evaluation.captioning.meteor_scorer` when ``wanted``, else no scorer and the reason."""
    from mmar.evaluation.captioning import meteor_scorer

    return Meteor(*(meteor_scorer() if wanted else (None, "METEOR not computed: meteor = False in this profile")))


def grid_settings(settings: GridNotebookSettings, run: Run, curves: bool | tuple[str, ...] = False
                  ) -> tuple[ex.GridSettings, dict[str, Any]]:
    """``(grid settings, values chosen by notebook 05)``: the :class:`mmar.experiments.GridSettings` of
    notebook 06's or 07's settings (every GridSettings field they hold; ``train`` with "selected"
    values replaced by notebook 05's choice) with per-epoch ``curves`` of these rows."""
    from dataclasses import fields

    held = set(settings.names()) - {"train", "curves"}
    given = {f.name: getattr(settings, f.name) for f in fields(ex.GridSettings) if f.name in held}
    train, selected = grid_train(settings.train, run.dir)
    return ex.GridSettings(train=train, curves=curves, **given), selected


@dataclass(frozen=True)
class EvaluationGrid:
    """Notebook 06's grid: its :class:`mmar.experiments.GridSettings`, the K values run (``unseen_ks``),
    the K of captioning, discovery and retrieval (``unseen_k``), the Table 1 rows, the cells and the
    values chosen by notebook 05's λ search (``selected``)."""

    settings: ex.GridSettings
    unseen_ks: list[int]
    unseen_k: int
    table1_rows: tuple
    cells: list[ex.Cell]
    selected: dict[str, Any]

    def summary(self) -> str:
        """Notebook 05's choices (when any) and the cell count."""
        n_trials = len({c.trial for c in self.cells})
        return "\n".join(selection_note(self.selected) + [
            f"{len(self.cells)} cells: {len(self.table1_rows)} Table 1 rows x K in {self.unseen_ks} x {n_trials} trial(s)"])


def evaluation_grid(data: PreparedDataset, settings: EvaluationSettings, run: Run) -> EvaluationGrid:
    """Notebook 06's grid (:class:`EvaluationGrid`): ``settings.table1_rows`` (None: every Table 1 row) at
    the K values of ``settings.unseen_ks`` the data have splits for, ``settings.n_trials`` each; per-epoch
    curves for the rows of the convergence figure when ``settings.curves``."""
    unknown = sorted(set(settings.table1_rows or ()) - set(ex.TABLE1_BY_LABEL))
    if unknown:
        raise ValueError(f"table1_rows: unknown rows {unknown}; Table 1 rows: {list(ex.TABLE1_BY_LABEL)}")
    grid, selected = grid_settings(settings, run, curve_rows(settings.curves))
    ks_run = unseen_ks_to_run(data, settings.unseen_ks, settings.unseen_k)
    rows = (ex.TABLE1 if settings.table1_rows is None
            else tuple(ex.TABLE1_BY_LABEL[label] for label in settings.table1_rows))
    cells = ex.make_cells(data, rows, ks_run, settings.n_trials, grid)
    return EvaluationGrid(grid, ks_run, settings.unseen_k, rows, cells, selected)


@dataclass(frozen=True)
class AblationGrid:
    """Notebook 07's grid: its :class:`mmar.experiments.GridSettings`, the ablation ``families`` (name ->
    grid rows, :func:`ablation_families`), all their ``rows``, the ``cells`` at ``unseen_k`` and the values
    chosen by notebook 05's λ search (``selected``)."""

    settings: ex.GridSettings
    families: dict[str, tuple]
    rows: list[ex.GridRow]
    cells: list[ex.Cell]
    unseen_k: int
    selected: dict[str, Any]

    def summary(self) -> str:
        """Notebook 05's choices (when any) and the cell and training counts."""
        n_trials = len({c.trial for c in self.cells})
        return "\n".join(selection_note(self.selected) + [
            f"{len(self.cells)} cells ({len({c.key for c in self.cells})} distinct trainings) at K = {self.unseen_k}, "
            f"{n_trials} trial(s)"])

    def family_group(self, prefix: str) -> dict[str, tuple]:
        """The families whose name starts with ``prefix`` ("Table": the paper's, "ours": our ablations)."""
        return {name: rows for name, rows in self.families.items() if name.startswith(prefix)}


def ablation_grid(data: PreparedDataset, settings: AblationSettings, run: Run) -> AblationGrid:
    """Notebook 07's grid (:class:`AblationGrid`): the rows of ``settings.paper_tables`` and
    ``settings.ablations`` at ``settings.unseen_k``, ``settings.n_trials`` each."""
    grid, selected = grid_settings(settings, run)
    families = ablation_families(settings.paper_tables, settings.ablations)
    rows = [row for family in families.values() for row in family]
    cells = ex.make_cells(data, rows, [settings.unseen_k], settings.n_trials, grid)
    return AblationGrid(grid, families, rows, cells, settings.unseen_k, selected)


def write_evaluation(rows: Sequence[Any], not_run: pd.DataFrame, run: Run) -> pd.DataFrame:
    """Write notebook 06's ``results/06_evaluation.csv`` (``rows``) and ``results/not_run.csv`` (``not_run``,
    :func:`evaluation_not_run`); the written result table."""
    table = write_results(rows, run.results_file("06_evaluation"))
    not_run.to_csv(run.dir / "results" / "not_run.csv", index=False)
    return table

"""The numbers the book's first chapter (findings) states, computed from a run folder.

:func:`key_numbers` returns ``{glue key: Markdown text}``; ``report/book/index.ipynb`` glues each with
myst-nb and its prose refers to them (``{glue:md}`key```), so no number on that page is typed by hand.
Means of ours carry a 95 % t-interval over trials (:func:`mmar.evaluation.paired.t_interval`); claims are
judged by :mod:`mmar.report.claims` (paired differences within trials).
"""

from __future__ import annotations

import functools
import io
import json
import math
import textwrap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Image

from mmar.evaluation.paired import t_interval
from mmar.experiments.balance import TRAINS_MIN_FALL, candidates_apart, tied_candidates
from mmar.profiles import notebook_settings, resolve_profile
from mmar.report import choices, claims, inconsistencies, kinetics
from mmar.report.compare import all_tables
from mmar.report.rundata import Column, RunData, first_clause, named_list, row_config
from mmar.report.situation import DATA_SITUATION
from mmar.results import ACTIVITYNET
from mmar.studies import difficulty
from mmar.studies.settings import SELECTED
from mmar.training import TrainConfig

#: Table 1 rows the findings quote, by glue key.
TABLE1_ROWS = {
    "fixed_text": claims.P + "Fixed Text Representation (baseline)",
    "joint": claims.P + "joint",
    "recons_cross": claims.P + "recons + cross (Ngiam-style baseline)",
    "joint_recons": claims.P + claims.JR,
    "all_paired": claims.P + claims.JRCY,
    "all_adv": claims.ALL_ADV,
}
FINDINGS_COLUMN = "5 unseen"
NOT_AVAILABLE = "*not in this run*"


def main_column(run: RunData) -> Column | None:
    """The column of ours the findings speak about: the report's run on its first data source with paper rows."""
    own = [c for c in run.paper_columns if c.run == run.runs[0]]
    return own[0] if own else None


def mean_with_interval(measure: claims.Measure | None, unit: str = "%") -> str:
    """``29.0 % [24.1, 33.9] (n = 5)``: mean over trials with its 95 % t-interval."""
    if measure is None:
        return NOT_AVAILABLE
    if len(measure.values) >= 2:
        return f"{mean_and_interval(measure.values, unit)} (n = {len(measure.values)})"
    return f"{measure.mean:.1f} {unit} (n = {measure.n_trials})"


def mean_and_interval(values: Sequence[float], unit: str = "%") -> str:
    """``29.0 % [24.1, 33.9]``: the mean of ``values`` with its 95 % t-interval; the value alone when there is one."""
    if len(values) < 2:
        return f"{values[0]:.1f} {unit}"
    mean, low, high = t_interval(list(values))
    return f"{mean:.1f} {unit} [{low:.1f}, {high:.1f}]"


def difference_text(result: claims.CheckResult) -> str:
    """``+3.2 points [0.4, 6.0], 5 paired trials``; a near-chance check's d is how far the accuracy lies below its
    bound (``d = bound - accuracy = +5.0 points [...] (near-chance bound 28.0 %)``); a check with too few trials
    says that its interval decides nothing."""
    if result.verdict == claims.NOT_TESTED:
        return "not tested here"
    near_chance = result.check.kind == "near_chance" and not math.isnan(result.threshold)
    d = "d = bound - accuracy = " if near_chance else ""
    bound = f" (near-chance bound {result.threshold:.1f} %)" if near_chance else ""
    few = (f"; with fewer than {claims.MIN_TRIALS} paired trials the interval decides nothing"
           if result.verdict == claims.TOO_FEW else "")
    if math.isnan(result.low):
        return f"{d}{result.diff:+.1f} points{bound}, {result.n_paired} paired trial(s){few}"
    return (f"{d}{result.diff:+.1f} points [{result.low:.1f}, {result.high:.1f}]{bound}, {result.n_paired} paired "
            f"trials{few}")


def verdict_counts_text(verdicts: list[str]) -> str:
    counts = Counter(verdicts)
    return ", ".join(f"{counts[v]} **{v}**" for v in claims.VERDICTS if counts[v])


def inconclusive_reason(verdict: claims.ClaimVerdict) -> str:
    """Why one claim is inconclusive, from its checks: intervals that contain 0 (with their widths), checks with too
    few trials, and checks this run has no numbers for (a claim is supported only when every check is)."""
    by_verdict: dict[str, list[claims.CheckResult]] = {}
    for result in verdict.results:
        by_verdict.setdefault(result.verdict, []).append(result)
    total = len(verdict.results)

    def of_checks(results: list[claims.CheckResult], one: str, many: str) -> str:
        return f"{len(results)} of its {total} checks {one if len(results) == 1 else many}"

    parts = []
    if open_checks := by_verdict.get(claims.INCONCLUSIVE):
        widths = sorted(r.high - r.low for r in open_checks)
        paired = sorted({r.n_paired for r in open_checks})
        width_text = f"{widths[0]:.1f}" if len(widths) == 1 else f"{widths[0]:.1f} to {widths[-1]:.1f}"
        parts.append(of_checks(open_checks, "has", "have") + f" a 95 % interval that contains 0 ({width_text} points "
                     f"wide, {', '.join(map(str, paired))} paired trials)")
    if supported := by_verdict.get(claims.SUPPORTED):
        parts.append(of_checks(supported, "holds", "hold") + " (interval above 0)")
    if too_few := by_verdict.get(claims.TOO_FEW):
        parts.append(of_checks(too_few, "has", "have") + f" fewer than {claims.MIN_TRIALS} paired trials")
    if untested := by_verdict.get(claims.NOT_TESTED):
        parts.append(of_checks(untested, "needs", "need") + " numbers this run does not have")
    return "; ".join(parts)


def verdict_reasons(audit: list[claims.AuditedClaim], column: Column) -> str:
    """A Markdown list: per verdict, which claims got it and what in their checks decided it (per claim for
    inconclusive ones, whose reasons differ)."""
    lines = []
    for verdict in claims.VERDICTS:
        mine = [a for a in audit if a.by_column[column].verdict == verdict]
        if not mine:
            continue
        names = "; ".join(f"“{a.claim.text}”" for a in mine)
        results = [r for a in mine for r in a.by_column[column].results if r.verdict != claims.NOT_TESTED]
        paired = sorted({r.n_paired for r in results})
        if verdict == claims.INCONCLUSIVE:
            lines.append(f"- **{verdict}**: a claim is supported only when every one of its checks is; for each:")
            lines.extend(f"  - “{a.claim.text}”: {inconclusive_reason(a.by_column[column])}." for a in mine)
            halves = [(r.high - r.low) / 2 for r in results if r.verdict == claims.INCONCLUSIVE]
            if halves:
                lines.append(f"  - With this many trials and this much spread between trials, a mean difference "
                             f"smaller than {min(halves):.1f} to {max(halves):.1f} points (half the intervals' widths) "
                             "cannot be told from noise.")
            continue
        if verdict == claims.TOO_FEW:
            paper_trials = notebook_settings(resolve_profile("paper"), "07_ablations")["n_trials"]
            why = (f"{', '.join(map(str, paired))} paired trials, fewer than the {claims.MIN_TRIALS} a verdict needs: "
                   f"this profile trains these rows in fewer trials to save time (the `paper` profile in {paper_trials})")
        elif verdict == claims.NOT_TESTED:
            why = "this run has no result for a number their checks need"
        elif verdict == claims.CONTRADICTED:
            why = "at least one check's 95 % interval lies below 0"
        else:
            why = "every check's 95 % interval lies above 0"
        lines.append(f"- **{verdict}**: {names}. Why: {why}.")
    return "\n".join(lines)


def claims_frame(audit: list[claims.AuditedClaim], column: Column | None) -> pd.DataFrame:
    """One row per claim: where, the paper's own numbers by sign, our verdict and the check nearest to flipping it."""
    rows = []
    for a in audit:
        row = {"claim": a.claim.text, "where": a.claim.where,
               "paper's own numbers": a.paper.text()}
        if column is not None:
            verdict = a.by_column[column]
            computed = [r for r in verdict.results if r.verdict != claims.NOT_TESTED and r.diff == r.diff]
            weakest = min(computed, key=lambda r: r.diff) if computed else None
            row["ours"] = verdict.verdict
            row["checks computed"] = f"{verdict.computed} of {len(verdict.results)}"
            row["weakest check (lowest mean paired d, 95 % interval)"] = (
                f"{weakest.check.text}: {difference_text(weakest)}" if weakest else "")
        rows.append(row)
    return pd.DataFrame(rows)


def paired_difference_frame(audit: list[claims.AuditedClaim], column: Column) -> pd.DataFrame:
    """Per computed check of each claim, per paired trial: the difference d (positive: the claim holds)."""
    rows = []
    for a in audit:
        for result in a.by_column[column].results:
            for trial, d in zip(result.trials, result.diffs):
                rows.append(dict(claim=a.claim.ident, check=result.check.text, trial=trial, d=d, mean=result.diff,
                                 low=result.low, high=result.high, verdict=result.verdict))
    return pd.DataFrame(rows, columns=["claim", "check", "trial", "d", "mean", "low", "high", "verdict"])


def paired_differences_figure(audit: list[claims.AuditedClaim], column: Column) -> plt.Figure | None:
    """Seaborn strip plot of every check's per-trial paired differences, with its mean and 95 % t-interval."""
    frame = paired_difference_frame(audit, column)
    if frame.empty:
        return None
    frame["check"] = [textwrap.fill(text, 48) for text in frame["check"]]
    checks = list(dict.fromkeys(frame["check"]))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(checks) + 1.3))
    sns.stripplot(data=frame, x="d", y="check", hue="claim", order=checks, ax=ax, size=4, alpha=0.6, jitter=0.12)
    summary = frame.drop_duplicates("check").set_index("check").loc[checks]
    positions = range(len(checks))
    ax.errorbar(summary["mean"], positions, xerr=[summary["mean"] - summary["low"], summary["high"] - summary["mean"]],
                fmt="D", color="black", markersize=4, capsize=2, linewidth=1)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel(f"paired difference d per trial (points; > 0: the claim holds); {column.label}", fontsize=8)
    ax.set_ylabel("")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(title="claim", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def as_image(figure: plt.Figure, dpi: int = 110) -> Image:
    """``figure`` as a PNG image (the report's matplotlib backend is Agg, whose figures have no rich display);
    the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return Image(data=buffer.getvalue(), format="png")


def _measure(get: claims.Getter, row: str, column: str = FINDINGS_COLUMN) -> claims.Measure | None:
    return get(("Table 1", row, column))


@functools.lru_cache(maxsize=256)
def _cell_history(path: Path) -> list[dict]:
    """A grid cell's per-epoch records ([] without the file). Only the history is read, so that the book of a run
    whose cells predate a CellResult field still builds; read once per book (the cells do not change)."""
    return json.loads(path.read_text()).get("history", []) if path.is_file() else []


def heldout_curves(run: RunData, row: str, probe: str, column: str = FINDINGS_COLUMN) -> list[dict[int, float]]:
    """Per trial of a Table 1 row: ``{epoch: value}`` of a held-out probe (e.g. ``probe_val_joint``; epoch 0 is
    before training), read from the grid cells the result row names (``config["cells"]`` ->
    ``experiments/cells/<key>.json``, ``history``). Empty when the row's cells recorded no per-epoch curve."""
    rows = run.results[(run.results["paper_table"] == "Table 1") & (run.results["paper_row"] == row)
                       & (run.results["paper_column"] == column) & (run.results["run"] == run.runs[0])]
    if rows.empty:
        return []
    curves = []
    for key in row_config(rows.iloc[0]).get("cells", []):
        history = _cell_history(run.run_dir / "experiments" / "cells" / f"{key}.json")
        curve = {entry["epoch"]: entry[probe] for entry in history if entry.get(probe) is not None}
        if curve:
            curves.append(curve)
    return curves


def heldout_joint_ratio(run: RunData, row: str, column: str = FINDINGS_COLUMN) -> list[float]:
    """Per trial of a Table 1 row: the held-out joint term after the first epoch over its initial value (%)."""
    return [100.0 * curve[1] / curve[0] for curve in heldout_curves(run, row, "probe_val_joint", column)
            if curve.get(0) and 1 in curve]


def last_epoch_change(run: RunData, row: str, column: str = FINDINGS_COLUMN) -> list[float]:
    """Per trial of a Table 1 row: how much its held-out weighted loss (``probe_val_total_paired``) changed in the
    last epoch, in % of its value one epoch before (negative: it still fell)."""
    changes = []
    for curve in heldout_curves(run, row, "probe_val_total_paired", column):
        last = max(curve)
        if last >= 1 and curve.get(last - 1):
            changes.append(100.0 * (curve[last] / curve[last - 1] - 1.0))
    return changes


def ratio_text(ratios: list[float], sign: str = "") -> str:
    """``0.14 % [0.13, 0.15] (n = 5)``: the mean percentage with its 95 % t-interval over trials (``sign="+"``
    writes the sign of each number)."""
    if not ratios:
        return NOT_AVAILABLE
    if len(ratios) < 2:
        return f"{ratios[0]:{sign}.2f} % (n = 1)"
    mean, low, high = t_interval(ratios)
    return f"{mean:{sign}.2f} % [{low:{sign}.2f}, {high:{sign}.2f}] (n = {len(ratios)})"


def _text_autoencoder(run: RunData) -> dict[str, str]:
    metrics = run.text_decoder_metrics(["word_accuracy_val", "word_accuracy_best_fit_val"])
    out = {}
    for n_filters in (4, 12):
        for metric, key in (("word_accuracy_val", "word"), ("word_accuracy_best_fit_val", "ceiling")):
            value = metrics.get(n_filters, {}).get(metric)
            out[f"text_n{n_filters}_{key}"] = NOT_AVAILABLE if value is None else f"{value:.1f} %"
    rows = run.results[(run.results["experiment"] == "text_autoencoder") & (run.results["run"] == run.runs[0])]
    chance = rows.loc[rows["metric"] == "word_accuracy_val", "chance"].dropna()
    out["text_chance"] = f"{chance.iloc[0]:.1f} %" if len(chance) else NOT_AVAILABLE
    trips = run.results[(run.results["metric"] == "text_round_trip_word_accuracy") & (run.results["run"] == run.runs[0])]
    out["round_trip"] = (f"{trips['mean'].min():.1f} to {trips['mean'].max():.1f} % of an unseen-class sentence's words "
                         f"(always the most frequent word: {trips['chance'].iloc[0]:.1f} %)" if len(trips) else
                         NOT_AVAILABLE)
    return out


#: Short names of :data:`TABLE1_ROWS` for sentences.
TABLE1_SHORT = {"fixed_text": "fixed text", "joint": "joint", "recons_cross": "recons + cross",
                "joint_recons": "joint + recons", "all_paired": "all paired terms",
                "all_adv": "all terms with unpaired data"}


def _intervals(measures: dict[str, claims.Measure | None]) -> dict[str, tuple[float, float, float]]:
    """(mean, low, high) of each measure with 2 or more trials."""
    return {key: t_interval(list(m.values)) for key, m in measures.items() if m is not None and len(m.values) >= 2}


def rows_at_chance(intervals: dict[str, tuple[float, float, float]], chance: float) -> list[str]:
    """The keys of :func:`_intervals` whose 95 % interval contains ``chance`` (%)."""
    return [key for key, (_, low, high) in intervals.items() if low <= chance <= high]


def chance_summary(measures: dict[str, claims.Measure | None], chance: float) -> str:
    """Which of the quoted Table 1 rows (by :data:`TABLE1_ROWS` key) have a 95 % interval over trials that
    contains ``chance`` (%), as a sentence; rows with fewer than 2 trials have no interval and are left out."""
    intervals = _intervals(measures)
    if not intervals:
        return "No row has the 2 or more trials an interval needs."
    at_chance = rows_at_chance(intervals, chance)
    above = [key for key, (_, low, _) in intervals.items() if low > chance]
    below = [key for key, (_, _, high) in intervals.items() if high < chance]
    if len(at_chance) == len(intervals):
        return (f"**All {len(intervals)} rows' 95 % intervals contain chance ({chance:g} %)**: on this run no trained "
                "embedding tells the unseen classes apart better than guessing, so the comparisons below are between "
                "models at chance.")
    parts = [f"{len(at_chance)} of {len(intervals)} rows' 95 % intervals contain chance ({chance:g} %)"
             + (f" ({', '.join(TABLE1_SHORT[k] for k in at_chance)})" if at_chance else "")]
    if above:
        parts.append(f"above chance: {', '.join(TABLE1_SHORT[k] for k in above)}")
    if below:
        parts.append(f"below chance: {', '.join(TABLE1_SHORT[k] for k in below)}")
    return "; ".join(parts) + "."


def _own_rows(run: RunData, column: Column | None) -> pd.DataFrame:
    """The result rows of the book's run in ``column``'s data source."""
    rows = run.results[run.results["run"] == run.runs[0]]
    return rows[rows["data_source"] == column.source] if column is not None else rows.iloc[:0]


OPTIMIZER_NAMES = {"sgd": "SGD with momentum", "adam": "Adam"}


def _schedule(train: TrainConfig) -> str:
    return f"{train.epochs} epochs of {OPTIMIZER_NAMES.get(train.optimizer, train.optimizer)} (learning rate {train.lr:g})"


@functools.lru_cache(maxsize=1)
def _paper_grid() -> dict:
    """The `paper` profile's settings of notebook 06 (its Table 1 grid), resolved once."""
    return notebook_settings(resolve_profile("paper"), "06_evaluation")


def paper_protocol_training() -> TrainConfig:
    """The training of the `paper` profile's Table 1 grid: our reading of the paper's protocol (§4.1)."""
    return TrainConfig.from_dict({k: v for k, v in _paper_grid()["train"].items() if v != SELECTED})


def _table1_config(run: RunData, column: Column | None) -> dict:
    """The recorded config of this run's Table 1 joint row at :data:`FINDINGS_COLUMN` ({} without one)."""
    rows = _own_rows(run, column)
    rows = rows[(rows["paper_table"] == "Table 1") & (rows["paper_row"] == TABLE1_ROWS["joint"])
                & (rows["paper_column"] == FINDINGS_COLUMN)]
    return row_config(rows.iloc[0]) if len(rows) else {}


def shorter_than_paper(run: RunData, column: Column | None) -> bool:
    """Whether this run's Table 1 trained less than the `paper` profile's: fewer epochs (or Algorithm 1
    pre-training epochs), fewer trials, or a cap on the training pairs where the paper profile has none."""
    config = _table1_config(run, column)
    if "train" not in config:
        return True
    paper = _paper_grid()
    ours, protocol = TrainConfig.from_dict(config["train"]), paper_protocol_training()
    capped = config.get("max_train_rows") is not None and paper.get("max_train_rows") is None
    return (ours.epochs < protocol.epochs or ours.pretrain_epochs < protocol.pretrain_epochs or capped
            or int(config.get("trials_requested") or 0) < paper["n_trials"])


def training_text(run: RunData, column: Column | None) -> str:
    """How long the Table 1 models of this run trained, beside the `paper` profile's training."""
    config = _table1_config(run, column)
    if "train" not in config:
        return NOT_AVAILABLE
    ours, paper = TrainConfig.from_dict(config["train"]), paper_protocol_training()
    pairs = sorted(set(config.get("n_paired") or []))
    own = _own_rows(run, column)
    labels = set(own.loc[own["paper_table"] == "Table 1", "paper_row"])
    before = []  # what the rows this run has train before their epochs
    if ours.pretrain_epochs and TABLE1_ROWS["all_adv"] in labels:
        before.append(f"the Paired + Unpaired rows after {ours.pretrain_epochs} paired-only epoch"
                      f"{'s' if ours.pretrain_epochs != 1 else ''} of Algorithm 1")
    if TABLE1_ROWS["fixed_text"] in labels:
        before.append(f"the fixed-text baseline's video side after {ours.epochs} text-autoencoder epochs")
    text = (f"each Table 1 model here trained for {_schedule(ours)}" + (f" ({', '.join(before)})" if before else "")
            + (f" on {', '.join(f'{n:,}' for n in pairs)} training pairs" if pairs else "")
            + f", where the paper's protocol (our `paper` profile) trains for {_schedule(paper)}")
    if ours.epochs < paper.epochs:
        text += f": {ours.epochs} of its {paper.epochs} epochs"
    return text


def in_short(run: RunData, audit: list[claims.AuditedClaim], column: Column | None,
             table1: dict[str, claims.Measure | None]) -> str:
    """The first page's opening: what the claims audit decided, how many of the quoted Table 1 rows (``table1``,
    by :data:`TABLE1_ROWS` key) are at chance, and how much the models trained, each computed from the run."""
    if column is None:
        return "This run has no results for the paper's tables, so no claim of the paper could be checked."
    verdicts = Counter(a.by_column[column].verdict for a in audit)
    decided = verdicts[claims.SUPPORTED] + verdicts[claims.CONTRADICTED]
    if decided:
        opening = (f"**On this run {verdicts[claims.SUPPORTED]} of the paper's claims hold and "
                   f"{verdicts[claims.CONTRADICTED]} are contradicted**; the others are undecided.")
    else:
        opening = "**On this run no claim of the paper is confirmed or refuted.**"
    chance = claims.chance_of(FINDINGS_COLUMN)
    intervals = _intervals(table1)
    sentences = [opening]
    if intervals:
        sentences.append(f"{len(rows_at_chance(intervals, chance))} of the {len(intervals)} Table 1 rows quoted below (at {FINDINGS_COLUMN} classes) "
                         f"have a 95 % interval that contains chance ({chance:g} %).")
    schedule = training_text(run, column)
    if schedule != NOT_AVAILABLE:
        sentences.append(schedule[:1].upper() + schedule[1:] + ".")
    if column.source != ACTIVITYNET:
        sentences.append(f"So these numbers check the pipeline and the protocol on {column.source} data; they are "
                         "neither a reproduction of the paper's numbers nor a measure of how well the method can do.")
    elif shorter_than_paper(run, column):
        sentences.append("So, although the data are ActivityNet's, these numbers are not yet a reproduction: the "
                         "`activitynet-paper` profile runs the paper's protocol.")
    return " ".join(sentences)


def retrieval_text(run: RunData, column: Column | None, metric: str = "v2t_R@10") -> str:
    """Video-to-sentence retrieval of the Table 1 models: the rows trained without the joint term each with its
    95 % interval, and the range of the rows trained with it (means), beside chance; then the fixed-text baseline
    (which trains videos towards a frozen text embedding with the joint term) with its interval."""
    rows = _own_rows(run, column)
    rows = rows[(rows["experiment"] == "retrieval") & (rows["metric"] == metric)]
    with_joint, without, fixed = {}, {}, {}
    for _, row in rows.iterrows():
        config = row_config(row)
        losses = config.get("train", {}).get("losses", [])
        values = json.loads(row["values"]) if isinstance(row["values"], str) else []
        name = config.get("row") or first_clause(str(row["notes"]))
        if "joint" in losses:
            with_joint[name] = float(row["mean"])
        elif values and "fixed_text" in losses:
            fixed[name] = values
        elif values:
            without[name] = values
    if not with_joint or not without:
        return NOT_AVAILABLE
    parts, lower_bounds = [], []
    for name, values in without.items():
        if len(values) >= 2:
            lower_bounds.append(t_interval(values)[1])
        parts.append(f"{name.removeprefix(claims.P)}, trained without the joint term, {mean_and_interval(values)}")
    low, high = min(with_joint.values()), max(with_joint.values())
    chance = float(rows["chance"].dropna().iloc[0]) if rows["chance"].notna().any() else math.nan
    text = (f"In video-to-sentence retrieval among the test pairs (recall at 10, chance {chance:.1f} %), "
            + "; ".join(parts) + f"; the {len(with_joint)} rows trained with it, {low:.1f} to {high:.1f} %")
    if lower_bounds and high < min(lower_bounds):
        text += (": every row with the joint term lies below the interval of every row without it, as embeddings "
                 "pulled together would")
    for name, values in fixed.items():
        text += (f". {name.removeprefix(claims.P)}, whose videos are pulled towards a frozen text embedding by the "
                 f"joint term, {mean_and_interval(values)}")
    return text


def tables_without_results(run: RunData, paper: pd.DataFrame) -> str:
    """The paper's tables this run has no result for, e.g. "Tables 2, 3, 4 and 9"."""
    names = [table.name.removeprefix("Table ") for table in all_tables(paper, run.results) if not table.has_ours]
    return named_list(names, "Table", "Tables") if names else "none"


def lambda_search_text(run: RunData) -> str:
    """What notebook 05's λ search could tell: each candidate's validation accuracy with its 95 % interval over
    seeds, whether the chosen one's interval overlaps another's, and how far the joint term and the video and text
    reconstructions fell on held-out pairs at the chosen λ (last epoch over before training)."""
    field, by_metric, chosen, n_val = choices.lambda_search_rows(run)
    scores = sorted(by_metric.get("validation_zero_shot_accuracy", []))
    if not scores:
        return "The λ search's rows are not in this run."
    texts = [f"{value:g}: {mean_and_interval(seeds)}" for value, seeds in scores]
    n_seeds = sorted({len(seeds) for _, seeds in scores})
    chance = f", chance {100 / n_val:g} %" if n_val else ""
    name = "λ<sub>joint</sub>" if field == "lambda_joint" else field
    sentence = f"The search's validation accuracies ({name} {'; '.join(texts)}; {', '.join(map(str, n_seeds))} seeds each{chance})"
    per_seed = dict(scores)
    apart = candidates_apart(per_seed, chosen) if chosen in per_seed and len(per_seed) > 1 else None
    sentence += {None: ".", True: ": the chosen value's interval lies apart from every other's.",
                 False: " overlap: the search could not tell the candidates apart and took the highest mean."}[apart]
    tied = tied_candidates({value: sum(seeds) / len(seeds) for value, seeds in scores}, chosen) if chosen in per_seed else []
    if tied:
        sentence += (f" The chosen value's mean ({name} = {chosen:g}) ties with {name} = "
                     f"{', '.join(f'{value:g}' for value in tied)}: the search keeps the smallest of tied candidates.")
    at_chosen = {term: [seeds for value, seeds in by_metric.get(f"heldout_{term}_last_over_initial", [])
                        if value == chosen]
                 for term in ("joint", "recons_video", "recons_text")}
    ratio = {term: sum(found[0]) / len(found[0]) for term, found in at_chosen.items() if found and found[0]}
    fell = [f"{label} to {100 * ratio[term]:.2f} %" for term, label in
            (("joint", "the joint term"), ("recons_video", "the video reconstruction"),
             ("recons_text", "the text reconstruction")) if term in ratio]
    if fell:
        sentence += (" At the chosen λ, on held-out seen-class pairs, the last epoch brought " + ", ".join(fell)
                     + " of its value before training.")
    if ratio.get("recons_video", 0.0) > 1 - TRAINS_MIN_FALL:  # it does not train by notebook 05's rule
        others = {value: sum(seeds) / len(seeds) for value, seeds in
                  by_metric.get("heldout_recons_video_last_over_initial", []) if value != chosen and seeds}
        sentence += " At the chosen λ the video reconstruction barely trains"
        if others:
            smallest = min(others)
            sentence += f" (at {name} = {smallest:g} it fell to {100 * others[smallest]:.2f} %)"
        sentence += "."
    return sentence


def _lambda_joint(run: RunData) -> str:
    path = run.run_dir / "results" / "05_lambda_search.json"
    if not path.is_file():
        return NOT_AVAILABLE
    chosen = json.loads(path.read_text()).get("chosen", {})
    return f"{chosen['lambda_joint']:g}" if "lambda_joint" in chosen else NOT_AVAILABLE


def _after_colon(sentence: str) -> str:
    """``sentence`` continued after a colon: its first letter in lower case ("Anything ..." -> "anything ...")."""
    return sentence[:1].lower() + sentence[1:]


def key_numbers(run: RunData, paper: pd.DataFrame, audit: list[claims.AuditedClaim]) -> dict[str, str]:
    """Every value the findings chapter glues, as Markdown text."""
    column = main_column(run)
    source = column.source if column else ((run.dataset_meta or {}).get("data_source") or "none")
    values: dict[str, str] = {
        "run_id": f"`{run.run_info.get('run_id', 'unknown')}`",
        "profile": f"`{run.run_info.get('profile') or run.run_dir.name}`",
        "commit": f"`{str(run.run_info.get('commit', 'unknown'))[:10]}`",
        "processor": str(run.run_info.get("cpu", "not recorded")),
        "source": f"**{source}**",
        "cannot": _after_colon(DATA_SITUATION.get(source, {}).get("cannot", "unknown data: nothing can be concluded")),
        "is_reproduction": (
            "**None** of them is a reproduction of the paper's numbers: the data differ from the paper's."
            if source != ACTIVITYNET else
            "They use ActivityNet features whose store records an I3D extractor, but a protocol shorter than the "
            "paper's (fewer epochs, trials or training pairs): not yet a reproduction."
            if shorter_than_paper(run, column) else
            "They use ActivityNet features whose store records an I3D extractor: a reproduction within the open "
            "choices, as far as those features are the paper's."),
        "n_claims": str(len(audit)),
        "verdicts": verdict_counts_text([a.by_column[column].verdict for a in audit]) if column else
        "none (no results for the paper's tables in this run)",
        "paper_claims_holding": str(sum(a.paper.holds == a.paper.total for a in audit)),
        "chance": f"{claims.chance_of(FINDINGS_COLUMN):g} %",
    }
    get = claims.ours_getter(run.results, column) if column else (lambda key: None)
    table1 = {key: _measure(get, row) for key, row in TABLE1_ROWS.items()}
    values["in_short"] = in_short(run, audit, column, table1)
    values["retrieval"] = retrieval_text(run, column)
    values["tables_without_results"] = tables_without_results(run, paper)
    values["verdict_reasons"] = verdict_reasons(audit, column) if column else "- no claim could be checked"
    for a in audit:
        values[f"claim_{a.claim.ident}"] = f"**{a.by_column[column].verdict}**" if column else claims.NOT_TESTED
    get_paper = claims.paper_getter(paper)
    n_trials = set()
    for key, row in TABLE1_ROWS.items():
        measure = table1[key]
        values[f"t1_{key}"] = mean_with_interval(measure)
        if measure is not None:
            n_trials.add(len(measure.values) or measure.n_trials)
        paper_measure = _measure(get_paper, row)
        values[f"t1_{key}_paper"] = f"{paper_measure.mean:.1f} %" if paper_measure is not None else NOT_AVAILABLE
    values["t1_trials"] = ", ".join(str(n) for n in sorted(n_trials)) or "0"
    values["t1_at_chance"] = chance_summary(table1, claims.chance_of(FINDINGS_COLUMN))
    values["t1_beside_paper"] = (
        "Ours and the paper's are both on ActivityNet Captions." if source == ACTIVITYNET else
        f"⚠ Ours are on {source} data, the paper's on ActivityNet: side by side, ours are not a reproduction of theirs.")
    values["joint_collapse"] = ratio_text(heldout_joint_ratio(run, TABLE1_ROWS["joint"]))
    values["joint_collapse_all_paired"] = ratio_text(heldout_joint_ratio(run, TABLE1_ROWS["all_paired"]))
    values["last_epoch_recons_cross"] = ratio_text(last_epoch_change(run, TABLE1_ROWS["recons_cross"]), "+")
    values["last_epoch_all_paired"] = ratio_text(last_epoch_change(run, TABLE1_ROWS["all_paired"]), "+")
    values.update(_text_autoencoder(run))
    values["lambda_joint"] = _lambda_joint(run)
    values["lambda_search"] = lambda_search_text(run)
    found = inconsistencies.all_findings(paper)
    values["n_inconsistencies"] = str(len(found))
    values["inconsistency_titles"] = "; ".join(f.title for f in found)
    section = kinetics.kinetics_section(run)
    values["kinetics"] = (f"{section.counts['same_name']} of {section.counts['classes']} classes of this run have a "
                          "Kinetics-400 class of the same name, and "
                          f"{section.counts['counterpart'] - section.counts['same_name']} more a possible counterpart "
                          "by a looser word match, a rule that errs towards counting a class as seen" if section
                          else NOT_AVAILABLE)
    sweep = difficulty.table_from_result_rows(run.results[run.results["run"] == run.runs[0]])
    nuisance = ((run.dataset_meta or {}).get("standin") or {}).get("nuisance")
    main_data = f"This run's main data have nuisance {nuisance:g}. " if nuisance is not None else ""
    values["sweep"] = ("\n".join(f"- {s}" for s in difficulty.verdict_sentences(sweep)) + "\n\n" + main_data
                       + difficulty.size_sentence(run.results[run.results["run"] == run.runs[0]]) if not sweep.empty
                       else "- the difficulty sweep was not run in this run")
    return values

"""The HTML blocks of the book's report chapters (``report/book/*.ipynb`` call these and display what they return).

Every number is emitted by :func:`paper_span` or :func:`ours_span`, which carry their source in ``data-*``
attributes: paper numbers name their table/row/column of ``report/paper_results.csv``; ours name their
result file (relative to the run folder) and 0-based data row. Tests read these attributes back from the
built book.
"""

from __future__ import annotations

import json
import re
from html import escape as _escape
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from IPython.display import HTML

from mmar.evaluation.paired import t_interval
from mmar.paths import PROJECT_ROOT
from mmar.report import choices, claims, compare, data_properties, environment, figures, inconsistencies, kinetics
from mmar.report.rundata import Column, NotRun, RunData, first_clause
from mmar.report.situation import DATA_SITUATION

DIFFERS_MARK = "⚠"


def e(value: Any) -> str:
    """HTML-escaped text of ``value``."""
    return _escape(str(value), quote=True)


def _attrs(**items: Any) -> str:
    return " ".join(f'data-{k.replace("_", "-")}="{e(v)}"' for k, v in items.items())


def table_html(header: Iterable[str], rows: Iterable[Iterable[str]], css: str = "plain", ident: str = "") -> str:
    """A table from already-escaped cell HTML."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    id_attr = f' id="{e(ident)}"' if ident else ""
    return f'<table class="{css}"{id_attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def paper_span(cell: pd.Series, *, with_std: bool = True) -> str:
    """A paper number with its source (``data-paper-table/row/column``, ``data-value``)."""
    source = _attrs(paper_table=cell["table"], paper_row=cell["row"], paper_column=cell["column"])
    out = f'<span class="pn" {source} data-value="{e(cell["value"])}">{e(cell["value"])}</span>'
    if with_std and cell["std"]:
        out += f' ± <span class="ps" {source} data-std="{e(cell["std"])}">{e(cell["std"])}</span>'
    return out


def ours_span(cell: compare.OursCell, *, compact: bool = False) -> str:
    """One of our numbers (mean ± std, n) with its result file and row, and the ⚠ mark when data differ."""
    source = _attrs(result_file=cell.file, result_row=cell.file_row, experiment=cell.experiment, metric=cell.metric,
                    data_source=cell.data_source, n=cell.n_trials)
    title = f"{cell.file}, row {cell.file_row}: {cell.experiment} / {cell.metric} on {cell.column or cell.data_source}"
    if cell.notes:
        title += f" — {cell.notes}"
    if cell.also:
        title += f" (also: {', '.join(cell.also)})"
    out = f'<span class="on" {source} title="{e(title)}"><span class="om">{e(cell.mean_text)}</span>'
    if cell.n_trials > 1:
        out += f'<span class="opm"> ± <span class="os">{e(cell.std_text)}</span></span>'
    if not compact:
        out += f' <span class="onn">n={cell.n_trials}</span>'
    if cell.differs:
        out += f'<sup class="warn" title="data differ from the paper\'s">{DIFFERS_MARK}</sup>'
    if cell.notes:
        out += '<sup class="note">†</sup>'
    return out + "</span>"


def measure_span(measure: claims.Measure) -> str:
    """A number entering a claims check: ours or the paper's, with its source."""
    if measure.ours is not None:
        return ours_span(measure.ours, compact=True)
    return paper_span(measure.paper, with_std=False)


def verdict_badge(verdict: str) -> str:
    return f'<span class="verdict v-{e(verdict.replace(" ", "-"))}">{e(verdict)}</span>'


def source_badge(source: str) -> str:
    css = source.replace(" + ", "-").replace(" ", "-")
    return f'<span class="badge src-{e(css)}">{e(source)}</span>'


def column_badge(column: Column) -> str:
    run = f' <span class="small">run&nbsp;<code>{e(column.run)}</code></span>' if column.run else ""
    return source_badge(column.source) + run


def legend() -> str:
    return (f'<p class="legend"><span class="warn">{DIFFERS_MARK}</span> the data differ from the paper\'s: do not '
            'compare the number with the paper\'s directly. <sup class="note">†</sup> the result row has a note '
            '(hover, or see its file). Ours: mean ± std over trials, <span class="small">n</span> = trials. Hover a '
            'number for its result file and row.</p>')


# ----------------------------------------------------------------------------------------- the data situation


def data_situation(run: RunData) -> HTML:
    """What each data source is, what its numbers can and cannot say, and this run's prepared dataset."""
    counts = run.source_counts()
    rows = []
    for source, situation in DATA_SITUATION.items():
        n_rows, n_paper = counts[source]
        here = f"{n_rows} rows,<br>{n_paper} beside the paper's" if n_rows else "no rows"
        rows.append([source_badge(source), here, e(situation["what"]), e(situation["can"]), e(situation["cannot"])])
    out = table_html(["Data source", "In this run", "What it is", "What its numbers can say", "What they cannot say"],
                     rows, "plain datasit")
    meta = run.dataset_meta
    if meta:
        parts = [f"source {source_badge(meta.get('data_source', '?'))}"]
        if meta.get("feature_extractor"):
            parts.append(f"feature extractor recorded by the store: <code>{e(meta['feature_extractor'])}</code>")
        if meta.get("data_source_reason"):
            parts.append(f"labelled so because {e(meta['data_source_reason'])}")
        if meta.get("classes"):
            parts.append(f"{len(meta['classes'])} classes")
        if meta.get("counts"):
            parts.append(f"counts: {e(json.dumps(meta['counts']))}")
        description = f" — {e(meta['description'])}" if meta.get("description") else ""
        out += (f'<p class="small">This run\'s prepared dataset (<code>data/dataset.json</code>): '
                f'{" · ".join(parts)}{description}</p>')
    return HTML(out + legend())


def data_properties_block(run: RunData, paper: pd.DataFrame) -> HTML:
    """Method-independent properties of the data, and the difficulty sweep."""
    section = data_properties.data_properties_section(run, paper)
    if section is None:
        return HTML("<p>This run has no data diagnostics (notebook 01's <code>data_diagnostics</code> rows).</p>")
    baseline = ", ".join(f"{e(value)} % ({e(table)}{'' if column == 'Accuracy' else ', ' + e(column)})"
                         for table, column, value in section.baseline_i3d)
    generator = f", {e(section.generator)}" if section.generator else ""
    out = (f"<p>Method-independent properties of this run's data ({source_badge(section.data_source)}{generator}; "
           "notebook 01, <code>mmar.data.diagnostics</code>): k-means with cluster voting on mean-pooled raw "
           "features of K random classes (the paper's discovery protocol), beside the same clusters' accuracy with "
           "shuffled labels; a linear probe (ridge classifier, train to val videos); the share of variance between "
           "classes; the share of sentences naming their class. These, never the method's results, are what the "
           "stand-in generator is calibrated to. For comparison, the paper's k-means on real I3D features "
           f"(\"Baseline I3D features\"): {baseline} — on other datasets, at their own numbers of classes, so only "
           "the range is comparable. Notebook 06's discovery baseline runs the same k-means on other videos: the "
           "test videos of each trial's unseen classes, not all videos of randomly drawn classes, so its accuracy "
           "at the same K can differ.</p>")

    def number(value: float) -> str:
        return "" if value != value else f"{value:.3g}"

    out += table_html(["Diagnostic", "This run", "No-information level", "Real ActivityNet Captions annotations"],
                      [[e(label), number(r["this run"]), number(r["no-information level"]),
                        number(r["real annotations"])] for label, r in section.diagnostics.iterrows()],
                      ident="data-diagnostics")
    if section.sweep.empty:
        return HTML(out + "<p>The difficulty sweep was not run in this run (notebook 07's "
                          "<code>difficulty_sweep</code>; it needs stand-in data).</p>")
    percent = round(claims.CONFIDENCE * 100)
    out += ("<p><strong>Difficulty sweep</strong> (notebook 07, <code>mmar.studies.difficulty</code>): stand-in v2 "
            "datasets of one size and seed at several values of its nuisance knob; each central claim as a paired "
            f"difference per trial (same split, same seed) with its {percent} % t-interval. The stand-in cannot say "
            "which difficulty real I3D features have; it can say which verdicts change with it.</p>")
    out += "<ul>" + "".join(f"<li>{e(s)}</li>" for s in section.sentences) + "</ul>"
    sweep = section.sweep
    out += table_html(
        ["Nuisance", "Raw k-means (%)", "Difference", "Trials", "Mean (points)", f"{percent} % interval", "Verdict"],
        [[f"{r.nuisance:g}", f"{r[2]:.1f}", e(r.difference), str(r.trials), f"{r[6]:+.1f}",
          f"[{r.low:.1f}, {r.high:.1f}]", e(r.verdict)] for r in sweep.itertuples()], ident="difficulty-sweep")
    if section.figure:
        out += (f'<figure><img src="{section.figure}" alt="difficulty sweep"><figcaption>Each claim\'s paired '
                "difference against the nuisance knob (dots: trials; bars: 95 % interval).</figcaption></figure>")
    return HTML(out)


def kinetics_block(run: RunData) -> HTML:
    """How many unseen classes have a Kinetics-400 counterpart, per trial."""
    section = kinetics.kinetics_section(run)
    if section is None:
        return HTML("<p>This run has no prepared dataset with classes and zero-shot splits "
                    "(<code>data/dataset.json</code>, <code>data/splits.json</code>), so the overlap of its unseen "
                    "classes with Kinetics-400 is not computed.</p>")
    counts = section.counts
    out = ("<p>The paper's video features come from I3D trained on Kinetics-400, and the paper's protocol drew the "
           "unseen classes from all ActivityNet classes: <strong>it did not exclude the classes that Kinetics-400 "
           "also has</strong>, so such “unseen” classes had been seen by the feature extractor (the point of TruZe: "
           "Gowda et al., <em>A New Split for Evaluating True Zero-Shot Action Recognition</em>, GCPR 2021). "
           "Matching the class names (<code>mmar.data.kinetics</code>: content words, lightly stemmed; a counterpart "
           "has the same name or at least half of the ActivityNet name's words), "
           f"<strong>{counts['counterpart']} of this run's {counts['classes']} ActivityNet classes have a "
           f"Kinetics-400 counterpart</strong> ({counts['same_name']} of the same name) and "
           f"{counts['kinetics_disjoint']} are Kinetics-disjoint. ")
    if section.unseen_pool == "kinetics_disjoint":
        out += ("This run drew its unseen classes from the Kinetics-disjoint classes only "
                "(<code>unseen_pool: kinetics_disjoint</code>). ")
    else:
        out += (f"This run, like the paper, drew them from all its classes (<code>unseen_pool: "
                f"{e(section.unseen_pool)}</code>; <code>kinetics_disjoint</code> draws them from the "
                "Kinetics-disjoint classes only). ")
    if section.video_is_generated:
        out += ("For this run's data the overlap concerns the class names only: its video features are generated, "
                "not I3D features, so no feature extractor has seen any of its classes.</p>")
    else:
        out += ("With features of an extractor trained on Kinetics-400 (such as the paper's I3D), a trial's unseen "
                "classes with a counterpart were not unseen by the features.</p>")
    which = "Per trial of Table 1 in this run" if section.of_table1 else \
        "Per zero-shot split of this run (it has no Table 1 results)"
    per_k = "; ".join(f"K = {r.unseen_k}: {r.mean_counterpart:.1f} of {r.unseen_k} per trial on average "
                      f"({r.n_trials} trials)" for r in section.per_k.itertuples())
    splits = (run.dataset_meta or {}).get("n_trials")
    first = (f" Table 1 uses the first trials of the run's {splits} zero-shot splits per K; notebook 01 averages all "
             f"{splits}, so its number can differ." if section.of_table1 and splits else "")
    out += (f"<p>{which} (<code>data/splits.json</code>), the unseen classes with a Kinetics-400 counterpart: "
            f"{per_k}.{first}</p>")
    out += table_html(["K", "Trial", "With a counterpart", "Unseen class = / ~ Kinetics-400 class"],
                      [[str(r.unseen_k), str(r.trial), f"{r.n_counterpart} of {r.n_unseen}", e(r.counterparts)]
                       for r in section.trials.itertuples()], ident="kinetics-trials")
    out += (f"<details><summary>the {len(section.pairs)} ActivityNet classes of this run with a Kinetics-400 "
            "counterpart (“=” the same name, “~” another counterpart)</summary>"
            f'<p class="small">{" · ".join(e(p) for p in section.pairs)}</p></details>')
    return HTML(out)


# ----------------------------------------------------------------------------------- the paper's tables beside ours


def side_table(table: compare.SideTable) -> str:
    """One of the paper's tables with our columns beside each of its columns."""
    ours = table.our_columns
    width = 1 + len(table.columns) * (1 + len(ours))
    top = "".join(
        f'<th class="colgroup" colspan="{1 + len(ours)}">{e(c)}'
        + (f' <span class="chance">· chance {100 / int(c.split()[0]):g}%</span>' if c.endswith("unseen") else "")
        + "</th>" for c in table.columns)
    second = "".join(
        "<th>paper</th>" + "".join(
            f'<th class="ourshead">ours {column_badge(s)}<br><span class="chance">{e(table.trials_label(s))}'
            + (f' <span class="warn">{DIFFERS_MARK}</span>' if s.source != "activitynet" else "") + "</span></th>"
            for s in ours) for _ in table.columns)
    corner = "Losses" if table.name == "Table 1" else ""
    body, group = [], None
    for row in table.rows:
        if row.group and row.group != group:
            group = row.group
            body.append(f'<tr class="group"><th colspan="{width}">{e(row.group)}</th></tr>')
        cells = []
        for c in table.columns:
            paper_cell = row.paper[c]
            cells.append('<td class="paper">' + (paper_span(paper_cell) if paper_cell is not None
                                                 else '<span class="missing">—</span>') + "</td>")
            for s in ours:
                cell = row.ours[(c, s)]
                cells.append('<td class="ours">' + (ours_span(cell, compact=True) if cell
                                                    else '<span class="missing" title="not run">—</span>') + "</td>")
        body.append(f'<tr class="{"" if row.ran else "notrun"}"><th class="rowlabel">{e(row.label)}</th>'
                    + "".join(cells) + "</tr>")
    out = (f'<h3 id="{e(table.name.replace(" ", "-").lower())}">{e(table.name)}. {e(table.info.title)}</h3>'
           f'<p class="small">The title and data are the paper\'s: {e(table.info.data)}. Ours: '
           f'{" ".join(column_badge(s) for s in ours)}, our trials in each column\'s header</p>'
           f'<table class="side"><thead><tr><th rowspan="2">{corner}</th>{top}</tr><tr>{second}</tr></thead>'
           f'<tbody>{"".join(body)}</tbody></table>')
    if table.unmatched:
        out += (f'<div class="callout"><p><strong>{len(table.unmatched)} result row(s) name {e(table.name)} with labels '
                "that are not the paper's</strong> (so they are not placed above):</p><ul>"
                + "".join(f"<li>{ours_span(c)} — {e(c.notes)}</li>" for c in table.unmatched) + "</ul></div>")
    return out


def paper_tables(run: RunData, paper: pd.DataFrame) -> HTML:
    """Every paper table that has results of ours, with the run's set-aside and ignored files named first."""
    tables = [t for t in compare.all_tables(paper, run.results) if t.has_ours]
    out = "" if tables else "<p>No result of ours matches a table of the paper in this run.</p>"
    if run.set_aside:
        out += (f'<div class="callout"><p><strong>Result rows of other runs were set aside</strong> (only rows of run '
                f'<code>{e(run.run_info.get("run_id", "?"))}</code> are shown; <code>python -m mmar run</code> moves an '
                "earlier run's outputs to <code>previous/</code>):</p><ul>"
                + "".join(f"<li><code>{e(f)}</code></li>" for f in run.set_aside) + "</ul></div>")
    if run.ignored_files:
        out += ('<div class="callout"><p><strong>Files in <code>results/</code> that are not result files</strong> '
                "(not used):</p><ul>" + "".join(f"<li><code>{e(f)}</code></li>" for f in run.ignored_files)
                + "</ul></div>")
    return HTML(out + legend() + "".join(side_table(t) for t in tables))


def paper_figures(run: RunData, paper: pd.DataFrame) -> HTML:
    """Accuracy against the number of unseen classes, and the ablation curves, paper beside ours."""
    by_name = {t.name: t for t in compare.all_tables(paper, run.results)}
    plots = [f for f in (figures.accuracy_vs_unseen(by_name["Table 1"]), figures.ablation_curves(by_name)) if f]
    return HTML("".join(f'<figure id="fig-{e(f.key)}"><img src="{f.data_uri}" alt="{e(f.caption)}"><figcaption>'
                        f"<strong>Figure.</strong> {e(f.caption)}</figcaption></figure>" for f in plots))


def paper_only_tables(run: RunData, paper: pd.DataFrame) -> HTML:
    """The paper's tables for which this run has no result."""
    out = ""
    for table in compare.all_tables(paper, run.results):
        if table.has_ours:
            continue
        header = [""] + [e(c) for c in table.columns]
        rows = [[f'<span class="rowlabel">{e((r.group + ": ") if r.group else "")}{e(r.label)}</span>']
                + [paper_span(r.paper[c]) if r.paper[c] is not None else "" for c in table.columns]
                for r in table.rows]
        out += f"<h4>{e(table.name)}. {e(table.info.title)}</h4>" + table_html(header, rows, "side")
    return HTML(out or "<p>Every table of the paper has results in this run.</p>")


def not_run_entries(run: RunData, paper: pd.DataFrame) -> list[NotRun]:
    """What the run says was not run, plus every paper table without any result of ours."""
    entries = list(run.not_run)
    for table in compare.all_tables(paper, run.results):
        named = re.compile(rf"\b{re.escape(table.name)}\b")
        if table.has_ours or any(named.search(entry.what) for entry in entries):
            continue
        reason = table.info.needs_unavailable_videos or "no result rows for this table in this run"
        entries.append(NotRun(f"{table.name}: {table.info.title}", reason, "report"))
    return entries


def not_run(run: RunData, paper: pd.DataFrame) -> HTML:
    rows = [[e(n.what), e(n.reason), f"<code>{e(n.source)}</code>" + (f" of run <code>{e(n.run)}</code>" if n.run else "")]
            for n in not_run_entries(run, paper)]
    if not rows:
        rows = [["Every table of the paper has results in this run.", "", ""]]
    return HTML(table_html(["Experiment", "Why not", "Said by"], rows, ident="not-run-table"))


# --------------------------------------------------------------------------------------------- the claims audit


def claims_overview(run: RunData, audit: list[claims.AuditedClaim]) -> HTML:
    """One row per claim: where the paper makes it, the paper's own numbers by sign, our verdict per column."""
    header = ["Claim", "Where", "Paper's own numbers"] + [f"Ours on {column_badge(c)}" for c in run.paper_columns]
    rows = [[f'<a href="#claim-{e(a.claim.ident)}">{e(a.claim.text)}</a>', e(a.claim.where),
             a.paper.text("holds")]
            + [f"{verdict_badge(a.by_column[c].verdict)}<br><span class=\"small\">{a.by_column[c].computed} of "
               f"{len(a.by_column[c].results)} checks computed</span>" for c in run.paper_columns] for a in audit]
    out = table_html(header, rows, "audit plain")
    if not run.paper_columns:
        out += "<p>No results for the paper's tables in this run: every claim is not tested here.</p>"
    return HTML(out)


def _measures(result: claims.CheckResult) -> str:
    joiner = " vs " if result.check.kind == "greater" else ", "
    return joiner.join(measure_span(m) for m in result.measures)


def claims_details(run: RunData, audit: list[claims.AuditedClaim]) -> HTML:
    """For each claim, the numbers behind every verdict."""
    percent = f"{claims.CONFIDENCE * 100:g}"
    out = ""
    for a in audit:
        header = ["Check", "Paper"]
        for c in run.paper_columns:
            header += [f"Ours on {column_badge(c)}: numbers (mean ± std)", "d̄", f"{percent}% interval",
                       "paired trials", ""]
        rows = []
        for i, check in enumerate(a.claim.checks):
            paper_result = a.paper.results[i]
            threshold = lambda r: f" (threshold {r.threshold:.1f})" if r.threshold == r.threshold else ""  # noqa: E731
            holds = {claims.SUPPORTED: "holds", claims.TIE: "tie: equal numbers"}.get(paper_result.verdict,
                                                                                      "does not hold")
            row = [e(check.text), f"{_measures(paper_result)}{threshold(paper_result)}<br>"
                                  f'<span class="small">{holds} (d = {paper_result.diff:.2f})</span>']
            for c in run.paper_columns:
                r = a.by_column[c].results[i]
                reason = f'<br><span class="small">{e(r.reason)}</span>' if r.reason else ""
                row += [_measures(r) + threshold(r), f"{r.diff:.2f}" if r.diff == r.diff else "",
                        f'<span class="interval">{r.interval_text}</span>',
                        str(r.n_paired) if r.verdict != claims.NOT_TESTED else "", verdict_badge(r.verdict) + reason]
            rows.append(row)
        out += (f'<h4 id="claim-{e(a.claim.ident)}">{e(a.claim.text)} <span class="small">({e(a.claim.where)})'
                "</span></h4>" + table_html(header, rows, "checks plain"))
    return HTML(out)


def inconsistencies_block(paper: pd.DataFrame) -> HTML:
    """The paper's internal inconsistencies, each with what speaks for the paper."""

    def fill(finding: inconsistencies.Finding, text: str) -> str:
        return e(text).format(*[paper_span(c, with_std=False) for c in finding.cells])

    items = []
    for finding in inconsistencies.all_findings(paper):
        item = f"<li><strong>{e(finding.title)}.</strong> {fill(finding, finding.statement)} " \
               f'<span class="small">({e(finding.computed)})</span>'
        if finding.counter:
            item += f"<br><em>On the other side:</em> {fill(finding, finding.counter)}"
        items.append(item + "</li>")
    shared = "; ".join(" = ".join(f"{paper_span(c, with_std=False)} ({e(c.table)}, {e(c.row)}, {e(c.column)})"
                                  for c in cells) for _, cells in inconsistencies.cross_table_coincidences(paper))
    return HTML(f'<ol id="inconsistencies">{"".join(items)}</ol><p class="small">Values shared by exactly two tables '
                "(some may be one experiment reported twice, e.g. Table 6's attention filters and Table 1's joint "
                f"row, as Table 6 probably uses the joint loss only): {shared}. Table 2's earlier methods were taken "
                "from other papers, whose protocols (class splits, features) may differ from the authors' "
                "cross-dataset set-up.</p>")


# ----------------------------------------------------------------------------------------- beyond the paper


def variant_of(cell: compare.OursCell) -> str:
    """The variant a result row measures: the first clause of its note (the rest describes the protocol); a ``;``
    inside brackets, as in "... (real; no video features)", does not end the clause."""
    return first_clause(cell.notes) if cell.notes else cell.metric


def interval_text(cell: compare.OursCell) -> str:
    """Mean with its 95 % t-interval over trials (mean alone for one trial)."""
    if len(cell.values) >= 2:
        _, low, high = t_interval(list(cell.values))
        return f"{cell.mean_text} [{compare.fmt(low, cell.unit)}, {compare.fmt(high, cell.unit)}]"
    return cell.mean_text


def beyond_paper_frame(run: RunData) -> pd.DataFrame:
    """Every result row outside the paper's tables, one line each (what the CSV download holds)."""
    cells = compare.further_results(run.results)
    return pd.DataFrame([dict(experiment=c.experiment, variant=variant_of(c), metric=c.metric, unit=c.unit,
                              mean=c.mean, std=c.std, n_trials=c.n_trials, values=json.dumps(list(c.values)),
                              data_source=c.data_source, notes=c.notes, file=c.file, file_row=c.file_row)
                         for c in cells])


def _metric_label(cell: compare.OursCell) -> str:
    return cell.metric + (f" ({cell.unit})" if cell.unit else "")


def _compact_span(cell: compare.OursCell) -> str:
    return f'<span class="oc" {_attrs(result_file=cell.file, result_row=cell.file_row)}>{e(interval_text(cell))}</span>'


def trials_text(counts: Iterable[int]) -> str:
    """"n = 1 trial", "n = 5 trials", "n = 1, 10 trials"."""
    counts = sorted(set(counts))
    return f"n = {', '.join(map(str, counts))} trial{'' if counts == [1] else 's'}"


def sources_text(columns: Iterable[Column]) -> str:
    """The data sources (and runs) of an experiment's rows, each its own badge, separated by commas."""
    return ", ".join(column_badge(c) for c in dict.fromkeys(columns))


def _grid_rows(grouped: dict[str, list[compare.OursCell]], metrics: list[str],
               with_source: bool) -> list[list[str]]:
    """One table row per variant and column (run, data source), one value per cell: a second row of the same
    variant, column and metric opens another table row rather than sharing the cell."""
    rows: list[tuple[str, Column, dict[str, str]]] = []
    for variant, group in grouped.items():
        mine: list[tuple[str, Column, dict[str, str]]] = []
        for c in group:
            column = c.column or Column(c.data_source)
            metric = _metric_label(c)
            slot = next((r for r in mine if r[1] == column and metric not in r[2]), None)
            if slot is None:
                slot = (variant, column, {})
                mine.append(slot)
            slot[2][metric] = _compact_span(c)
        rows += mine
    return [[e(variant)] + ([column_badge(column)] if with_source else []) + [cells.get(m, "") for m in metrics]
            for variant, column, cells in rows]


def beyond_paper_tables(run: RunData) -> HTML:
    """One block per experiment: a table of variants x metrics (each cell: mean [95 % interval]) for the variants
    measured by two or more metrics, then a list (metric, value, note) of the rows that are alone in their variant.
    Where an experiment's rows come from more than one data source (or run), both tables get a "data" column and
    each row of the first holds one data source's numbers."""
    cells = compare.further_results(run.results)
    if not cells:
        return HTML("<p>None in this run.</p>")
    out = ""
    for experiment in dict.fromkeys(c.experiment for c in cells):
        mine = [c for c in cells if c.experiment == experiment]
        by_variant: dict[str, list[compare.OursCell]] = {}
        for c in mine:
            by_variant.setdefault(variant_of(c), []).append(c)
        grouped = {v: group for v, group in by_variant.items() if len(group) >= 2}
        alone = [group[0] for group in by_variant.values() if len(group) == 1]
        columns = [c.column or Column(c.data_source) for c in mine]
        mixed = len(set(columns)) > 1
        out += (f'<h4>{e(experiment)} <span class="small">({trials_text(c.n_trials for c in mine)}; '
                f'data: {sources_text(columns)})</span></h4>')
        data_header = ["data"] if mixed else []
        if grouped:
            metrics = list(dict.fromkeys(_metric_label(c) for group in grouped.values() for c in group))
            out += table_html(["variant"] + data_header + [e(m) for m in metrics],
                              _grid_rows(grouped, metrics, mixed), "plain compact")
        if alone:
            out += table_html(["metric"] + data_header + ["mean [95 % interval]", "what"],
                              [[e(_metric_label(c))]
                               + ([column_badge(c.column or Column(c.data_source))] if mixed else [])
                               + [_compact_span(c), f'<span class="small">{e(c.notes)}</span>']
                               for c in alone], "plain compact")
    return HTML(out)


# -------------------------------------------------------------------------------------------- the environment


def rebuild_command(run_dir: Path) -> str:
    try:
        shown = run_dir.relative_to(PROJECT_ROOT)
    except ValueError:
        shown = run_dir
    return f"python -m mmar report {shown}"


def environment_block(run: RunData) -> HTML:
    """Environment, time and memory per notebook, seeds, each notebook's settings."""
    profile = run.run_info.get("profile") or run.run_dir.name
    out = (f"<p>Rebuild this book from the run folder: <code>{e(rebuild_command(run.run_dir))}</code>. Re-run "
           f"everything: <code>python -m mmar run --profile {e(profile)}</code>.</p>")
    out += table_html(["Environment", ""], [[e(k), f"<code>{e(v)}</code>"] for k, v in environment.environment(run)],
                      ident="environment")
    timings = environment.timings(run)
    rows = [[e(t.notebook), e(t.status), "—" if t.seconds is None else f"{t.seconds:.1f}",
             *("—" if mb is None else f"{mb:.0f}" for mb in (t.peak_rss_mb, t.peak_all_mb))] for t in timings]
    if timings:
        rows.append(["<strong>total</strong>", "", f"{sum(t.seconds or 0 for t in timings):.1f}", "", ""])
    else:
        rows = [["No timings.json in this run.", "", "", "", ""]]
    out += table_html(["Notebook", "Status", "Time (s)", "Peak memory, largest process (MB)",
                       "Peak memory, all its processes (MB)"], rows, ident="timings")
    seeds = environment.seeds(run) or [("No seeds recorded.", "")]
    out += table_html(["Seeds: where", "Values"], [[f"<code>{e(w)}</code>", e(v)] for w, v in seeds])
    settings = {nb: entry.get("settings", {}) for nb, entry in run.timings.items() if isinstance(entry, dict)}
    out += table_html(["Notebook", "Settings (from <code>timings.json</code>)"],
                      [[e(nb), f"<code>{e(json.dumps(p, sort_keys=True))}</code>"] for nb, p in settings.items()]
                      or [["Not recorded.", ""]])
    return HTML(out)


def loss_histories(run: RunData) -> HTML:
    """Every loss history of the run (``logs/*.csv``) as a small figure."""
    dataset_source = (run.dataset_meta or {}).get("data_source", "")
    plots = figures.loss_histories(run.logs, run.run_dir, dataset_source)
    if not plots:
        return HTML("<p>This run saved no loss histories (<code>logs/*.csv</code>).</p>")
    return HTML('<div class="gallery">' + "".join(
        f'<figure><img src="{f.data_uri}" alt="{e(f.caption)}"><figcaption>{e(f.caption)}</figcaption></figure>'
        for f in plots) + "</div>")


def claims_rules() -> HTML:
    """How a check and a claim get their verdicts (the constants of :mod:`mmar.report.claims`)."""
    percent = f"{claims.CONFIDENCE * 100:g}"
    return HTML(
        "<p>Each claim of the paper is checked on our result rows, separately for each column of ours (run and data "
        "source), by rules fixed in <code>mmar/report/claims.py</code> (not by hand). Rows of the same trial share "
        "its split and seed, so a check compares them trial by trial: it computes, for every trial common to the "
        "numbers involved (matched by the seeds the result rows record), a difference <em>d</em> that is positive "
        f"when the claim holds, and gives the mean <em>d̄</em> with its {percent}% t-interval over those paired "
        f"trials. “Near chance” means at most {claims.NEAR_CHANCE_FRACTION * 100:g}% of the way from chance to 100% "
        "accuracy; its <em>d</em> is how far the accuracy lies below that bound.</p>"
        f'<p class="small">{verdict_badge(claims.SUPPORTED)} the interval lies above 0 · '
        f"{verdict_badge(claims.CONTRADICTED)} it lies below 0 · {verdict_badge(claims.INCONCLUSIVE)} it contains 0 · "
        f"{verdict_badge(claims.TOO_FEW)} fewer than {claims.MIN_TRIALS} paired trials (the interval is shown from "
        f"2) · {verdict_badge(claims.NOT_TESTED)} no result for a number the check needs. A claim is contradicted "
        "if any of its checks is, supported only if all of them are, not tested if none could be computed, “too "
        "few trials” if every computed check has too few, and inconclusive otherwise (so a claim some of whose "
        "checks this run cannot compute is at best inconclusive, even where every computed check holds). The column "
        "“paper's own numbers” runs the same checks on the paper's values by sign alone (the paper gives no spreads "
        "there); a check whose numbers are equal is a tie.</p>")


def open_choices(run: RunData) -> HTML:
    """``report/open_choices.yaml``: what the paper says, our value in this run, and why."""
    rows = []
    for choice in choices.load_choices(run):
        values = "".join(f'<code>{e(value)}</code> <span class="small">({e(where)})</span><br>'
                         for where, value in choice.values)
        if choice.fixed_in_code:
            values += f'<span class="small">fixed in code: {e(choice.fixed_in_code)}</span>'
        if choice.parameters and not choice.values:
            values += f'<span class="small">not recorded in this run (looked for {e(", ".join(choice.parameters))})</span>'
        rows.append([f"<strong>{e(choice.topic)}</strong>", f'<span class="small">{e(choice.paper)}</span>', values,
                     f'<span class="small">{e(choice.why)}</span>'])
    return HTML(table_html(["Choice", "What the paper says", "Our value in this run", "Why"], rows, ident="choices"))

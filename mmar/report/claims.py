"""The claims audit: each claim of the paper checked against our result rows, per column (run, data source).

A claim is a list of checks. Every check reduces to a difference ``d`` that is positive when the
claim holds. Rows of one run that share a trial share its split and seed, so ``d`` is computed
**per trial** on the trials common to every number involved (matched by the seeds the result rows
record, one per value):

* ``A > B``                      d_t = A_t − B_t
* gain ``A1 − B1`` > ``A2 − B2``  d_t = (A1_t − B1_t) − (A2_t − B2_t)
* ``A`` near chance c            d_t = τ − A_t with τ = c + 0.1·(100 − c) (a tenth of the way from chance
                                 to perfect accuracy)

With n paired trials, the mean difference d̄ gets a two-sided 95% t-interval
d̄ ± t(0.975, n − 1) · s_d / √n (s_d: the standard deviation of the d_t, n − 1 degrees of freedom).

Verdict of a check: **supported** if the interval lies above 0, **contradicted** if it lies below 0,
**inconclusive** if it contains 0, **too few trials** below :data:`MIN_TRIALS` paired trials (the
interval is still shown when n ≥ 2). A check whose numbers are missing is **not tested here**.
Verdict of a claim: **not tested here** when no check could be computed; **contradicted** when any
check is; **supported** when every check is; **too few trials** when every computed check has too few;
**inconclusive** otherwise. The paper's own numbers are run through the same checks by sign alone
(the paper gives no spreads for these tables); on them a check with d = 0 (equal printed numbers) is a **tie**.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from mmar.evaluation.paired import CONFIDENCE, MIN_TRIALS, NEAR_CHANCE_FRACTION, t_interval  # noqa: F401 (re-exported)
from mmar.report.compare import OursCell, index_results
from mmar.report.paper import paper_cell
from mmar.report.rundata import Column

SUPPORTED, CONTRADICTED, INCONCLUSIVE, TOO_FEW, NOT_TESTED = (
    "supported", "contradicted", "inconclusive", "too few trials", "not tested here")
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, TOO_FEW, NOT_TESTED)
#: The verdict of a check on the paper's own numbers when d = 0 (its numbers are printed with at most two
#: decimals, so a d within :data:`TIE_TOLERANCE` of 0 is float rounding of equal numbers).
TIE = "tie"
TIE_TOLERANCE = 1e-6

Key = tuple[str, str, str]  # (paper table, paper row, paper column)


@dataclass
class Measure:
    """A number entering a check: ours (with its result row and per-trial values) or the paper's (its CSV row)."""

    key: Key
    mean: float
    std: float
    n_trials: int
    chance: float
    ours: OursCell | None = None
    paper: pd.Series | None = None
    values: tuple[float, ...] = ()  # per trial, in the order of ``trials``
    trials: tuple[int, ...] = ()    # trial ids (seeds); () when the row does not record one per value

    def by_trial(self) -> dict[int, float]:
        return dict(zip(self.trials, self.values))


Getter = Callable[[Key], "Measure | None"]


@dataclass(frozen=True)
class Check:
    """One comparison. ``kind`` is "greater" (keys A, B), "gain_larger" (A1, B1, A2, B2) or "near_chance" (A)."""

    kind: str
    keys: tuple[Key, ...]
    text: str


@dataclass
class CheckResult:
    check: Check
    verdict: str
    measures: list[Measure]
    diff: float = math.nan       # mean per-trial difference d̄ (the paper: d of its numbers)
    low: float = math.nan        # 95% interval of d̄
    high: float = math.nan
    n_paired: int = 0
    trials: tuple[int, ...] = ()  # the paired trial ids
    diffs: tuple[float, ...] = ()  # the per-trial differences d_t, in the order of ``trials``
    threshold: float = math.nan
    reason: str = ""

    @property
    def interval_text(self) -> str:
        if math.isnan(self.low):
            return ""
        return f"[{self.low:.2f}, {self.high:.2f}]"


@dataclass(frozen=True)
class Claim:
    ident: str
    text: str
    where: str  # where the paper makes it
    checks: tuple[Check, ...]


@dataclass
class ClaimVerdict:
    verdict: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def computed(self) -> int:
        return sum(r.verdict != NOT_TESTED for r in self.results)


@dataclass
class PaperDirection:
    """The paper's own numbers through the same checks, by sign: how many checks hold, and how many tie
    (d = 0: equal printed numbers; neither holding nor failing)."""

    holds: int
    total: int
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ties(self) -> int:
        return sum(r.verdict == TIE for r in self.results)

    def text(self, verb: str = "hold") -> str:
        """``hold in 14 of 16 checks (1 tie)``, with ``verb`` first."""
        ties = f" ({self.ties} tie{'s' * (self.ties > 1)})" if self.ties else ""
        return f"{verb} in {self.holds} of {self.total} checks{ties}"


@dataclass
class AuditedClaim:
    claim: Claim
    paper: PaperDirection
    by_column: dict[Column, ClaimVerdict]


def unseen_k_of(column: str) -> int | None:
    """The number of unseen classes of a column like "5 unseen" (5); None when the label has no class count."""
    match = re.fullmatch(r"(\d+) unseen", column)
    return int(match.group(1)) if match else None


def chance_of(column: str) -> float:
    """Chance accuracy (%) for a column like "5 unseen" (100/5); NaN when the label has no class count."""
    k = unseen_k_of(column)
    return math.nan if k is None else 100.0 / k


def threshold_of(check: Check, chance: float) -> float:
    """The "near chance" bound τ = c + 0.1·(100 − c); NaN for other kinds of check."""
    if check.kind != "near_chance":
        return math.nan
    return chance + NEAR_CHANCE_FRACTION * (100.0 - chance)


def difference(check: Check, numbers: Sequence[float], threshold: float = math.nan) -> float:
    """d of one set of numbers (one trial's values, or the paper's), as defined in the module docstring."""
    if check.kind == "greater":
        return numbers[0] - numbers[1]
    if check.kind == "gain_larger":
        return (numbers[0] - numbers[1]) - (numbers[2] - numbers[3])
    if check.kind == "near_chance":
        return threshold - numbers[0]
    raise ValueError(f"unknown check kind {check.kind!r}")


def paired_trials(measures: Sequence[Measure]) -> tuple[int, ...]:
    """Trial ids present in every measure, sorted."""
    common = set(measures[0].trials)
    for m in measures[1:]:
        common &= set(m.trials)
    return tuple(sorted(common))


def evaluate(check: Check, get: Getter) -> CheckResult:
    """Evaluate one check on the numbers ``get`` returns (None = missing), by paired per-trial differences."""
    measures = [get(key) for key in check.keys]
    present = [m for m in measures if m is not None]
    if len(present) < len(measures):
        missing = list(dict.fromkeys(f"{k[1]}" + ("" if k[2] == "Accuracy" else f" ({k[2]})")
                                     for k, m in zip(check.keys, measures) if m is None))
        return CheckResult(check, NOT_TESTED, present, reason="no result for " + "; ".join(missing))
    threshold = threshold_of(check, present[0].chance)
    if check.kind == "near_chance" and math.isnan(threshold):
        return CheckResult(check, NOT_TESTED, present, reason="chance level unknown")
    unmatched = [m for m in present if not m.trials]
    if unmatched:
        return CheckResult(check, TOO_FEW, present, threshold=threshold,
                           reason="trials cannot be paired: a result row records no seed per value")
    trials = paired_trials(present)
    tables = [m.by_trial() for m in present]
    diffs = [difference(check, [t[trial] for t in tables], threshold) for trial in trials]
    result = CheckResult(check, TOO_FEW, present, n_paired=len(trials), trials=trials, diffs=tuple(diffs),
                         threshold=threshold)
    if len(diffs) >= 1:
        result.diff = float(np.mean(diffs))
    if len(diffs) >= 2:
        result.diff, result.low, result.high = t_interval(diffs)
    if len(trials) < MIN_TRIALS:
        result.reason = f"{len(trials)} paired trial(s), fewer than {MIN_TRIALS}"
    elif result.low > 0:
        result.verdict = SUPPORTED
    elif result.high < 0:
        result.verdict = CONTRADICTED
    else:
        result.verdict = INCONCLUSIVE
        result.reason = f"95% interval {result.interval_text} contains 0"
    return result


def combine(results: list[CheckResult]) -> str:
    """A claim's verdict from its checks' verdicts (rule in the module docstring)."""
    computed = [r.verdict for r in results if r.verdict != NOT_TESTED]
    if not computed:
        return NOT_TESTED
    if CONTRADICTED in computed:
        return CONTRADICTED
    if len(computed) == len(results) and all(v == SUPPORTED for v in computed):
        return SUPPORTED
    if all(v == TOO_FEW for v in computed):
        return TOO_FEW
    return INCONCLUSIVE


def ours_getter(results: pd.DataFrame, column: Column | str) -> Getter:
    """Look up our number for a paper cell in one column (a data source alone means the single-run column)."""
    index = index_results(results)
    column = column if isinstance(column, Column) else Column(column)

    def get(key: Key) -> Measure | None:
        cell = index.get((*key, column))
        if cell is None:
            return None
        chance = cell.chance if not math.isnan(cell.chance) else chance_of(key[2])
        return Measure(key, cell.mean, cell.std, cell.n_trials, chance, ours=cell, values=cell.values,
                       trials=cell.trials)

    return get


def paper_getter(paper: pd.DataFrame) -> Getter:
    """Look up the paper's number (no spread; sign-only checks)."""

    def get(key: Key) -> Measure | None:
        cell = paper_cell(paper, *key)
        if cell is None:
            return None
        return Measure(key, float(cell["value_f"]), 0.0, 0, chance_of(key[2]), paper=cell)

    return get


def paper_direction(claim: Claim, paper: pd.DataFrame) -> PaperDirection:
    """How many of the claim's checks hold on the paper's own numbers (d > 0); |d| < :data:`TIE_TOLERANCE`
    is a tie (:data:`TIE`), d below it contradicts."""
    get = paper_getter(paper)
    results = []
    for check in claim.checks:
        measures = [get(k) for k in check.keys]
        if any(m is None for m in measures):
            raise KeyError(f"claim {claim.ident}: the paper has no cell {check.keys}")
        threshold = threshold_of(check, measures[0].chance)
        d = difference(check, [m.mean for m in measures], threshold)
        verdict = TIE if abs(d) < TIE_TOLERANCE else SUPPORTED if d > 0 else CONTRADICTED
        results.append(CheckResult(check, verdict, measures, d, threshold=threshold))
    return PaperDirection(sum(r.verdict == SUPPORTED for r in results), len(results), results)


# -- the claims -----------------------------------------------------------------------------------
T1_COLUMNS = ("5 unseen", "10 unseen", "20 unseen", "50 unseen")
P, PU = "Paired: ", "Paired + Unpaired: "
JR, JRC, JRY, JRCY = "joint + recons", "joint + recons + cross", "joint + recons + cycle", "joint + recons + cross + cycle"
ALL_ADV = PU + "All terms (incl. adversarial)"


def _t1(row: str, column: str) -> Key:
    return ("Table 1", row, column)


def _greater(a: Key, b: Key) -> Check:
    return Check("greater", (a, b), f"“{a[1]}” > “{b[1]}” at {a[2]}" if a[2] != "Accuracy" else f"“{a[1]}” > “{b[1]}”")


def _claims() -> tuple[Claim, ...]:
    t6 = lambda row: ("Table 6", row, "Accuracy")  # noqa: E731
    t7 = lambda row: ("Table 7", row, "Accuracy")  # noqa: E731
    t8 = lambda row: ("Table 8", row, "Accuracy")  # noqa: E731
    ratios = ["100% / 0%", "75% / 25%", "50% / 50%", "25% / 75%", "0% / 100%"]
    return (
        Claim("joint", "A joint embedding beats a fixed text representation for zero-shot recognition", "§4.2, Table 1",
              tuple(_greater(_t1(P + "joint", c), _t1(P + "Fixed Text Representation (baseline)", c)) for c in T1_COLUMNS)),
        Claim("pooling", "Temporal attention filters beat max pooling, sum pooling and an LSTM", "App. A.1, Table 6",
              tuple(_greater(t6("Temporal attention filters"), t6(other))
                    for other in ("Max pooling", "Sum pooling", "LSTM"))),
        Claim("no_joint", "Without the joint term, recons + cross (Ngiam et al. style) is near chance", "§4.2, Table 1",
              tuple(Check("near_chance", (_t1(P + "recons + cross (Ngiam-style baseline)", c),),
                          f"“recons + cross” at {c} near chance")
                    for c in T1_COLUMNS)),
        Claim("cross_cycle", "The cross-domain and cycle terms add accuracy", "§4.2, Table 1 (paired data)",
              tuple(chk for c in T1_COLUMNS for chk in (
                  _greater(_t1(P + JRC, c), _t1(P + JR, c)),
                  _greater(_t1(P + JRY, c), _t1(P + JR, c)),
                  _greater(_t1(P + JRCY, c), _t1(P + JRC, c)),
                  _greater(_t1(P + JRCY, c), _t1(P + JR, c))))),  # both terms together
        Claim("adversarial", "Adversarial training with unpaired data adds accuracy, most at 5 unseen classes",
              "§4.2, Table 1",
              tuple(_greater(_t1(ALL_ADV, c), _t1(P + JRCY, c)) for c in T1_COLUMNS)
              + tuple(_greater(_t1(ALL_ADV, c), _t1(PU + JRCY, c)) for c in T1_COLUMNS)
              + tuple(Check("gain_larger", (_t1(ALL_ADV, "5 unseen"), _t1(P + JRCY, "5 unseen"),
                                            _t1(ALL_ADV, c), _t1(P + JRCY, c)),
                            f"gain of all terms over paired-only {JRCY}: 5 unseen > {c}") for c in T1_COLUMNS[1:])),
        Claim("unpaired_amount", "More unpaired data helps, then saturates", "App. A.2, Table 8",
              (_greater(t8("10k"), t8("0")),
               Check("gain_larger", (t8("20k"), t8("0"), t8("60k"), t8("20k")),
                     "gain from 0 to 20k unpaired > gain from 20k to 60k"))),
        Claim("ratio", "Accuracy falls as the share of paired data falls (fixed total)", "App. A.2, Table 7",
              tuple(_greater(t7(a), t7(b)) for a, b in zip(ratios, ratios[1:]))),
        Claim("captioning", "Unseen captioning improves with all paired terms and again with unpaired data",
              "§4.4, Table 5",
              tuple(chk for m in ("METEOR", "CIDEr") for chk in (
                  _greater(("Table 5", "All (paired)", m), ("Table 5", "Joint", m)),
                  _greater(("Table 5", "All (paired + unpaired)", m), ("Table 5", "All (paired)", m))))),
    )


CLAIMS: tuple[Claim, ...] = _claims()


def audit(paper: pd.DataFrame, results: pd.DataFrame, columns: Sequence[Column | str]) -> list[AuditedClaim]:
    """Every claim: its checks on the paper's numbers (sign only) and on ours, per column (run, data source)."""
    columns = [c if isinstance(c, Column) else Column(c) for c in columns]
    getters = {column: ours_getter(results, column) for column in columns}
    audited = []
    for claim in CLAIMS:
        by_column = {}
        for column, get in getters.items():
            checks = [evaluate(check, get) for check in claim.checks]
            by_column[column] = ClaimVerdict(combine(checks), checks)
        audited.append(AuditedClaim(claim, paper_direction(claim, paper), by_column))
    return audited

"""The claims audit: each claim of the paper checked against our result rows, per data source.

A claim is a list of checks. Every check reduces to a difference ``d`` that is positive when the
claim holds, and a spread ``s``, the root sum of squares of the trial standard deviations of the
numbers involved (the spread of ``d`` if those numbers were independent single trials):

* ``A > B``                      d = A − B,                 s = √(s_A² + s_B²)
* gain ``A1 − B1`` > ``A2 − B2``  d = (A1 − B1) − (A2 − B2),  s = √(s_A1² + s_B1² + s_A2² + s_B2²)
* ``A`` near chance c            d = t − A with t = c + 0.1·(100 − c) (a tenth of the way from chance to
                                 perfect accuracy),           s = s_A

Verdict of a check: **supported** if d > s, **contradicted** if d < −s, **inconclusive** if |d| ≤ s (the
spreads overlap) or if a number has fewer than 2 trials (no spread to judge by). A check whose
numbers are missing is not tested. Verdict of a claim: **not tested here** when no check could be
computed; **contradicted** when any check is; **supported** when every check was computed and is
supported; **inconclusive** otherwise. The paper's own numbers are run through the same checks by
sign alone (the paper gives no spreads for these tables).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from mmar.report.compare import OursCell, index_results
from mmar.report.paper import paper_cell

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTED = "supported", "contradicted", "inconclusive", "not tested here"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_TESTED)
NEAR_CHANCE_FRACTION = 0.1

Key = tuple[str, str, str]  # (paper table, paper row, paper column)


@dataclass
class Measure:
    """A number entering a check: ours (with its result row) or the paper's (with its CSV row)."""

    key: Key
    mean: float
    std: float
    n_trials: int
    chance: float
    ours: OursCell | None = None
    paper: pd.Series | None = None


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
    diff: float = math.nan
    spread: float = math.nan
    threshold: float = math.nan
    reason: str = ""


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
    """The paper's own numbers through the same checks, by sign: how many checks hold."""

    holds: int
    total: int
    results: list[CheckResult] = field(default_factory=list)


@dataclass
class AuditedClaim:
    claim: Claim
    paper: PaperDirection
    by_source: dict[str, ClaimVerdict]


def chance_of(column: str) -> float:
    """Chance accuracy (%) for a column like "5 unseen" (100/5); NaN when the label has no class count."""
    match = re.fullmatch(r"(\d+) unseen", column)
    return 100.0 / int(match.group(1)) if match else math.nan


def _difference(check: Check, m: list[Measure]) -> tuple[float, float, float]:
    """(d, s, threshold) as defined in the module docstring."""
    if check.kind == "greater":
        return m[0].mean - m[1].mean, math.hypot(m[0].std, m[1].std), math.nan
    if check.kind == "gain_larger":
        d = (m[0].mean - m[1].mean) - (m[2].mean - m[3].mean)
        return d, math.sqrt(sum(x.std ** 2 for x in m)), math.nan
    if check.kind == "near_chance":
        chance = m[0].chance
        threshold = chance + NEAR_CHANCE_FRACTION * (100.0 - chance)
        return threshold - m[0].mean, m[0].std, threshold
    raise ValueError(f"unknown check kind {check.kind!r}")


def evaluate(check: Check, get: Getter) -> CheckResult:
    """Evaluate one check on the numbers ``get`` returns (None = missing)."""
    measures = [get(key) for key in check.keys]
    present = [m for m in measures if m is not None]
    if len(present) < len(measures):
        missing = list(dict.fromkeys(f"{k[1]}" + ("" if k[2] == "Accuracy" else f" ({k[2]})")
                                     for k, m in zip(check.keys, measures) if m is None))
        return CheckResult(check, NOT_TESTED, present, reason="no result for " + "; ".join(missing))
    if check.kind == "near_chance" and math.isnan(present[0].chance):
        return CheckResult(check, NOT_TESTED, present, reason="chance level unknown")
    d, s, threshold = _difference(check, present)
    result = CheckResult(check, INCONCLUSIVE, present, d, s, threshold)
    if min(m.n_trials for m in present) < 2:
        result.reason = "fewer than 2 trials: no spread to judge by"
    elif d > s:
        result.verdict = SUPPORTED
    elif d < -s:
        result.verdict = CONTRADICTED
    else:
        result.reason = f"spreads overlap: |d| = {abs(d):.2f} ≤ s = {s:.2f}"
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
    return INCONCLUSIVE


def ours_getter(results: pd.DataFrame, data_source: str) -> Getter:
    """Look up our number for a paper cell on one data source."""
    index = index_results(results)

    def get(key: Key) -> Measure | None:
        cell = index.get((*key, data_source))
        if cell is None:
            return None
        chance = cell.chance if not math.isnan(cell.chance) else chance_of(key[2])
        return Measure(key, cell.mean, cell.std, cell.n_trials, chance, ours=cell)

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
    """How many of the claim's checks hold on the paper's own numbers (d > 0)."""
    get = paper_getter(paper)
    results = []
    for check in claim.checks:
        measures = [get(k) for k in check.keys]
        if any(m is None for m in measures):
            raise KeyError(f"claim {claim.ident}: the paper has no cell {check.keys}")
        d, _, threshold = _difference(check, measures)
        results.append(CheckResult(check, SUPPORTED if d > 0 else CONTRADICTED, measures, d, 0.0, threshold))
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
                  _greater(_t1(P + JRCY, c), _t1(P + JRC, c))))),
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


def audit(paper: pd.DataFrame, results: pd.DataFrame, data_sources: list[str]) -> list[AuditedClaim]:
    """Every claim: its checks on the paper's numbers (sign only) and on ours, per data source."""
    audited = []
    for claim in CLAIMS:
        by_source = {}
        for source in data_sources:
            get = ours_getter(results, source)
            checks = [evaluate(check, get) for check in claim.checks]
            by_source[source] = ClaimVerdict(combine(checks), checks)
        audited.append(AuditedClaim(claim, paper_direction(claim, paper), by_source))
    return audited

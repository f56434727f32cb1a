"""The experiment grid of notebooks 06 (evaluation) and 07 (ablations).

- :mod:`mmar.experiments.rows`: the rows (Table 1, 6, 7, 8 and our ablations) and their data modes;
- :mod:`mmar.experiments.cells`: settings and cells (row, K, trial) with their cache keys;
- :mod:`mmar.experiments.run`: cells grouped into ensembles, trained, evaluated, cached;
- :mod:`mmar.experiments.records`: what a cell left (:class:`CellResult` or :class:`CellFailure`);
- :mod:`mmar.experiments.tables`: cell results as tidy result rows, and what is not run.
"""

from mmar.experiments.cells import Cell, GridSettings, dataset_identity, make_cell, make_cells
from mmar.experiments.rows import (ALL_PAIRED, ALL_TERMS, DISCOVERY_MODELS, EXTRA, PAIRED, PAIRED_UNPAIRED, RATIO,
                                   TABLE1, TABLE1_BY_LABEL, TABLE5_MODELS, TABLE6, TABLE7, TABLE8, GridRow,
                                   our_ablation, unpaired_terms_table)
from mmar.experiments.records import (BaselineDiscovery, CellCaptions, CellFailure, CellRecord, CellResult,
                                      DiscoveryScores, EnsembleInfo, RoundTripScores, ZeroShotScores, failed_cells,
                                      finished)
from mmar.experiments.run import (DISPATCHES, EnsemblePlan, evaluate_model, failure_not_run, plan_ensembles,
                                  run_ensemble, run_grid)
from mmar.experiments.tables import (CAPTION_READOUTS, DATASET_NOT_RUN, NOT_RUN_COLUMNS, PRIOR_VARIANT, ResultContext,
                                     baseline_discovery,
                                     caption_rows, discovery_rows, missing_paper_cells, not_run_table,
                                     retrieval_rows, summary_table, zero_shot_rows)
from mmar.parallel import default_processes

__all__ = ["ALL_PAIRED", "ALL_TERMS", "CAPTION_READOUTS", "DATASET_NOT_RUN", "DISCOVERY_MODELS", "DISPATCHES", "EXTRA", "NOT_RUN_COLUMNS",
           "PAIRED", "PAIRED_UNPAIRED", "PRIOR_VARIANT", "RATIO", "TABLE1", "TABLE1_BY_LABEL", "TABLE5_MODELS", "TABLE6", "TABLE7",
           "TABLE8", "BaselineDiscovery", "Cell", "CellCaptions", "CellFailure", "CellRecord", "CellResult",
           "DiscoveryScores", "EnsembleInfo", "EnsemblePlan", "GridRow", "GridSettings", "ResultContext", "baseline_discovery",
           "caption_rows", "dataset_identity", "default_processes", "discovery_rows", "evaluate_model",
           "failed_cells", "failure_not_run", "finished", "make_cell", "make_cells", "missing_paper_cells", "not_run_table",
           "our_ablation", "plan_ensembles", "retrieval_rows", "RoundTripScores", "run_ensemble", "run_grid",
           "summary_table", "unpaired_terms_table", "ZeroShotScores", "zero_shot_rows"]

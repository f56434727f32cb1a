"""What each notebook computes and shows, as functions: one module per notebook topic.

The notebooks stay narrative plus short calls; the row selection, tables, checks and result rows
they show live here, next to the numbers they compute, with tests (``tests/test_studies.py``).
Figures are drawn by :mod:`mmar.plots`.

Each notebook has one frozen settings dataclass, read from ``mmar/profiles.yaml`` (:func:`settings_classes`),
and a :class:`mmar.provenance.Run` (profile, folder, seed, data source) that its result rows record.

* :mod:`~mmar.studies.settings`: the settings' base class; ``train`` / ``variants`` -> ``TrainConfig``.
* :mod:`~mmar.studies.display`: key numbers printed at a fixed precision (what nbval compares).
* :mod:`~mmar.studies.dataset_stats`: notebook 01 (dataset statistics, class structure, splits).
* :mod:`~mmar.studies.i3d_sanity`: notebook 02 (I3D predictions on real clips and their checks).
* :mod:`~mmar.studies.autoencoders`: notebooks 03 and 04 (one autoencoder alone, reconstruction).
* :mod:`~mmar.studies.joint_training`: notebook 05 (variants, loss terms, zero-shot sanity check).
* :mod:`~mmar.studies.grid_tables`: notebooks 06 and 07 (grid checks and tables over the cells of
  :mod:`mmar.experiments`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmar.studies.settings import NotebookSettings


def settings_classes() -> dict[str, type["NotebookSettings"]]:
    """Each notebook's settings class, by notebook name (imports the study modules, hence torch)."""
    from mmar.studies.autoencoders import TextAutoencoderSettings, VideoAutoencoderSettings
    from mmar.studies.dataset_stats import DataSettings
    from mmar.studies.grid_tables import AblationSettings, EvaluationSettings
    from mmar.studies.i3d_sanity import I3DSettings
    from mmar.studies.joint_training import JointSettings

    classes = (DataSettings, I3DSettings, VideoAutoencoderSettings, TextAutoencoderSettings, JointSettings,
               EvaluationSettings, AblationSettings)
    return {cls.notebook: cls for cls in classes}

"""What each notebook computes and shows, as functions: one module per notebook topic.

The notebooks stay narrative plus short calls; the row selection, tables, checks and result rows
they show live here, next to the numbers they compute, with tests (``tests/test_studies.py``).
Figures are drawn by :mod:`mmar.plots`.

* :mod:`~mmar.studies.settings`: the notebooks' ``train`` / ``variants`` parameters -> ``TrainConfig``.
* :mod:`~mmar.studies.display`: key numbers printed at a fixed precision (what nbval compares).
* :mod:`~mmar.studies.dataset_stats`: notebook 01 (dataset statistics, class structure, splits).
* :mod:`~mmar.studies.i3d_sanity`: notebook 02 (I3D predictions on real clips and their checks).
* :mod:`~mmar.studies.autoencoders`: notebooks 03 and 04 (one autoencoder alone, reconstruction).
* :mod:`~mmar.studies.joint_training`: notebook 05 (variants, loss terms, zero-shot sanity check).
* :mod:`~mmar.studies.grid_tables`: notebooks 06 and 07 (grid checks and tables over the cells of
  :mod:`mmar.experiments`).
"""

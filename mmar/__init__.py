"""mmar: a reproducibility report of Piergiovanni & Ryoo, *Unseen Action Recognition with
Multimodal Learning* (ICLR 2019 submission, arXiv 1806.08251).

Sub-packages and modules, one job each:

- ``mmar.data``: annotations, GloVe, zero-shot splits, the HDF5 feature store, stand-in data.
- ``mmar.i3d`` / ``mmar.extract``: I3D in PyTorch with the real Kinetics-400 weights, and feature extraction.
- ``mmar.models`` / ``mmar.losses`` / ``mmar.training``: the paper's networks, losses and training.
- ``mmar.evaluation``: zero-shot classification, activity discovery, captioning, retrieval.
- ``mmar.runner`` / ``mmar.profiles``: papermill execution of the notebooks.
- ``mmar.parallel``: independent jobs (trainings, stand-in videos) over local worker processes.
- ``mmar.report``: the compiled reproducibility report.
"""

__version__ = "0.1.0"

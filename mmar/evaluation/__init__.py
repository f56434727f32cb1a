"""Evaluation protocols of the paper (zero-shot classification, unsupervised discovery, unseen
captioning) and ours (cross-modal retrieval), on embeddings from :mod:`mmar.training` models.

Modules: :mod:`~mmar.evaluation.metrics` (vectorised metrics), :mod:`~mmar.evaluation.zero_shot`,
:mod:`~mmar.evaluation.discovery`, :mod:`~mmar.evaluation.captioning`,
:mod:`~mmar.evaluation.retrieval`.
"""

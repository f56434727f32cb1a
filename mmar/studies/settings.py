"""The notebooks' training settings: ``train`` (TrainConfig overrides) plus ``variants``.

Every training notebook takes the same ``train`` parameter, a dict of
:class:`mmar.training.TrainConfig` overrides, and where it trains several variants a ``variants``
dict ``name -> further overrides``. Unknown keys are refused with the list of valid ones.
"""

from __future__ import annotations

from typing import Any, Mapping

from mmar.training import TrainConfig

#: The variant name when a notebook trains one model only.
SINGLE = "model"


def checked_train(train: Mapping[str, Any]) -> dict[str, Any]:
    """``train`` as a plain dict after checking that it makes a valid ``TrainConfig``.

    Raises ValueError naming unknown keys and listing the valid ones, or naming a bad value.
    """
    if not isinstance(train, Mapping):
        raise TypeError(f"train must be a dict of TrainConfig overrides, got {type(train).__name__}")
    TrainConfig.from_dict(dict(train))
    return dict(train)


def variant_configs(train: Mapping[str, Any], variants: Mapping[str, Mapping[str, Any]] | None = None,
                    **fixed: Any) -> dict[str, TrainConfig]:
    """One ``TrainConfig`` per variant: ``train``, then the variant's overrides, then ``fixed``.

    ``fixed`` holds what the notebook sets itself (e.g. ``losses`` of a single autoencoder, ``seed``);
    ``train`` or a variant setting one of those keys is refused rather than silently overridden.
    Without ``variants`` the result has one entry, :data:`SINGLE`.
    """
    train = checked_train(train)
    variants = {SINGLE: {}} if variants is None else dict(variants)
    if not variants:
        raise ValueError("variants is empty: give at least one variant (name -> overrides, {} for none)")
    configs = {}
    for name, overrides in variants.items():
        clash = sorted(set(fixed) & (set(train) | set(overrides or {})))
        if clash:
            raise ValueError(f"variant {name!r}: {clash} are set by the notebook itself ({fixed}); remove them "
                             "from train / variants")
        configs[name] = TrainConfig.from_dict({**train, **(overrides or {}), **fixed})
    return configs


#: A ``train`` value meaning "the value notebook 05's λ search chose" (see :func:`resolve_selected`).
SELECTED = "selected"
SELECTION_FILE = "results/05_lambda_search.json"


def resolve_selected(train: Mapping[str, Any], run_dir) -> tuple[dict[str, Any], dict[str, Any]]:
    """``train`` with every value :data:`SELECTED` replaced by notebook 05's choice (read from
    ``<run_dir>/results/05_lambda_search.json``), and what was replaced (field -> value)."""
    import json
    from pathlib import Path

    wanted = [k for k, v in train.items() if v == SELECTED]
    if not wanted:
        return dict(train), {}
    path = Path(run_dir) / SELECTION_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: train sets {wanted} to {SELECTED!r}, the value notebook 05's λ search "
                                "chose; run notebook 05 first (or give the values)")
    chosen = json.loads(path.read_text())["chosen"]
    missing = [k for k in wanted if k not in chosen]
    if missing:
        raise ValueError(f"{path} chose {sorted(chosen)}, not {missing}")
    return {**train, **{k: chosen[k] for k in wanted}}, {k: chosen[k] for k in wanted}

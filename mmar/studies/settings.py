"""A notebook's settings, read from ``mmar/profiles.yaml``; the training settings ``train`` and ``variants``.

Each notebook has one frozen dataclass of settings (a subclass of :class:`NotebookSettings`, kept in
the study module of its topic, :func:`mmar.studies.settings_classes`), built only from the profiles file:
``DataSettings.from_profile("default", overrides)``. A notebook's ``parameters`` cell holds
``profile``, ``run_dir`` and ``overrides``; every value is written once, in the profiles file.

Every training notebook has the same ``train`` setting, a dict of :class:`mmar.training.TrainConfig`
overrides, and where it trains several variants a ``variants`` dict ``name -> further overrides``.
Unknown keys are refused with the list of valid ones.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Mapping, TypeVar

from mmar.profiles import PROFILES_FILE, ProfileError, merge_parameter, notebook_settings, resolve_profile
from mmar.training import TrainConfig
from mmar.typed_fields import field_problems

SettingsT = TypeVar("SettingsT", bound="NotebookSettings")


@dataclasses.dataclass(frozen=True)
class NotebookSettings:
    """Base of the notebooks' settings: the fields are one notebook's settings (:attr:`notebook`).

    Every value is checked against its field's type hint, and numbers against :attr:`minimums` (a class's
    entries add to those of the classes it extends), when the settings are made: a profile, ``--set`` or
    papermill value of the wrong kind stops there with the setting's name (:class:`ProfileError`).
    """

    notebook: ClassVar[str] = ""
    #: The smallest value of numeric settings (for a list of numbers: of each entry).
    minimums: ClassVar[Mapping[str, float]] = {}

    def __post_init__(self) -> None:
        minimums = {k: v for c in reversed(type(self).__mro__) for k, v in vars(c).get("minimums", {}).items()}
        problems = field_problems(type(self), self.to_dict(), self.notebook, minimums)
        if problems:
            raise ProfileError("; ".join(problems))

    @classmethod
    def names(cls) -> list[str]:
        """The settings' names, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_profile(cls: type[SettingsT], profile: str, overrides: Mapping[str, Any] | None = None, *,
                     profiles_file: str | Path = PROFILES_FILE) -> SettingsT:
        """The settings of profile ``profile`` (its ``common`` section, then the notebook's section, along
        its ``extends`` chain), then ``overrides`` (name -> value; a dict value is merged into a dict
        setting, as ``--set 05.train.epochs=20`` does). Unknown names are refused with the valid ones."""
        names = cls.names()
        unknown = sorted(set(overrides or {}) - set(names))
        if unknown:
            raise ProfileError(f"{cls.notebook}: no setting {unknown}; its settings are {', '.join(names)}")
        resolved = resolve_profile(profile, profiles_file)
        strays = sorted(set(resolved.get(cls.notebook) or {}) - set(names))
        if strays:
            raise ProfileError(f"profile {profile!r}, section {cls.notebook}: no setting {strays}; its settings are "
                               f"{', '.join(names)} ({profiles_file})")
        values = notebook_settings(resolved, cls.notebook)
        for name, value in (overrides or {}).items():
            merge_parameter(values, name, value)
        missing = [n for n in names if n not in values]
        if missing:
            raise ProfileError(f"profile {profile!r} gives {cls.notebook} no value for {missing} ({profiles_file})")
        return cls(**{n: values[n] for n in names})

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values (what ``timings.json`` records for the notebook)."""
        return {n: getattr(self, n) for n in self.names()}

    def __str__(self) -> str:
        """One ``name = value`` line per setting (values as Python writes them)."""
        return "\n".join(f"{n} = {v!r}" for n, v in self.to_dict().items())

#: The variant name when a notebook trains one model only.
SINGLE = "model"


def checked_train(train: Mapping[str, Any]) -> dict[str, Any]:
    """``train`` as a plain dict after checking that it makes a valid ``TrainConfig``.

    Raises ValueError naming unknown keys and listing the valid ones, or naming a bad value. A value
    :data:`SELECTED` (notebook 05's choice, filled in later by :func:`resolve_selected`) is not checked.
    """
    if not isinstance(train, Mapping):
        raise TypeError(f"train must be a dict of TrainConfig overrides, got {type(train).__name__}")
    TrainConfig.from_dict({k: v for k, v in train.items() if v != SELECTED})
    return dict(train)


def check_candidates(train: Mapping[str, Any], candidates: Mapping[str, Any]) -> None:
    """Raise ValueError unless every value of ``candidates`` (TrainConfig field -> the values tried one at a time,
    as notebook 05's λ search and notebook 07's ablations try them) makes a valid TrainConfig with ``train``."""
    for name, values in candidates.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"{name}: expected a non-empty list of values to try, got {values!r}")
    variant_configs({k: v for k, v in train.items() if v != SELECTED},
                    {f"{name} = {value}": {name: value} for name, values in candidates.items() for value in values})


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
                                "chose; run notebook 05 first in this run (a new `mmar run` moves an earlier run's "
                                "results aside: `--resume --only NN` re-runs notebooks within a run), or give the values")
    chosen = json.loads(path.read_text())["chosen"]
    missing = [k for k in wanted if k not in chosen]
    if missing:
        raise ValueError(f"{path} chose {sorted(chosen)}, not {missing}")
    return {**train, **{k: chosen[k] for k in wanted}}, {k: chosen[k] for k in wanted}

"""Execute the numbered notebooks with papermill, in order, for one profile.

``python -m mmar run --profile NAME [--only 01,02] [--out runs/NAME] [--set key=value ...] [--resume]``

Each notebook runs in a child process (:func:`run_child`, so that its peak memory can be measured),
gets ``profile``, ``run_dir`` and ``overrides`` (the ``--set`` values addressed to it) as papermill
parameters, reads its settings from ``mmar/profiles.yaml`` itself (:func:`mmar.studies.settings_classes`),
and is written executed to ``<run_dir>/notebooks/``. Every notebook's settings are resolved and checked
(:func:`check_settings`: paths that do not exist, choices such as ``data_source``, ``train``) before the first
one starts, so a bad ``--set`` fails at once. A relative path given with ``--set`` to a path setting
(:data:`PATH_SETTINGS`, e.g. ``features``) is taken from the current folder and recorded absolute. Timings,
peak memory and the resolved settings go to ``<run_dir>/timings.json``. A failing notebook stops the run with
its name and the failing cell's error; earlier outputs stay.

Every invocation is one run with its own run id (:mod:`mmar.provenance`): ``run.json`` records it with
the commit, the dirty flag, the code fingerprint and the start time, and the notebooks' result rows
carry it (``$MMAR_RUN_ID``). What an earlier run left in the folder (results, timings, figures, logs,
executed notebooks, report) is first moved to ``<run_dir>/previous/<its run id>/``, so one report never
mixes runs; prepared data and caches stay, as their keys say what produced them.

``--resume`` continues the run in the folder instead (:func:`resumed_run`): same run id, its outputs
stay, and it runs the ``--only`` notebooks, or else those of the run not finished yet (an interrupted or
failed run goes on where it stopped), then the book. It refuses when the result-determining code or the
``--set`` overrides differ from the run's, since one run must not mix two versions of either: a wrong ``--set``
value is fixed by a new run (the failure message shows its command). A run recorded with relative ``--set`` paths
(before they were made absolute) is compared by the paths its notebooks read (:func:`notebook_path`).
"""

from __future__ import annotations

import difflib
import json
import multiprocessing
import os
import platform
import resource
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from mmar.lock import lock_status
from mmar.paths import NOTEBOOKS_DIR, PROJECT_ROOT, resolve_run_dir
from mmar.profiles import NOTEBOOKS, ProfileError, merge_parameter, parse_override, resolve_profile
from mmar.provenance import RUN_ID_ENV, code_fingerprint, cpu_description, git_commit, run_provenance

if TYPE_CHECKING:
    from mmar.studies.settings import NotebookSettings

#: What one run writes into its folder and the next run moves aside (data/ and caches stay); report.html/.pdf are
#: the single-page report of earlier versions, moved aside too so that no stale report sits beside the book.
RUN_OUTPUTS = ("run.json", "timings.json", "results", "figures", "logs", "notebooks", "book", "book-src", "book.pdf",
               "report.html", "report.pdf")
PREVIOUS_DIR = "previous"
#: Seconds between two samples of a notebook's memory over all its processes (:func:`run_child`).
MEMORY_SAMPLE_S = 0.5


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names it and the cell's error."""


def notebook_overrides(notebooks: Sequence[str], overrides: Sequence[str],
                       as_given: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """The ``--set`` overrides (``[notebook.]name[.field]=value``) as ``{notebook: {name: value}}``: one without a
    notebook goes to every notebook with a setting of that name. Raises :class:`ProfileError` for a name that
    no selected notebook (or not the named one) has as a setting, with the closest valid name (difflib) and the
    valid ones, and for a named notebook that ``notebooks`` (``--only``) does not hold; ``as_given``: the
    overrides as the user wrote them (same order), which the message quotes."""
    from mmar.studies import settings_classes

    every = {notebook: set(cls.names()) for notebook, cls in settings_classes().items()}
    names = {notebook: every[notebook] for notebook in every if notebook in notebooks}
    per_notebook: dict[str, dict[str, Any]] = {notebook: {} for notebook in notebooks}
    for text, shown in zip(overrides, as_given or overrides):
        target, name, value = parse_override(text)
        scope = [target] if target else list(notebooks)
        hit = [n for n in scope if name in names.get(n, set())]
        if not hit and target and name not in every.get(target, ()):
            valid = sorted(every.get(target, ()))
            raise ProfileError(f"--set {shown}: {target} has no setting {name!r}{_did_you_mean(name, valid)}; its "
                               f"settings are {', '.join(valid)} (mmar/profiles.yaml)")
        if not hit and target:
            raise ProfileError(f"--set {shown}: {target} is not selected by --only (selected: {', '.join(notebooks)})")
        if not hit:
            valid = sorted(set().union(*names.values()))
            elsewhere = [n for n in every if n not in names and name in every[n]]
            where = (f"; it is a setting of {', '.join(elsewhere)}, which --only did not select" if elsewhere
                     else _did_you_mean(name, valid))
            raise ProfileError(f"--set {shown}: no selected notebook has a setting {name!r}{where}; the selected "
                               f"notebooks' settings are {', '.join(valid)} (mmar/profiles.yaml)")
        for notebook in hit:
            merge_parameter(per_notebook[notebook], name, value)
    return per_notebook


def _did_you_mean(name: str, valid: Sequence[str]) -> str:
    """``" (did you mean 'x'?)"`` for the valid name closest to a misspelt ``name`` (difflib), or ``""``."""
    close = difflib.get_close_matches(name, [str(v) for v in valid], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _annotations_dir_check(value: str) -> None:
    from mmar.data.activitynet import check_annotations_dir

    check_annotations_dir(value)


def _feature_store_check(value: str) -> None:
    from mmar.data.feature_store import FeatureStoreReader

    FeatureStoreReader(value)


def _glove_file_check(value: str) -> None:
    if not Path(value).is_file():
        raise FileNotFoundError(f"glove {value} is not a file")


def _video_source_check(value: str) -> None:
    from mmar.extract import list_videos

    list_videos(value)


#: The settings whose values are paths, each with the check its notebook's own code makes first on the path it
#: reads (raises when the notebook would fail; :func:`check_settings` runs it), or None for a path the notebook
#: writes (only made absolute). A relative path given with ``--set`` is taken from the current folder
#: (:func:`absolute_path_overrides`), like ``--out`` and ``python -m mmar extract``'s paths.
PATH_SETTINGS: dict[str, Callable[[str], None] | None] = {
    "annotations_dir": _annotations_dir_check,  # 01_data: the ActivityNet Captions annotation files
    "features": _feature_store_check,            # 01_data: an HDF5 feature store (e.g. from python -m mmar extract)
    "glove": _glove_file_check,                  # 01_data: a glove.*.txt file
    "standin_path": None,                        # 01_data: where the stand-in video store is built
    "video_dir": _video_source_check,            # 02_i3d_features: the videos to extract (a folder or a list file)
    "features_out": None,                        # 02_i3d_features: the feature store it writes
}


def _override_text(target: str, value: str) -> str:
    """``target=value`` such that :func:`mmar.profiles.parse_override` reads ``value`` back as this string."""
    plain = f"{target}={value}"
    return plain if parse_override(plain)[2] == value else f"{target}={json.dumps(value)}"


def _with_paths(overrides: Sequence[str], resolve: Callable[[str, str], str]) -> list[str]:
    """The ``--set`` overrides with each path value of a :data:`PATH_SETTINGS` setting replaced by
    ``resolve(name, value)``; the others unchanged."""
    resolved = []
    for text in overrides:
        _, name, value = parse_override(text)
        if name in PATH_SETTINGS and isinstance(value, str) and value:
            path = resolve(name, value)
            if path != value:
                text = _override_text(text.split("=", 1)[0], path)
        resolved.append(text)
    return resolved


def absolute_path_overrides(overrides: Sequence[str], cwd: str | Path | None = None) -> list[str]:
    """The ``--set`` overrides with each relative path value of a :data:`PATH_SETTINGS` setting made absolute
    from ``cwd`` (default: the current folder), ``~`` expanded; the others unchanged. The notebooks run in
    ``notebooks/``, so a relative path must not reach them; the run records the absolute one."""
    base = Path.cwd() if cwd is None else Path(cwd)

    def absolute(name: str, value: str) -> str:
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else (base / path).resolve())

    return _with_paths(overrides, absolute)


def notebook_path(name: str, value: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> Path:
    """Path setting ``name`` = ``value`` as its notebook resolves it: a relative path from ``notebooks_dir``, where
    the notebooks run (their code opens it as it is), except ``features_out``, which notebook 02 takes from the
    repository root (:func:`mmar.paths.resolve_run_dir`, ``~`` expanded)."""
    if name == "features_out":
        return resolve_run_dir(value)
    path = Path(value)
    return path if path.is_absolute() else (notebooks_dir / path).resolve()


def _relative_paths_as_the_notebooks_read(overrides: Sequence[str], notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """The ``--set`` overrides with each relative path value made absolute as the notebooks resolved it
    (:func:`notebook_path`): what a run recorded with relative paths (before they were taken from the current
    folder) read; absolute ones unchanged."""

    def as_read(name: str, value: str) -> str:
        return value if Path(value).is_absolute() else str(notebook_path(name, value, notebooks_dir))

    return _with_paths(overrides, as_read)


def check_settings(settings: dict[str, "NotebookSettings"], notebooks_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """What would make the notebooks fail at once with these settings, found before any starts (one line each,
    ``notebook.setting: problem``; empty when nothing): the paths the notebooks read that are missing or wrong
    (the check of :data:`PATH_SETTINGS`; a relative one, from a profile or a run recorded with relative paths, is
    resolved as its notebook would, :func:`notebook_path`: from ``notebooks_dir``, where they run; the paths they
    write, such as notebook 02's ``features_out``, which it takes from the repository root, are not checked), and
    the choices and dicts whose rules can be checked cheaply, by the code the notebooks use: ``data_source``,
    ``generator`` (unless ``features`` are given with ``data_source`` 'activitynet'), ``class_selection``,
    ``unseen_pool`` and ``on_error`` (01; with ``data_source`` 'activitynet', the stand-in-only settings,
    :data:`mmar.studies.dataset_stats.STANDIN_ONLY`, are not read and not checked), ``train`` and ``variants``
    (TrainConfig fields and values, 03-07), ``lambda_candidates`` (05) and ``ablations`` (07), each value tried
    with ``train``, ``grid_runtime``'s ``dispatch`` (06, 07) and ``difficulty_sweep`` (07)."""
    problems: list[str] = []

    def check(notebook: str, name: str, test, choices: Sequence[str] = ()) -> None:
        try:
            test()
        except (ValueError, TypeError) as error:
            hint = _did_you_mean(str(getattr(settings[notebook], name)), choices) if choices else ""
            problems.append(f"{notebook}.{name}: {error}{hint}")

    for notebook, values in settings.items():
        names = set(values.names())
        for name in sorted(names & set(PATH_SETTINGS)):
            value, path_check = getattr(values, name), PATH_SETTINGS[name]
            if value is None or path_check is None:
                continue
            try:
                path_check(str(notebook_path(name, str(value), notebooks_dir)))
            except (OSError, ValueError, RuntimeError) as error:  # FileNotFoundError, FeatureStoreError, a duplicate id
                problems.append(f"{notebook}.{name}: {error}")
        if notebook == "01_data":
            from mmar.data.activitynet import ON_ERROR
            from mmar.data.kinetics import UNSEEN_POOLS
            from mmar.data.standin import CLASS_SELECTIONS, GENERATORS
            from mmar.studies.dataset_stats import SOURCE_PARAMETERS, preparation_parameters

            check(notebook, "data_source", lambda: preparation_parameters(values, None), sorted(SOURCE_PARAMETERS))
            unread = values.unread()
            choices = {"generator": GENERATORS, "class_selection": CLASS_SELECTIONS, "unseen_pool": UNSEEN_POOLS,
                       "on_error": ON_ERROR}
            for name, allowed in choices.items():
                if name not in unread:
                    check(notebook, name, lambda name=name, allowed=allowed: _one_of(name, getattr(values, name), allowed))
        if "train" in names:
            from mmar.studies.settings import check_candidates, checked_train, variant_configs

            check(notebook, "train", lambda: checked_train(values.train))
            if not any(p.startswith(f"{notebook}.train:") for p in problems):
                if "variants" in names:
                    check(notebook, "variants", lambda: variant_configs(values.train, values.variants))
                for name in sorted(names & {"lambda_candidates", "ablations"}):
                    check(notebook, name, lambda name=name: check_candidates(values.train, getattr(values, name)))
        if "grid_runtime" in names and "dispatch" in (values.grid_runtime or {}):
            from mmar.experiments import DISPATCHES

            check(notebook, "grid_runtime", lambda: _one_of("dispatch", values.grid_runtime["dispatch"], DISPATCHES))
        if "difficulty_sweep" in names and values.difficulty_sweep is not None:
            from mmar.studies.difficulty import SweepSettings

            check(notebook, "difficulty_sweep", lambda: SweepSettings.from_parameters(dict(values.difficulty_sweep)))
    return problems


def settings_notes(settings: dict[str, "NotebookSettings"]) -> list[str]:
    """Settings that run but probably not as meant (printed before the run starts; one line each): notebook 02's
    ``video_dir`` without notebook 01's ``features`` extracts real features that this run does not train on."""
    notes = []
    video_dir = getattr(settings.get("02_i3d_features"), "video_dir", None)
    if video_dir and "01_data" in settings and not getattr(settings["01_data"], "features", None):
        notes.append(f"02_i3d_features.video_dir is set ({video_dir}) but 01_data.features is not: notebook 02 extracts "
                     "real I3D features, and notebooks 03-07 train on the data notebook 01 prepared before it, with "
                     "generated video. To train on real features, extract first (python -m mmar extract VIDEO_DIR "
                     "--out FEATURES.h5), then run with --set features=FEATURES.h5.")
    return notes


def data_summary(run_dir: Path) -> str:
    """What notebook 01 prepared, in one line for the console (``data/dataset.json``): the data source (with the
    reason it got that label, where the preparation records one), the videos and sentences of each subset, of how
    many annotated videos and which selection, and what was skipped among the selected; empty when there is no
    dataset.json."""
    path = Path(run_dir) / "data" / "dataset.json"
    if not path.is_file():
        return ""
    meta = json.loads(path.read_text())
    counts = meta.get("counts", {})
    subsets = ", ".join(f"{subset} {counts[subset]['videos']:,} videos / {counts[subset]['sentences']:,} sentences"
                        for subset in ("train", "val") if isinstance(counts.get(subset), dict))
    if "videos_read" in counts and "videos" in counts:
        selection = meta.get("selection") or {}
        limits = [f"{selection['n_classes']} classes" if selection.get("n_classes") else "",
                  f"at most {selection['max_videos_per_class']} videos per class"
                  if selection.get("max_videos_per_class") else ""]
        chosen = f", selecting {' and '.join(x for x in limits if x)}" if any(limits) else ""
        subsets = f"{counts['videos']:,} videos ({subsets}) of the {counts['videos_read']:,} annotated{chosen}"
    reason = f" ({meta['data_source_reason']})" if meta.get("data_source_reason") else ""
    line = f"data: {meta.get('data_source', '?')}{reason}; {subsets}"
    return line + (f"; {meta['skipped_summary']}" if meta.get("skipped_summary") else "")


def _one_of(name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}{_did_you_mean(str(value), allowed)}")


def select_notebooks(only: str | None) -> list[str]:
    """``"01,03"`` -> the matching notebook names, in series order."""
    if not only:
        return list(NOTEBOOKS)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = [n for n in NOTEBOOKS if any(n == w or n.split("_")[0] == w.zfill(2) for w in wanted)]
    unknown = [w for w in wanted if not any(n == w or n.split("_")[0] == w.zfill(2) for n in NOTEBOOKS)]
    if unknown:
        raise ProfileError(f"--only: unknown notebook(s) {unknown}; known: {', '.join(NOTEBOOKS)}")
    return chosen


def _record_timing(run_dir: Path, notebook: str, entry: dict[str, Any]) -> None:
    path = run_dir / "timings.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[notebook] = entry
    path.write_text(json.dumps(data, indent=1))


def finished_notebooks(run_dir: Path) -> set[str]:
    """The notebooks ``timings.json`` records as finished ("ok") in this run folder."""
    from mmar.report.rundata import read_json_object

    return {name for name, entry in read_json_object(run_dir / "timings.json").items()
            if isinstance(entry, dict) and entry.get("status") == "ok"}


def _record_resumption(run_dir: Path, info: dict[str, Any], notebooks: Sequence[str]) -> None:
    """Append to ``run.json``'s ``resumed`` list when, at which commit and for which notebooks the run went on."""
    commit, dirty = git_commit()
    info = {**info, "notebooks": list(dict.fromkeys([*info.get("notebooks", []), *notebooks]))}
    info["resumed"] = [*info.get("resumed", []), {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit,
                                                  "dirty": dirty, "notebooks": list(notebooks)}]
    (run_dir / "run.json").write_text(json.dumps(info, indent=1))


def move_previous_run(run_dir: Path) -> Path | None:
    """Move an earlier run's outputs (:data:`RUN_OUTPUTS`) to ``<run_dir>/previous/<its run id>/``; return
    that folder, or None when there was nothing to move."""
    present = [name for name in RUN_OUTPUTS if (run_dir / name).exists()]
    if not present:
        return None
    info = run_dir / "run.json"
    try:
        old_id = json.loads(info.read_text()).get("run_id") if info.is_file() else None
    except json.JSONDecodeError:
        old_id = None
    old_id = old_id or "unrecorded-" + time.strftime("%Y%m%d-%H%M%S")
    target = run_dir / PREVIOUS_DIR / str(old_id)
    suffix = 1
    while target.exists():
        suffix += 1
        target = run_dir / PREVIOUS_DIR / f"{old_id}.{suffix}"
    target.mkdir(parents=True)
    for name in present:
        shutil.move(str(run_dir / name), str(target / name))
    return target


def execute_one(notebook: str, run_dir: Path, parameters: dict[str, Any], notebooks_dir: Path = NOTEBOOKS_DIR) -> None:
    """Execute one notebook in this process with papermill (used by the child process)."""
    import papermill

    source = notebooks_dir / f"{notebook}.ipynb"
    output = run_dir / "notebooks" / f"{notebook}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(source), str(output), parameters=parameters, cwd=str(notebooks_dir),
            progress_bar=False, kernel_name="python3", log_output=False,
        )
    except papermill.PapermillExecutionError as error:
        raise NotebookFailed(
            f"{notebook} failed in cell {error.exec_count}: {error.ename}: {error.evalue}\n"
            f"(executed notebook with the traceback: {output})"
        ) from None


def resumed_run(run_dir: Path, profile_name: str, overrides: Sequence[str],
                notebooks_dir: Path = NOTEBOOKS_DIR) -> dict[str, Any] | None:
    """The ``run.json`` of the run in ``run_dir`` that ``--resume`` continues, or None when the folder holds no
    run. Raises :class:`ProfileError` when that run cannot be continued: another profile, other ``--set``
    overrides (none given: the run's own are taken), or result-determining code that changed since it started.

    ``overrides`` have absolute paths (:func:`absolute_path_overrides`); a run recorded with relative ones (before
    they were made absolute) is continued with them when they name the same paths as its notebooks read them
    (:func:`notebook_path`, from ``notebooks_dir``)."""
    from mmar.report.rundata import read_json_object

    try:
        info = read_json_object(run_dir / "run.json")
    except ValueError as error:  # a broken record: nothing to continue safely
        raise ProfileError(f"--resume: {error}; drop --resume to start a new run") from None
    if not info:
        return None
    run_id = info.get("run_id", "?")
    if info.get("profile") != profile_name:
        raise ProfileError(f"--resume: {run_dir} holds run {run_id} of profile {info.get('profile')!r}, not "
                           f"{profile_name!r}; give that profile, or drop --resume to start a new run")
    recorded = list(info.get("overrides", []))
    as_read = _relative_paths_as_the_notebooks_read(recorded, notebooks_dir)
    if overrides and sorted(overrides) not in (sorted(recorded), sorted(as_read)):
        relative = [f"{a} -> {b}" for a, b in zip(recorded, as_read) if a != b]
        note = (f"; it was recorded with relative paths, which its notebooks read as {'; '.join(relative)}"
                if relative else "")
        raise ProfileError(f"--resume: run {run_id} was started with --set {recorded or 'nothing'}, not "
                           f"{list(overrides)}{note}; resume without --set (its own are taken), or drop --resume to "
                           "start a new run with these values (a run's --set values cannot change)")
    fingerprint = code_fingerprint()
    if info.get("code_fingerprint") != fingerprint:
        raise ProfileError(f"--resume: the result-determining code changed since run {run_id} started (code "
                           f"fingerprint {info.get('code_fingerprint')} -> {fingerprint}), so its notebooks would "
                           "mix two versions; drop --resume to start a new run")
    return info


def new_run_command(profile_name: str, only: str | None, out: str | Path | None, overrides: Sequence[str],
                    build_report: bool = True) -> str:
    """The ``python -m mmar run`` command (shell-quoted) that starts a new run of these notebooks with these
    ``--set`` values."""
    words = ["python", "-m", "mmar", "run", "--profile", profile_name]
    words += ["--only", only] if only else []
    words += ["--out", str(out)] if out else []
    words += ["--no-report"] if not build_report and not only else []
    for text in overrides:
        words += ["--set", text]
    return " ".join(shlex.quote(w) for w in words)


def run_profile(profile_name: str, *, only: str | None = None, out: str | Path | None = None,
                overrides: Sequence[str] = (), build_report: bool = True, resume: bool = False,
                notebooks_dir: Path = NOTEBOOKS_DIR) -> Path:
    """Run the selected notebooks of a profile; return the run folder.

    ``resume``: continue the run already in the folder (see the module docstring and :func:`resumed_run`);
    without ``only``, its notebooks not finished yet. ``notebooks_dir`` is where the numbered notebooks are
    read from (tests point it elsewhere).
    """
    profile = resolve_profile(profile_name)
    run_dir = Path(out) if out else PROJECT_ROOT / "runs" / profile_name
    run_dir = run_dir.resolve()
    given = list(overrides)
    overrides = absolute_path_overrides(given)  # the notebooks run in notebooks/: no relative path may reach them
    continued = resumed_run(run_dir, profile_name, overrides, notebooks_dir) if resume else None
    if continued is not None:
        overrides = list(continued.get("overrides", []))
    notebooks = select_notebooks(only)
    if continued is not None and only is None:
        finished = finished_notebooks(run_dir)
        notebooks = [n for n in continued.get("notebooks", NOTEBOOKS) if n not in finished]
    run_dir.mkdir(parents=True, exist_ok=True)

    missing = [n for n in notebooks if not (notebooks_dir / f"{n}.ipynb").is_file()]
    if missing:
        raise ProfileError(f"notebooks not found in {notebooks_dir}: {missing}")
    from mmar.studies import settings_classes

    # a resumed run's overrides were checked against all its notebooks: resolve them so, then take this part
    scope = notebooks if continued is None else list(dict.fromkeys([*continued.get("notebooks", []), *notebooks]))
    per_notebook = notebook_overrides(scope, overrides, as_given=None if continued is not None else given)
    classes = settings_classes()
    settings = {name: classes[name].from_profile(profile_name, per_notebook[name]) for name in notebooks}
    problems = check_settings(settings, notebooks_dir)
    if problems:
        path_problem = any(line.split(":", 1)[0].split(".")[-1] in PATH_SETTINGS for line in problems)
        made_absolute = ([f"{a} -> {b}" for a, b in zip(given, absolute_path_overrides(given)) if b != a]
                         if path_problem else [])
        raise ProfileError("settings the notebooks would fail on (nothing was run):\n  " + "\n  ".join(problems)
                           + (f"\n(relative paths given with --set are taken from the current folder, {Path.cwd()}: "
                              f"{'; '.join(made_absolute)})" if made_absolute else ""))

    if continued is not None:
        provenance = continued
        _record_resumption(run_dir, continued, notebooks)
        print(f"mmar run --profile {profile_name} --resume -> {run_dir}: continuing run {continued['run_id']} "
              f"(commit {str(continued.get('commit', '?'))[:10]}); notebooks to run: "
              f"{', '.join(notebooks) or 'none, all finished'}", flush=True)
    else:
        moved = move_previous_run(run_dir)
        provenance = run_provenance()
        (run_dir / "run.json").write_text(json.dumps({
            "profile": profile_name, "description": profile.get("description", ""), "overrides": list(overrides),
            "notebooks": notebooks, "python": sys.version.split()[0], "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "cpu": cpu_description(), "lock": lock_status(), **provenance,
        }, indent=1))
        print(f"mmar run --profile {profile_name} -> {run_dir} (run {provenance['run_id']}, commit "
              f"{provenance['commit'][:10]}{' + uncommitted changes' if provenance['dirty'] else ''})", flush=True)
        if moved is not None:
            print(f"the previous run's outputs were moved to {moved}", flush=True)
    for note in settings_notes(settings):
        print(f"note: {note}", flush=True)
    resume_hint = (f"continue this run with: python -m mmar run --profile {profile_name} --resume"
                   + (f" --out {shlex.quote(str(out))}" if out else ""))
    failure_hint = f"{resume_hint}, once the cause is fixed"
    if overrides:  # --resume keeps them: a wrong one is fixed by a new run
        failure_hint += (".\nIf the cause is a --set value, --resume cannot change it (a run keeps its --set values): "
                         "start a new run with the value fixed, without --resume (in the same --out, this run's "
                         "outputs move to previous/; or give a new --out), e.g.\n"
                         + new_run_command(profile_name, only, out, overrides, build_report))
    total_start = time.perf_counter()
    for index, notebook in enumerate(notebooks, 1):
        params = {"profile": profile_name, "run_dir": str(run_dir), "overrides": per_notebook[notebook]}
        print(f"[{index}/{len(notebooks)}] {notebook} ...", end="", flush=True)
        start = time.perf_counter()
        try:
            outcome = run_child(notebook, run_dir, params, notebooks_dir, provenance["run_id"])
        except KeyboardInterrupt:
            _record_timing(run_dir, notebook, {"seconds": round(time.perf_counter() - start, 2), "status": "interrupted"})
            print(f" interrupted; {resume_hint}", flush=True)
            raise
        seconds = time.perf_counter() - start
        if "error" in outcome:
            print(f" FAILED after {seconds:.1f}s", flush=True)
            _record_timing(run_dir, notebook, {"seconds": seconds, "status": "failed"})
            raise NotebookFailed(f"{outcome['error']}\n({failure_hint})")
        peak, peak_all = outcome["peak_rss_mb"], outcome.get("peak_all_mb")
        _record_timing(run_dir, notebook, {"seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1),
                                           "peak_all_mb": None if peak_all is None else round(peak_all, 1),
                                           "status": "ok", "overrides": per_notebook[notebook],
                                           "settings": settings[notebook].to_dict()})
        together = "" if peak_all is None else f", all its processes together {peak_all:.0f} MB"
        print(f" done in {seconds:.1f}s (peak memory: largest process {peak:.0f} MB{together})", flush=True)
        summary = data_summary(run_dir) if notebook == "01_data" else ""
        if summary:
            print(f"  {summary}", flush=True)
    if build_report and only is None:
        from mmar.report import build_book as build

        start = time.perf_counter()
        print("[report] building the book ...", flush=True)
        html = build(run_dir)
        _record_timing(run_dir, "report", {"seconds": round(time.perf_counter() - start, 2), "status": "ok"})
        print(f"[report] done in {time.perf_counter() - start:.1f}s: {html}", flush=True)
    print(f"total {time.perf_counter() - total_start:.1f}s", flush=True)
    return run_dir


def process_tree_memory_mb(pid: int) -> float | None:
    """Memory of process ``pid`` and all its descendants now (MB), read with psutil: the sum of their
    proportional set sizes (shared pages counted once, split between the processes sharing them; Linux),
    else of their resident sizes. None when ``pid`` has ended; a descendant that ends meanwhile is skipped."""
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total, found = 0, False
    for process in processes:
        try:
            info = process.memory_full_info() if psutil.LINUX else process.memory_info()
        except psutil.Error:
            continue
        total += getattr(info, "pss", info.rss)
        found = True
    return total / 2**20 if found else None


def run_child(notebook: str, run_dir: Path, parameters: dict[str, Any], notebooks_dir: Path,
              run_id: str) -> dict[str, Any]:
    """Execute one notebook in a child process; ``{"peak_rss_mb": ..., "peak_all_mb": ...}`` or ``{"error": message}``.

    ``peak_rss_mb`` is the peak resident memory of its largest single process (the kernel or one of its
    workers, as the operating system records it); ``peak_all_mb`` the peak of all its processes together,
    sampled every :data:`MEMORY_SAMPLE_S` seconds (:func:`process_tree_memory_mb`), and at least
    ``peak_rss_mb`` (a sample can miss a short peak); absent where it cannot be read. It is what the
    machine must hold.

    The child is forked where the platform allows (it starts with papermill already imported: about
    2.5 s less per notebook than a fresh interpreter), else spawned. Its output (papermill's and the
    kernel's log lines) goes to ``<run_dir>/notebooks/<notebook>.log``, whose tail a failure shows.
    """
    log = run_dir / "notebooks" / f"{notebook}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child_main, args=(notebook, run_dir, parameters, notebooks_dir, run_id, log, send))
    child.start()
    send.close()
    peak_all = None
    try:
        while not receive.poll(MEMORY_SAMPLE_S):  # meanwhile, the memory of all its processes together
            sample = process_tree_memory_mb(child.pid)
            if sample is not None:
                peak_all = sample if peak_all is None else max(peak_all, sample)
        outcome = receive.recv()
        if "peak_rss_mb" in outcome and peak_all is not None:  # a sample can miss a short peak: at least the largest
            outcome["peak_all_mb"] = max(peak_all, outcome["peak_rss_mb"])
    except EOFError:  # the child died without a word (killed, out of memory)
        child.join()
        lines = log.read_text(errors="replace").strip().splitlines()
        outcome = {"error": f"{notebook}: its process ended with no result (exit code {child.exitcode}); "
                            f"the end of {log}:\n" + "\n".join(lines[-15:])}
    child.join()
    return outcome


def _child_main(notebook: str, run_dir: Path, parameters: dict[str, Any], notebooks_dir: Path, run_id: str,
                log: Path, send) -> None:
    """The child of :func:`run_child`: run the notebook, send back its kernel's peak memory or the error."""
    with open(log, "w") as stream:
        os.dup2(stream.fileno(), 1)
        os.dup2(stream.fileno(), 2)
    os.environ[RUN_ID_ENV] = run_id  # the kernel inherits it: result rows carry the run id
    try:
        execute_one(notebook, run_dir, parameters, notebooks_dir)
    except NotebookFailed as error:
        send.send({"error": str(error)})
        return
    except Exception as error:  # a kernel that did not start, a notebook that cannot be read, ...
        send.send({"error": f"{notebook}: {type(error).__name__}: {error}"})
        return
    # The kernel is a child of this process: its peak resident memory is in RUSAGE_CHILDREN.
    send.send({"peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024})

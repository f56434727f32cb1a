"""Independent jobs over local worker processes, so that single-threaded work uses every core.

Training runs on one torch thread (``TrainConfig.num_threads``): at these model sizes two processes
of one thread each train about twice as fast as one process of two threads, the difference between
notebooks 03-05 using one core of a laptop and using two; the stand-in generator's per-video work is
single-threaded numpy. Workers are spawned (fresh interpreters: nothing of the caller's thread pools
or open files is inherited, unlike a fork of a process that already ran torch) and read the prepared
dataset from its folder once each (:func:`worker_dataset`).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar

if TYPE_CHECKING:  # a leaf module: the data layer's generator imports it
    from mmar.data.prepared import PreparedDataset

Job = TypeVar("Job")
Result = TypeVar("Result")

_DATASETS: dict[str, "PreparedDataset"] = {}


def default_processes() -> int:
    """2 worker processes when the machine has 2 or more cores, else 1."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def worker_dataset(root: str | Path) -> "PreparedDataset":
    """The prepared dataset in ``root``, loaded once per process."""
    from mmar.data.prepared import PreparedDataset

    key = str(Path(root).resolve())
    if key not in _DATASETS:
        _DATASETS[key] = PreparedDataset.load(key)
    return _DATASETS[key]


def imap_processes(function: Callable[[Job], Result], jobs: Sequence[Job], processes: int | None = None, *,
                   initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> Iterator[Result]:
    """``function(job)`` for every job, computed by ``processes`` spawned workers (None:
    :func:`default_processes`) and yielded in the order of ``jobs`` as they finish; jobs start in that
    order, so put the longest first. ``initializer(*initargs)`` runs once in each worker first (e.g. to
    receive a large object once instead of with every job). Inline (in this process, initializer
    included) when one process or one job is asked for. ``function`` and ``initializer`` must be
    importable by name (module-level functions), and jobs, arguments and results picklable.
    """
    processes = default_processes() if processes is None else int(processes)
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    if processes == 1 or len(jobs) <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(function, jobs)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(processes, len(jobs)), mp_context=context, initializer=initializer,
                             initargs=initargs) as pool:
        yield from pool.map(function, jobs)


def map_processes(function: Callable[[Job], Result], jobs: Sequence[Job], processes: int | None = None,
                  data: "PreparedDataset | None" = None) -> list[Result]:
    """:func:`imap_processes` as a list. Inline, ``data`` (if given) is what :func:`worker_dataset`
    returns for its root instead of a reload."""
    inline = (default_processes() if processes is None else processes) == 1 or len(jobs) <= 1
    if data is not None and inline:
        _DATASETS[str(Path(data.root).resolve())] = data
    return list(imap_processes(function, jobs, processes))

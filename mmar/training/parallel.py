"""Independent jobs over local worker processes, so that single-threaded trainings use every core.

Training runs on one torch thread (``TrainConfig.num_threads``): at these model sizes two processes
of one thread each train about twice as fast as one process of two threads, the difference between
notebooks 03-05 using one core of a laptop and using two. Workers are spawned (fresh interpreters:
nothing of the caller's thread pools or open files is inherited, unlike a fork of a process that
already ran torch) and read the prepared dataset from its folder once each (:func:`worker_dataset`).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Sequence, TypeVar

from mmar.data.prepared import PreparedDataset

Job = TypeVar("Job")
Result = TypeVar("Result")

_DATASETS: dict[str, PreparedDataset] = {}


def default_processes() -> int:
    """2 worker processes when the machine has 2 or more cores, else 1."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def worker_dataset(root: str) -> PreparedDataset:
    """The prepared dataset in ``root``, loaded once per process."""
    if root not in _DATASETS:
        _DATASETS[root] = PreparedDataset.load(root)
    return _DATASETS[root]


def map_processes(function: Callable[[Job], Result], jobs: Sequence[Job], processes: int | None = None,
                  data: PreparedDataset | None = None) -> list[Result]:
    """``[function(job) for job in jobs]``, computed by ``processes`` spawned workers (None:
    :func:`default_processes`), results in the order of ``jobs``; jobs start in that order, so put
    the longest first. Inline (this process) when one process or one job is asked for, where
    ``data`` (if given) is what :func:`worker_dataset` returns for its root instead of a reload.
    ``function`` must be importable by name (a module-level function), and jobs and results picklable.
    """
    processes = default_processes() if processes is None else int(processes)
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    if processes == 1 or len(jobs) <= 1:
        if data is not None:
            _DATASETS[str(data.root)] = data
        return [function(job) for job in jobs]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(processes, len(jobs)), mp_context=context) as pool:
        return list(pool.map(function, jobs))

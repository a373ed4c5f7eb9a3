"""Analysing candidates in worker processes, and surviving a worker that dies.

Workers are forked from the detecting process after it has loaded the indexes, so they share
those (copy-on-write) instead of each loading its own. They only compute; the parent records.
Each worker runs its libraries on one thread: with N workers on N cores, OpenCV's and FAISS's
own thread pools (one thread per core each, by default) would only fight over the same cores.
A worker killed mid-analysis (SIGKILL, out of memory) breaks its pool: the contents whose
analyses did not come back are submitted again to a fresh pool, so none is lost, and since only
results that came back are yielded, none is recorded twice.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

import cv2
import faiss

from detector.errors import CopyhoundError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # linux/prctl.h

#: The detector the forked workers inherit (set just before the pool starts).
_ANALYSER = None


class WorkersFailed(CopyhoundError):
    """Worker processes keep dying on the same contents."""


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextmanager
def one_thread() -> Iterator[None]:
    """OpenCV and FAISS on one thread each while the block runs, their thread counts restored after."""
    opencv, openmp = cv2.getNumThreads(), faiss.omp_get_max_threads()
    cv2.setNumThreads(1)
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(opencv)
        faiss.omp_set_num_threads(openmp)


@contextmanager
def _pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` forked processes whose OpenCV and FAISS run on one thread each.

    The setting is made here, before the fork, and undone when the pool closes: a forked child
    must not resize OpenCV's thread pool (it waits forever on its dead threads), and a child that
    inherits one thread never touches the parent's pools at all.
    """
    with one_thread(), ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                           initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
        yield pool


def _die_with_parent(parent: int) -> None:
    """Make this worker end when the process that forked it does (Linux). A forked worker holds copies of
    its parent's open files, the workspace's scan lock among them: killed with SIGKILL, a scan or a watcher
    would otherwise leave idle workers behind that keep the workspace locked for good."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: no such call
    if os.getppid() != parent:  # the parent died before the call: nothing would signal this worker
        os._exit(1)


def _analyse(sha256: str, name: str):
    return _ANALYSER.analyse_content(sha256, name)


def analyse_all(analyser, contents: list[tuple[str, str]], workers: int) -> Iterator[tuple[str, object]]:
    """(sha256, analysis) for each (sha256, name) of `contents`, in completion order; each exactly once.

    `analyser.analyse_content(sha256, name)` does the work, here (workers <= 1) or in forked workers.
    """
    global _ANALYSER
    if workers <= 1 or len(contents) <= 1:
        for sha256, name in contents:
            yield sha256, analyser.analyse_content(sha256, name)
        return
    left = dict(contents)
    fruitless = 0
    while left:
        _ANALYSER = analyser
        done_before = len(left)
        try:
            with _pool(min(workers, len(left))) as pool:
                futures = {pool.submit(_analyse, sha256, name): sha256 for sha256, name in left.items()}
                for future in as_completed(futures):
                    sha256 = futures[future]
                    analysis = future.result()
                    del left[sha256]
                    yield sha256, analysis
        except BrokenProcessPool:
            fruitless = fruitless + 1 if len(left) == done_before else 0
            if fruitless >= 3:
                raise WorkersFailed(
                    f"detection workers died three times in a row without finishing any of {len(left)} images; "
                    "they stay 'new'. Run the scan again with --workers 1 to see which image fails."
                ) from None
            log.warning("a detection worker died; analysing the %d images it left again", len(left))
        finally:
            _ANALYSER = None


def ordered_map(function: Callable, items: Iterable, workers: int, ahead: int = 4) -> Iterator:
    """function(item) for each of `items`, in their order, computed in `workers` forked processes
    (here, with `workers` <= 1) while the caller consumes the results already done.

    At most `ahead` x `workers` items are in flight, so a long input is never held in memory at
    once. `function` must be a module-level function (it is sent to the workers by name).
    """
    if workers <= 1:
        yield from map(function, items)
        return
    with _pool(workers) as pool:
        in_flight: deque = deque()
        for item in items:
            in_flight.append(pool.submit(function, item))
            if len(in_flight) >= ahead * workers:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()

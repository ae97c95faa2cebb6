"""Where partitions run: in this process, or on a Dask cluster.

Both executors run the same module-level partition functions (pipeline.runner) and yield
results as they complete; the runner caches each one as it arrives, so a killed run loses at
most the partitions in flight, and the tables it assembles do not depend on completion order.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any, Protocol

from pipeline.config import Config

PartitionFn = Callable[[Any, Config], Any]


class Executor(Protocol):
    name: str

    def map(self, fn: PartitionFn, payloads: list, config: Config) -> Iterator[tuple[int, Any]]:
        """Run `fn(payload, config)` for each payload; yield (payload index, result)."""
        ...

    def close(self) -> None: ...


def _exit_with_parent(parent: int, interval_s: float = 1.0) -> None:
    """Pool worker initializer: exit when the run that started this worker is gone (e.g.
    killed with SIGKILL, which gives the pool no chance to stop its workers)."""

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


class LocalExecutor:
    """Partitions on this machine: in this process, or in a pool of `workers` processes.

    A pool starts on the first call with more than one partition and lives until `close`, so
    each worker loads its models once for the whole run. Workers are spawned, not forked: torch
    and spaCy threads do not survive a fork.
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self._pool = None

    def map(self, fn: PartitionFn, payloads: list, config: Config) -> Iterator[tuple[int, Any]]:
        if self.workers <= 1 or len(payloads) <= 1:
            for i, payload in enumerate(payloads):
                yield i, fn(payload, config)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=get_context("spawn"),
                initializer=_exit_with_parent,
                initargs=(os.getpid(),),
            )
        futures = {self._pool.submit(fn, payload, config): i for i, payload in enumerate(payloads)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()  # after a failure, don't start partitions nobody will read

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class DaskExecutor:
    """Partitions as tasks on a Dask cluster: the one at `scheduler`, or a LocalCluster.

    Every worker needs this package and its models installed, and must be able to read the input
    files at the same paths (a shared filesystem); results come back to this process, which
    writes all tables.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int = 2) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # an optional heavy dependency: say how to get it
            raise RuntimeError(
                "the dask executor needs dask.distributed: pip install 'dask[distributed]'"
            ) from exc
        self.cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            # One single-threaded process per worker: spaCy and numpy are not made faster by
            # threads here, and processes keep each worker's models apart.
            self.cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
            self.client = Client(self.cluster)

    @property
    def address(self) -> str:
        return self.client.scheduler.address

    def map(self, fn: PartitionFn, payloads: list, config: Config) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        if not payloads:
            return
        futures = self.client.map(fn, payloads, config=config, pure=False)
        position = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            yield position[future.key], future.result()
            future.release()  # free the worker's copy once the result is cached here

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(config: Config) -> Executor:
    """The executor named by `run.executor` (with `run.workers`, or `run.scheduler` and
    `run.dask_workers`)."""
    if config.run.executor == "dask":
        return DaskExecutor(config.run.scheduler, config.run.dask_workers)
    return LocalExecutor(config.run.workers or os.cpu_count() or 1)

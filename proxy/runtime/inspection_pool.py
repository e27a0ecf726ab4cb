"""Worker processes that inspect large requests, so that one upload does not stall everyone.

The proxy serves every client, and its DNS server, on one event loop. Inspecting a request
costs about 1 to 2 s of CPU per MiB of text (peeling is Python); done on the loop, a 2 MB
upload held every other agent's requests and DNS queries for seconds, and a sender could do so
on purpose, up to its CPU budget (`cpu_seconds_per_mib`). A request whose texts still to be
inspected hold OFFLOAD_MIN_CHARS characters or more is therefore sent to a worker process
(proxy/runtime/inspection_worker.py) and awaited; smaller ones, nearly all requests, are
inspected on the loop as before, since a round trip to a worker would cost them more than it
saves.

Failing closed: a worker that dies (a crash, the OOM killer) breaks the pool; the request in
flight gets an exception, which the hook turns into a block, and the pool is started again for
the next one. A job that overruns its deadline (far above its CPU budget: a bug, not a slow
request) is answered with `OffloadTimeout`, a block, and its workers are replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from proxy.inspection.cpu_budget import MAX_GROWTH
from proxy.inspection.engine import Text
from proxy.runtime.inspection_worker import (
    WorkerResult,
    WorkerSettings,
    inspect_job,
    ready,
    start_worker,
)

logger = logging.getLogger("glassbreak")

# About 40-100 ms of CPU on the loop: above it, a worker's round trip (pickling the texts,
# a pipe, a wake-up: ~1 ms) is worth paying.
OFFLOAD_MIN_CHARS = 64 * 1024
DEFAULT_WORKERS = 1
WORKER_NICENESS = 10  # added to the proxy's own: see InspectionPool.start
MAX_WORKERS = 64
# A job's deadline: its CPU budget at its largest, twice over (a busy machine), plus this.
DEADLINE_SLACK_SECONDS = 60.0


class OffloadTimeout(Exception):
    """A job ran past its deadline; the request is blocked (inspection_limit)."""


def job_deadline(cpu_seconds: float) -> float:
    """Seconds to wait for a job whose CPU budget starts at `cpu_seconds`."""
    return 2 * MAX_GROWTH * cpu_seconds + DEADLINE_SLACK_SECONDS


class InspectionPool:
    def __init__(self, workers: int, settings: WorkerSettings) -> None:
        if workers < 1:
            raise ValueError("an inspection pool needs at least one worker")
        self.workers = workers
        self.settings = settings
        self._executor: ProcessPoolExecutor | None = None
        self.restarts = 0

    def start(self) -> None:
        """Start every worker now, so that the first large request does not wait for one to
        import and compile its scanner (a few seconds of CPU, on another core)."""
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers,
            # spawn, not fork: the proxy has threads and an event loop a fork would copy mid-use
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_worker, initargs=(self.settings,))
        for _ in range(self.workers):
            self._executor.submit(ready)
        # Workers yield the CPU to the event loop: it serves every client, the DNS server and
        # /healthz, and must not wait for a worker's start (seconds of imports and compiling)
        # or for a large upload's inspection. They get what the loop leaves, which on a busy
        # machine makes large uploads slower, not the proxy.
        for pid in _worker_pids(self._executor):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, pid,
                               os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)

    async def inspect(self, texts: Sequence[Text], deadline: float) -> WorkerResult:
        """Inspect `texts` in a worker; raise on a broken pool or past `deadline` seconds."""
        if self._executor is None:
            self.start()
        assert self._executor is not None
        executor = self._executor
        future: Future[WorkerResult] = executor.submit(inspect_job, list(texts))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), deadline)
        except BrokenProcessPool:
            self._replace(executor, "a worker died")
            raise
        except TimeoutError:
            if future.running():  # it ran, and ran too long: replace the worker it holds
                self._replace(executor, "a job overran its deadline")
            raise OffloadTimeout() from None

    def _replace(self, executor: ProcessPoolExecutor, why: str) -> None:
        if executor is not self._executor:
            return  # another job's failure already replaced it
        logger.error("glassbreak: inspection worker restarted: %s", why)
        self.restarts += 1
        self._stop(executor)
        self.start()

    def close(self) -> None:
        if self._executor is not None:
            self._stop(self._executor)
            self._executor = None

    @staticmethod
    def _stop(executor: ProcessPoolExecutor) -> None:
        # The processes are killed, not asked: a worker stuck in a job would never read a
        # request to stop.
        pids = _worker_pids(executor)
        executor.shutdown(wait=False, cancel_futures=True)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _worker_pids(executor: ProcessPoolExecutor) -> list[int]:
    """The executor's worker processes: `_processes` is its own map of them, filled as each
    is started (in `submit`); the standard library offers no public view of it."""
    return list(getattr(executor, "_processes", None) or {})

"""What an inspection worker process runs: the texts of one large request, inspected exactly as
the proxy's event loop would inspect them (proxy/runtime/inspection_pool.py sends them here).

A worker is a separate process, started with `spawn`: it shares nothing with the proxy but what
it is given (the settings below, then one request's texts at a time), and it holds nothing after
a request but its compiled scanner. It answers with the inspection (findings and the values,
which the proxy needs to redact; they cross a pipe in memory and are never written) and which
texts were clean, for the proxy's clean-text cache.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from dataclasses import dataclass

from proxy.inspection.clean_texts import CleanTexts
from proxy.inspection.cpu_budget import CpuBudget
from proxy.inspection.engine import Inspection, Text, inspect_texts
from proxy.inspection.scanner import Scanner
from proxy.policy.model import InspectionPolicy

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class WorkerSettings:
    finding_key: bytes  # the Gate's: a finding's keyed hash must not depend on who found it
    max_depth: int
    cpu_seconds_per_mib: float


@dataclass(frozen=True)
class WorkerResult:
    inspection: Inspection
    clean: tuple[int, ...]  # positions of the texts found clean, in the list sent


@dataclass(frozen=True)
class _Worker:
    settings: WorkerSettings
    scanner: Scanner


# This process's worker, once started: a process holds at most one.
_started: dict[str, _Worker] = {}


def start_worker(settings: WorkerSettings) -> None:
    """The pool's initializer: runs once in each new worker, before any request."""
    # Ctrl-C in a terminal reaches the whole process group: the proxy stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    scanner = Scanner()
    scanner.prepare_rewrites()  # now, not on the first request
    _started["worker"] = _Worker(settings, scanner)


def ready() -> bool:
    """The warm-up job: returns once this worker has started (and compiled its scanner)."""
    return "worker" in _started


def inspect_job(texts: list[Text]) -> WorkerResult:
    worker = _started.get("worker")
    if worker is None:  # start_worker failed: the pool turns this into a block
        raise RuntimeError("inspection worker not started")
    settings = worker.settings
    clean = CleanTexts(max(1, len(texts)))  # this request's clean texts, to report back
    policy = InspectionPolicy(max_depth=settings.max_depth,
                              cpu_seconds_per_mib=settings.cpu_seconds_per_mib)
    inspection = inspect_texts(texts, worker.scanner, settings.finding_key,
                               max_depth=settings.max_depth, clean=clean,
                               cpu=CpuBudget.for_texts(texts, policy))
    return WorkerResult(inspection, tuple(
        position for position, text in enumerate(texts)
        if clean.digest(text.text, peel=text.peel) in clean))


def _die_with_parent() -> None:
    """Have the kernel kill this worker if the proxy dies without stopping it (SIGKILL, a
    crash): an orphaned worker would hold memory and a compiled scanner for nothing."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the proxy's shutdown still stops us
        return
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(0)  # the proxy died while this worker was still importing: too late to ask

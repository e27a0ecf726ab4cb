"""Process helpers for the bench: start, poll readiness with a bound, CPU counters, stop by PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROXY_ENV_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class BenchFailure(Exception):
    """An arm could not run; the message says why."""


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for child processes, without proxy variables (all traffic is loopback)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_ENV_VARS}
    env.update(extra or {})
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def cpu_ticks(pid: int) -> int:
    """utime+stime of ``pid`` and its live descendants, in clock ticks (all threads included)."""
    total = 0
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            # fields[0] is field 3 (state); utime is field 14, stime field 15.
            total += int(fields[11]) + int(fields[12])
    return total


def system_busy_ticks() -> int:
    """user + nice + system time of the whole machine (all CPUs), in clock ticks.

    Interrupt and softirq time (loopback networking lands there) and steal are left out, so that
    subtracting the bench's own processes leaves what other processes used.
    """
    with contextlib.suppress(OSError, ValueError):
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        return int(fields[0]) + int(fields[1]) + int(fields[2])
    return 0


def ticks_to_ms(ticks: int) -> float:
    return ticks * 1000.0 / CLOCK_TICKS


def descendants(pid: int, limit: int = 256) -> list[int]:
    found: list[int] = []
    queue = [pid]
    while queue and len(found) < limit:
        current = queue.pop()
        children: list[int] = []
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError, ValueError):
                    children.extend(
                        int(c) for c in (task / "children").read_text().split()
                    )
        for child in children:
            if child not in found:
                found.append(child)
                queue.append(child)
    return found


@dataclass
class Started:
    """A process the bench started, with its output files."""

    name: str
    proc: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output_tail(self, chars: int = 1500) -> str:
        parts = []
        for label, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace").strip()
                if text:
                    parts.append(f"[{label}] {text[-chars:]}")
        return "\n".join(parts) or "(no output)"


def start(name: str, argv: Sequence[str], workdir: Path, cwd: Path,
          env: dict[str, str] | None = None) -> Started:
    stdout_path = workdir / f"{name}.stdout.log"
    stderr_path = workdir / f"{name}.stderr.log"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd,
            env=env if env is not None else clean_env(),
        )
    return Started(name, proc, stdout_path, stderr_path)


def stop(started: Started, timeout: float = 5.0) -> None:
    """Stop a process the bench started, and any children it left, by PID only."""
    kids = descendants(started.pid)
    if started.alive():
        with contextlib.suppress(ProcessLookupError):
            started.proc.send_signal(signal.SIGTERM)
        try:
            started.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                started.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.proc.wait(timeout)
    for kid in kids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(kid, signal.SIGTERM)


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               proc: Started | None = None, interval: float = 0.05) -> None:
    """Poll ``check`` until it holds, at most ``timeout`` seconds; fail early if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and not proc.alive():
            raise BenchFailure(
                f"{proc.name} exited with code {proc.proc.returncode} while waiting for {what}:\n"
                f"{proc.output_tail()}"
            )
        time.sleep(interval)
    tail = f"\n{proc.output_tail()}" if proc is not None else ""
    raise BenchFailure(f"timed out after {timeout:.0f} s waiting for {what}{tail}")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def read_json_line(stream: asyncio.StreamReader, timeout: float, what: str) -> str:
    try:
        line = await asyncio.wait_for(stream.readline(), timeout)
    except TimeoutError as error:
        raise BenchFailure(f"timed out after {timeout:.0f} s waiting for {what}") from error
    return line.decode(errors="replace")

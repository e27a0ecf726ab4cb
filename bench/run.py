"""Side-by-side benchmark: direct vs bare mitmdump vs Glassbreak (allowlist only, and with
inspection), in one run.

Run from the repository root: ``make bench`` (``.venv/bin/python -m bench.run``), or
``.venv/bin/python -m bench.run --quick`` for a short run. See docs/BENCHMARKS.md.

Processes: an aiohttp HTTPS upstream on 127.0.0.2 (trustme test CA, certificate for
``bench.test``), one proxy at a time (bare mitmdump, Glassbreak with ``inspection: {enabled:
false}``, then Glassbreak with inspection on), and the load client (``bench.client``), each its
own process. This process only orchestrates: it samples the proxy's CPU counters in /proc around
each measured window and prints the table and a JSON summary (also written to
bench/results/latest.json). A body-size sweep (4 KB to 8 MB POSTs, concurrency 1) runs on bare
mitmdump and on Glassbreak with inspection, to show inspection's CPU per MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from bench.procs import (
    BenchFailure,
    Started,
    clean_env,
    cpu_ticks,
    free_port,
    port_open,
    read_json_line,
    start,
    stop,
    system_busy_ticks,
    ticks_to_ms,
    wait_until,
)

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
UPSTREAM_HOST = "127.0.0.2"
BENCH_NAME = "bench.test"
DENIED_AUTHORITY = "denied.test:443"
STEP_LIMIT_S = 60.0
# Every request inspected from scratch (clean-text cache off): the cost of new content.
INSPECT_ARM = "glassbreak-inspect"
# The defaults: the bench resends one body, as an agent resends its conversation on every LLM
# call, so texts found clean before are skipped. Informational: the target is on INSPECT_ARM.
WARM_ARM = "glassbreak-inspect-warm"
# The defaults on an agent's conversation: every request a new body that resends most of the
# previous one (bench/bodies.py, conversation_bodies), about 44% of its text new. Informational.
CONVERSATION_ARM = "glassbreak-inspect-conversation"
ARMS = ("direct", "bare", "glassbreak", INSPECT_ARM, WARM_ARM, CONVERSATION_ARM)
GLASSBREAK_ARMS = ("glassbreak", INSPECT_ARM, WARM_ARM, CONVERSATION_ARM)
BODY_BYTES = 4096
MIB = 1024 * 1024
SWEEP_SIZES = (4 * 1024, 64 * 1024, MIB, 8 * MIB)
SWEEP_ARMS = ("bare", INSPECT_ARM)
SWEEP_STALL_S = 30.0  # one 8 MB request may take seconds of proxy CPU on a busy box
TARGET_GB_OVER_BARE = 0.9
TARGET_INSPECT_OVER_BARE = 0.85
TARGET_DENIED_OVER_ALLOWED = 1 / 3
TARGET_SWEEP_FLAT = 2.0  # largest / smallest inspection CPU per MB over the sweep
AUDIT_MAX_LINES = 2_000_000
# (key in the JSON summary, numerator arm, denominator arm) for the requests/s ratios
RATIOS = (
    ("glassbreak_over_bare", "glassbreak", "bare"),
    ("glassbreak_inspect_over_bare", INSPECT_ARM, "bare"),
    ("glassbreak_inspect_over_glassbreak", INSPECT_ARM, "glassbreak"),
    ("glassbreak_inspect_warm_over_bare", WARM_ARM, "bare"),
    ("glassbreak_inspect_conversation_over_bare", CONVERSATION_ARM, "bare"),
    ("glassbreak_over_direct", "glassbreak", "direct"),
    ("glassbreak_inspect_over_direct", INSPECT_ARM, "direct"),
    ("bare_over_direct", "bare", "direct"),
)

RULES_TEMPLATE = """\
version: 1
network:
  allow_private: [{upstream}/32]
  hosts:
    {name}: [{upstream}]
destinations:
  - id: bench
    host: {name}
    ports: [{port}]
{inspection}"""
INSPECTION_OFF = """\
inspection:
  enabled: false
"""
INSPECTION_COLD = """\
inspection:
  clean_cache_entries: 0
"""
INSPECTION_BY_ARM = {"glassbreak": INSPECTION_OFF, INSPECT_ARM: INSPECTION_COLD, WARM_ARM: "",
                     CONVERSATION_ARM: ""}
INSPECTION_LABEL = {
    "glassbreak": "off (inspection: {enabled: false})",
    INSPECT_ARM: "on, clean-text cache off (inspection: {clean_cache_entries: 0})",
    WARM_ARM: "on (defaults: texts found clean before are skipped)",
    CONVERSATION_ARM: "on (defaults), traffic: one agent conversation, a new body each request",
}


@dataclass
class Settings:
    duration_s: float
    warmup_s: float
    max_requests: int | None
    concurrency: list[int]
    denied_count: int
    denied_warmup: int
    arms: list[str]
    glassbreak_cmd: str | None
    output: Path
    keep_tmp: bool
    sweep: bool
    sweep_duration_s: float
    sweep_warmup_s: float
    sweep_min_requests: int


@dataclass
class Upstream:
    proc: Started
    port: int
    ca_file: Path


@dataclass
class ProxyArm:
    name: str
    listen: str | None  # host:port of the proxy; None for the direct arm
    ca_file: Path  # what the client trusts
    proc: Started | None
    connect: bool = False  # measure CONNECTs on fresh connections (bare, glassbreak)
    audit_log: Path | None = None  # Glassbreak's, read after the arm


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Direct vs bare mitmdump vs Glassbreak (allowlist only, and with "
        "inspection): requests/s, latency, proxy CPU; body-size sweep of inspection's CPU per MB.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="short run: 2 s windows, 0.5 s warm-up, 300 denied CONNECTs")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per measured window (default 10, --quick 2)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of warm-up before each window (default 2, --quick 0.5)")
    parser.add_argument("--requests", type=int, default=None,
                        help="end each window after this many requests, or after --duration "
                        f"if that comes first (which then defaults to {STEP_LIMIT_S:.0f} s)")
    parser.add_argument("--concurrency", default="1,8",
                        help="comma-separated connection counts (default 1,8)")
    parser.add_argument("--denied", type=int, default=None,
                        help="denied CONNECTs to measure (default 2000, --quick 300)")
    parser.add_argument("--arms", default=",".join(ARMS),
                        help=f"comma-separated subset of {','.join(ARMS)}")
    parser.add_argument("--glassbreak", default=None,
                        help="command that runs glassbreak (default .venv/bin/glassbreak)")
    parser.add_argument("--sweep", action=argparse.BooleanOptionalAction, default=None,
                        help="body-size sweep (4 KB, 64 KB, 1 MB, 8 MB POSTs at concurrency 1) on "
                        f"bare and {INSPECT_ARM} (default: on, off with --quick)")
    parser.add_argument("--sweep-duration", type=float, default=None,
                        help="seconds per sweep window (default 3, --quick 1)")
    parser.add_argument("--sweep-min-requests", type=int, default=5,
                        help="requests per sweep window at least, however long they take "
                        "(default 5)")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results" / "latest.json",
                        help="where to write the JSON summary")
    parser.add_argument("--keep-tmp", action="store_true",
                        help="keep the temporary directory (logs, CA, state) for inspection")
    args = parser.parse_args(argv)
    if args.duration is not None:
        duration = args.duration
    elif args.requests is not None:
        duration = STEP_LIMIT_S  # the request count ends the window; this only bounds it
    else:
        duration = 2.0 if args.quick else 10.0
    warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 2.0)
    denied = args.denied if args.denied is not None else (300 if args.quick else 2000)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {unknown}; choose from {ARMS}")
    # each concurrency once: results are keyed by it
    concurrency = list(dict.fromkeys(int(c) for c in args.concurrency.split(",") if c.strip()))
    if not concurrency or any(c < 1 or c > 256 for c in concurrency):
        parser.error("--concurrency takes numbers between 1 and 256")
    if duration <= 0 or duration > 600 or warmup < 0 or warmup > 120:
        parser.error("--duration must be in (0, 600] and --warmup in [0, 120]")
    if args.requests is not None and args.requests < 1:
        parser.error("--requests must be positive")
    if denied < 1 or denied > 100_000:
        parser.error("--denied must be in [1, 100000]")
    sweep = args.sweep if args.sweep is not None else not args.quick
    sweep_duration = (args.sweep_duration if args.sweep_duration is not None
                      else (1.0 if args.quick else 3.0))
    if sweep_duration <= 0 or sweep_duration > 120:
        parser.error("--sweep-duration must be in (0, 120]")
    if args.sweep_min_requests < 1 or args.sweep_min_requests > 1000:
        parser.error("--sweep-min-requests must be in [1, 1000]")
    return Settings(
        duration_s=duration, warmup_s=warmup, max_requests=args.requests,
        concurrency=concurrency, denied_count=denied,
        denied_warmup=min(100, max(10, denied // 20)), arms=arms,
        glassbreak_cmd=args.glassbreak, output=args.output, keep_tmp=args.keep_tmp,
        sweep=sweep, sweep_duration_s=sweep_duration,
        sweep_warmup_s=0.5 if args.quick else 1.0, sweep_min_requests=args.sweep_min_requests,
    )


# ---------------------------------------------------------------- processes under test


@contextlib.contextmanager
def upstream(workdir: Path) -> Iterator[Upstream]:
    ca = trustme.CA()
    cert = ca.issue_cert(BENCH_NAME)
    ca_file = workdir / "upstream-ca.pem"
    chain = workdir / "upstream-chain.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    proc = start("upstream", [sys.executable, "-m", "bench.upstream", "--host", UPSTREAM_HOST,
                              "--cert-chain", str(chain)], workdir, REPO)
    try:
        port: list[int] = []

        def ready() -> bool:
            text = proc.stdout_path.read_text()
            for line in text.splitlines():
                if line.startswith("READY "):
                    port.append(int(line.split()[1]))
                    return True
            return False

        wait_until(ready, 30, "the upstream server", proc)
        wait_until(lambda: port_open(UPSTREAM_HOST, port[0]), 10, "the upstream port", proc)
        yield Upstream(proc, port[0], ca_file)
    finally:
        stop(proc)


@contextlib.contextmanager
def bare_mitmdump(workdir: Path, up: Upstream) -> Iterator[ProxyArm]:
    mitmdump = BIN / "mitmdump"
    if not mitmdump.exists():
        raise BenchFailure(f"{mitmdump} not found: run `make dev` first")
    confdir = workdir / "mitm"
    port = free_port()
    argv = [
        str(mitmdump), "--listen-host", "127.0.0.1", "--listen-port", str(port),
        "--set", f"confdir={confdir}",
        "--set", f"ssl_verify_upstream_trusted_ca={up.ca_file}",
        "--set", "connection_strategy=lazy",
        "-s", str(REPO / "bench" / "mitm_resolve_addon.py"),
        "-q",
    ]
    env = clean_env({"GLASSBREAK_BENCH_HOSTS": f"{BENCH_NAME}={UPSTREAM_HOST}"})
    proc = start("mitmdump", argv, workdir, REPO, env)
    try:
        ca_file = confdir / "mitmproxy-ca-cert.pem"
        wait_until(lambda: port_open("127.0.0.1", port), 60, "mitmdump to listen", proc)
        wait_until(ca_file.exists, 30, "mitmdump's CA certificate", proc)
        yield ProxyArm("bare", f"127.0.0.1:{port}", ca_file, proc, connect=True)
    finally:
        stop(proc)


def glassbreak_command(settings: Settings) -> tuple[list[str], str]:
    """The command that runs glassbreak, and a note on where it came from."""
    if settings.glassbreak_cmd:
        return shlex.split(settings.glassbreak_cmd), "from --glassbreak"
    script = BIN / "glassbreak"
    if script.exists():
        return [str(script)], str(script.relative_to(REPO) if script.is_relative_to(REPO)
                                  else script)
    return (
        [sys.executable, "-c", "import sys; from proxy.cli import main; sys.exit(main())"],
        f"{script} is missing (run `make install`); fell back to importing proxy.cli "
        "from the work tree",
    )


@contextlib.contextmanager
def glassbreak(workdir: Path, up: Upstream, settings: Settings, name: str) -> Iterator[ProxyArm]:
    """Glassbreak for arm ``name``: ``glassbreak`` turns inspection off, ``glassbreak-inspect``
    inspects every request from scratch, ``glassbreak-inspect-warm`` keeps the defaults."""
    cmd, origin = glassbreak_command(settings)
    print(f"  glassbreak command: {' '.join(cmd)} ({origin})", flush=True)
    try:
        check = subprocess.run([*cmd, "run", "--help"], cwd=REPO, env=clean_env(),
                               capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BenchFailure(f"`glassbreak run --help` could not run: {error}") from error
    if check.returncode != 0:
        raise BenchFailure(
            f"`glassbreak run --help` exited with {check.returncode}: "
            f"{(check.stderr or check.stdout).strip()[-1500:]}"
        )
    state_dir = workdir / f"{name}-state"
    rules = workdir / f"{name}-rules.yaml"
    rules.write_text(RULES_TEMPLATE.format(upstream=UPSTREAM_HOST, name=BENCH_NAME, port=up.port,
                                           inspection=INSPECTION_BY_ARM[name]))
    port = free_port()
    argv = [*cmd, "run", "--rules", str(rules), "--listen", f"127.0.0.1:{port}",
            "--state-dir", str(state_dir), "--upstream-ca", str(up.ca_file), "--dns", "off",
            "--admin", "off"]
    print(f"  rule file {rules.name}: inspection {INSPECTION_LABEL[name]}", flush=True)
    proc = start(name, argv, workdir, REPO)
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 60, "glassbreak to listen", proc)
        ca = subprocess.run([*cmd, "ca", "--state-dir", str(state_dir)], cwd=REPO,
                            env=clean_env(), capture_output=True, text=True, timeout=60,
                            check=False)
        lines = ca.stdout.strip().splitlines()
        if ca.returncode != 0 or not lines:
            raise BenchFailure(f"`glassbreak ca` exited with {ca.returncode}: "
                               f"{(ca.stderr or ca.stdout).strip()[-1500:]}")
        ca_file = Path(lines[-1].strip())
        wait_until(ca_file.exists, 30, f"glassbreak's CA certificate at {ca_file}", proc)
        yield ProxyArm(name, f"127.0.0.1:{port}", ca_file, proc, connect=name == "glassbreak",
                       audit_log=state_dir / "audit.log")
    finally:
        stop(proc)


# ---------------------------------------------------------------- the client


async def run_client(cfg: dict[str, Any], watched: dict[str, int], workdir: Path,
                     label: str) -> dict[str, Any]:
    """Run one client process through warm-up and one measured window.

    ``watched`` maps a role ("proxy", "upstream") to a PID whose CPU is sampled around the window.
    """
    stderr_path = workdir / f"client-{label}.stderr.log"
    with stderr_path.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.client", "--config", json.dumps(cfg),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            cwd=REPO, env=clean_env(),
        )
    assert proc.stdin is not None and proc.stdout is not None

    def died(what: str) -> BenchFailure:
        tail = stderr_path.read_text(errors="replace").strip()[-1500:]
        return BenchFailure(f"client exited during {what}: {tail or '(no stderr)'}")

    try:
        line = await read_json_line(proc.stdout, STEP_LIMIT_S + cfg.get("warmup_s", 0),
                                    "the client's warm-up")
        if not line:
            raise died("warm-up")
        warm = json.loads(line)
        if warm.get("stalled"):
            raise BenchFailure(f"client warm-up stalled: {warm['stalled']}; "
                               f"errors: {warm['error_samples']}")
        if warm["errors"] and not warm["requests"]:
            raise BenchFailure(f"client warm-up failed: {warm['errors']} errors, statuses "
                               f"{warm.get('statuses', {})}, e.g. {warm['error_samples'][:1]}")
        watched = {**watched, "client": proc.pid}
        before = {role: cpu_ticks(pid) for role, pid in watched.items()}
        busy0 = system_busy_ticks()
        t0 = time.perf_counter()
        proc.stdin.write(b"GO\n")
        await proc.stdin.drain()
        line = await read_json_line(proc.stdout, cfg.get("duration_s", 0) + 2 * STEP_LIMIT_S,
                                    "the measured window")
        wall = time.perf_counter() - t0
        after = {role: cpu_ticks(pid) for role, pid in watched.items()}
        busy1 = system_busy_ticks()
        if not line:
            raise died("the measured window")
        done: dict[str, Any] = json.loads(line)
        proc.stdin.write(b"CLOSE\n")
        with contextlib.suppress(ConnectionError):
            await proc.stdin.drain()
        await asyncio.wait_for(proc.wait(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    n = done["requests"]
    if done.get("stalled"):
        raise BenchFailure(f"measured window stalled: {done['stalled']}; "
                           f"errors: {done['error_samples']}")
    if n == 0:
        raise BenchFailure(f"no request completed in the measured window: {done['error_samples']}")
    done["warmup_requests"] = warm["requests"]
    done["window_wall_s"] = wall
    done["client_cpu_pct"] = 100.0 * done["client_cpu_s"] / max(done["elapsed_s"], 1e-9)
    ours = 0.0
    for role in watched:
        if role == "client":
            continue  # the client measures its own window (client_cpu_s)
        ms = ticks_to_ms(after[role] - before[role])
        ours += ms
        done[f"{role}_cpu_ms"] = ms
        done[f"{role}_cpu_ms_per_req"] = ms / n
        done[f"{role}_cpu_pct"] = 100.0 * ms / 1000.0 / max(wall, 1e-9)
    ours += ticks_to_ms(after["client"] - before["client"])
    # CPU the machine spent on anything but the bench's processes: other work on a shared box.
    other_ms = max(0.0, ticks_to_ms(busy1 - busy0) - ours)
    done["other_cpu_pct"] = 100.0 * other_ms / 1000.0 / max(wall, 1e-9)
    return done


def load_config(arm: ProxyArm, up: Upstream, concurrency: int, s: Settings) -> dict[str, Any]:
    return {
        "body_size": BODY_BYTES,
        "mode": "load",
        "target": f"{UPSTREAM_HOST}:{up.port}",
        "proxy": arm.listen,
        "authority": f"{BENCH_NAME}:{up.port}",
        "sni": BENCH_NAME,
        "ca_file": str(arm.ca_file),
        "concurrency": concurrency,
        "warmup_s": s.warmup_s,
        "duration_s": s.duration_s,
        "max_requests": s.max_requests,
        "time_limit_s": STEP_LIMIT_S,
        # One conversation per window (its seed), so that no window resends another's bodies.
        **({"traffic": "conversation", "conversation_seed": concurrency}
           if arm.name == CONVERSATION_ARM else {}),
    }


def sweep_config(arm: ProxyArm, up: Upstream, size: int, s: Settings) -> dict[str, Any]:
    """One body size at concurrency 1: at least ``sweep_duration_s`` and
    ``sweep_min_requests`` requests, bounded by the step limit."""
    cfg = load_config(arm, up, 1, s)
    cfg.update({
        "body_size": size,
        "warmup_s": s.sweep_warmup_s,
        "warmup_min_requests": 1,
        "duration_s": s.sweep_duration_s,
        "min_requests": s.sweep_min_requests,
        "max_requests": None,
        "stall_s": SWEEP_STALL_S,
    })
    return cfg


def connect_config(arm: ProxyArm, s: Settings) -> dict[str, Any]:
    return {
        "mode": "connect",
        "proxy": arm.listen,
        "authority": DENIED_AUTHORITY,
        "count": s.denied_count,
        "warmup_count": s.denied_warmup,
        "concurrency": 1,
        "time_limit_s": STEP_LIMIT_S,
    }


async def measure_arm(arm: ProxyArm, up: Upstream, s: Settings, workdir: Path,
                      results: dict[str, Any]) -> None:
    """Run every window of one arm; a failed window is recorded and the next one still runs."""
    watched = {"upstream": up.proc.pid}
    if arm.proc is not None:
        watched["proxy"] = arm.proc.pid
    failures: list[str] = results.setdefault("failures", [])
    for c in s.concurrency:
        print(f"  {arm.name}: concurrency {c} ...", flush=True)
        try:
            r = await run_client(load_config(arm, up, c, s), watched, workdir,
                                 f"{arm.name}-c{c}")
        except BenchFailure as error:
            failures.append(f"concurrency {c}: {error}")
            print(f"    FAILED: {error}", flush=True)
            continue
        results["load"][str(c)] = r
        print(f"    {r['rps']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
              f"{r['errors']} errors, statuses {r['statuses']}", flush=True)
    if arm.connect and arm.listen is not None and arm.proc is not None:
        print(f"  {arm.name}: {s.denied_count} CONNECT {DENIED_AUTHORITY} on fresh "
              "connections ...", flush=True)
        try:
            r = await run_client(connect_config(arm, s), {"proxy": arm.proc.pid}, workdir,
                                 f"{arm.name}-connect")
        except BenchFailure as error:
            failures.append(f"CONNECT {DENIED_AUTHORITY}: {error}")
            print(f"    FAILED: {error}", flush=True)
        else:
            results["connect"] = r
            print(f"    statuses {r['statuses']}, {r['proxy_cpu_ms_per_req']:.3f} proxy CPU ms "
                  "each", flush=True)
    if s.sweep and arm.name in SWEEP_ARMS:
        sweep: dict[str, Any] = results.setdefault("sweep", {})
        for size in SWEEP_SIZES:
            print(f"  {arm.name}: sweep, {_size_label(size)} POSTs at concurrency 1 ...",
                  flush=True)
            try:
                r = await run_client(sweep_config(arm, up, size, s), watched, workdir,
                                     f"{arm.name}-sweep-{size}")
            except BenchFailure as error:
                failures.append(f"sweep {_size_label(size)}: {error}")
                print(f"    FAILED: {error}", flush=True)
                continue
            mib = size / MIB
            r["body_bytes"] = size
            r["mib_per_s"] = r["rps"] * mib
            for role in ("proxy", "upstream"):
                if f"{role}_cpu_ms_per_req" in r:
                    r[f"{role}_cpu_ms_per_mib"] = r[f"{role}_cpu_ms_per_req"] / mib
            sweep[str(size)] = r
            print(f"    {r['requests']} requests, {r['rps']:.1f} req/s, "
                  f"{_fmt(r.get('proxy_cpu_ms_per_req'), '.2f')} proxy CPU ms/request, "
                  f"{_fmt(r.get('proxy_cpu_ms_per_mib'), '.1f')} ms/MB, "
                  f"{r['errors']} errors, statuses {r['statuses']}", flush=True)
    if arm.proc is not None and not arm.proc.alive():
        failures.append(f"{arm.name} exited with code {arm.proc.proc.returncode} during the "
                        f"run:\n{arm.proc.output_tail()}")
    if failures:
        results["status"] = "failed"
        results["error"] = "; ".join(f.splitlines()[0] for f in failures)


def audit_summary(path: Path) -> dict[str, Any]:
    """What Glassbreak's audit log says about the run: decisions, statuses and findings.

    The bench's bodies are clean: an inspected request should be allowed with no finding (an
    alert costs a log entry and would make the figures those of a different workload).
    """
    out: dict[str, Any] = {"lines": 0, "http": 0, "decisions": {}, "statuses": {},
                           "with_findings": 0, "detectors": {}, "reasons": {}}
    if not path.exists():
        out["error"] = f"{path} not found"
        return out
    with path.open(errors="replace") as lines:
        for index, line in enumerate(lines):
            if index >= AUDIT_MAX_LINES:
                out["truncated"] = True
                break
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            out["lines"] += 1
            if rec.get("kind") != "http":
                continue
            out["http"] += 1
            for key, value in (("decisions", rec.get("decision")), ("statuses", rec.get("status")),
                               ("reasons", rec.get("reason"))):
                out[key][str(value)] = out[key].get(str(value), 0) + 1
            findings = rec.get("findings") or []
            if findings:
                out["with_findings"] += 1
                for f in findings:
                    d = str(f.get("detector"))
                    out["detectors"][d] = out["detectors"].get(d, 0) + 1
    return out


# ---------------------------------------------------------------- report


def _size_label(size: int) -> str:
    return f"{size // MIB} MB" if size >= MIB else f"{size // 1024} KB"


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def summarise(summary: dict[str, Any], s: Settings) -> None:
    arms: dict[str, Any] = summary["arms"]
    ratios: dict[str, Any] = {}
    targets: dict[str, Any] = {}

    def row(arm: str, c: int) -> dict[str, Any] | None:
        r: dict[str, Any] | None = arms.get(arm, {}).get("load", {}).get(str(c))
        return r

    def rps(arm: str, c: int) -> float | None:
        r = row(arm, c)
        return None if r is None else float(r["rps"])

    for c in s.concurrency:
        ratios[f"c{c}"] = {key: _ratio(rps(a, c), rps(b, c)) for key, a, b in RATIOS}
    for key, arm, threshold in (("glassbreak_over_bare_rps", "glassbreak", TARGET_GB_OVER_BARE),
                                ("glassbreak_inspect_over_bare_rps", INSPECT_ARM,
                                 TARGET_INSPECT_OVER_BARE),
                                ("glassbreak_inspect_warm_over_bare_rps", WARM_ARM,
                                 TARGET_INSPECT_OVER_BARE),
                                ("glassbreak_inspect_conversation_over_bare_rps",
                                 CONVERSATION_ARM, TARGET_INSPECT_OVER_BARE)):
        for c in s.concurrency:
            value = _ratio(rps(arm, c), rps("bare", c))
            errors = sum(int(r["errors"]) for r in (row(arm, c), row("bare", c)) if r)
            targets[f"{key}_c{c}"] = {
                "value": value, "target": f">= {threshold}", "errors": errors,
                "met": None if value is None else (value >= threshold and errors == 0),
                "why": "arm missing or failed" if value is None else (
                    f"{errors} errors in the windows" if errors else None),
            }
    gb = arms.get("glassbreak", {})
    denied = gb.get("connect", {}).get("proxy_cpu_ms_per_req")
    c1 = gb.get("load", {}).get("1") or (
        gb.get("load", {}).get(str(s.concurrency[0])) if s.concurrency else None)
    allowed = None if c1 is None else c1.get("proxy_cpu_ms_per_req")
    denied_ratio = _ratio(denied, allowed)
    denied_ok = gb.get("connect", {}).get("statuses", {}).keys() <= {"403"}
    targets["denied_connect_over_allowed_cpu"] = {
        "value": denied_ratio, "denied_cpu_ms": denied, "allowed_cpu_ms": allowed,
        "target": "< 1/3",
        "met": None if denied_ratio is None else (denied_ratio < TARGET_DENIED_OVER_ALLOWED
                                                  and denied_ok),
        "why": "glassbreak arm missing or failed" if denied_ratio is None else (
            None if denied_ok else "a denied CONNECT was not answered 403"),
    }
    sweep = sweep_summary(arms, s)
    summary["sweep"] = sweep
    flat = sweep["flat_ratio"]
    targets["inspection_cpu_per_mb_flat"] = {
        "value": flat, "value_64k_8m": sweep["flat_ratio_64k_8m"],
        "target": f"<= {TARGET_SWEEP_FLAT:g} (largest / smallest inspection CPU per MB, "
                  "4 KB to 8 MB)",
        "met": None if flat is None else flat <= TARGET_SWEEP_FLAT,
        "why": sweep.get("why") if flat is None else None,
    }
    summary["ratios"] = ratios
    summary["targets"] = targets


def sweep_summary(arms: dict[str, Any], s: Settings) -> dict[str, Any]:
    """Inspection's CPU per MB: glassbreak-inspect minus bare mitmdump, per body size."""
    bare = arms.get("bare", {}).get("sweep", {})
    inspect = arms.get(INSPECT_ARM, {}).get("sweep", {})
    rows: dict[str, Any] = {}
    for size in SWEEP_SIZES:
        mib = size / MIB
        b, g = bare.get(str(size)), inspect.get(str(size))
        bare_ms = None if b is None else b.get("proxy_cpu_ms_per_req")
        insp_ms = None if g is None else g.get("proxy_cpu_ms_per_req")
        diff = None if bare_ms is None or insp_ms is None else insp_ms - bare_ms
        rows[str(size)] = {
            "body_bytes": size,
            "bare_cpu_ms_per_req": bare_ms,
            "inspect_cpu_ms_per_req": insp_ms,
            "bare_cpu_ms_per_mib": None if bare_ms is None else bare_ms / mib,
            "inspect_cpu_ms_per_mib": None if insp_ms is None else insp_ms / mib,
            "inspection_cpu_ms_per_req": diff,
            "inspection_cpu_ms_per_mib": None if diff is None else diff / mib,
        }

    def spread(sizes: tuple[int, ...]) -> float | None:
        values = [rows[str(size)]["inspection_cpu_ms_per_mib"] for size in sizes]
        if any(v is None or v <= 0 for v in values):
            return None
        return float(max(values) / min(values))

    out: dict[str, Any] = {
        "ran": bool(bare or inspect),
        "sizes": list(SWEEP_SIZES),
        "mb_is_bytes": MIB,
        "rows": rows,
        "flat_ratio": spread(SWEEP_SIZES),
        "flat_ratio_64k_8m": spread(SWEEP_SIZES[1:]),
    }
    if not s.sweep:
        out["why"] = "sweep not run (--no-sweep, or --quick without --sweep)"
    elif out["flat_ratio"] is None:
        out["why"] = ("a sweep row is missing, or inspection cost nothing measurable at one size "
                      "(glassbreak-inspect <= bare)")
    # At 4 KB the difference to bare includes Glassbreak's own per-request work (allowlist,
    # audit line); the c1 load windows of both Glassbreak arms separate inspection from it.
    gb1 = arms.get("glassbreak", {}).get("load", {}).get("1")
    gi1 = arms.get(INSPECT_ARM, {}).get("load", {}).get("1")
    if gb1 and gi1 and "proxy_cpu_ms_per_req" in gb1 and "proxy_cpu_ms_per_req" in gi1:
        d = gi1["proxy_cpu_ms_per_req"] - gb1["proxy_cpu_ms_per_req"]
        out["inspect_minus_allowlist_c1_4k"] = {"cpu_ms_per_req": d,
                                                "cpu_ms_per_mib": d / (BODY_BYTES / MIB)}
    return out


ROW_HEADER = (f"{'arm':<18} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'proxy CPU ms/req':>16} {'proxy CPU%':>10} {'upstr CPU%':>10} "
              f"{'client CPU%':>11} {'other CPU%':>10} {'errors':>6} {'non-2xx':>7}")


def _load_line(name: str, c: int, r: dict[str, Any]) -> str:
    return (f"{name:<18} {c:>4} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{_fmt(r.get('proxy_cpu_ms_per_req'), '.3f'):>16} "
            f"{_fmt(r.get('proxy_cpu_pct'), '.0f'):>10} "
            f"{_fmt(r.get('upstream_cpu_pct'), '.0f'):>10} "
            f"{r['client_cpu_pct']:>11.0f} {_fmt(r.get('other_cpu_pct'), '.0f'):>10} "
            f"{r['errors']:>6} {r.get('non_2xx', 0):>7}")


def print_report(summary: dict[str, Any], s: Settings) -> None:
    arms: dict[str, Any] = summary["arms"]
    print()
    print(f"Results ({summary['settings']['duration_s']:g} s windows, "
          f"{summary['settings']['warmup_s']:g} s warm-up, {BODY_BYTES // 1024} KB "
          f"chat-completions-like JSON POST, HTTP/1.1 keep-alive, "
          f"{summary['machine']['cpus']} CPUs shared by client, proxy and upstream)")
    print(ROW_HEADER)
    print("-" * len(ROW_HEADER))
    for name in ARMS:
        arm = arms.get(name)
        if arm is None:
            continue
        if arm.get("status") != "ok" and not arm.get("load"):
            print(f"{name:<18} FAILED: {arm.get('error', '?').splitlines()[0]}")
            continue
        for c in s.concurrency:
            r = arm["load"].get(str(c))
            print(f"{name:<18} {c:>4} FAILED" if r is None else _load_line(name, c, r))
        if arm.get("status") != "ok":
            print(f"{'':<18} partly FAILED: {arm.get('error', '?').splitlines()[0]}")
    print()
    keys = list(summary["ratios"])
    print(f"{'Requests/s ratios':<38}" + "".join(f"{k:>9}" for k in keys))
    for key, a, b in RATIOS:
        print(f"  {a + ' / ' + b:<36}"
              + "".join(f"{_fmt(summary['ratios'][k][key], '.3f'):>9}" for k in keys))
    print()
    print("CONNECT on a fresh connection, proxy CPU each")
    for name in ("bare", "glassbreak"):
        conn = arms.get(name, {}).get("connect")
        if conn:
            kind = ("denied (403 expected)" if name == "glassbreak"
                    else "accepted then closed, no TLS (reference)")
            print(f"  {name:<11} {conn['proxy_cpu_ms_per_req']:.3f} ms  {kind}; "
                  f"statuses {conn['statuses']}, {conn['requests']} done, "
                  f"{conn['rps']:.0f}/s, p50 {conn['p50_ms']:.2f} ms")
    print_sweep(summary, s)
    print()
    print("Glassbreak audit logs (the bench's bodies are clean: every request allowed, "
          "no finding)")
    for name in GLASSBREAK_ARMS:
        audit = arms.get(name, {}).get("audit")
        if audit:
            print(f"  {name:<18} {audit['http']} HTTP requests, decisions {audit['decisions']}, "
                  f"statuses {audit['statuses']}, with findings {audit['with_findings']}"
                  + (f" {audit['detectors']}" if audit["detectors"] else "")
                  + (f" ({audit['error']})" if audit.get("error") else ""))
    print()
    print("Targets")
    for key, t in summary["targets"].items():
        met = {True: "MET", False: "MISSED", None: "n/a"}[t["met"]]
        why = f" ({t['why']})" if t.get("why") else ""
        extra = ""
        if key == "inspection_cpu_per_mb_flat":
            extra = f"; 64 KB to 8 MB: {_fmt(t.get('value_64k_8m'), '.2f')}"
        print(f"  {key}: {_fmt(t['value'], '.3f')} (target {t['target']}{extra}) {met}{why}")
    for note in summary["notes"]:
        print(f"  note: {note}")


def print_sweep(summary: dict[str, Any], s: Settings) -> None:
    arms: dict[str, Any] = summary["arms"]
    sweep = summary["sweep"]
    print()
    if not sweep["ran"]:
        print(f"Body-size sweep: {sweep.get('why', 'not run')}")
        return
    print(f"Body-size sweep (concurrency 1, >= {s.sweep_duration_s:g} s and >= "
          f"{s.sweep_min_requests} requests per size; MB = 2^20 bytes)")
    header = (f"{'size':>6} {'arm':<18} {'requests':>8} {'req/s':>8} {'MB/s':>7} {'p50 ms':>8} "
              f"{'proxy CPU ms/req':>16} {'proxy CPU ms/MB':>15} {'proxy CPU%':>10} "
              f"{'upstr CPU%':>10} {'client CPU%':>11} {'other CPU%':>10} {'errors':>6}")
    print(header)
    print("-" * len(header))
    for size in SWEEP_SIZES:
        for name in SWEEP_ARMS:
            if name not in arms:
                continue
            r = arms[name].get("sweep", {}).get(str(size))
            if r is None:
                print(f"{_size_label(size):>6} {name:<18} FAILED")
                continue
            print(f"{_size_label(size):>6} {name:<18} {r['requests']:>8} {r['rps']:>8.1f} "
                  f"{r['mib_per_s']:>7.1f} {r['p50_ms']:>8.2f} "
                  f"{_fmt(r.get('proxy_cpu_ms_per_req'), '.3f'):>16} "
                  f"{_fmt(r.get('proxy_cpu_ms_per_mib'), '.1f'):>15} "
                  f"{_fmt(r.get('proxy_cpu_pct'), '.0f'):>10} "
                  f"{_fmt(r.get('upstream_cpu_pct'), '.0f'):>10} "
                  f"{r['client_cpu_pct']:>11.0f} {_fmt(r.get('other_cpu_pct'), '.0f'):>10} "
                  f"{r['errors']:>6}")
    print()
    print(f"Inspection cost: {INSPECT_ARM} minus bare proxy CPU")
    print(f"{'size':>6} {'ms/request':>11} {'ms/MB':>9}")
    for size in SWEEP_SIZES:
        row = sweep["rows"][str(size)]
        print(f"{_size_label(size):>6} {_fmt(row['inspection_cpu_ms_per_req'], '.3f'):>11} "
              f"{_fmt(row['inspection_cpu_ms_per_mib'], '.1f'):>9}")
    flat, flat_large = sweep["flat_ratio"], sweep["flat_ratio_64k_8m"]

    def flag(value: float | None) -> str:
        if value is None:
            return "n/a"
        return f"{value:.2f}" + ("  > 2x: NOT FLAT" if value > TARGET_SWEEP_FLAT else "")

    print(f"  largest / smallest per-MB inspection cost, 4 KB to 8 MB:  {flag(flat)}")
    print(f"  largest / smallest per-MB inspection cost, 64 KB to 8 MB: {flag(flat_large)}")
    alone = sweep.get("inspect_minus_allowlist_c1_4k")
    if alone:
        print(f"  at 4 KB, {INSPECT_ARM} minus glassbreak (c1 load windows; inspection without "
              f"Glassbreak's other per-request work): {alone['cpu_ms_per_req']:.3f} ms/request, "
              f"{alone['cpu_ms_per_mib']:.1f} ms/MB")


def notes_for(summary: dict[str, Any], s: Settings) -> list[str]:
    notes = [
        "client, proxy and upstream share the machine's CPUs; proxied arms run three busy "
        "processes on them, the direct arm two, so */direct ratios understate what a proxy "
        "on its own cores would reach. glassbreak/bare and glassbreak-inspect/bare are the "
        "like-for-like figures.",
    ]
    for name, arm in summary["arms"].items():
        windows = [(f"c={c}", r) for c, r in arm.get("load", {}).items()]
        windows += [(f"sweep {_size_label(int(size))}", r)
                    for size, r in arm.get("sweep", {}).items()]
        for label, r in windows:
            if r["client_cpu_pct"] >= 90:
                notes.append(f"{name} {label}: the client used {r['client_cpu_pct']:.0f}% of a "
                             "core, so it may be the bottleneck for this row")
            if r.get("other_cpu_pct", 0) >= 15:
                notes.append(f"{name} {label}: other processes used {r['other_cpu_pct']:.0f}% "
                             "of a core during the window: the machine was not quiet, rerun")
            if r.get("upstream_cpu_pct", 0) >= 90:
                notes.append(f"{name} {label}: the upstream used {r['upstream_cpu_pct']:.0f}% "
                             "of a core, so it may be the bottleneck for this row")
            if r.get("bodies_reused"):
                notes.append(f"{name} {label}: the conversation's {r['distinct_bodies']} bodies "
                             "ran out and were sent again: later requests were not new")
            if r["errors"] or r.get("warm_errors"):
                notes.append(f"{name} {label}: {r['errors']} errors ({r.get('warm_errors', 0)} "
                             f"in warm-up), statuses {r.get('statuses')}, e.g. "
                             f"{r['error_samples'][:1]}")
        audit = arm.get("audit")
        if audit and (audit["with_findings"] or set(audit["statuses"]) - {"200"}):
            notes.append(f"{name}: the audit log has {audit['with_findings']} requests with "
                         f"findings {audit['detectors']} and statuses {audit['statuses']}: the "
                         "bench body is not clean for this build, so the figures include "
                         "alerting or blocking")
        if arm.get("status") != "ok":
            notes.append(f"{name} arm failed: {arm.get('error')}")
    flat = summary.get("sweep", {}).get("flat_ratio")
    if flat is not None and flat > TARGET_SWEEP_FLAT:
        notes.append(f"inspection CPU per MB is not flat over body sizes: largest / smallest "
                     f"{flat:.2f} > {TARGET_SWEEP_FLAT:g}")
    return notes


async def main_async(s: Settings) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="glassbreak-bench-"))
    summary: dict[str, Any] = {
        "settings": {
            "duration_s": s.duration_s, "warmup_s": s.warmup_s, "max_requests": s.max_requests,
            "concurrency": s.concurrency, "denied_count": s.denied_count,
            "body_bytes": BODY_BYTES,
            "body": "chat-completions-like JSON request (bench/bodies.py), clean of secrets",
            "arms": s.arms,
            "inspection": INSPECTION_LABEL,
            "sweep": s.sweep, "sweep_sizes": list(SWEEP_SIZES),
            "sweep_duration_s": s.sweep_duration_s, "sweep_warmup_s": s.sweep_warmup_s,
            "sweep_min_requests": s.sweep_min_requests,
        },
        "machine": {"cpus": len(os.sched_getaffinity(0)),
                    "python": platform.python_version(), "platform": platform.platform()},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "arms": {},
    }
    try:
        with upstream(workdir) as up:
            print(f"upstream: https://{BENCH_NAME}:{up.port} on {UPSTREAM_HOST} "
                  f"(pid {up.proc.pid})", flush=True)
            for name in s.arms:
                results: dict[str, Any] = {"status": "ok", "load": {}}
                summary["arms"][name] = results
                print(f"arm {name}", flush=True)
                try:
                    if name == "direct":
                        arm = ProxyArm("direct", None, up.ca_file, None)
                        await measure_arm(arm, up, s, workdir, results)
                    elif name == "bare":
                        with bare_mitmdump(workdir, up) as arm:
                            await measure_arm(arm, up, s, workdir, results)
                    else:
                        with glassbreak(workdir, up, s, name) as arm:
                            await measure_arm(arm, up, s, workdir, results)
                        if arm.audit_log is not None:  # read once the proxy has stopped
                            results["audit"] = audit_summary(arm.audit_log)
                except (BenchFailure, OSError, ValueError, KeyError) as error:
                    results["status"] = "failed"
                    results["error"] = f"{type(error).__name__}: {error}" if not isinstance(
                        error, BenchFailure) else str(error)
                    print(f"  FAILED: {results['error']}", flush=True)
    except BenchFailure as error:
        summary["error"] = str(error)
        print(f"bench setup failed: {error}", flush=True)
    finally:
        if s.keep_tmp:
            print(f"temporary files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    summarise(summary, s)
    summary["notes"] = notes_for(summary, s)
    if "error" not in summary:
        print_report(summary, s)
    print()
    print("JSON summary:")
    text = json.dumps(summary, indent=2, sort_keys=True, default=str)
    print(text)
    try:
        s.output.parent.mkdir(parents=True, exist_ok=True)
        s.output.write_text(text + "\n")
        print(f"(written to {s.output})")
    except OSError as error:
        print(f"could not write {s.output}: {error}")
    failed = "error" in summary or any(a.get("status") != "ok" for a in summary["arms"].values())
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    return asyncio.run(main_async(settings))


if __name__ == "__main__":
    sys.exit(main())

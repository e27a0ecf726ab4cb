"""DNS bench: Glassbreak's DNS server vs dnslib's stock threaded DNSServer, in one run, on loopback.

Both serve the same static names. Loads: allowed names answered from `network.hosts` (Glassbreak)
/ the stock resolver's table, and blocked names. The load generator is dnsperf (Debian) when
installed; `--generator builtin` uses a small asyncio UDP generator instead. Prints qps and the
ratio Glassbreak / stock. Usage: python -m bench.dns_run [--seconds 10] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAMES = [f"host{i}.bench.test" for i in range(20)]
BLOCKED = [f"blocked{i}.not-allowed.test" for i in range(20)]

RULES = """\
version: 1
network:
  hosts:
{hosts}
dns:
  client_qps: 1000000   # all load comes from one address here; the limit is for sandboxes
  client_burst: 1000000
destinations:
  - hosts: ["*.bench.test"]
"""

STOCK = """\
import sys
from dnslib import RR, QTYPE, RCODE, A
from dnslib.server import BaseResolver, DNSServer, DNSLogger
import time
names = set(sys.argv[2].split(","))
class R(BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if name in names and request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, ttl=60, rdata=A("192.0.2.1")))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply
quiet = DNSLogger(logf=lambda s: None)
server = DNSServer(R(), address="127.0.0.1", port=int(sys.argv[1]), logger=quiet)
server.start_thread()
deadline = time.monotonic() + 3600
while time.monotonic() < deadline and server.isAlive():
    time.sleep(0.5)
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(port: int, timeout: float = 30.0) -> None:
    query = bytes.fromhex("abcd01000001000000000000") + b"\x05ready\x04test\x00\x00\x01\x00\x01"
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            sock.sendto(query, ("127.0.0.1", port))
            try:
                sock.recvfrom(512)
                return
            except TimeoutError:
                continue
    raise TimeoutError(f"no DNS answer on port {port}")


def dnsperf(port: int, names: list[str], seconds: float, clients: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as data:
        data.write("".join(f"{name} A\n" for name in names))
    out = subprocess.run(
        ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", data.name, "-l", str(seconds),
         "-c", str(clients), "-Q", "100000", "-q", "200", "-t", "2"],
        capture_output=True, text=True, timeout=seconds + 60, check=False).stdout
    match = re.search(r"Queries per second:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"dnsperf output not understood:\n{out[-2000:]}")
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    print(f"    dnsperf: {match.group(1)} qps, lost {lost.group(1) if lost else '?'}", flush=True)
    return float(match.group(1))


def builtin(port: int, names: list[str], seconds: float, clients: int) -> float:
    import asyncio

    async def run() -> int:
        loop = asyncio.get_running_loop()
        done = 0
        deadline = loop.time() + seconds

        async def worker(n: int) -> None:
            nonlocal done
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", port))
            i = 0
            while loop.time() < deadline:
                name = names[(i + n) % len(names)]
                labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
                query = (i & 0xFFFF).to_bytes(2, "big") + bytes.fromhex("01000001000000000000")
                await loop.sock_sendall(sock, query + labels + b"\x00\x00\x01\x00\x01")
                try:
                    await asyncio.wait_for(loop.sock_recv(sock, 2048), 1.0)
                    done += 1
                except TimeoutError:
                    pass
                i += 1
            sock.close()

        await asyncio.gather(*(worker(n) for n in range(clients * 8)))
        return done

    return asyncio.run(run()) / seconds


def measure(label: str, port: int, names: list[str], args: argparse.Namespace) -> float:
    generator = dnsperf if args.generator == "dnsperf" else builtin
    print(f"  {label}", flush=True)
    return generator(port, names, args.seconds, args.clients)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--generator", choices=["dnsperf", "builtin"],
                        default="dnsperf" if shutil.which("dnsperf") else "builtin")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gb-dns-bench-"))
    hosts = "\n".join(f"    {name}: [192.0.2.1]" for name in NAMES)
    (work / "rules.yaml").write_text(RULES.format(hosts=hosts), encoding="utf-8")
    (work / "stock.py").write_text(STOCK, encoding="utf-8")
    gb_port, stock_port = free_port(), free_port()
    glassbreak = Path(sys.executable).parent / "glassbreak"
    procs = [
        subprocess.Popen([str(glassbreak), "dns", "--rules", str(work / "rules.yaml"), "--dns",
                          f"127.0.0.1:{gb_port}", "--state-dir", str(work / "state")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, str(work / "stock.py"), str(stock_port),
                          ",".join(NAMES)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    results: dict[str, float] = {}
    try:
        wait_ready(gb_port)
        wait_ready(stock_port)
        print(f"generator: {args.generator}, {args.seconds:g} s per window, "
              f"{args.clients} clients", flush=True)
        for load, names in (("allowed", NAMES), ("blocked", BLOCKED)):
            results[f"glassbreak_{load}_qps"] = measure(f"glassbreak {load}", gb_port, names, args)
            results[f"stock_{load}_qps"] = measure(f"dnslib DNSServer {load}", stock_port, names,
                                                   args)
            results[f"ratio_{load}"] = (results[f"glassbreak_{load}_qps"]
                                        / max(results[f"stock_{load}_qps"], 1e-9))
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    audit = work / "state" / "audit.log"
    lines = sum(1 for _ in audit.open()) if audit.exists() else 0
    print(f"glassbreak wrote {lines} audit lines")
    print("\n| load | glassbreak qps | dnslib DNSServer qps | ratio |\n|---|---|---|---|")
    for load in ("allowed", "blocked"):
        print(f"| {load} | {results[f'glassbreak_{load}_qps']:.0f} | "
              f"{results[f'stock_{load}_qps']:.0f} | {results[f'ratio_{load}']:.2f} |")
    print(json.dumps(results))
    target = min(results["glassbreak_allowed_qps"], results["glassbreak_blocked_qps"])
    print(f"target >= 5000 qps: {'met' if target >= 5000 else 'MISSED'} ({target:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

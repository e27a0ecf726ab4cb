"""Run inside a test's private network namespace: send requests to the proxy, print the replies.

Usage: python -m tests.e2e.netns_probe PROXY_PORT 'CONNECT host:port' 'GET http://host/path' ...
Prints a JSON list of {"status": int | null, "reason": str | null} in the same order.
"""

from __future__ import annotations

import json
import socket
import sys
import time

from tests.e2e.clients import http_request, open_tunnel

READY_TIMEOUT = 20.0


def wait_for_proxy(port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"proxy not listening on 127.0.0.1:{port}")


def probe(port: int, spec: str) -> dict[str, object]:
    method, _, target = spec.partition(" ")
    try:
        if method == "CONNECT":
            sock, reply = open_tunnel(port, target)
            sock.close()
        else:
            host = target.split("/")[2]
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                reply = http_request(sock, method, target, [("Host", host)])
    except OSError as error:
        return {"status": None, "reason": None, "error": type(error).__name__}
    return {"status": reply.status, "reason": reply.reason}


def main() -> None:
    port = int(sys.argv[1])
    wait_for_proxy(port)
    print(json.dumps([probe(port, spec) for spec in sys.argv[2:]]))


if __name__ == "__main__":
    main()

"""The bench's upstream: an aiohttp HTTPS server answering ``POST /echo`` with a small JSON.

It reads the whole body (up to ``MAX_BODY_BYTES``) and answers ``{"ok": true, "received": N}``.

Run as its own process by ``bench.run``:
``python -m bench.upstream --host 127.0.0.2 --cert-chain CHAIN.pem``. It binds a free port and
prints one line ``READY <port>`` on stdout once it accepts connections; it stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import sys

from aiohttp import web

# The body-size sweep posts up to 8 MiB; aiohttp's default limit is 1 MiB.
MAX_BODY_BYTES = 16 * 1024 * 1024


async def _echo(request: web.Request) -> web.Response:
    body = await request.read()
    payload = json.dumps({"ok": True, "received": len(body)}).encode()
    return web.Response(body=payload, content_type="application/json")


async def _serve(host: str, chain: str) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain)
    context.set_alpn_protocols(["http/1.1"])
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/echo", _echo)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=context, backlog=512)
    await site.start()
    port = int(runner.addresses[0][1])
    print(f"READY {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.2")
    parser.add_argument("--cert-chain", required=True, help="PEM with key and certificate chain")
    args = parser.parse_args()
    asyncio.run(_serve(args.host, args.cert_chain))
    return 0


if __name__ == "__main__":
    sys.exit(main())

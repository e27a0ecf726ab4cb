"""The admin listener: an aiohttp server in mitmproxy's own event loop.

`/metrics` is the Prometheus text exposition of this process's registry; `/healthz` answers 200
while the proxy accepts connections and 503 before it does and once it is stopping, so that a
load balancer sends sandboxes only to a replica that will take them. The escalation API will be
mounted here too.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from proxy.metrics.registry import Metrics
from proxy.runtime.listen import ListenAddress


class AdminServer:
    def __init__(self, listen: ListenAddress, metrics: Metrics, ready: Callable[[], bool]) -> None:
        self._listen = listen
        self._metrics = metrics
        self._ready = ready
        app = web.Application()
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_get("/healthz", self._serve_health)
        # No access log: a scrape every few seconds is not news.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)

    async def start(self) -> None:
        """Bind now: an address in use fails start-up (OSError) instead of a silent admin."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._listen.host, self._listen.port,
                           reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _serve_metrics(self, _request: web.Request) -> web.Response:
        # The 0.0.4 text format: what every Prometheus 2.x scrapes, and our names need no more.
        return web.Response(body=self._metrics.exposition(),
                            headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    async def _serve_health(self, _request: web.Request) -> web.Response:
        ready = self._ready()
        return web.json_response({"status": "ok" if ready else "unavailable", "accepting": ready},
                                 status=200 if ready else 503)

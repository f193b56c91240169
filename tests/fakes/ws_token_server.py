"""A tiny aiohttp WebSocket server on 127.0.0.1 that accepts clients with the right bearer
token (or any client when it has none) and answers 401 to the others. Runs in its own thread."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web
from helpers import free_port  # noqa: F401 - re-exported for the probe tests


class WsServer:
    """A tiny aiohttp WebSocket server in its own thread; rejects clients without the token."""

    def __init__(self, token: str | None = None):
        self.token = token
        self.port = free_port()
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            raise web.HTTPUnauthorized()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.accepted += 1
        async for _message in ws:
            pass
        return ws

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/ws", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def __enter__(self) -> WsServer:
        self._thread.start()
        assert self._ready.wait(5), "test server did not start"
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

"""A tiny aiohttp WebSocket server on 127.0.0.1 that accepts clients with the right bearer
token (or any client when it has none) and answers 401 to the others. Runs in its own thread.
For the transport's tests it can also answer every upgrade with one status (`refuse`), serve
wss:// (`tls`), leave pings to the test (`autoping=False`) and run `on_open(ws)` per client."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web
from helpers import free_port  # noqa: F401 - re-exported for the probe tests


class WsServer:
    """A tiny aiohttp WebSocket server in its own thread; rejects clients without the token."""

    def __init__(self, token: str | None = None, *, refuse: int = 0, tls: ssl.SSLContext | None = None,
                 autoping: bool = True, on_open: Callable[[web.WebSocketResponse], Awaitable[None]] | None = None):
        self.token = token
        self.refuse = refuse
        self.tls = tls
        self.autoping = autoping
        self.on_open = on_open
        self.headers: list[dict] = []  # each upgrade request's headers
        self.port = free_port()
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.headers.append(dict(request.headers))
        if self.refuse:
            return web.Response(status=self.refuse, text="no")
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            raise web.HTTPUnauthorized()
        ws = web.WebSocketResponse(autoping=self.autoping)
        await ws.prepare(request)
        self.accepted += 1
        if self.on_open:
            await self.on_open(ws)
        async for _message in ws:
            pass
        return ws

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/ws", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.tls).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def url(self, scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/ws"

    def start(self) -> WsServer:
        self._thread.start()
        assert self._ready.wait(5), "test server did not start"
        return self

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> WsServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

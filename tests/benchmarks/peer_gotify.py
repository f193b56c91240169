"""The desktop benchmark's peer: gotify-tray (PyPI, in a virtualenv of its own) on a minimal
Gotify-compatible server on 127.0.0.1.

gotify-tray is the closest relative of this app (STYLE.md): a PyQt6 tray program that keeps a
WebSocket open to a push server and shows a native notification per message. It is measured by
the same harness as our app, in the same run: a message pushed by the server -> the Notify call
arriving at the session's notification recorder. gotify-tray notifies through its tray icon
(`QSystemTrayIcon.showMessage`), which reaches the bus only when a StatusNotifierWatcher is
there (tests/harness/status_notifier_watcher.py; bench_desktop.py starts one).

The server speaks what gotify-tray 0.5.3 uses of Gotify's API: `GET /application`, `/message`,
`/application/{id}/message`, `/health`, `/version`, the application's image, and the
`/stream` WebSocket, each checking the client token (`X-Gotify-Key` or `?token=`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

PEER = "gotify-tray"
PEER_VERSION = "0.5.3"
CLIENT_TOKEN = "Cbench-client-token"
APP_ID = 1
# The application's icon, which gotify-tray downloads and caches: our own 48 px icon.
ICON = Path(__file__).resolve().parents[2] / "resources" / "icons" / "order-notifier-48.png"


def peer_python(cache: Path) -> Path:
    """The Python of a virtualenv holding gotify-tray, created (pip install) on first use."""
    venv = cache / f"{PEER}-{PEER_VERSION}"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        f"{PEER}=={PEER_VERSION}"], check=True)
        stamp.write_text(f"{PEER}=={PEER_VERSION}\n")
    return python


class GotifyDouble:
    """A Gotify-compatible server in a thread of its own; `push` sends one message and stamps it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.streams: list = []
        self.port = 0
        self._next_id = 0
        self._ready = threading.Event()
        threading.Thread(target=self._main, name="gotify-double", daemon=True).start()
        if not self._ready.wait(10):
            raise RuntimeError("the Gotify double did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _main(self) -> None:
        from aiohttp import web

        def authorised(request) -> bool:
            return CLIENT_TOKEN in (request.headers.get("X-Gotify-Key"), request.query.get("token"))

        def guarded(handler):
            async def check(request):
                if not authorised(request):
                    return web.json_response({"error": "Unauthorized", "errorCode": 401,
                                              "errorDescription": "you need to provide a valid access token"},
                                             status=401)
                return await handler(request)
            return check

        async def applications(_request):
            return web.json_response([{"id": APP_ID, "token": "Abench-app", "name": "Shop",
                                       "description": "orders", "internal": False,
                                       "image": "static/defaultapp.png", "defaultPriority": 5,
                                       "lastUsed": None}])

        async def messages(_request):
            return web.json_response({"messages": [], "paging": {"size": 0, "since": 0, "limit": 100}})

        async def health(_request):
            return web.json_response({"health": "green", "database": "green"})

        async def version(_request):
            return web.json_response({"version": "2.5.0", "commit": "bench", "buildDate": "2024-01-01"})

        async def image(_request):
            return web.Response(body=ICON.read_bytes(), content_type="image/png")

        async def stream(request):
            ws = web.WebSocketResponse(autoping=True)
            await ws.prepare(request)
            self.streams.append(ws)
            try:
                async for _ in ws:
                    pass
            finally:
                self.streams.remove(ws)
            return ws

        async def start():
            app = web.Application()
            app.router.add_get("/application", guarded(applications))
            app.router.add_get("/message", guarded(messages))
            app.router.add_get("/application/{id}/message", guarded(messages))
            app.router.add_get("/health", health)
            app.router.add_get("/version", version)
            app.router.add_get("/static/defaultapp.png", image)
            app.router.add_get("/stream", guarded(stream))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]
            self._ready.set()

        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def push(self, title: str, message: str) -> int:
        """Send one message (priority 5, the tray's default threshold) to every stream; returns
        CLOCK_MONOTONIC ns just before the send, as bench_desktop's FrameServer does."""
        self._next_id += 1
        text = json.dumps({"id": self._next_id, "appid": APP_ID, "message": message, "title": title,
                           "priority": 5, "date": datetime.now(UTC).isoformat(), "extras": {}})

        async def go() -> int:
            stamp = time.monotonic_ns()
            for ws in list(self.streams):
                try:
                    await ws.send_str(text)
                except ConnectionError:  # the peer is going away (a burst can crash it)
                    pass
            return stamp

        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(30)


def start_peer(python: Path, home: Path, server: GotifyDouble, stderr) -> subprocess.Popen:
    """gotify-tray with its settings pointing at `server`, in a home folder of its own."""
    config = home / "config"
    for folder in (config, home / "cache", home / "data"):  # gotify-tray makes only the last level
        folder.mkdir(parents=True, exist_ok=True)
    # QSettings("gotify-tray") on Linux: $XDG_CONFIG_HOME/gotify-tray.conf
    (config / "gotify-tray.conf").write_text(
        f"[Server]\nurl={server.url}\nclient_token={CLIENT_TOKEN}\n", encoding="utf-8")
    env = {**os.environ, "XDG_CONFIG_HOME": str(config), "XDG_CACHE_HOME": str(home / "cache"),
           "XDG_DATA_HOME": str(home / "data"), "TMPDIR": str(home)}
    env.pop("QT_QPA_PLATFORM", None)  # the session's xcb
    return subprocess.Popen([str(python), "-m", "gotify_tray"], env=env, cwd=home,
                            stdout=subprocess.DEVNULL, stderr=stderr)

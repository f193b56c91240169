"""Running the server: in the foreground (`notifier server run`) or in a background thread with
its own event loop (the embedded demo, tests, benchmarks)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import threading
from collections.abc import Callable

from aiohttp import web

from notifier.server.accesslog import ACCESS_LOGGER, JsonAccessLogger
from notifier.server.app import GUARD_STATS, create_app
from notifier.server.config import ServerConfig
from notifier.server.gc_policy import QuietFullCollections
from notifier.server.guard import ConnectionGuard, GuardedSockSite, connection_ceiling
from notifier.server.log_limits import LimitedLog
from notifier.server.store import EventStore
from notifier.server.store_api import ServerStore, open_store

log = logging.getLogger(__name__)


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # A restarted server must get its port back at once, not after TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    if not config.tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(config.cert), str(config.key))
    return context


def limit_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Errors the event loop reports itself (asyncio logs "socket.accept() out of system
    resource" with a traceback for every connection it cannot take while file descriptors run
    out: over a thousand in three seconds) are logged once a minute per kind, with a count."""
    limited = LimitedLog(logging.getLogger("notifier.server.loop"))

    def handle(_loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        message = context.get("message") or "event loop error"
        limited.log(logging.ERROR, (message, type(exc).__name__), "%s: %s", message, exc or "", exc_info=exc)

    loop.set_exception_handler(handle)


async def serve(
    config: ServerConfig,
    stop: asyncio.Event,
    *,
    store: ServerStore | None = None,
    ready: Callable[[int], None] | None = None,
    app_ready: Callable[[web.Application], None] | None = None,
) -> None:
    """Serve until `stop` is set. `ready(port)` is called once the port accepts connections."""
    limit_loop_errors(asyncio.get_running_loop())
    own_store = store is None
    store = store or open_store(config.store_url, config.data_dir, redis_ca=config.redis_ca)
    app = create_app(config, store)
    guard = ConnectionGuard(connection_ceiling(config.max_connections), config.max_per_address)
    app[GUARD_STATS] = guard.stats
    # aiohttp's keep-alive timer also runs from the moment a connection is accepted until its
    # first request's headers are in, so it is the header deadline too.
    runner = web.AppRunner(app, access_log_class=JsonAccessLogger, access_log=ACCESS_LOGGER,
                           handle_signals=False, shutdown_timeout=2.0,
                           keepalive_timeout=config.header_timeout_s)
    await runner.setup()
    try:
        sock = _listening_socket(config.host, config.port)
        site = GuardedSockSite(runner, sock, guard, handshake_timeout=config.header_timeout_s,
                               ssl_context=_ssl_context(config))
        await site.start()
        port = sock.getsockname()[1]
        scheme = "https" if config.tls else "http"
        log.info("serving on %s://%s:%d (data in %s)", scheme, config.host, port,
                 "Redis" if config.store_url else config.data_dir)
        if app_ready:
            app_ready(app)
        if ready:
            ready(port)
        await stop.wait()
    finally:
        await runner.cleanup()
        if own_store:
            store.close()


def run_foreground(config: ServerConfig) -> int:
    """`notifier server run`: serve until SIGINT/SIGTERM."""

    async def main() -> None:
        quiet_gc.install()  # this process is only the server: its collector can be tuned for it
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows: KeyboardInterrupt still works
                pass
        await serve(config, stop)

    quiet_gc = QuietFullCollections()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        quiet_gc.uninstall()
    return 0


class ServerThread:
    """The server on its own thread and event loop; `start()` returns the port it listens on."""

    def __init__(self, config: ServerConfig, store: ServerStore | EventStore | None = None):
        self.config = config
        self.store = store
        self.port: int | None = None
        self.app: web.Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> int:
        self._thread = threading.Thread(target=self._main, name="notifier-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the server did not start in time")
        if self._error:
            raise RuntimeError(f"the server could not start: {self._error}") from self._error
        assert self.port is not None
        return self.port

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        def on_ready(port: int) -> None:
            self.port = port
            self._ready.set()

        def on_app(app: web.Application) -> None:
            self.app = app

        async def main() -> None:
            self._stop = asyncio.Event()
            await serve(self.config, self._stop, store=self.store, ready=on_ready, app_ready=on_app)

        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            log.exception("server thread failed")
        finally:
            self._ready.set()
            loop.close()

    def call(self, fn: Callable, *args) -> None:
        """Run `fn(*args)` on the server's loop (thread-safe)."""
        if self._loop and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop and self._stop and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass
        if self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

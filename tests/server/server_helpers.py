"""Shared by the server tests and the e2e protocol test: a real reference server on 127.0.0.1
(in-process, its own thread and loop) and real clients: NotifierStreamSource through OrderIntake
and a Ledger, the way the app runs it."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from helpers import free_port, wait_until

from notifier.core import protocol
from notifier.core.ledger import Ledger
from notifier.core.protocol import publish_order
from notifier.core.secrets import MemorySecrets
from notifier.core.settings import Settings
from notifier.server.config import ServerConfig
from notifier.server.runner import ServerThread
from notifier.server.store import Credentials, EventStore
from notifier.server.store_api import ServerStore
from tests.fakes.running_source import RunningSource


@dataclass
class StoreLocation:
    """Where a test's server keeps its state: a data directory (SQLite), or a redis:// URL (the
    Redis store; the data directory then holds only the server's other files)."""

    data_dir: Path
    url: str | None = None
    disk: Path | None = None  # the files the store is kept in: the data directory, or Redis's AOF folder

    def __post_init__(self) -> None:
        self.opened: list[ServerStore] = []
        if self.disk is None:
            self.disk = self.data_dir

    @property
    def args(self) -> list[str]:
        """Where `notifier server …` finds this store."""
        return ["--data-dir", str(self.data_dir), *(["--store", self.url] if self.url else [])]

    def open(self) -> ServerStore:
        """The store as a server or an admin command opens it (closed at the test's end)."""
        if self.url:
            from notifier.server.redis_store import RedisEventStore

            store: ServerStore = RedisEventStore.from_url(self.url)
        else:
            store = EventStore(self.data_dir)
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in self.opened:
            store.close()


@dataclass
class RunningServer:
    thread: ServerThread
    store: EventStore
    data_dir: Path
    shops: dict[str, Credentials]
    store_url: str | None = None  # a redis:// URL when the server runs on the Redis store

    @property
    def store_args(self) -> list[str]:
        """Where `notifier server …` finds this server's store."""
        return ["--store", self.store_url] if self.store_url else ["--data-dir", str(self.data_dir)]

    @property
    def port(self) -> int:
        assert self.thread.port
        return self.thread.port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hub(self):
        from notifier.server.app import HUB

        assert self.thread.app is not None
        return self.thread.app[HUB]

    def publish(self, shop: str = "alpha", **fields) -> dict:
        fields.setdefault("order_id", "1")
        return publish_order(self.http_url, shop, self.shops[shop].ingest_secret, **fields)


def start_server(data_dir: Path, *, shops=("alpha", "beta"), store_url: str | None = None, **config) -> RunningServer:
    if store_url:
        from notifier.server.redis_store import RedisEventStore

        store = RedisEventStore.from_url(store_url)
    else:
        store = EventStore(data_dir)
    creds = {name: store.add_shop(name) for name in shops}
    # The tests' back ends listen on 127.0.0.1, which callbacks may reach only when allowed.
    config.setdefault("callbacks_allowed_to", ("127.0.0.0/8",))
    thread = ServerThread(ServerConfig(data_dir=data_dir, port=config.pop("port", 0), store_url=store_url, **config),
                          store=store)
    thread.start()
    return RunningServer(thread, store, data_dir, creds, store_url)


class Client(RunningSource):
    """A NotifierStreamSource started through OrderIntake with its own ledger."""

    def __init__(self, settings: Settings, ledger_path: Path, token: str):
        super().__init__(settings, Ledger(ledger_path),
                         MemorySecrets({"notifier_token": token} if token else {}))

    def ledger_order_ids(self) -> list[str]:
        return [entry.event.order_id for entry in reversed(self.ledger.recent(100000))]

    def stop(self) -> None:
        super().stop()
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None


def client_settings(url: str, shop: str, **changes) -> Settings:
    values = {"connection.protocol": "notifier", "connection.url": url, "connection.shop": shop,
              "connection.ping_interval": 5, "connection.ping_timeout": 2, "connection.connect_timeout": 3}
    values.update(changes)
    return Settings(values)


REPO = Path(__file__).resolve().parents[2]


def silent_websocket(port: int, token: str, shop: str = "alpha") -> socket.socket:
    """A client that completes the handshake and then never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET {protocol.stream_path(shop)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    )
    return sock


class ForkedProcess:
    """A server process forked by `ServerForker`: what the tests use of `subprocess.Popen`."""

    def __init__(self, forker: ServerForker, pid: int):
        self.forker, self.pid = forker, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        self.returncode = self.forker.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self.returncode = self.forker.wait_exit(self.pid, timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ServerForker:
    """tests/server/server_forker.py, started once per test process: each `spawn` is a fresh
    `notifier server run` process forked from a parent that has the server imported already."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("server_forker.py"))], cwd=REPO,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        self._changed = threading.Condition()
        self._started: list[int] = []
        self._exits: dict[int, int] = {}
        self._spawning = threading.Lock()
        self._ready = threading.Event()
        threading.Thread(target=self._read, name="server-forker", daemon=True).start()
        if not self._ready.wait(60):  # its imports done: a start forked from it now costs no import
            raise AssertionError("the server forker did not start within 60 s")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            if "ready" in message:
                self._ready.set()
                continue
            with self._changed:
                if "started" in message:
                    self._started.append(message["started"])
                else:
                    self._exits[message["exited"]] = message["code"]
                self._changed.notify_all()
        with self._changed:  # the forker is gone: nothing it started will be reported any more
            self._started.append(-1)
            self._changed.notify_all()

    def spawn(self, argv: list[str], env: dict[str, str], stderr: Path | None,
              open_files: int | None) -> ForkedProcess:
        request = {"argv": argv, "env": env, "cwd": str(REPO), "open_files": open_files,
                   "stderr": str(stderr) if stderr else None}
        with self._spawning:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            with self._changed:
                if not self._changed.wait_for(lambda: self._started, 15):
                    raise AssertionError("the server forker did not answer within 15 s")
                pid = self._started.pop(0)
        if pid < 0:
            raise AssertionError(f"the server forker exited with {self.proc.wait()}")
        return ForkedProcess(self, pid)

    def exit_code(self, pid: int) -> int | None:
        with self._changed:
            return self._exits.get(pid)

    def wait_exit(self, pid: int, timeout: float | None) -> int:
        with self._changed:
            if not self._changed.wait_for(lambda: pid in self._exits, timeout):
                raise subprocess.TimeoutExpired(f"forked server {pid}", timeout)
            return self._exits[pid]


@functools.cache
def server_forker() -> ServerForker:
    """One forker per test process (it ends when this process closes its stdin, at exit)."""
    return ServerForker()


class ServerProcess:
    """`notifier server run` as its own process, SIGKILLed and restarted on the same port/store.

    Each start is forked from `server_forker()`, which imported the server once: a process of
    its own like `python -m notifier server run`, without 1.2 s of imports per start (the kill
    tests restart it over and over). `forked=False` starts a new interpreter instead.
    """

    def __init__(self, data_dir: Path, port: int, *extra: str, open_files: int | None = None,
                 log_file: Path | None = None, log_level: str = "WARNING", store_url: str | None = None,
                 loopback_callbacks: bool = True, forked: bool = True):
        self.data_dir, self.port = data_dir, port
        # The tests' back ends listen on 127.0.0.1, which callbacks may reach only when allowed.
        extra = ("--allow-callbacks-to", "127.0.0.0/8", *extra) if loopback_callbacks else extra
        self.extra = ("--store", store_url, *extra) if store_url else extra
        self.open_files, self.log_file, self.log_level = open_files, log_file, log_level
        self.proc: subprocess.Popen | ForkedProcess | None = None
        self.starts = 0
        self.forked = forked

    def _limit_open_files(self) -> None:  # runs in the child, before exec
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def start(self, timeout: float = 15.0) -> None:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        argv = ["server", "--data-dir", str(self.data_dir), "--port", str(self.port),
                "--log-level", self.log_level, *self.extra, "run"]
        if self.forked:
            self.proc = server_forker().spawn(argv, env, self.log_file, self.open_files)
            self.starts += 1
            wait_until(self.healthy, timeout, interval=0.02, message="server process answering /healthz")
            return
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "notifier", *argv],
                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log,
                preexec_fn=self._limit_open_files if self.open_files else None,
            )
        finally:
            if self.log_file:
                log.close()
        self.starts += 1
        wait_until(self.healthy, timeout, interval=0.02, message="server process answering /healthz")

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def post_json(url: str, token: str | None = None, body: bytes = b"{}", key: str | None = None,
              timeout: float = 10.0) -> tuple[int, dict, dict]:
    """POST `body` with a bearer token (and an Idempotency-Key): (status, JSON answer, headers)."""
    request = urllib.request.Request(url, data=body, method="POST")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if key:
        request.add_header(protocol.IDEMPOTENCY_HEADER, key)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


class HttpBackEnd:
    """A shop's back end on 127.0.0.1: `respond(handler, body)` answers each POST (the body is
    read first)."""

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler, bytes], None], path: str = "/cb"):
        self.path = path

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                respond(self, self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def log_message(self, *_args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}{self.path}"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()

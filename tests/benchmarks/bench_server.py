"""Benchmark of the reference server (a script that prints numbers, not a test).

    .venv/bin/python tests/benchmarks/bench_server.py [--quick]

Measures, with the server as a separate `notifier server run` process on 127.0.0.1:
1. how many concurrent stream connections one server process holds, and its memory (RSS);
2. publish-to-client latency p50/p99 at 100 events/s with 1,000 connected clients;
3. ingest requests per second (signed POSTs, 32 concurrent keep-alive clients);
4. `--only compare`: the cost of durability and auth, side by side in one run against a bare
   aiohttp broadcast server (no storage, no auth, same per-client queues): 1 shop x 10, 100 and
   1,000 subscribers, and 1,000 shops x 2 subscribers. For each: ingest events/s (16 concurrent
   posters, with the fan-out), server CPU per event, publish -> client p50/p99 at 100 events/s
   (spread over the shops), server RSS, and the ratio ours/bare.
5. `--only gateways`: the same measurements for the SQLite server, 1 gateway on Redis and 3
   gateways on Redis (a real redis-server with AOF, `appendfsync` as given by --fsync), side by
   side; clients spread over the gateways, events posted round-robin to all of them (so most
   reach their clients through another gateway). CPU and RSS count every gateway and Redis.
6. `--only cluster [--runs 3]`: one gateway on one redis-server against one gateway on a
   three-node Redis Cluster (`redis+cluster://`), side by side, in whole runs each with its own
   one-node baseline: ingest, CPU per event (and Redis's share of it), latency.

Clients run in separate processes from the server and use a minimal WebSocket reader (asyncio
Protocol, no JSON parsing) so that the numbers are about the server. Everything shares the same
machine, so on 2 cores the clients' CPU competes with the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from notifier.core import protocol  # noqa: E402
from notifier.server.store import EventStore  # noqa: E402

T_MARK = re.compile(rb'"text":"t=([0-9.]+)"')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def healthz(port: int) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        return json.loads(response.read())


class Server:
    def __init__(self, shops: int = 1, **flags: str):
        self.dir = Path(tempfile.mkdtemp(prefix="bench-server-"))
        store = EventStore(self.dir)
        self.all_creds = [store.add_shop("bench" if n == 0 else f"bench{n}") for n in range(shops)]
        self.creds = self.all_creds[0]
        store.close()
        self.port = free_port()
        # One shop with thousands of clients is the benchmark's load, not a flood to refuse.
        args = [sys.executable, "-m", "notifier", "server", "--data-dir", str(self.dir), "--port", str(self.port),
                "--log-level", "WARNING", "--max-streams-per-shop", "1000000"]
        for name, value in flags.items():
            args += [f"--{name.replace('_', '-')}", value]
        self._start(args + ["run"])

    def _start(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(args, cwd=REPO)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                healthz(self.port)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)

    @property
    def ports(self) -> list[int]:
        return [self.port]

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def rss(self) -> float:
        return rss_mib(self.proc.pid)

    def connections(self) -> int:
        return sum(healthz(port)["connections"] for port in self.ports)

    def dropped(self) -> int:
        return sum(healthz(port).get("dropped_slow_clients", 0) for port in self.ports)


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RedisGateways(Server):
    """`count` gateways (`notifier server --store redis://…`) on one real redis-server, or with
    `nodes` > 1 on a real Redis Cluster of that many primaries (`redis+cluster://…`)."""

    def __init__(self, shops: int, count: int, fsync: str, nodes: int = 1):
        from notifier.server.redis_store import RedisEventStore

        self.dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.redis_procs: list[subprocess.Popen] = []
        ports = [free_port() for _ in range(nodes)]
        for port in ports:
            cluster = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                       "--cluster-port", str(free_port())] if nodes > 1 else []  # port + 10000 may not exist
            self.redis_procs.append(subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(self.dir),
                 "--appendonly", "yes", "--appendfsync", fsync, "--appendfilename", f"aof-{port}.aof",
                 "--appenddirname", f"aof-{port}", "--save", "", "--logfile", str(self.dir / f"redis-{port}.log"),
                 *cluster]))
        self.redis = self.redis_procs[0]
        if nodes > 1:
            _create_cluster(ports)
            url = "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in ports)
        else:
            url = f"redis://127.0.0.1:{ports[0]}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                store = RedisEventStore.from_url(url)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.all_creds = [store.add_shop("bench" if n == 0 else f"bench{n}") for n in range(shops)]
        self.creds = self.all_creds[0]
        store.close()
        self.gateways = []
        for _ in range(count):
            self.port = free_port()
            self._start([sys.executable, "-m", "notifier", "server", "--store", url, "--port", str(self.port),
                         "--log-level", "WARNING", "--max-streams-per-shop", "1000000", "run"])
            self.gateways.append((self.proc, self.port))

    @property
    def ports(self) -> list[int]:
        return [port for _, port in self.gateways]

    def cpu_s(self) -> float:
        return sum(proc_cpu_s(p.pid) for p, _ in self.gateways) + self.store_cpu_s()

    def store_cpu_s(self) -> float:
        return sum(proc_cpu_s(p.pid) for p in self.redis_procs)

    def rss(self) -> float:
        return sum(rss_mib(p.pid) for p, _ in self.gateways) + sum(rss_mib(p.pid) for p in self.redis_procs)

    def stop(self) -> None:
        for proc, _ in self.gateways:
            proc.terminate()
        for proc, _ in self.gateways:
            proc.wait(30)
        for proc in self.redis_procs:
            proc.terminate()
        for proc in self.redis_procs:
            proc.wait(30)


def _create_cluster(ports: list[int]) -> None:
    """Join the redis-servers on `ports` into a cluster of primaries; wait until it serves."""
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            for port in ports:
                redis.Redis(port=port).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{port}" for port in ports),
                    "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + 30
    while not all(b"cluster_state:ok" in redis.Redis(port=port).execute_command("CLUSTER", "INFO")
                  for port in ports):
        if time.monotonic() > deadline:
            raise RuntimeError("the cluster did not come up")
        time.sleep(0.1)


class BareServer(Server):
    """The baseline: the same routes on plain aiohttp, no storage, no auth, no signature check;
    each subscriber has the same kind of bounded queue and writer task as the real server's."""

    def __init__(self, shops: int = 1):
        self.all_creds = [_NoCreds("bench" if n == 0 else f"bench{n}") for n in range(shops)]
        self.creds = self.all_creds[0]
        self.port = free_port()
        self._start([sys.executable, __file__, "--bare-server", "--port", str(self.port)])


class _NoCreds:
    def __init__(self, shop: str):
        self.shop, self.client_token, self.ingest_secret = shop, "none", "none"


def run_bare_server(port: int) -> None:
    from aiohttp import web

    channels: dict[str, set[asyncio.Queue]] = {}
    seqs: dict[str, int] = {}

    async def ingest(request: web.Request) -> web.Response:
        shop = request.match_info["shop"]
        event = json.loads(await request.read())
        seq = seqs[shop] = seqs.get(shop, 0) + 1
        frame = json.dumps({"type": "event", "seq": seq, "event": event}, ensure_ascii=False, separators=(",", ":"))
        for queue in list(channels.get(shop, ())):
            try:
                queue.put_nowait(frame)
            except asyncio.QueueFull:
                pass
        return web.json_response({"seq": seq, "shop": shop, "duplicate": False}, status=201)

    async def stream(request: web.Request) -> web.WebSocketResponse:
        shop = request.match_info["shop"]
        ws = web.WebSocketResponse(heartbeat=20, compress=False)
        await ws.prepare(request)
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        channels.setdefault(shop, set()).add(queue)

        async def writer() -> None:
            while True:
                await ws.send_str(await queue.get())

        task = asyncio.ensure_future(writer())
        try:
            async for _ in ws:
                pass
        finally:
            task.cancel()
            channels[shop].discard(queue)
        return ws

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "connections": sum(len(c) for c in channels.values())})

    app = web.Application()
    app.router.add_post(protocol.API_PREFIX + "/{shop}/events", ingest)
    app.router.add_get(protocol.API_PREFIX + "/{shop}/stream", stream)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# -- client side (runs in its own process: `bench_server.py --clients ...`) -------------------


class StreamClient(asyncio.Protocol):
    """Reads server frames with as little work as possible; records latency of marked events."""

    def __init__(self, key: bytes, request: bytes, stats: dict):
        self.request, self.stats, self.buf = request, stats, b""
        self.handshaken = False
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.handshaken:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self.stats["refused"] += 1
                self.transport.close()
                return
            self.handshaken = True
            self.stats["open"] += 1
            self.buf = self.buf[end + 4:]
        while len(self.buf) >= 2:
            opcode, length, offset = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
            if length == 126:
                if len(self.buf) < 4:
                    return
                length, offset = int.from_bytes(self.buf[2:4], "big"), 4
            elif length == 127:
                if len(self.buf) < 10:
                    return
                length, offset = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < offset + length:
                return
            payload = self.buf[offset:offset + length]
            self.buf = self.buf[offset + length:]
            if opcode == 0x9:  # ping -> pong (masked, as a client must)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 0x1:
                mark = T_MARK.search(payload)
                if mark:
                    self.stats["lat"].append(time.time() - float(mark.group(1)))

    def connection_lost(self, exc):
        if self.handshaken:
            self.stats["open"] -= 1
            self.stats["lost"] += 1


async def run_clients(port: int, token: str, count: int, hold_s: float, report: Path) -> None:
    loop = asyncio.get_running_loop()
    stats = {"open": 0, "refused": 0, "lost": 0, "failed": 0, "lat": []}
    key = base64.b64encode(os.urandom(16))
    # BENCH_SHOPS: [[shop, token], ...], one per client (cycled); else every client on "bench".
    shops = json.loads(os.environ.get("BENCH_SHOPS") or "null") or [["bench", token]]

    def request(n: int) -> bytes:
        shop, shop_token = shops[n % len(shops)]
        return (
            f"GET {protocol.stream_path(shop)}?after=0 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {shop_token}\r\n\r\n"
        ).encode()

    transports = []
    for start in range(0, count, 200):  # in waves, as a shop network would reconnect
        results = await asyncio.gather(*(
            loop.create_connection(lambda n=n: StreamClient(key, request(n), stats), "127.0.0.1", port)
            for n in range(start, min(start + 200, count))
        ), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                stats["failed"] += 1
            else:
                transports.append(result[0])
    deadline = time.monotonic() + 30
    while stats["open"] + stats["refused"] + stats["failed"] < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    report.write_text(json.dumps({k: v for k, v in stats.items() if k != "lat"}))
    end = time.monotonic() + hold_s
    while time.monotonic() < end and not Path(str(report) + ".stop").exists():
        await asyncio.sleep(0.1)
    report.write_text(json.dumps(stats))
    for transport in transports:
        transport.close()


def spawn_clients(port: int, token: str, count: int, hold_s: float,
                  shops: list[list[str]] | None = None) -> tuple[subprocess.Popen, Path]:
    report = Path(tempfile.mktemp(prefix="bench-clients-", suffix=".json"))
    proc = subprocess.Popen([sys.executable, __file__, "--clients", str(count), "--port", str(port),
                             "--hold", str(hold_s), "--report", str(report)],
                            env={**os.environ, "BENCH_TOKEN": token, "BENCH_SHOPS": json.dumps(shops or [])})
    return proc, report


def wait_report(report: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if report.exists() and report.stat().st_size:
            try:
                return json.loads(report.read_text())
            except ValueError:
                pass
        time.sleep(0.1)
    raise RuntimeError("client process did not report")


# -- the three measurements ------------------------------------------------------------------


def bench_connections(steps: list[int]) -> None:
    print("\n== concurrent stream connections held by one server process ==")
    server = Server(queue_limit="100")
    base = rss_mib(server.proc.pid)
    print(f"server idle: RSS {base:.1f} MiB")
    procs = []
    try:
        held = 0
        for target in steps:
            proc, report = spawn_clients(server.port, server.creds.client_token, target - held, 3600)
            procs.append((proc, report))
            stats = wait_report(report)
            time.sleep(1.0)
            held = healthz(server.port)["connections"]
            rss = rss_mib(server.proc.pid)
            print(f"target {target:>6}: server holds {held:>6} streams; RSS {rss:7.1f} MiB "
                  f"({(rss - base) * 1024 / max(held, 1):.1f} KiB per stream); client failures "
                  f"{stats['failed'] + stats['refused']}")
            if held < target * 0.99:
                break
    finally:
        for _proc, report in procs:
            Path(str(report) + ".stop").touch()
        for proc, _ in procs:
            proc.wait(60)
        server.stop()


def bench_latency(clients: int, rate: float, seconds: float) -> None:
    print(f"\n== publish-to-client latency: {rate:g} events/s for {seconds:g} s to {clients} clients ==")
    server = Server()
    halves = [clients // 2, clients - clients // 2]
    procs = [spawn_clients(server.port, server.creds.client_token, n, seconds + 30) for n in halves]
    try:
        for _, report in procs:
            wait_report(report)
        print(f"connected: {healthz(server.port)['connections']}")
        published = asyncio.run(_publish_at_rate(server, rate, seconds))
        time.sleep(2.0)
        for _, report in procs:
            Path(str(report) + ".stop").touch()
        latencies: list[float] = []
        for proc, report in procs:
            proc.wait(60)
            latencies += json.loads(report.read_text())["lat"]
        expected = published * clients
        latencies.sort()
        q = statistics.quantiles(latencies, n=100)
        print(f"deliveries {len(latencies)} of {expected}; p50 {q[49] * 1000:.1f} ms; "
              f"p99 {q[98] * 1000:.1f} ms; max {latencies[-1] * 1000:.1f} ms; "
              f"server RSS {rss_mib(server.proc.pid):.1f} MiB")
    finally:
        server.stop()


async def _publish_at_rate(server: Server, rate: float, seconds: float) -> int:
    import aiohttp

    url = f"http://127.0.0.1:{server.port}{protocol.ingest_path('bench')}"
    async def post(session, n: int) -> None:
        body = json.dumps({"order_id": str(n), "amount": "12.34", "text": f"t={time.time():.6f}"}).encode()
        async with session.post(url, data=body, headers=protocol.signed_headers(
                server.creds.ingest_secret, body)) as response:
            assert response.status == 201, await response.text()

    # Posts start on schedule without waiting for the previous answer, as independent order
    # systems would: the rate holds even while the machine is busy fanning out.
    async with aiohttp.ClientSession() as session:
        start = time.monotonic()
        n = 0
        tasks = []
        while (now := time.monotonic()) - start < seconds:
            due = start + n / rate
            if due > now:
                await asyncio.sleep(due - now)
            tasks.append(asyncio.ensure_future(post(session, n)))
            n += 1
        await asyncio.gather(*tasks)
    return n


def bench_ingest(seconds: float, concurrency: int) -> None:
    print(f"\n== ingest: signed POSTs, {concurrency} concurrent keep-alive clients, {seconds:g} s ==")
    server = Server()
    try:
        done, errors = asyncio.run(_ingest_load(server, seconds, concurrency))
        print(f"{done / seconds:.0f} requests/s accepted ({done} in {seconds:g} s, {errors} errors); "
              f"server RSS {rss_mib(server.proc.pid):.1f} MiB")
    finally:
        server.stop()


async def _ingest_load(server: Server, seconds: float, concurrency: int) -> tuple[int, int]:
    import aiohttp

    url = f"http://127.0.0.1:{server.port}{protocol.ingest_path('bench')}"
    counts = {"ok": 0, "err": 0}
    end = time.monotonic() + seconds

    async def worker(session, w):
        n = 0
        while time.monotonic() < end:
            body = json.dumps({"order_id": f"{w}-{n}", "amount": "9.99", "customer": "张三"}).encode()
            async with session.post(url, data=body, headers={
                    **protocol.signed_headers(server.creds.ingest_secret, body),
                    "Idempotency-Key": f"{w}-{n}"}) as response:
                await response.read()
                counts["ok" if response.status == 201 else "err"] += 1
            n += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session, w) for w in range(concurrency)))
    return counts["ok"], counts["err"]


# -- ours against a bare broadcast server, side by side ----------------------------------------


async def _post_spread(server: Server, rate: float | None, seconds: float, concurrency: int = 16,
                       marked: bool = True) -> tuple[int, int]:
    """Signed POSTs round-robin over the server's shops: at `rate` events/s on schedule (each
    independent of the previous answer), or as fast as `concurrency` posters go (rate None)."""
    import aiohttp

    creds = server.all_creds
    ports = server.ports
    urls = [f"http://127.0.0.1:{ports[n % len(ports)]}{protocol.ingest_path(c.shop)}" for n, c in enumerate(creds)]
    counts = {"ok": 0, "err": 0}

    async def post(session, n: int) -> None:
        text = f"t={time.time():.6f}" if marked else "unmarked"
        body = json.dumps({"order_id": str(n), "amount": "12.34", "text": text}).encode()
        c = creds[n % len(creds)]
        async with session.post(urls[n % len(creds)], data=body,
                                headers=protocol.signed_headers(c.ingest_secret, body)) as response:
            await response.read()
            counts["ok" if response.status == 201 else "err"] += 1

    connector = aiohttp.TCPConnector(limit=concurrency if rate is None else 100)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.monotonic()
        if rate is None:
            next_n = iter(range(10**9))

            async def worker() -> None:
                while time.monotonic() - start < seconds:
                    await post(session, next(next_n))

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            n, tasks = 0, []
            while (now := time.monotonic()) - start < seconds:
                due = start + n / rate
                if due > now:
                    await asyncio.sleep(due - now)
                tasks.append(asyncio.ensure_future(post(session, n)))
                n += 1
            await asyncio.gather(*tasks)
    return counts["ok"], counts["err"]


class _Side:
    """One server (ours or bare) with its subscribers connected, for the side-by-side run."""

    def __init__(self, kind: str, shops: int, per_shop: int, fsync: str = "always"):
        self.kind = kind
        if kind.startswith("redis"):
            self.server = RedisGateways(shops, int(kind.removeprefix("redis")), fsync)
        elif kind.startswith("cluster"):
            self.server = RedisGateways(shops, int(kind.removeprefix("cluster")), fsync, nodes=CLUSTER_NODES)
        else:
            self.server = Server(shops=shops) if kind in ("ours", "sqlite") else BareServer(shops)
        clients = shops * per_shop
        shop_list = [[c.shop, c.client_token] for c in self.server.all_creds]
        ports = self.server.ports
        if len(ports) > 1:  # one client process per gateway; a shop's clients mostly on different ones
            everyone = shop_list * per_shop
            cuts = [len(everyone) * i // len(ports) for i in range(len(ports) + 1)]
            shift = [everyone[cuts[i]:cuts[i + 1]] for i in range(len(ports))]
            shares = [(port, len(part)) for port, part in zip(ports, shift, strict=True)]
        else:
            shares = [(ports[0], n) for n in ([clients // 2, clients - clients // 2] if clients >= 20 else [clients])]
            shift = [shop_list] * len(shares)
        self.procs = [spawn_clients(port, self.server.creds.client_token, n, 900, shops_here)
                      for (port, n), shops_here in zip(shares, shift, strict=True)]
        for _, report in self.procs:
            wait_report(report)
        self.connected = self.server.connections()
        self.per_shop = per_shop
        self.published = 0
        self.ingest_rates: list[float] = []
        self.cpu_per_event: list[float] = []
        self.batch_sizes: list[float] = []  # requests per transaction (our single server only)

    def _batching(self) -> tuple[int, int]:
        """(transactions, requests) so far, from /healthz where the server reports them."""
        if len(self.server.ports) != 1:
            return 0, 0
        got = healthz(self.server.ports[0])
        return got.get("ingest_batches", 0), got.get("ingest_requests", 0)

    def latency_round(self, rate: float, seconds: float) -> None:
        published, _ = asyncio.run(_post_spread(self.server, rate, seconds))
        self.published += published

    def ingest_round(self, seconds: float) -> None:
        cpu0 = self.server.cpu_s()
        before = self._batching()
        accepted, errors = asyncio.run(_post_spread(self.server, None, seconds, marked=False))
        after = self._batching()
        if after[0] > before[0]:
            self.batch_sizes.append((after[1] - before[1]) / (after[0] - before[0]))
        self.ingest_rates.append(accepted / seconds)
        self.cpu_per_event.append((self.server.cpu_s() - cpu0) / max(accepted, 1) * 1e6)
        self.errors = getattr(self, "errors", 0) + errors

    def finish(self) -> dict:
        rss = self.server.rss()
        dropped = self.server.dropped()
        for _, report in self.procs:
            Path(str(report) + ".stop").touch()
        latencies: list[float] = []
        lost = 0
        for proc, report in self.procs:
            proc.wait(120)
            stats = json.loads(report.read_text())
            latencies += stats["lat"]
            lost += stats["lost"]
        self.server.stop()
        latencies.sort()
        q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
        return {
            "connected": self.connected, "ingest": statistics.median(self.ingest_rates),
            "ingest_rounds": self.ingest_rates, "errors": self.errors,
            "cpu_us": statistics.median(self.cpu_per_event), "p50": q[49] * 1000, "p99": q[98] * 1000,
            "deliveries": len(latencies), "expected": self.published * self.per_shop, "rss": rss,
            "dropped": dropped, "lost": lost,
            "batch": statistics.median(self.batch_sizes) if self.batch_sizes else None,
        }


def _measure_side_by_side(shops: int, per_shop: int, rate: float, lat_s: float, ingest_s: float,
                          rounds: int, kinds: tuple[str, ...] = ("ours", "bare"), fsync: str = "always",
                          side: type[_Side] = _Side) -> dict[str, dict]:
    """All servers up with their clients at once; the measurements alternate between them in
    short rounds, so a change in the machine's load hits them alike."""
    sides = [side(kind, shops, per_shop, fsync) for kind in kinds]
    try:
        for _ in range(rounds):
            for side in sides:
                side.latency_round(rate, lat_s / rounds)
        time.sleep(1.0)
        for n in range(rounds):
            for side in sides if n % 2 == 0 else reversed(sides):
                side.ingest_round(ingest_s / rounds)
        time.sleep(0.5)
    finally:
        results = {}
        for side in sides:
            results[side.kind] = side.finish()
    return results


def bench_compare(quick: bool, rate: float, layouts: str) -> None:
    lat_s, ingest_s, rounds = (3.0, 3.0, 3) if quick else (10.0, 10.0, 5)
    scenarios = [tuple(int(n) for n in layout.split("x")) for layout in layouts.split(",")]
    print(f"\n== ours vs a bare aiohttp broadcast server (no storage, no auth), side by side: {rate:g} events/s "
          f"for {lat_s:g} s, then ingest flat out for {ingest_s:g} s, each in {rounds} alternating rounds; "
          f"load {Path('/proc/loadavg').read_text().split()[:3]} ==")
    rows = []
    for shops, per_shop in scenarios:
        label = f"{shops} shop{'s' if shops > 1 else ''} x {per_shop}"
        got = _measure_side_by_side(shops, per_shop, rate, lat_s, ingest_s, rounds)
        for kind, r in got.items():
            print(f"compare {label:<16} {kind}: {r['connected']} streams; ingest {r['ingest']:.0f} events/s "
                  f"(rounds {', '.join(f'{x:.0f}' for x in r['ingest_rounds'])}; {r['cpu_us']:.0f} us server CPU "
                  f"each, {r['errors']} errors); p50 {r['p50']:.1f} ms p99 {r['p99']:.1f} ms ({r['deliveries']} of "
                  f"{r['expected']} deliveries); RSS {r['rss']:.1f} MiB; dropped {r['dropped']}, lost {r['lost']}"
                  + (f"; {r['batch']:.1f} requests per transaction" if r.get("batch") else ""))
        round_ratios = [o / max(b, 1e-9) for o, b in zip(got["ours"]["ingest_rounds"], got["bare"]["ingest_rounds"],
                                                          strict=True)]
        ratio = statistics.median(round_ratios)
        print(f"compare {label:<16} ratio ours/bare ingest {ratio:.2f} (rounds "
              f"{', '.join(f'{x:.2f}' for x in round_ratios)}); CPU per event "
              f"{got['ours']['cpu_us'] / max(got['bare']['cpu_us'], 1e-9):.2f}x")
        rows.append((label, got, ratio))
    print(f"\nload after: {Path('/proc/loadavg').read_text().split()[:3]}")
    print("\n| shops x subscribers | ingest ours / bare (events/s) | ratio | CPU per event ours / bare (µs) "
          "| p50 ours / bare (ms) | p99 ours / bare (ms) | RSS ours / bare (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, got, ratio in rows:
        o, b = got["ours"], got["bare"]
        print(f"| {label} | {o['ingest']:,.0f} / {b['ingest']:,.0f} | {ratio:.2f} | {o['cpu_us']:.0f} / {b['cpu_us']:.0f} "
              f"| {o['p50']:.1f} / {b['p50']:.1f} | {o['p99']:.1f} / {b['p99']:.1f} | {o['rss']:.0f} / {b['rss']:.0f} |")


def bench_gateways(quick: bool, rate: float, layouts: str, fsync: str, plot_path: Path | None = None) -> None:
    lat_s, ingest_s, rounds = (3.0, 3.0, 3) if quick else (10.0, 10.0, 5)
    kinds = ("sqlite", "redis1", "redis3")
    print(f"\n== SQLite (1 process) vs Redis with 1 and 3 gateways (AOF appendfsync {fsync}), side by side: "
          f"{rate:g} events/s for {lat_s:g} s, then ingest flat out for {ingest_s:g} s, each in {rounds} rounds; "
          f"load {Path('/proc/loadavg').read_text().split()[:3]} ==")
    rows = []
    for layout in layouts.split(","):
        shops, per_shop = (int(n) for n in layout.split("x"))
        label = f"{shops} shop{'s' if shops > 1 else ''} x {per_shop}"
        got = _measure_side_by_side(shops, per_shop, rate, lat_s, ingest_s, rounds, kinds, fsync)
        for kind, r in got.items():
            print(f"gateways {label:<14} {kind}: {r['connected']} streams; ingest {r['ingest']:.0f} events/s "
                  f"(rounds {', '.join(f'{x:.0f}' for x in r['ingest_rounds'])}; {r['cpu_us']:.0f} us CPU each, "
                  f"{r['errors']} errors); p50 {r['p50']:.1f} ms p99 {r['p99']:.1f} ms ({r['deliveries']} of "
                  f"{r['expected']} deliveries); RSS {r['rss']:.1f} MiB; dropped {r['dropped']}, lost {r['lost']}"
                  + (f"; {r['batch']:.1f} requests per transaction" if r.get("batch") else ""))
        rows.append((label, got))
    print(f"\nload after: {Path('/proc/loadavg').read_text().split()[:3]}")
    print("\n| shops x subscribers | store | ingest (events/s, median; rounds) | CPU per event (µs, all processes) "
          "| p50 (ms) | p99 (ms) | deliveries | RSS (MiB, all processes) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, got in rows:
        for kind, r in got.items():
            print(f"| {label} | {kind} | {r['ingest']:,.0f} ({', '.join(f'{x:.0f}' for x in r['ingest_rounds'])}) "
                  f"| {r['cpu_us']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['deliveries']} of {r['expected']} "
                  f"| {r['rss']:.0f} |")
    if plot_path:
        _plot_gateways(rows, fsync, plot_path)


CLUSTER_NODES = 3


class _StoreCpuSide(_Side):
    """A side that also counts Redis's share of the CPU per ingested event."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.store_cpu_per_event: list[float] = []

    def ingest_round(self, seconds: float) -> None:
        store0 = self.server.store_cpu_s()
        super().ingest_round(seconds)
        accepted = self.ingest_rates[-1] * seconds
        self.store_cpu_per_event.append((self.server.store_cpu_s() - store0) / max(accepted, 1) * 1e6)

    def finish(self) -> dict:
        return {**super().finish(), "store_cpu_us": statistics.median(self.store_cpu_per_event)}


def bench_cluster(quick: bool, rate: float, layouts: str, fsync: str, runs: int) -> None:
    """One gateway on one redis-server against one gateway on a Redis Cluster of three primaries
    (all on this machine), side by side, `runs` times; then each figure's median and range."""
    lat_s, ingest_s, rounds = (3.0, 3.0, 3) if quick else (10.0, 10.0, 5)
    kinds = ("redis1", "cluster1")
    shops, per_shop = (int(n) for n in layouts.split(",")[0].split("x"))
    print(f"\n== 1 gateway on one redis-server vs on a {CLUSTER_NODES}-node Redis Cluster (AOF appendfsync {fsync}), "
          f"{shops} shops x {per_shop}, side by side, {runs} runs: {rate:g} events/s for {lat_s:g} s, then ingest "
          f"flat out for {ingest_s:g} s, each in {rounds} alternating rounds ==")
    found: list[dict[str, dict]] = []
    for run in range(runs):
        before = Path("/proc/loadavg").read_text().split()[:3]
        got = _measure_side_by_side(shops, per_shop, rate, lat_s, ingest_s, rounds, kinds, fsync, _StoreCpuSide)
        after = Path("/proc/loadavg").read_text().split()[:3]
        for kind, r in got.items():
            print(f"cluster run {run + 1} {kind}: ingest {r['ingest']:.0f} events/s (rounds "
                  f"{', '.join(f'{x:.0f}' for x in r['ingest_rounds'])}; {r['errors']} errors); CPU per event "
                  f"{r['cpu_us']:.0f} us, of it Redis {r['store_cpu_us']:.0f} us; p50 {r['p50']:.1f} ms p99 "
                  f"{r['p99']:.1f} ms ({r['deliveries']} of {r['expected']} deliveries); RSS {r['rss']:.0f} MiB")
        ratio = got["redis1"]["ingest"] / max(got["cluster1"]["ingest"], 1e-9)
        print(f"cluster run {run + 1}: one node / cluster ingest {ratio:.2f}x; load before {before}, after {after}")
        found.append(got)

    def spread(kind: str, key: str, digits: int = 0) -> str:
        values = [got[kind][key] for got in found]
        return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"

    ratios = [got["redis1"]["ingest"] / max(got["cluster1"]["ingest"], 1e-9) for got in found]
    print(f"\nmedian and range of {runs} runs; one node / cluster ingest {statistics.median(ratios):.2f}x "
          f"({min(ratios):.2f}-{max(ratios):.2f})")
    print("\n| store | ingest, events/s | CPU per event, all processes (µs) | of it Redis (µs) "
          "| Redis per node (µs) | p50 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind, label, nodes in (("redis1", "one redis-server, 1 gateway", 1),
                               ("cluster1", f"{CLUSTER_NODES}-node cluster, 1 gateway", CLUSTER_NODES)):
        per_node = [got[kind]["store_cpu_us"] / nodes for got in found]
        print(f"| {label} | {spread(kind, 'ingest')} | {spread(kind, 'cpu_us')} | {spread(kind, 'store_cpu_us')} "
              f"| {statistics.median(per_node):,.0f} | {spread(kind, 'p50', 1)} | {spread(kind, 'p99', 1)} |")


# -- callback shops and a paused Redis (issue 21): this code against another tree's, same run --

CALLBACK_SHOPS = 20000


def _tree_flags(tree: Path, wanted: list[str]) -> list[str]:
    """The options of `wanted` (flag, value, flag, value...) that `tree`'s server knows."""
    known = subprocess.run([sys.executable, "-m", "notifier", "server", "run", "--help"], cwd=tree,
                           capture_output=True, text=True).stdout
    found: list[str] = []
    for flag, value in zip(wanted[::2], wanted[1::2], strict=True):
        if flag in known:
            found += [flag, value]
    return found


def _fill_shops(url: str, count: int, callback_url: str) -> tuple[dict[str, str], str]:
    """`count` shops with a callback URL, written straight into Redis in the layout both trees
    share (add-shop one by one takes minutes); returns (shop -> client token, ingest secret of
    the shop "bench", which has no callback URL)."""
    import secrets as random_secrets

    import redis

    from notifier.core.protocol import token_hash
    from notifier.server.redis_store import CALLBACK_SHOPS_KEY, SHOPS_KEY, meta_key

    client = redis.Redis.from_url(url)
    tokens: dict[str, str] = {}
    secret = random_secrets.token_urlsafe(32)
    pipe = client.pipeline(transaction=False)
    for n in range(count + 1):
        name = "bench" if n == count else f"cb{n}"
        token = random_secrets.token_urlsafe(24)
        fields = {"token_hash": token_hash(token), "secret": secret, "identity": random_secrets.token_hex(6),
                  "created_at": repr(time.time()), "last_seq": 0, "pruned_through": 0}
        if name != "bench":
            fields["callback_url"] = callback_url
            tokens[name] = token
            pipe.sadd(CALLBACK_SHOPS_KEY, name)
        pipe.hset(meta_key(name), mapping=fields)
        pipe.sadd(SHOPS_KEY, name)
        if len(pipe) >= 2000:
            pipe.execute()
    pipe.execute()
    client.close()
    return tokens, secret


async def _callback_round(port: int, tokens: dict[str, str], secret: str, seconds: float, redis_pid: int,
                          pause_s: float) -> dict:
    """2 decisions/s to random callback shops, 10 ingests/s and a /healthz probe every 50 ms for
    `seconds`; then, with `pause_s`, Redis SIGSTOPped that long with the same load."""
    import random
    import signal as signals

    import aiohttp

    base = f"http://127.0.0.1:{port}"
    health: list[tuple[float, float]] = []
    ingest: list[tuple[float, float, int]] = []
    decisions: list[int] = []
    names = list(tokens)
    paused: list[float] = []
    stop = asyncio.Event()

    async def every(interval: float, step) -> None:
        while not stop.is_set():
            asyncio.ensure_future(step())
            await asyncio.sleep(interval)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def probe() -> None:
            started = time.monotonic()
            async with session.get(base + "/healthz") as response:
                await response.read()
            health.append((started, time.monotonic() - started))

        async def post_order() -> None:
            body = json.dumps({"order_id": str(random.getrandbits(48))}).encode()
            started = time.monotonic()
            try:
                async with session.post(base + "/api/v1/shops/bench/events", data=body,
                                        headers=protocol.signed_headers(secret, body)) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            ingest.append((started, time.monotonic() - started, status))

        async def decide() -> None:
            shop = random.choice(names)
            url = f"{base}/api/v1/shops/{shop}/orders/{random.getrandbits(48)}/accept"
            try:
                async with session.post(url, data=b"{}", headers={"Authorization": f"Bearer {tokens[shop]}"}) as r:
                    decisions.append(r.status)
            except (aiohttp.ClientError, TimeoutError):
                decisions.append(0)

        loops = [asyncio.ensure_future(every(0.05, probe)), asyncio.ensure_future(every(0.1, post_order)),
                 asyncio.ensure_future(every(0.5, decide))]
        await asyncio.sleep(seconds)
        if pause_s:
            os.kill(redis_pid, signals.SIGSTOP)
            paused.append(time.monotonic())
            try:
                await asyncio.sleep(pause_s)
            finally:
                os.kill(redis_pid, signals.SIGCONT)
            paused.append(time.monotonic())
            await asyncio.sleep(2.0)
        stop.set()
        for loop in loops:
            await loop
        await asyncio.sleep(3.0)  # the last requests' answers (a frozen server's come late)

    def ms(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else float("nan")

    steady = [took for at, took in health if not paused or at < paused[0]]
    steady_ingest = [took for at, took, status in ingest if status == 201 and (not paused or at < paused[0])]
    found = {"health_p50": ms(steady, 50), "health_p99": ms(steady, 99), "ingest_p50": ms(steady_ingest, 50),
             "decisions": len(decisions), "decided_201": decisions.count(201)}
    if paused:
        during = [took for at, took in health if paused[0] <= at < paused[1]]
        found["pause_health_max"] = max(during) * 1000 if during else float("nan")
        found["pause_health_answers"] = len(during)
        pause_ingest = [(took, status) for at, took, status in ingest if paused[0] + 0.1 <= at < paused[1] - 3]
        found["pause_ingest"] = sorted({status for _, status in pause_ingest})
        found["pause_ingest_max"] = max((took for took, _ in pause_ingest), default=float("nan")) * 1000
    return found


async def _receiver(port: int, counter: list[int]):
    from aiohttp import web

    async def answer(_request: web.Request) -> web.Response:
        counter[0] += 1
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/cb", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def _one_callback_run(tree: Path, seconds: float, pause_s: float, shops: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="bench-callbacks-"))
    redis_port, port, receiver_port = free_port(), free_port(), free_port()
    redis_proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--dir",
                                   str(workdir), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                                   "--logfile", str(workdir / "redis.log")])
    url = f"redis://127.0.0.1:{redis_port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                tokens, secret = _fill_shops(url, shops, f"http://127.0.0.1:{receiver_port}/cb")
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        flags = _tree_flags(tree, ["--allow-callbacks-to", "127.0.0.0/8"])
        gateway = subprocess.Popen([sys.executable, "-m", "notifier", "server", "--store", url, "--port", str(port),
                                    "--log-level", "ERROR", *flags, "run"], cwd=tree)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    healthz(port)
                    break
                except OSError:
                    if time.monotonic() > deadline or gateway.poll() is not None:
                        raise RuntimeError(f"the gateway of {tree} did not start") from None
                    time.sleep(0.05)
            sample = dict(list(tokens.items())[:500])

            async def measure() -> dict:
                counter = [0]
                runner = await _receiver(receiver_port, counter)
                try:
                    found = await _callback_round(port, sample, secret, seconds, redis_proc.pid, pause_s)
                finally:
                    await runner.cleanup()
                found["called_back"] = counter[0]
                return found

            return asyncio.run(measure())
        finally:
            gateway.terminate()
            gateway.wait(30)
    finally:
        redis_proc.terminate()
        redis_proc.wait(30)


def bench_callbacks(quick: bool, baseline: Path, runs: int) -> None:
    """/healthz and ingest with 20,000 shops that have a callback URL at 2 decisions/s, then Redis
    SIGSTOPped 10 s; this tree against `baseline` (e.g. a worktree of the previous code),
    alternating, `runs` times each."""
    shops = 2000 if quick else CALLBACK_SHOPS
    seconds, pause_s = (8.0, 4.0) if quick else (30.0, 10.0)
    print(f"\ncallback shops: {shops:,} shops with a callback URL, 2 decisions/s to random ones, 10 ingests/s, "
          f"/healthz every 50 ms for {seconds:g} s, then Redis SIGSTOPped {pause_s:g} s; load "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    found: dict[str, list[dict]] = {"this": [], "baseline": []}
    for run in range(runs):
        for label, tree in (("baseline", baseline), ("this", REPO)):
            got = _one_callback_run(tree, seconds, pause_s, shops)
            found[label].append(got)
            print(f"  run {run + 1} {label:8s} {json.dumps(got)}", flush=True)

    def spread(label: str, key: str) -> str:
        values = [got[key] for got in found[label]]
        return f"{statistics.median(values):,.1f} ({min(values):,.1f}-{max(values):,.1f})"

    print(f"\nmedian (range) of {runs} runs each, load after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print("| code | /healthz p50 (ms) | /healthz p99 (ms) | ingest p50 (ms) | slowest /healthz while Redis paused (ms) "
          "| ingest during the pause | slowest such ingest answer (ms) |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for label, name in (("baseline", f"before ({baseline})"), ("this", "this tree")):
        statuses = sorted({s for got in found[label] for s in got["pause_ingest"]})
        print(f"| {name} | {spread(label, 'health_p50')} | {spread(label, 'health_p99')} | "
              f"{spread(label, 'ingest_p50')} | {spread(label, 'pause_health_max')} | {statuses} | "
              f"{spread(label, 'pause_ingest_max')} |")


def _plot_gateways(rows, fsync: str, path: Path) -> None:
    """The run's numbers as bars, drawn by run_all's QPainter plot (no matplotlib needed)."""
    from tests.benchmarks.run_all import plot

    metrics = {}
    units = {"ingest": "events/s", "cpu_us": "µs CPU per event", "p50": "ms", "p99": "ms", "rss": "MiB"}
    names = {"ingest": "ingest", "cpu_us": "CPU per event", "p50": "publish -> client p50",
             "p99": "publish -> client p99", "rss": "RSS, all processes"}
    for label, got in rows:
        for key, unit in units.items():
            for kind, r in got.items():
                metrics[f"{label}, {kind}: {names[key]}"] = {"value": r[key], "unit": unit, "goal": None,
                                                              "lower_is_better": key != "ingest"}
    when = time.strftime("%Y-%m-%d %H:%M")
    plot({"benches": {"gateways": {"metrics": metrics}}, "mode": f"gateways (appendfsync {fsync})",
          "machine": {"when": when, "cpus": os.cpu_count()}}, path)
    path.with_suffix(".json").write_text(json.dumps({"when": when, "fsync": fsync, "load": Path("/proc/loadavg")
                                                     .read_text().split()[:3], "rows": rows}, indent=1))
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller runs (for a smoke check)")
    parser.add_argument("--only", choices=("connections", "latency", "ingest", "compare", "gateways", "cluster",
                                           "callbacks"))
    parser.add_argument("--baseline", type=Path, help="for --only callbacks: another tree of the project "
                                                      "(e.g. `git worktree add /tmp/old-server <commit>`)")
    parser.add_argument("--fsync", choices=("always", "everysec"), default="always",
                        help="for --only gateways: Redis's appendfsync")
    parser.add_argument("--plot", type=Path, help="for --only gateways: draw the numbers into this PNG "
                                                  "(and write them beside it as JSON)")
    parser.add_argument("--rate", type=float, default=100.0, help="events/s for the latency run")
    parser.add_argument("--runs", type=int, default=3, help="for --only cluster: whole runs, each with its baseline")
    parser.add_argument("--layouts", default="1x10,1x100,1x1000,1000x2",
                        help="for --only compare: SHOPSxSUBSCRIBERS, comma-separated")
    parser.add_argument("--clients", type=int, help=argparse.SUPPRESS)  # internal: client process
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)  # internal: baseline
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--hold", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        run_bare_server(args.port)
        return
    if args.clients:
        asyncio.run(run_clients(args.port, os.environ["BENCH_TOKEN"], args.clients, args.hold, args.report))
        return
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(name, None)
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    if args.only in (None, "connections"):
        bench_connections([500, 1000] if args.quick else [1000, 2500, 5000, 10000, 15000])
    if args.only in (None, "latency"):
        bench_latency(100 if args.quick else 1000, args.rate, 3.0 if args.quick else 10.0)
    if args.only in (None, "ingest"):
        bench_ingest(2.0 if args.quick else 5.0, 32)
    if args.only == "compare":  # not in the default run: it takes a few minutes on its own
        bench_compare(args.quick, args.rate, args.layouts)
    if args.only == "gateways":
        bench_gateways(args.quick, args.rate, "1000x2" if args.layouts == parser.get_default("layouts")
                       else args.layouts, args.fsync, args.plot)
    if args.only == "callbacks":
        if args.baseline is None:
            parser.error("--only callbacks needs --baseline TREE")
        bench_callbacks(args.quick, args.baseline.resolve(), args.runs)
    if args.only == "cluster":
        bench_cluster(args.quick, args.rate, "1000x2" if args.layouts == parser.get_default("layouts")
                      else args.layouts, args.fsync, args.runs)


if __name__ == "__main__":
    main()

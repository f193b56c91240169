"""Two gateways on a real three-node Redis Cluster (`--store redis+cluster://…`).

Three redis-server processes in cluster mode on free 127.0.0.1 ports, joined by
`redis-cli --cluster create`; the shops are chosen so their keys live on different nodes. An
event ingested on gateway A reaches the clients on gateway B once and in order, and a token
rotated by the admin command closes the old token's streams on both gateways."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import free_port, wait_until
from redis.crc import key_slot
from redis_helpers import RedisServer
from server_helpers import REPO, ServerProcess
from test_redis_gateways import Follower, publish, run_followers

from notifier.server.hub import CLOSE_TOKEN_REVOKED
from notifier.server.redis_live import LiveFollower
from notifier.server.redis_store import RedisEventStore, log_key

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"

pytestmark = pytest.mark.slow


class Cluster:
    """Three primaries, no replicas, AOF on: the smallest real Redis Cluster."""

    def __init__(self, root: Path):
        self.nodes = []
        for i in range(3):
            directory = root / f"node{i}"
            self.nodes.append(RedisServer(directory, fsync="everysec", extra=(
                "--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf"),
                "--cluster-node-timeout", "5000",
                # the bus port defaults to port + 10000, too high for a free port above 55535
                "--cluster-port", str(free_port()))))

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes[:2])

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        subprocess.run([REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        wait_until(self.ready, 30, interval=0.1, message="every node says cluster_state:ok")

    def ready(self) -> bool:
        for node in self.nodes:
            with node.client() as client:
                if client.execute_command("CLUSTER", "INFO").decode().find("cluster_state:ok") < 0:
                    return False
        return True

    def node_of(self, shop: str) -> int:
        """Which of the three nodes holds `shop`'s keys (its hash tag's slot)."""
        with self.nodes[0].client() as client:
            slot = int(client.execute_command("CLUSTER", "KEYSLOT", f"{{{shop}}}"))
            for start, end, primary, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return [n.port for n in self.nodes].index(int(primary[1]))
        raise AssertionError(f"no node serves the slot of {shop}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class TwoGateways:
    def __init__(self, root: Path):
        self.cluster = Cluster(root)
        self.cluster.start()
        self.gateways = [
            ServerProcess(root / f"gw{i}", free_port(), "--store", self.cluster.url, "--heartbeat", "5",
                          log_file=root / f"gw{i}.log")
            for i in range(2)
        ]
        for gateway in self.gateways:
            gateway.start()
        self.store = RedisEventStore.from_url(self.cluster.url)

    def gateway_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.gateways[i].port}"

    def shops_on_every_node(self, prefix: str) -> list:
        """One new shop per cluster node."""
        wanted: dict[int, str] = {}
        for n in range(1000):
            name = f"{prefix}-{n}"
            wanted.setdefault(self.cluster.node_of(name), name)
            if len(wanted) == 3:
                break
        assert len(wanted) == 3
        return [self.store.add_shop(name) for _, name in sorted(wanted.items())]

    def stop(self) -> None:
        self.store.close()
        for gateway in self.gateways:
            gateway.stop()
        self.cluster.stop()


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    platform = TwoGateways(tmp_path_factory.mktemp("cluster"))
    yield platform
    platform.stop()


def test_events_ingested_on_one_gateway_reach_clients_on_the_other_for_shops_on_every_node(platform):
    shops = platform.shops_on_every_node("order")
    count = 40
    followers = [Follower(platform.gateway_url(1), shop, count) for shop in shops for _ in range(2)]

    def ingest_interleaved():
        for n in range(1, count + 1):
            for shop in shops:
                assert publish(platform.gateway_url(0), shop, str(n)) == n

    run_followers(followers, ingest_interleaved, 30)
    for follower in followers:
        assert follower.seqs == list(range(1, count + 1)), follower.shop.shop
        assert follower.order_ids == [str(n) for n in range(1, count + 1)]
    stored = platform.store.shops()
    assert {s.name: s.last_seq for s in stored if s.name in {x.shop for x in shops}} == {x.shop: count for x in shops}


def test_rotating_a_token_closes_the_old_streams_on_both_gateways(platform):
    shop = platform.shops_on_every_node("rotate")[2]
    followers = [Follower(platform.gateway_url(i), shop, 10**9) for i in range(2)]

    def rotate() -> None:
        done = subprocess.run([sys.executable, "-m", "notifier", "server", "--store", platform.cluster.url,
                               "rotate-token", shop.shop], cwd=REPO, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr

    started = time.monotonic()
    run_followers(followers, rotate, 10, reconnect=False)
    assert time.monotonic() - started < 8
    for follower in followers:
        assert follower.close_codes == [CLOSE_TOKEN_REVOKED], follower.url


def test_the_live_reader_with_a_stale_map_of_the_slots_still_reads_every_stream(platform):
    """The live reader sends its XREADs straight to the node its map of the slots names (the
    cluster pipeline was ten times slower); when the map is out of date, as after a slot moved,
    the node answers MOVED and the cluster pipeline reads them instead, and the map is mended."""
    shops = platform.shops_on_every_node("stale")
    for shop in shops:
        assert publish(platform.gateway_url(0), shop, "1") == 1
    reader = platform.store.new_client()
    try:
        slots = reader.nodes_manager.slots_cache
        primaries = reader.get_primaries()
        for shop in shops:  # every shop's slot "moved" to the next node, as far as the reader knows
            slot = key_slot(log_key(shop.shop).encode())
            owner = primaries.index(next(n for n in primaries if n.name == slots[slot][0].name))
            slots[slot] = [primaries[(owner + 1) % len(primaries)]]
        follower = LiveFollower(platform.store, None, None, None)
        try:
            found = follower._xread(reader, {log_key(shop.shop): "0-0" for shop in shops})
        finally:
            follower.stop()
        assert sorted(key.decode() for key, entries in found if entries) == sorted(log_key(s.shop) for s in shops)
        assert follower._xread(reader, {log_key(shops[0].shop): "1-0"}) == [], "nothing new after seq 1"
        for shop in shops:
            slot = key_slot(log_key(shop.shop).encode())
            owner = platform.cluster.nodes[platform.cluster.node_of(shop.shop)].port
            assert reader.nodes_manager.get_node_from_slot(slot).port == owner, "the map is mended"
    finally:
        reader.close()

"""The Redis store on a real redis-server: what is kept where. (The admin commands run on both
stores in test_store_and_cli.)"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from helpers import free_port, wait_until
from redis_helpers import REDIS_BINARY
from server_helpers import REPO

from notifier.server.redis_store import RedisEventStore, log_key
from notifier.server.store import ShopError


@pytest.fixture
def store(redis_server):
    with redis_server.client() as client:
        client.flushall()
    store = RedisEventStore.from_url(redis_server.url)
    yield store
    store.close()


def admin(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "notifier", "server", "--store", url, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=30)


def test_every_key_of_a_shop_carries_its_hash_tag_and_the_token_is_only_hashed(store):
    creds = store.add_shop("noodle-bar")
    store.append("noodle-bar", {"kind": "new_order", "order_id": "1"}, nonce="n" * 16, idempotency_key="k1", body=b"x")
    keys = {k.decode() for k in store.client.keys("*")}
    per_shop = {k for k in keys if "noodle-bar" in k}
    assert per_shop and all("{noodle-bar}" in k for k in per_shop), keys
    dump = b"".join(str(store.client.hgetall(k)).encode() for k in per_shop if store.client.type(k) == b"hash")
    assert creds.client_token.encode() not in dump
    assert store.client.xrange(log_key("noodle-bar"))[0][0] == b"1-0", "the stream id is the seq"


def test_retention_trims_the_stream_and_remembers_the_gap(store):
    store.add_shop("a")
    for n in range(5):
        store.append("a", {"kind": "new_order", "order_id": str(n)}, nonce=f"nonce-{n:012d}", idempotency_key=None,
                     body=b"x")
    assert store.prune(0, now=time.time() + 1) == 5
    shop = store.shop("a")
    assert (shop.last_seq, shop.pruned_through) == (5, 5)
    assert store.events_after("a", 0) == []
    assert store.append("a", {"kind": "new_order", "order_id": "9"}, nonce="nonce-x" * 3, idempotency_key=None,
                        body=b"y").seq == 6
    assert store.append("a", {"kind": "new_order", "order_id": "9"}, nonce="nonce-x" * 3, idempotency_key=None,
                        body=b"y").nonce_reused
    ttl = store.client.ttl(f"notifier:{{a}}:nonce:{'nonce-x' * 3}")
    assert 0 < ttl <= 900, "a nonce is kept for the replay window, then forgotten"


def test_shop_names_are_checked(store):
    for bad in ("", "a/b", "../x", "a" * 65, "shop name", "{x}"):
        with pytest.raises(ShopError):
            store.add_shop(bad)
    store.add_shop("ok")
    with pytest.raises(ShopError):
        store.add_shop("ok")
    with pytest.raises(ShopError):
        store.rotate("missing")
    assert store.shop("missing") is None and not store.client.exists("notifier:{missing}:meta")


def test_a_rotation_heard_on_the_channel_rereads_one_shop_not_all(store, redis_server):
    for n in range(50):
        store.add_shop(f"s{n}")
    gateway = RedisEventStore.from_url(redis_server.url)  # a gateway's view, filled once
    try:
        before = gateway.shop_credentials()
        admin_side = RedisEventStore.from_url(redis_server.url)
        pubsub = gateway.client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe("notifier:credentials")
        new = admin_side.rotate("s7")
        message = None
        deadline = time.monotonic() + 5
        while message is None and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
        gateway.note_change(message["data"])
        store.client.config_resetstat()
        after = gateway.shop_credentials()
        hmgets = store.client.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0)
        assert hmgets == 1, "only the rotated shop is read again"
        assert after["s7"] != before["s7"] and gateway.check_token("s7", new.client_token)
        assert {k: v for k, v in after.items() if k != "s7"} == {k: v for k, v in before.items() if k != "s7"}
        # A change it did not hear of (no note) is still found: then it reads every shop.
        admin_side.remove_shop("s8")
        assert "s8" not in gateway.shop_credentials()
        pubsub.close()
        admin_side.close()
    finally:
        gateway.close()


def test_rediss_with_a_private_ca(tmp_path):
    """rediss:// with --redis-ca: a real redis-server speaking TLS with a certificate of our own CA."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=test-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (tmp_path / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "srv.pem", "-days", "2", "-extfile", "ext")
    port = free_port()
    server = subprocess.Popen(
        [REDIS_BINARY, "--port", "0", "--tls-port", str(port), "--tls-cert-file", "srv.pem", "--tls-key-file", "srv.key",
         "--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no", "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "yes", "--dir", str(tmp_path)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"rediss://127.0.0.1:{port}/0"
        wait_until(lambda: admin(url, "--redis-ca", str(tmp_path / "ca.pem"), "list-shops").returncode == 0, 10)
        added = admin(url, "--redis-ca", str(tmp_path / "ca.pem"), "add-shop", "tls-shop")
        assert added.returncode == 0, added.stderr
        untrusted = admin(url, "list-shops")  # without our CA the certificate is not trusted
        assert untrusted.returncode != 0 and "certificate verify failed" in untrusted.stderr
        assert "Traceback" not in untrusted.stderr
    finally:
        server.terminate()
        server.wait(10)

"""Signed ingest on a real server: what an order system sees when it gets things right or wrong."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from notifier.core import protocol
from notifier.core.protocol import PublishError

BOTH_STORES = True  # every test here runs on SQLite and on Redis (conftest)


def post(server, shop: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(server.http_url + protocol.ingest_path(shop), data=body, method="POST")
    for name, value in {"Content-Type": "application/json", **headers}.items():
        request.add_header(name, value)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def signed(server, shop="alpha", body: bytes = b'{"order_id":"1001","amount":"9.90"}', **kw):
    return body, protocol.signed_headers(server.shops[shop].ingest_secret, body, **kw)


def stored_seqs(server, shop="alpha") -> list[int]:
    return [seq for seq, _, _ in server.store.events_after(shop, 0)]


def test_a_signed_event_is_stored_and_gets_the_next_sequence_number(server):
    assert server.publish(order_id="1")["seq"] == 1
    assert server.publish(order_id="2", amount="12.30", customer="李四")["seq"] == 2
    assert server.store.events_after("alpha", 1)[0][2]["customer"] == "李四"


def test_unsigned_wrongly_signed_stale_and_replayed_requests_are_refused(server):
    body = b'{"order_id":"1001"}'
    status, error = post(server, "alpha", body, {})
    assert (status, error["error"]) == (401, "missing_signature")

    wrong = protocol.signed_headers("not-the-secret", body)
    assert post(server, "alpha", body, wrong)[1]["error"] == "bad_signature"

    other_shop_secret = protocol.signed_headers(server.shops["beta"].ingest_secret, body)
    assert post(server, "alpha", body, other_shop_secret)[1]["error"] == "bad_signature"

    tampered_body, headers = signed(server)
    assert post(server, "alpha", tampered_body.replace(b"9.90", b"0.01"), headers)[1]["error"] == "bad_signature"

    stale = signed(server, timestamp=int(time.time()) - 301)
    status, error = post(server, "alpha", *stale)
    assert (status, error["error"]) == (401, "stale_timestamp")
    future = signed(server, timestamp=int(time.time()) + 301)
    assert post(server, "alpha", *future)[1]["error"] == "stale_timestamp"

    good = signed(server)
    assert post(server, "alpha", *good)[0] == 201
    status, error = post(server, "alpha", *good)  # the very same request again
    assert (status, error["error"]) == (409, "nonce_reused")
    assert stored_seqs(server) == [1], "only the one valid request was stored"


def test_a_retry_with_the_same_idempotency_key_returns_the_first_result(server):
    key = {"Idempotency-Key": "order-1001-paid"}
    body, headers = signed(server)
    status, first = post(server, "alpha", body, {**headers, **key})
    assert (status, first["seq"], first["duplicate"]) == (201, 1, False)
    # The order system's retry: same body, signed again (new nonce and timestamp).
    body, headers = signed(server)
    status, again = post(server, "alpha", body, {**headers, **key})
    assert (status, again["seq"], again["duplicate"]) == (200, 1, True)
    # Even the byte-identical request replayed (same nonce) gets the first result, not a 409.
    body, headers = signed(server)
    post(server, "alpha", body, {**headers, "Idempotency-Key": "k2"})
    status, replay = post(server, "alpha", body, {**headers, "Idempotency-Key": "k2"})
    assert (status, replay["seq"]) == (200, 2)
    # The same key with a different body is a mistake worth saying out loud.
    body, headers = signed(server, body=b'{"order_id":"other"}')
    status, error = post(server, "alpha", body, {**headers, **key})
    assert (status, error["error"]) == (422, "idempotency_conflict")
    assert stored_seqs(server) == [1, 2]


def test_publish_order_retries_are_stored_once(server):
    for _ in range(3):
        result = server.publish(order_id="77", idempotency_key="77-paid")
    assert result["seq"] == 1 and stored_seqs(server) == [1]


def test_a_bad_body_is_refused_with_the_field_named(server):
    status, error = post(server, "alpha", *signed(server, body=b'{"order_id":"1","amount":"abc"}'))
    assert (status, error["error"], error["field"]) == (400, "invalid_event", "amount")
    status, error = post(server, "alpha", *signed(server, body=b"{not json"))
    assert (status, error["error"]) == (400, "invalid_json")
    with pytest.raises(PublishError) as refused:
        server.publish(order_id="1", kind="paid")
    assert refused.value.status == 400 and refused.value.field == "kind"
    assert stored_seqs(server) == []


def test_an_oversized_body_is_refused(make_server):
    server = make_server(max_body=1024)
    body = json.dumps({"order_id": "1", "text": "x" * 1500}).encode()
    status, error = post(server, "alpha", *signed(server, body=body))
    assert (status, error["error"]) == (413, "body_too_large")


def test_an_unknown_shop_is_named(server):
    body = b'{"order_id":"1"}'
    status, error = post(server, "nosuch", body, protocol.signed_headers("x", body))
    assert (status, error["error"]) == (404, "unknown_shop")


def test_an_ingest_secret_rotated_by_another_process_takes_effect_at_once(server, tmp_path):
    assert server.publish(order_id="1")["seq"] == 1
    result = subprocess.run(
        [sys.executable, "-m", "notifier", "server", *server.store_args,
         "rotate-token", "alpha", "--ingest-only"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    new_secret = next(line.split()[-1] for line in result.stdout.splitlines() if line.startswith("ingest secret:"))
    assert new_secret != server.shops["alpha"].ingest_secret
    with pytest.raises(PublishError) as refused:
        server.publish(order_id="2")
    assert refused.value.reason == "bad_signature"
    seq = protocol.publish_order(server.http_url, "alpha", new_secret, order_id="2")["seq"]
    assert seq == 2


def test_many_nonces_are_all_distinct():
    # The nonce is what makes replays detectable: it must never repeat in practice.
    nonces = {protocol.signed_headers("k", b"")[protocol.NONCE_HEADER] for _ in range(2000)}
    assert len(nonces) == 2000 and all(protocol.NONCE.match(n) for n in nonces)

"""Requests written to hurt the server, sent raw to a real server on 127.0.0.1: each gets a 4xx
with a sentence, fast, and leaves nothing behind (no file read, no memory kept, no 500)."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from notifier.core import protocol

BOTH_STORES = True  # every test here runs on SQLite and on Redis (conftest)


def raw_post(server, path: str, body: bytes, headers: dict[str, str], timeout: float = 5.0) -> tuple[int, dict, float]:
    """POST with the path sent exactly as given (http.client does not normalise or decode it)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return response.status, (json.loads(data) if data else {}), time.monotonic() - started


def signed(secret: str, body: bytes, **overrides: str) -> dict[str, str]:
    return {**protocol.signed_headers(secret, body), **overrides}


BODY = b'{"order_id":"1"}'


def test_a_shop_name_that_climbs_out_of_the_secrets_folder_is_an_unknown_shop(server):
    # A file the server's user can read, two levels above the ingest secrets: before the fix its
    # existence showed as 401 (wrong signature) instead of 404, and its content became a "secret".
    outside = server.data_dir.parent / "private.txt"
    outside.write_text("not a secret of any shop")
    spellings = [
        "/api/v1/shops/..%2F..%2Fprivate.txt/events",
        "/api/v1/shops/..%2f..%2fprivate.txt/events",
        "/api/v1/shops/%2E%2E%2F%2E%2E%2Fprivate.txt/events",
        "/api/v1/shops/alpha%0A/events",  # the shop-name rule's `$` once let a newline through
        "/api/v1/shops/..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fdev%2Fzero/events",
    ]
    for path in spellings:
        status, answer, seconds = raw_post(server, path, BODY, signed("not a secret of any shop", BODY))
        assert (status, answer["error"]) == (404, "unknown_shop"), path
        assert "private" not in answer["message"] and "zero" not in answer["message"], "the path is not echoed"
        assert seconds < 2, f"{path} took {seconds:.1f} s"
    if server.store_url is None:  # the SQLite store caches secrets read from files
        assert server.store._secret_cache.keys() <= {"alpha", "beta"}, "only real shops' secrets are cached"


def test_the_stream_refuses_a_climbing_shop_name_too(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/api/v1/shops/..%2F..%2Fprivate.txt/stream",
                 headers={"Authorization": f"Bearer {server.shops['alpha'].client_token}"})
    response = conn.getresponse()
    assert response.status == 404 and json.loads(response.read())["error"] == "unknown_shop"
    conn.close()


def test_json_nested_thirty_thousand_deep_is_a_400_with_a_sentence(server):
    body = b'{"order_id":"1","text":' + b"[" * 30000 + b"]" * 30000 + b"}"
    secret = server.shops["alpha"].ingest_secret
    status, answer, _ = raw_post(server, protocol.ingest_path("alpha"), body, signed(secret, body))
    assert status == 400 and answer["error"] == "invalid_json"
    assert "deeper than" in answer["message"]


def test_brackets_inside_text_are_not_nesting(server):
    body = json.dumps({"order_id": "7", "text": "[" * 100 + "{" * 100}).encode()
    secret = server.shops["alpha"].ingest_secret
    status, answer, _ = raw_post(server, protocol.ingest_path("alpha"), body, signed(secret, body))
    assert status == 201, answer


def test_a_timestamp_of_non_ascii_digits_is_a_401_not_a_crash(server):
    secret = server.shops["alpha"].ingest_secret
    headers = signed(secret, BODY, **{protocol.TIMESTAMP_HEADER: "١٧١٧٠٠٠٠٠٠"})  # Arabic-Indic digits
    # http.client sends header values as latin-1; the digits go as UTF-8 bytes through putheader.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.putrequest("POST", protocol.ingest_path("alpha"))
    for name, value in headers.items():
        conn.putheader(name, value.encode("utf-8"))
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(len(BODY)))
    conn.endheaders(BODY)
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    assert (response.status, answer["error"]) == (401, "bad_timestamp"), answer
    assert "Unix seconds" in answer["message"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_body_that_is_not_utf8_is_refused(server, encoding):
    body = '{"order_id":"1"}'.encode(encoding)
    secret = server.shops["alpha"].ingest_secret
    status, answer, _ = raw_post(server, protocol.ingest_path("alpha"), body, signed(secret, body))
    assert (status, answer["error"]) == (400, "invalid_json"), answer
    assert "UTF-8" in answer["message"]
    assert server.store.shop("alpha").last_seq == 0, "nothing was stored"

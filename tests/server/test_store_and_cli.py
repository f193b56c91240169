"""What is on the server's disk, and the shop management commands an operator types."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from notifier.core.protocol import token_hash
from notifier.server.store import EventStore, ShopError

BOTH_STORES = True  # the tests here with a store run on SQLite and on Redis (conftest)


def run_notifier(*args: str, env_extra: dict | None = None, stdin: str | None = None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "notifier", *args], capture_output=True, text=True,
                          timeout=30, env=env, input=stdin)


def test_client_tokens_are_only_hashed_at_rest(store_location):
    store = store_location.open()
    creds = store.add_shop("noodle-bar")
    store.close()
    # SQLite: every file of the data directory; Redis: its append-only file, where it keeps it all.
    everything = b"".join(p.read_bytes() for p in store_location.disk.rglob("*") if p.is_file())
    assert token_hash(creds.client_token).encode() in everything, "these are the files the shop is kept in"
    assert creds.client_token.encode() not in everything
    assert store_location.open().ingest_secret("noodle-bar") == creds.ingest_secret


def test_ingest_secrets_and_the_database_are_private_files(tmp_path):
    """SQLite only: file modes in the data directory. Redis keeps the secret in the shop's hash
    and has no files of ours (it is protected by its ACL user and TLS instead)."""
    store = EventStore(tmp_path / "srv")
    creds = store.add_shop("noodle-bar")
    store.close()
    everything = b"".join(p.read_bytes() for p in (tmp_path / "srv").rglob("*") if p.is_file())
    assert creds.client_token.encode() not in everything
    secret_file = tmp_path / "srv" / "ingest-secrets" / "noodle-bar"
    assert secret_file.read_text() == creds.ingest_secret
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "srv" / "events.sqlite3").stat().st_mode) == 0o600


def test_the_event_log_survives_a_restart_and_sequence_numbers_never_go_back(store_location):
    store = store_location.open()
    store.add_shop("a")
    for n in range(3):
        store.append("a", {"kind": "new_order", "order_id": str(n)}, nonce=f"nonce-{n:012d}",
                      idempotency_key=None, body=b"x")
    store.prune(0, now=time.time() + 1)
    store.close()
    again = store_location.open()
    shop = again.shop("a")
    assert (shop.last_seq, shop.pruned_through) == (3, 3)
    result = again.append("a", {"kind": "new_order", "order_id": "9"}, nonce="nonce-x" * 3,
                          idempotency_key=None, body=b"y")
    assert result.seq == 4
    # A nonce is remembered across the restart too.
    assert again.append("a", {"kind": "new_order", "order_id": "9"}, nonce="nonce-x" * 3,
                        idempotency_key=None, body=b"y").nonce_reused


def test_shop_names_are_checked(store_location):
    store = store_location.open()
    for bad in ("", "a/b", "../x", "a" * 65, "shop name"):
        with pytest.raises(ShopError):
            store.add_shop(bad)
    store.add_shop("ok")
    with pytest.raises(ShopError):
        store.add_shop("ok")


def test_shop_management_commands(store_location):
    data = store_location.args
    added = run_notifier("server", *data, "add-shop", "noodle")
    assert added.returncode == 0, added.stderr
    assert "client token:" in added.stdout and "ingest secret:" in added.stdout
    token = next(line.split()[-1] for line in added.stdout.splitlines() if line.startswith("client token:"))

    listed = run_notifier("server", *data, "list-shops")
    assert "noodle" in listed.stdout and token not in listed.stdout

    rotated = run_notifier("server", *data, "rotate-token", "noodle")
    new_token = next(line.split()[-1] for line in rotated.stdout.splitlines() if line.startswith("client token:"))
    assert new_token != token and "ingest secret:" not in rotated.stdout
    store = store_location.open()
    assert store.check_token("noodle", new_token) and not store.check_token("noodle", token)
    store.close()

    assert run_notifier("server", *data, "remove-shop", "noodle").returncode == 0
    assert "no shops yet" in run_notifier("server", *data, "list-shops").stdout
    gone = run_notifier("server", *data, "remove-shop", "noodle")
    assert gone.returncode == 1 and "no shop named" in gone.stderr
    # An empty name named the shops' secrets folder (found by test_cli_generated_argv).
    empty = run_notifier("server", *data, "remove-shop", "")
    assert empty.returncode == 1 and "no shop named" in empty.stderr and "Traceback" not in empty.stderr


def test_send_publishes_with_the_secret_from_the_environment_or_stdin(server):
    secret = server.shops["alpha"].ingest_secret
    common = ["send", "--url", server.http_url, "--shop", "alpha", "--amount", "18.80"]
    sent = run_notifier(*common, "--order-id", "1", env_extra={"NOTIFIER_INGEST_SECRET": secret})
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["seq"] == 1
    piped = run_notifier(*common, "--order-id", "2", "--kind", "reminder", stdin=secret + "\n")
    assert json.loads(piped.stdout)["seq"] == 2
    refused = run_notifier(*common, "--order-id", "3", stdin="wrong\n")
    assert refused.returncode == 1 and json.loads(refused.stderr)["error"] == "bad_signature"
    nothing = run_notifier(*common, "--order-id", "4", stdin="")
    assert nothing.returncode == 2 and "NOTIFIER_INGEST_SECRET" in nothing.stderr

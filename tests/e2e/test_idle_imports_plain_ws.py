"""The running app on a plain ws:// connection has not loaded OpenSSL (issue 27: idle RSS ≤ 75 MB).

`import ssl` costs a bare Python 4.2 MB of RSS and `import _hashlib` 3.5 MB (libcrypto's touched
pages), for as long as the app runs. Our WebSocket transport imports `ssl` only for wss://
(notifier/core/sources/websocket_transport.py), and websocket-client, which imported both for
every URL, is no longer the app's; the app's few hashes come from CPython's own SHA-256
(notifier/core/digests.py), connection ids from os.urandom (`secrets` loads hmac, and hmac
OpenSSL). A host name is looked up as bytes, so the "idna" codec (0.4 MB) is not loaded either.

The real app in console mode, on a JSON WebSocket server in this process that upgrades the
connection and sends one order; its imports listed by `python -X importtime`. In the desktop
session, as on a shop's Linux PC: without a Secret Service the secrets go through `keyring`,
whose `jaraco.context` imports `urllib.request` and with it `http.client` and `ssl` (so on
Windows and macOS, where keyring is the store, OpenSSL is loaded by that path whatever the URL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import stop_process, wait_until

from tests.chaos.chaos_support import RawServer, answer_handshake, read_handshake, text_frame

ROOT = Path(__file__).resolve().parents[2]
NOT_ON_PLAIN_WS = ("ssl", "_ssl", "websocket", "hashlib", "_hashlib", "hmac", "secrets", "encodings.idna")


def one_order_server() -> RawServer:
    def handler(server: RawServer, conn, index: int) -> None:
        answer_handshake(conn, read_handshake(conn))
        conn.sendall(text_frame(json.dumps({"order_id": 4711 + index, "order_amount": 12.5}).encode()))
        while conn.recv(4096):
            pass

    return RawServer(handler)


@pytest.mark.e2e
@pytest.mark.needs_session
def test_the_app_on_a_plain_ws_connection_has_not_loaded_openssl(tmp_path):
    server = one_order_server()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
           and k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    if env.get("NOTIFIER_TEST_SESSION") != "1":
        env["NOTIFIER_TTS_ENGINE"] = "mock"  # no speech service outside the harness session
    env["NOTIFIER_HOME"] = str(tmp_path)
    output = tmp_path / "app-output.log"
    try:
        with output.open("w") as sink:
            app = subprocess.Popen(
                [sys.executable, "-X", "importtime", "-m", "notifier", "--protocol", "json",
                 "--url", f"ws://127.0.0.1:{server.port}/ws"],
                cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
            try:
                wait_until(lambda: app.poll() is not None or "notified: " in output.read_text(errors="replace"),
                           30, message="the order announced")
                assert app.poll() is None, output.read_text(errors="replace")[-3000:]
            finally:
                stop_process(app)
    finally:
        server.close()
    lines = output.read_text(errors="replace").splitlines()
    imported = {line.split("|")[-1].strip() for line in lines if line.startswith("import time:")}
    assert "notifier.core.sources.websocket_base" in imported  # the listing works
    assert sorted(name for name in NOT_ON_PLAIN_WS if name in imported) == []

"""The WebSocket connection layer and the reconnect loop load no OpenSSL until a wss:// URL
needs it (issue 27): `ssl` costs a bare Python 4.2 MB of RSS, for as long as the app runs.
Checked in a fresh interpreter with the JSON source (the connection layer and nothing else),
with a connection refused classified on the way (reconnect.py reaches `ssl` only when
something else has loaded it). The whole app: tests/e2e/test_idle_imports_plain_ws.py.

The sky-take-out and `notifier` sources still import `urllib.request` for their HTTP clients
(the admin API; the reference server's actions), and `http.client` imports `ssl` whatever the
URL: they are outside this check."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from notifier.core.reconnect import classify_network_error
from notifier.core.sources import json_mapping, websocket_base
state, detail = classify_network_error(ConnectionRefusedError(111, "refused"))
print(state, "|", detail, "|", ",".join(m for m in ("ssl", "_ssl", "websocket") if m in sys.modules))
"""


def test_the_websocket_connection_layer_loads_no_ssl_and_still_classifies_network_errors():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    state, detail, loaded = (part.strip() for part in out.split("|"))
    assert (state, detail) == ("unreachable", "connection refused")
    assert loaded == ""

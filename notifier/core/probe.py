"""One-shot connection check for the settings dialog's "Test connection" button.

Starts the configured source exactly as the app would (same URL building, headers, TLS and proxy
options), with a sink that keeps nothing, and reports the first answer that settles the
question: connected, or the reason it could not connect. Qt-free and blocking: the dialog calls
it from a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time

from notifier.core.connection import ConnectionStatus, ConnState
from notifier.core.events import OrderEvent
from notifier.core.i18n import tr
from notifier.core.secrets import SecretStore
from notifier.core.settings import Settings

log = logging.getLogger(__name__)

# States that answer the question on their own; WAITING answers it through its `reason`.
_FINAL = (ConnState.CONNECTED, ConnState.HISTORY_GAP, ConnState.UNAUTHORIZED, ConnState.TLS_FAILURE,
          ConnState.UNREACHABLE, ConnState.MISCONFIGURED, ConnState.LIMITED)


def _discard(event: OrderEvent, cursor: tuple[str, str] | None = None) -> bool:
    # A probe must never put orders in the ledger: the running app would then not announce them.
    return False


def _server_of(settings: Settings) -> str:
    from urllib.parse import urlsplit

    url = settings["connection.url"]
    try:
        return urlsplit(url).netloc.rsplit("@", 1)[-1] or url[:40]
    except ValueError:
        return url[:40]


def test_connection(settings: Settings, secrets: SecretStore, timeout: float = 10.0) -> ConnectionStatus:
    """Connect once with `settings`; CONNECTED, or the failure state with its detail.

    A failed attempt is reported as its reason (UNREACHABLE, UNAUTHORIZED, TLS_FAILURE), not as
    "retrying in N s": the probe never retries. For sky-take-out with an admin account, the admin
    login is checked too, since a wrong admin password silently loses missed orders.
    """
    from notifier.core.sources import create_source

    server = _server_of(settings)
    if not settings["connection.url"].strip():
        return ConnectionStatus(ConnState.MISCONFIGURED, server, tr("no server address is set"))

    settled = threading.Event()
    result: list[ConnectionStatus] = []

    def on_status(status: ConnectionStatus) -> None:
        if settled.is_set():
            return
        if status.state is ConnState.WAITING:
            status = ConnectionStatus(status.reason or ConnState.UNREACHABLE, status.server, status.detail)
        if status.state in _FINAL:
            result.append(status)
            settled.set()

    try:
        source = create_source(settings, _discard, on_status, secrets)
    except (ValueError, ImportError) as exc:
        log.info("probe could not create a source: %s", exc)
        return ConnectionStatus(ConnState.MISCONFIGURED, server, str(exc)[:200])

    # The source's own admin pull thread would log in by itself at some point; the probe asks
    # directly so the answer is deterministic.
    admin = getattr(source, "admin", None)
    if admin is not None:
        source.admin = None
    started = time.monotonic()
    source.start()
    try:
        if not settled.wait(timeout):
            return ConnectionStatus(
                ConnState.UNREACHABLE, source.server_label(),
                f"no answer within {timeout:g} s",
            )
    finally:
        # Short: a thread stuck in a handshake ends by itself at its connect timeout.
        source.stop(timeout=0.5)
    status = result[0]
    if admin is not None and status.state is ConnState.CONNECTED:
        status = _check_admin(admin, status)
    log.info("connection test: %s (%s) in %.2f s", status.state, status.detail, time.monotonic() - started)
    return status


def _check_admin(admin, connected: ConnectionStatus) -> ConnectionStatus:
    from notifier.core.sources.skytakeout_admin import AdminApiError

    try:
        admin.login()
    except AdminApiError as exc:
        state = ConnState.UNAUTHORIZED if exc.unauthorized else ConnState.UNREACHABLE
        return ConnectionStatus(state, connected.server, str(exc)[:200])
    return connected


# pytest collects module-level names starting with "test"; this one is the product, not a test.
test_connection.__test__ = False  # type: ignore[attr-defined]

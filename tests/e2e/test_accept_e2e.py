"""Two shop PCs end to end: two app processes (two NOTIFIER_HOMEs) on one shop of the reference
server, on one session bus with the notification recorder. The owner clicks "Accept" on one PC's
notification; the other PC stops repeating the order within a second and its history says
"accepted elsewhere"."""

from __future__ import annotations

import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from helpers import NotificationLog, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_desktop_e2e import SHOP, App, reference_server  # noqa: E402, F401 - the fixture

from notifier.core.ledger import Ending  # noqa: E402


def ending_in(home: Path, order_id: str) -> str | None:
    path = home / "data" / "ledger.sqlite3"
    if not path.exists():
        return None
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
        row = db.execute("SELECT ended_how FROM events WHERE order_id=? AND kind='new_order'",
                         (order_id,)).fetchone()
    return row[0] if row else None


@pytest.mark.needs_session
@pytest.mark.e2e
def test_accept_on_one_pc_silences_the_other_within_a_second(tmp_path, reference_server, fresh_keyring):  # noqa: F811
    from notifier.core.secrets import SecretStore

    assert SecretStore().set("notifier_token", reference_server.token) is None
    homes = [tmp_path / "counter", tmp_path / "kitchen"]
    apps = []
    try:
        for home in homes:
            home.mkdir()
            app = App(home, "--protocol", "notifier", "--url", reference_server.url, "--shop", SHOP,
                      "--set", "general.language=en", "--set", "alerts.repeat_interval=1",
                      "--set", "alerts.repeat_limit=50", "--log-level", "INFO")
            apps.append(app)
        for app in apps:
            app.wait_output("connection: connected", timeout=15)
        notifications = NotificationLog()
        notifications.mark()
        reference_server.publish("700001", order_number="4321", amount="88.00")
        wait_until(lambda: len([e for e in notifications.entries() if "4321" in e["summary"]]) == 2, 10,
                   message="both PCs notified")
        shown = [e for e in notifications.entries() if "4321" in e["summary"]]
        assert all(e["actions"][2:] == ["accept", "Accept", "reject", "Reject…"] for e in shown)
        wait_until(lambda: all(app.count("announce:") >= 2 for app in apps), 10, message="both repeating")

        clicked = time.monotonic()
        notifications.invoke_action(shown[0]["id"], "accept")
        # Whichever PC showed that notification accepts it; the other hears it from the server.
        endings = wait_until(lambda: (lambda e: e if None not in e else None)(
            [ending_in(home, "700001") for home in homes]), 5, message="both PCs ended the order")
        took = time.monotonic() - clicked
        assert sorted(endings) == sorted([Ending.ACCEPTED_HERE, Ending.ACCEPTED_ELSEWHERE])
        assert took < 1.0, f"the other PC stopped after {took:.3f} s"
        other = apps[endings.index(Ending.ACCEPTED_ELSEWHERE)]
        time.sleep(1.5)  # a repeat already being spoken may finish
        spoken = other.count("announce:")
        time.sleep(2.5)  # two repeat intervals without a word
        assert other.count("announce:") == spoken
    finally:
        for app in apps:
            app.stop()

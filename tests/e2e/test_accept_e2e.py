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


def lines_about(app: App, number: str) -> list[str]:
    """The voice lines the app began that name the order `number`."""
    return [line for line in app.output().splitlines() if "announce:" in line and number in line]


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
        # Both popups taken back (clicked; replaced by who decided): the alerts have ended there.
        wait_until(lambda: all(e["id"] in notifications.closed_by_the_app()
                               or any(n["replaces_id"] == e["id"] for n in notifications.entries())
                               for e in shown[1:]), 5, message="the other PC's popup taken back")
        spoken = lines_about(other, "4321")
        # Another order, said and repeated twice on that PC: two repeat intervals have passed
        # with its timers running (instead of sleeping and hoping), and order 4321 was not among them.
        reference_server.publish("700003", order_number="5555", amount="1.00")
        wait_until(lambda: len(lines_about(other, "5555")) >= 3, 10, message="the next order said and repeated")
        assert lines_about(other, "4321") == spoken
    finally:
        for app in apps:
            app.stop()


@pytest.mark.needs_session
@pytest.mark.e2e
def test_a_decision_on_one_pc_takes_back_every_pcs_popup_and_voice(tmp_path, reference_server, fresh_keyring):  # noqa: F811
    """Two PCs of the shop, on the reference server, the recording notification server and the
    PulseAudio sink. The counter accepts order 4321 from its popup while both PCs are saying it:
    both lines stop mid-word (before: 3.6-4.2 s more on both), the counter's popup is gone, the
    kitchen's is replaced in place by "accepted elsewhere" without the buttons (before: it kept
    offering Accept / Reject), and a click on the kitchen's stale popup sends nothing: the server
    heard one decision and the kitchen's history still says "accepted elsewhere"."""
    from helpers import AudioRecorder, sound_span

    from notifier.core.secrets import SecretStore

    assert SecretStore().set("notifier_token", reference_server.token) is None
    homes = [tmp_path / "counter", tmp_path / "kitchen"]
    apps = []
    # A long line, so the click lands while both PCs are still saying it.
    template = "voice.template_new_order_en=New order {number}, {amount}, {text}"
    notifications = NotificationLog()
    try:
        for home in homes:
            home.mkdir()
            apps.append(App(home, "--protocol", "notifier", "--url", reference_server.url, "--shop", SHOP,
                            "--set", "general.language=en", "--set", "alerts.repeat_interval=60",
                            "--set", template, "--log-level", "INFO"))
        for app in apps:
            app.wait_output("connection: connected", timeout=15)
        notifications.mark()
        with AudioRecorder(tmp_path, "both.wav") as recorder:
            reference_server.publish("700002", order_number="4321", amount="88.00",
                                     text="two bowls of beef noodles, one extra spicy, no coriander, "
                                          "and a cold tea with lemon for table seven please")
            wait_until(lambda: len([e for e in notifications.entries() if e["summary"] == "New order #4321"]) == 2,
                       10, message="both PCs notified")
            shown = [e for e in notifications.entries() if e["summary"] == "New order #4321"]
            assert all(e["actions"][2:] == ["accept", "Accept", "reject", "Reject…"] for e in shown)
            wait_until(lambda: all(app.count("announce:") >= 1 for app in apps), 10, message="both announcing")
            # Two seconds into the words (after the 0.6 s chime), by the recording's own clock.
            wait_until(lambda: recorder.seconds_recorded() > 3.5, 10)
            clicked_at = recorder.seconds_recorded()
            notifications.invoke_action(shown[0]["id"], "accept")
            endings = wait_until(lambda: (lambda e: e if None not in e else None)(
                [ending_in(home, "700002") for home in homes]), 5, message="both PCs ended the order")
            wait_until(lambda: recorder.seconds_recorded() > clicked_at + 4, 10)
        counter = endings.index(Ending.ACCEPTED_HERE)
        kitchen = 1 - counter
        assert endings[kitchen] == Ending.ACCEPTED_ELSEWHERE
        span = sound_span(recorder.path)
        assert span is not None and span[0] < clicked_at, "both PCs were speaking before the click"
        assert span[1] - clicked_at < 0.8, f"the voice went on {span[1] - clicked_at:.1f} s after the accept"

        # The kitchen's popup (the one not clicked) replaced in place: who decided, no buttons.
        kitchen_popup = shown[1]
        replaced = wait_until(lambda: next((e for e in notifications.entries()
                                            if e["replaces_id"] == kitchen_popup["id"]), None), 5,
                              message="the kitchen's popup replaced")
        assert replaced["summary"] == "Order 4321 was accepted elsewhere"
        assert "accept" not in replaced["actions"] and "reject" not in replaced["actions"]

        # A click on that popup's old Reject button: nothing is sent, nothing is rewritten.
        notifications.invoke_action(kitchen_popup["id"], "reject")
        # Either the popup's buttons were gone, or the click came first and the history refused it.
        wait_until(lambda: "no longer offered" in apps[kitchen].output()
                   or "reject of order 700002 not done" in apps[kitchen].output(), 5)
        decisions = [e["kind"] for e in reference_server.events() if e.get("kind") in ("accepted", "rejected")]
        assert decisions == ["accepted"]
        assert ending_in(homes[kitchen], "700002") == Ending.ACCEPTED_ELSEWHERE
    finally:
        for app in apps:
            app.stop()

"""Two shop PCs on a sky-take-out back end, end to end: two app processes (two NOTIFIER_HOMEs) on
one session bus with the notification recorder, both connected to the sky-take-out double on
127.0.0.1 with the shop's admin account (the password in the session's real keyring).

The back end pushes nothing when an order is accepted or cancelled: each PC learns it from its
status poll, which runs every `skytakeout.status_poll_interval` seconds while an order rings
there (15 by default). The PCs here poll every `POLL_S` seconds: the other PC stops within one
poll interval plus a small margin, and stops polling once nothing rings — the same rules at a
shorter interval. The measured delays are printed (`-s`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from helpers import NotificationLog, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_accept_e2e import ending_in  # noqa: E402
from test_desktop_e2e import App  # noqa: E402

from notifier.core.ledger import Ending  # noqa: E402
from tests.fakes.skytakeout_server import ACCEPTED, SkyTakeOutDouble  # noqa: E402

pytestmark = [pytest.mark.needs_session, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]
# The pull loop looks at the clock once a second; the rest is HTTP and SQLite on 127.0.0.1,
# on two cores shared with other work.
MARGIN_S = 3.0
POLL_S = 2  # the setting's smallest value: a poll falls inside every wait below


@pytest.fixture
def double():
    with SkyTakeOutDouble() as running:
        yield running


@pytest.fixture
def two_pcs(tmp_path, double, fresh_keyring):
    """The counter PC and the kitchen PC, both connected and past their first pull."""
    from notifier.core.secrets import SecretStore

    assert SecretStore().set("skytakeout_admin_password", double.password) is None
    apps = []
    try:
        for name in ("counter", "kitchen"):
            home = tmp_path / name
            home.mkdir()
            apps.append(App(home, "--protocol", "skytakeout", "--url", double.ws_url,
                            "--admin-url", double.admin_url, "--admin-user", double.username,
                            "--set", "general.language=en", "--set", "alerts.repeat_interval=1",
                            "--set", "alerts.repeat_limit=50",
                            "--set", f"skytakeout.status_poll_interval={POLL_S}", "--log-level", "INFO"))
        for app in apps:
            app.wait_output("connection: connected", timeout=20)
        double.wait_for_clients(2, timeout=10)
        # The pull after connecting (one search each): from here on a search is a status poll.
        wait_until(lambda: double.state.search_requests >= 2, 10, message="both PCs pulled once")
        yield [(app, app.log_path.parent) for app in apps]
    finally:
        for app in apps:
            app.stop()


def ringing_on_both(double, apps, notifications) -> tuple[dict, list[dict]]:
    """A customer pays; both PCs notify (with Accept / Reject) and repeat the announcement."""
    paid = double.pay(amount="88.00")
    number = paid["number"]

    def per_notification() -> list[dict] | None:
        # The latest state of each: a notification is updated in place when the details arrive.
        latest = {e["id"]: e for e in notifications.entries() if number in e["summary"]}
        return list(latest.values()) if len(latest) == 2 else None

    shown = wait_until(per_notification, 15, message="both PCs notified")
    assert all(e["actions"][2:] == ["accept", "Accept", "reject", "Reject…"] for e in shown), shown
    wait_until(lambda: all(app.count("announce:") >= 2 for app, _home in apps), 15, message="both repeating")
    return paid, shown


def wait_endings(homes: list[Path], order_id: str, timeout: float) -> dict[Path, float]:
    """When (monotonic) each PC's ledger ended the order."""
    ended: dict[Path, float] = {}

    def all_ended() -> bool:
        for home in homes:
            if home not in ended and ending_in(home, order_id) is not None:
                ended[home] = time.monotonic()
        return len(ended) == len(homes)

    wait_until(all_ended, timeout, interval=0.05, message=f"order {order_id} ended on both PCs")
    return ended


def assert_silent(app: App) -> None:
    time.sleep(1.5)  # a repeat already being spoken may finish
    spoken = app.count("announce:")
    time.sleep(2.5)  # two repeat intervals without a word
    assert app.count("announce:") == spoken, "still repeating"


def test_accept_on_one_pc_silences_the_other_within_one_status_poll(two_pcs, double):
    notifications = NotificationLog()
    notifications.mark()
    paid, shown = ringing_on_both(double, two_pcs, notifications)
    order_id = str(paid["id"])

    clicked = time.monotonic()
    notifications.invoke_action(shown[0]["id"], "accept")  # the owner clicks Accept on one PC
    homes = [home for _app, home in two_pcs]
    ended = wait_endings(homes, order_id, POLL_S + MARGIN_S + 2)
    endings = {home: ending_in(home, order_id) for home in homes}
    assert sorted(endings.values()) == sorted([Ending.ACCEPTED_HERE, Ending.ACCEPTED_ELSEWHERE])
    here = next(h for h in homes if endings[h] == Ending.ACCEPTED_HERE)
    other = next(h for h in homes if endings[h] == Ending.ACCEPTED_ELSEWHERE)
    print(f"\nsky-take-out accept: silent on the clicked PC after {ended[here] - clicked:.3f} s, "
          f"on the other PC after {ended[other] - clicked:.3f} s (status poll {POLL_S:.0f} s)")
    assert ended[here] - clicked < 2.0
    assert ended[other] - clicked < POLL_S + MARGIN_S

    # One confirm reached the back end, from the PC that was clicked; the other only read.
    wait_until(lambda: double.status(paid["id"]) == ACCEPTED, 5, message="the order accepted")
    assert [(name, body) for _t, name, body in double.state.actions] == [("confirm", {"id": paid["id"]})]
    other_app = next(app for app, home in two_pcs if home == other)
    assert_silent(other_app)
    assert not [e for e in notifications.entries() if "rejected" in e["summary"] or "cancelled" in e["summary"]
                or "not accepted" in e["summary"]], "accepted elsewhere is not news"


def test_an_order_the_customer_cancels_stops_on_both_pcs_is_told_once_and_the_polls_stop(two_pcs, double):
    notifications = NotificationLog()
    notifications.mark()
    paid, _shown = ringing_on_both(double, two_pcs, notifications)
    order_id = str(paid["id"])

    cancelled = time.monotonic()
    double.cancel(paid["id"], "不想要了")
    homes = [home for _app, home in two_pcs]
    ended = wait_endings(homes, order_id, POLL_S + MARGIN_S + 2)
    delays = sorted(at - cancelled for at in ended.values())
    print(f"\nsky-take-out cancel: both PCs silent after {delays[0]:.3f} / {delays[1]:.3f} s "
          f"(status poll {POLL_S:.0f} s)")
    assert delays[1] < POLL_S + MARGIN_S
    assert all(ending_in(home, order_id) == Ending.CANCELLED for home in homes)

    def told() -> list[dict]:
        return [e for e in notifications.entries() if "cancelled" in e["summary"]]

    wait_until(lambda: len(told()) >= 2, 5, message="each PC told the cancellation")
    assert {(e["summary"], e["body"]) for e in told()} == {
        (f"Order {paid['number']} was cancelled by the customer", "不想要了")}
    for app, _home in two_pcs:
        assert_silent(app)

    # Nothing rings now: over one whole poll interval (plus the pull loop's 1 s tick and the
    # margin) neither PC asks the back end anything, and the cancellation is not told again.
    searches, details = double.state.search_requests, double.state.detail_requests
    time.sleep(POLL_S + 1 + MARGIN_S)
    assert (double.state.search_requests, double.state.detail_requests) == (searches, details), \
        "status requests while nothing rings"
    assert len(told()) == 2, "the cancellation was told again"
    assert double.state.actions == [], "nobody accepted or rejected it"

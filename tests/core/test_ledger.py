"""The ledger: every event on disk once, acknowledgements, cursors, expiry."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from helpers import orders_in_main_file, wait_until

from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import (
    CHECKPOINT_EVERY,
    CHECKPOINT_IDLE_S,
    REMINDER_WINDOW_S,
    SCHEMA_VERSION,
    TOLD_LOG_LIMIT_BYTES,
    WAL_LIMIT_BYTES,
    Ending,
    Ledger,
    LedgerError,
)
from notifier.core.order_details import OrderDetails, OrderItem


class Clock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


# The events table as schema version 2 made it (later versions add columns in place).
EVENTS_V2 = (
    "id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, order_id TEXT NOT NULL,"
    " order_number TEXT, amount TEXT, currency TEXT NOT NULL, customer TEXT, text TEXT,"
    " occurred_at TEXT NOT NULL, received_at REAL NOT NULL, source TEXT NOT NULL, server TEXT NOT NULL,"
    " event_id TEXT, raw TEXT NOT NULL, acknowledged_at REAL, told_at REAL")


def order(order_id: str = "1001", **kw) -> OrderEvent:
    return OrderEvent(kind=kw.pop("kind", OrderKind.NEW_ORDER), order_id=order_id,
                      source=kw.pop("source", "skytakeout"), server=kw.pop("server", "shop:8080"), **kw)


def test_the_same_order_live_and_from_the_pull_is_recorded_once(ledger):
    live = order("1001", text="订单号：17000001001", raw='{"type":1,"orderId":1001}')
    pulled = order("1001", order_number="17000001001", amount=Decimal("56.50"), customer="张三",
                   raw='{"id":1001}')
    assert ledger.record(live) is True
    assert ledger.record(pulled) is False
    assert ledger.count() == 1
    assert [e.event.order_id for e in ledger.recent()] == ["1001"]


def test_same_order_id_on_another_server_is_another_order(ledger):
    assert ledger.record(order("1001", server="a:1"))
    assert ledger.record(order("1001", server="b:1"))


def test_events_with_a_server_event_id_are_deduplicated_by_it(tmp_path):
    clock = Clock()
    book = Ledger(tmp_path / "l.sqlite3", clock=clock)
    first = order("1001", kind=OrderKind.REMINDER, event_id="seq-7")
    assert book.record(first)
    clock.now += REMINDER_WINDOW_S + 1
    assert not book.record(order("1001", kind=OrderKind.REMINDER, event_id="seq-7"))  # resent
    assert book.record(order("1001", kind=OrderKind.REMINDER, event_id="seq-8"))
    book.close()


def test_reminders_pressed_twice_are_one_even_with_their_own_event_ids(ledger):
    assert ledger.record(order("1001", kind=OrderKind.REMINDER, event_id="msg-1"))
    assert not ledger.record(order("1001", kind=OrderKind.REMINDER, event_id="msg-2"))


def test_a_durable_record_is_on_disk_and_the_ledger_stays_fast_afterwards(tmp_path):
    book = Ledger(tmp_path / "l.sqlite3")
    assert book.record(order("1001"), durable=True)
    assert book._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # back to NORMAL
    reader = sqlite3.connect(tmp_path / "l.sqlite3")
    assert reader.execute("SELECT order_id FROM events").fetchall() == [("1001",)]
    reader.close()
    book.close()


def test_reminders_in_the_window_are_one_and_after_it_are_two(tmp_path):
    clock = Clock()
    book = Ledger(tmp_path / "l.sqlite3", clock=clock)
    assert book.record(order("1001", kind=OrderKind.REMINDER))
    clock.now += 5
    assert not book.record(order("1001", kind=OrderKind.REMINDER))  # pressed twice
    assert book.record(order("1002", kind=OrderKind.REMINDER))  # another order's reminder
    clock.now += REMINDER_WINDOW_S + 1
    later = datetime.fromtimestamp(clock.now, UTC)  # a reminder a minute later happened later
    assert book.record(order("1001", kind=OrderKind.REMINDER, occurred_at=later))
    assert book.count() == 3
    book.close()


def test_acknowledging_an_order_acknowledges_its_reminders_too(ledger):
    ledger.record(order("1001"))
    ledger.record(order("1001", kind=OrderKind.REMINDER))
    ledger.record(order("1002"))
    assert ledger.unacknowledged_orders() == 2
    first = next(e for e in ledger.unacknowledged() if e.event.order_id == "1001")
    assert ledger.acknowledge([first.id]) == 2
    assert [e.event.order_id for e in ledger.unacknowledged()] == ["1002"]
    assert ledger.unacknowledged_orders() == 1
    assert sorted((e.event.order_id, e.acknowledged) for e in ledger.recent()) == [
        ("1001", True), ("1001", True), ("1002", False)], "the order 1001 and its reminder; not 1002"
    assert ledger.acknowledge_all() == 1
    assert ledger.unacknowledged() == []
    assert all(e.acknowledged for e in ledger.recent())


def test_waiting_keys_are_found_among_many_and_an_entry_by_its_key(ledger):
    events = [order(str(n)) for n in range(1200)]  # more keys than one of its queries asks about (500)
    assert sum(ledger.record_many(events)) == 1200
    ledger.acknowledge([ledger.find(events[7].key).id])
    asked = [e.key for e in events] + ["json|elsewhere|new_order|1"]
    assert ledger.unacknowledged_among(asked) == {e.key for e in events} - {events[7].key}
    assert ledger.unacknowledged_among([]) == set()
    assert ledger.find(events[1199].key).event == events[1199]
    assert ledger.find("json|elsewhere|new_order|1") is None


def test_cursor_is_saved_with_the_event(ledger):
    assert ledger.record(order("1001"), cursor=("notifier|shop", "41"))
    assert ledger.cursor("notifier|shop") == "41"
    ledger.record_many([order("1002"), order("1003")], cursor=("notifier|shop", "43"))
    assert ledger.cursor("notifier|shop") == "43"


def test_a_failed_write_leaves_neither_events_nor_the_cursor(ledger):
    ledger.record(order("1000"), cursor=("c", "1"))
    broken = order("1002", order_number=object())  # sqlite cannot store this: fails mid-transaction
    with pytest.raises(LedgerError):
        ledger.record_many([order("1001"), broken], cursor=("c", "3"))
    assert ledger.count() == 1
    assert ledger.cursor("c") == "1"
    assert ledger.record(order("1001"))  # the ledger is still usable and 1001 was not stored


def test_old_entries_expire_after_the_retention_period(tmp_path):
    clock = Clock()
    book = Ledger(tmp_path / "l.sqlite3", clock=clock)
    book.record(order("old"))
    clock.now += 80 * 86400
    book.record(order("recent"))
    clock.now += 11 * 86400
    assert book.expire(90) == 1
    assert [e.event.order_id for e in book.recent()] == ["recent"]
    book.close()


def test_entries_survive_reopening_with_every_field(tmp_path):
    path = tmp_path / "l.sqlite3"
    book = Ledger(path)
    event = order("1001", order_number="17000001001", amount=Decimal("56.50"), customer="张三",
                  text="订单号：17000001001", raw='{"type":1}')
    book.record(event)
    book.close()
    again = Ledger(path)
    (entry,) = again.recent()
    assert entry.event == event
    assert not again.record(event)
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_concurrent_writers_get_exactly_one_new_per_order(ledger):
    results: list[bool] = []
    lock = threading.Lock()

    def writer() -> None:
        mine = [ledger.record(order(str(n))) for n in range(50)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results.count(True) == 50
    assert ledger.count() == 50


def test_search_treats_wildcards_as_text(ledger):
    ledger.record(order("1", customer="100%_real"))
    ledger.record(order("2", customer="100 real"))
    assert [e.event.order_id for e in ledger.recent(search="%_")] == ["1"]


def test_per_hour_counts_new_orders_of_the_day(tmp_path):
    clock = Clock(1_700_000_000.0)
    book = Ledger(tmp_path / "l.sqlite3", clock=clock)
    day_start = clock.now - 3600 * 5.5  # we are in hour 5
    book.record(order("1"))
    book.record(order("2"))
    book.record(order("2", kind=OrderKind.REMINDER))
    counts = book.per_hour(day_start)
    assert counts[5] == 2 and sum(counts) == 2
    book.close()


def test_unusable_ledger_path_is_a_ledger_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="cannot open the order history"):
        Ledger(blocker / "ledger.sqlite3")


# -- told marks ------------------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parent / "data"


def test_an_order_stored_but_not_told_is_untold_after_reopening_until_marked(tmp_path):
    path = tmp_path / "l.sqlite3"
    book = Ledger(path)
    for n in ("1", "2", "3"):
        book.record(order(n))
    book.mark_told([order("2").key])
    book.close()  # as after a crash: 1 and 3 were stored, only 2 was told
    again = Ledger(path)
    assert [e.event.order_id for e in again.untold()] == ["1", "3"]
    assert again.record(order("3")) is False, "a resent order is not new, whether told or not"
    again.mark_told([order("1").key, order("3").key])
    assert again.untold() == []
    again.close()


def test_told_marks_queued_while_a_source_writes_are_written_in_the_background(tmp_path):
    path = tmp_path / "l.sqlite3"
    book = Ledger(path)
    book.record(order("1"))
    with book._lock:  # a source thread in the middle of a write
        book.mark_told([order("1").key])  # must not wait for it
    assert book.flush_told(5)
    assert book.untold() == []
    book.record(order("2"))
    with book._lock:
        book.mark_told([order("2").key])
    book.close()  # what was queued is written before the file closes
    again = Ledger(path)
    assert again.untold() == []
    again.close()


def test_a_ledger_file_of_schema_1_opens_and_keeps_everything(tmp_path):
    """The file in tests/core/data was written by the ledger before told marks existed."""
    path = tmp_path / "ledger.sqlite3"
    shutil.copyfile(FIXTURES / "ledger-schema-1.sqlite3", path)
    book = Ledger(path)
    assert book.count() == 4
    assert book.untold() == [], "orders of an older version are not told again"
    assert book.cursor("skytakeout|shop:8080") == "3"
    assert book.unacknowledged_orders() == 2  # 1001 (and its reminder) was acknowledged
    assert book.record(order("1002")) is False, "still deduplicated against the old rows"
    assert book.record(order("1004"))
    assert [e.event.order_id for e in book.untold()] == ["1004"]
    book.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    again = Ledger(path)  # a second start finds it upgraded and changes nothing
    assert [e.event.order_id for e in again.untold()] == ["1004"]
    again.close()


def test_commits_leave_checkpoints_to_the_background(tmp_path):
    """A checkpoint inside a commit paused one order in ~200 by 5-25 ms. The WAL still gets folded
    back into the database, by the ledger's own thread, and its file stays bounded."""
    path = tmp_path / "l.sqlite3"
    book = Ledger(path)
    assert book._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    total = CHECKPOINT_EVERY * 3 + 10
    for n in range(total):
        book.record(order(str(n), raw="x" * 2000))

    wait_until(lambda: orders_in_main_file(path, tmp_path) == total, CHECKPOINT_IDLE_S + 5,
               message="every order checkpointed into the main file in the background")
    book.record(order("one more"))
    # The WAL starts over, cut back to its size limit: at this commit, or (when the checkpoint
    # thread got there first, or still held its snapshot) by the checkpoint thread itself.
    wal = path.with_name(path.name + "-wal")
    wait_until(lambda: wal.stat().st_size <= WAL_LIMIT_BYTES, CHECKPOINT_IDLE_S + 5,
               message=f"the WAL cut back to {WAL_LIMIT_BYTES} bytes")
    assert orders_in_main_file(path, tmp_path) >= total
    book.close()


def test_a_told_mark_logged_but_not_committed_before_a_kill_counts_at_the_next_start(tmp_path):
    path = tmp_path / "l.sqlite3"
    book = Ledger(path)
    book.record(order("1"))
    book.record(order("2"))
    book._log_told([order("1").key])  # the told log's line is out; then the process is killed
    book._db.close()  # (no close(): nothing else is written)
    again = Ledger(path)
    assert [e.event.order_id for e in again.untold()] == ["2"]
    again.close()
    assert not path.with_name(path.name + "-told").exists(), "applied, then removed"


def test_the_told_log_stays_small_however_the_marks_are_written(tmp_path):
    path = tmp_path / "l.sqlite3"
    book = Ledger(path)
    told_log = path.with_name(path.name + "-told")
    for n in range(3000):
        book.record(order(str(n)))
        if n % 2:
            book.mark_told([order(str(n)).key])
        else:
            with book._lock:  # busy: the background writer commits this one
                book.mark_told([order(str(n)).key])
    assert book.flush_told(10)
    assert told_log.stat().st_size <= TOLD_LOG_LIMIT_BYTES + 1024  # 3,000 marks: ~120 KB untrimmed
    assert book.untold() == []
    book.close()


def test_how_each_alert_ended_is_kept_with_when(tmp_path):
    clock = Clock()
    book = Ledger(tmp_path / "l.sqlite3", clock=clock)
    for order_id in ("1", "2", "3"):
        book.record(order(order_id))
    book.record(order("1", kind=OrderKind.REMINDER))
    first = book.find(order("1").key)
    assert first.ended_how is None
    clock.now += 5
    assert book.end_order("skytakeout", "shop:8080", "1", Ending.ACCEPTED_ELSEWHERE, connection_id="") == 2
    assert book.end_order("skytakeout", "shop:8080", "1", Ending.ACCEPTED_ELSEWHERE, connection_id="") == 0, "ended once"
    assert book.end_order("skytakeout", "shop:8080", "1", Ending.REJECTED_ELSEWHERE, connection_id="") == 0, "decided once"
    book.acknowledge([book.find(order("2").key).id])
    book.end_order("skytakeout", "shop:8080", "3", Ending.REJECTED_ELSEWHERE, "太忙了", connection_id="")
    ended = {e.event.order_id: (e.ended_how, e.ended_at, e.end_reason) for e in book.recent()
             if e.event.kind is OrderKind.NEW_ORDER}
    assert ended == {"1": (Ending.ACCEPTED_ELSEWHERE, clock.now, None),
                     "2": (Ending.ACKNOWLEDGED, clock.now, None),
                     "3": (Ending.REJECTED_ELSEWHERE, clock.now, "太忙了")}
    assert book.unacknowledged_orders() == 0
    # Acknowledged only here, then the back end says it was cancelled: the news is kept.
    book.end_order("skytakeout", "shop:8080", "2", Ending.CANCELLED, connection_id="")
    assert book.find(order("2").key).ended_how == Ending.CANCELLED
    assert [e.event.order_id for e in book.recent(ended_how=Ending.CANCELLED)] == ["2"]
    book.set_details("skytakeout", "shop:8080", "3", OrderDetails.of([OrderItem.of("宫保鸡丁", 1)]), connection_id="")
    book.close()
    again = Ledger(tmp_path / "l.sqlite3")
    assert again.find(order("3").key).event.details.items == (OrderItem("宫保鸡丁", 1),)
    again.close()


def test_an_order_is_stored_with_its_details_and_read_back_the_same(tmp_path):
    details = OrderDetails.of(
        [OrderItem.of("宫保鸡丁", 2, "28.00", "微辣"), OrderItem.of("米饭", 3)]
        + [OrderItem.of(f"dish {n}") for n in range(300)],
        remark="少辣 🌶️", phone="13812345678", address="幸福路 8 号")
    book = Ledger(tmp_path / "l.sqlite3")
    book.record(order("1", details=details))
    book.record(order("2"))
    book.close()
    again = Ledger(tmp_path / "l.sqlite3")
    assert again.find(order("1").key).event.details == details
    assert again.find(order("1").key).event.details.item_count == 302
    assert not again.find(order("2").key).event.details
    again.close()


def test_a_ledger_file_of_schema_3_keeps_the_sky_take_out_details_it_had(tmp_path):
    """Version 3 kept sky-take-out's details as the admin API named them (items with `number`
    and `amount`); after the upgrade a reprint of such an order still lists its dishes."""
    path = tmp_path / "ledger.sqlite3"
    kept = ('{"amount": 88.0, "consignee": "张三", "remark": "少辣", "phone": "13812345678", '
            '"address": "北京市朝阳区", "orderDishes": "宫保鸡丁*2;", "status": 2, '
            '"items": [{"name": "宫保鸡丁", "number": 2, "amount": 28.0}, {"name": null}]}')
    with closing(sqlite3.connect(path)) as db:
        db.executescript(
            f"CREATE TABLE events ({EVENTS_V2}, ended_how TEXT, ended_at REAL, end_reason TEXT,"
            " details TEXT);"
            "INSERT INTO events VALUES (1, 'k1', 'new_order', '7', '1001', '88.00', 'CNY', '张三', NULL,"
            " '2026-01-01T00:00:00+00:00', 1.0, 'skytakeout', 's:1', NULL, '{}', NULL, 1.0, NULL, NULL,"
            f" NULL, '{kept}');"
            "INSERT INTO events VALUES (2, 'k2', 'new_order', '8', '1002', NULL, 'CNY', NULL, NULL,"
            " '2026-01-01T00:00:00+00:00', 1.0, 'skytakeout', 's:1', NULL, '{}', NULL, 1.0, NULL, NULL,"
            " NULL, 'not json');"
            "PRAGMA user_version=3;")
    book = Ledger(path)
    details = book.find("k1").event.details
    assert details == OrderDetails.of([OrderItem.of("宫保鸡丁", 2, "28.00")], remark="少辣",
                                      phone="13812345678", address="北京市朝阳区")
    assert not book.find("k2").event.details  # unreadable: nothing, and the file still opens
    book.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("SELECT details FROM events WHERE id=2").fetchone() == (None,)


def test_a_cancellation_after_the_order_was_accepted_is_news(tmp_path):
    """The kitchen may be cooking an accepted order: the customer's cancellation replaces
    "accepted" (here or elsewhere) and counts as news; a rejected order stays rejected."""
    book = Ledger(tmp_path / "l.sqlite3")
    for order_id in ("1", "2", "3"):
        book.record(order(order_id))
    book.end_order("skytakeout", "shop:8080", "1", Ending.ACCEPTED_ELSEWHERE, connection_id="")
    book.end_order("skytakeout", "shop:8080", "3", Ending.REJECTED_ELSEWHERE, connection_id="")
    reminder = order("2", kind=OrderKind.REMINDER)  # its key holds its time: made once
    book.record(reminder)
    assert book.order_keys("skytakeout", "shop:8080", "2", connection_id="") == [order("2").key, reminder.key]
    assert book.end_order("skytakeout", "shop:8080", "1", Ending.CANCELLED, "不要了", connection_id="") == 1
    assert book.end_order("skytakeout", "shop:8080", "2", Ending.CANCELLED, connection_id="") == 2, "order and reminder"
    assert book.end_order("skytakeout", "shop:8080", "3", Ending.CANCELLED, connection_id="") == 0
    assert book.end_order("skytakeout", "shop:8080", "1", Ending.CANCELLED, connection_id="") == 0, "told once"
    endings = {e.event.order_id: e.ended_how for e in book.recent() if e.event.kind is OrderKind.NEW_ORDER}
    assert endings == {"1": Ending.CANCELLED, "2": Ending.CANCELLED, "3": Ending.REJECTED_ELSEWHERE}
    book.close()


def test_a_ledger_file_of_schema_2_gains_the_endings_and_keeps_its_told_marks(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.executescript(
            f"CREATE TABLE events ({EVENTS_V2});"
            "INSERT INTO events VALUES (1, 'k1', 'new_order', '7', NULL, NULL, 'CNY', NULL, NULL,"
            " '2026-01-01T00:00:00+00:00', 1.0, 'skytakeout', 's:1', NULL, '{}', NULL, NULL);"
            "PRAGMA user_version=2;")
    book = Ledger(path)
    assert [e.event.order_id for e in book.untold()] == ["7"], "a version-2 told mark is not touched"
    assert book.end_order("skytakeout", "s:1", "7", Ending.CANCELLED, connection_id="") == 1
    assert book.recent()[0].ended_how == Ending.CANCELLED
    book.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_the_background_checkpoint_starts_the_wal_over_itself(tmp_path):
    """Once a checkpoint copied the whole WAL, the next commit wrote the WAL from its start and
    SQLite synced its new header to the disk first: in a quiet shop, every order's commit paid an
    fsync (0.3-2 ms) before its popup. The checkpointer now starts the WAL over itself (a new
    header: new salts) before any order comes."""
    path = tmp_path / "l.sqlite3"
    wal = path.with_name(path.name + "-wal")
    book = Ledger(path)

    def salts() -> bytes:
        return wal.read_bytes()[16:24]  # the WAL header's two salts: new ones at every restart

    book.record(order("1", raw="x" * 2000))
    before = salts()
    wait_until(lambda: salts() != before, CHECKPOINT_IDLE_S + 5,
               message="the WAL started over by the checkpointer, before the next order")
    book.record(order("2"))
    assert [e.event.order_id for e in book.recent(2)] == ["2", "1"]
    book.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_the_page_cache_a_burst_filled_is_given_back(tmp_path):
    """Issue 27: after a burst the app asks the ledger for its page cache back (when orders pause);
    the orders stay, and the next one is stored as before."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("sqlite3")
    try:
        lib = ctypes.CDLL(name or "libsqlite3.so.0")
        lib.sqlite3_memory_used.restype = ctypes.c_int64
    except (OSError, AttributeError):
        pytest.skip("this Python's SQLite library cannot be asked for its memory")
    book = Ledger(tmp_path / "l.sqlite3")
    book.record_many([order(str(n), raw="x" * 500) for n in range(1000)])
    filled = lib.sqlite3_memory_used()
    with book._lock:  # a source writing: the main thread must not wait for it
        assert not book.release_memory()
    assert book.release_memory()
    assert lib.sqlite3_memory_used() < filled - 200_000
    assert book.record(order("after"))
    assert book.unacknowledged_orders() == 1001
    book.close()

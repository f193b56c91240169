"""What another user of the shop PC can read of the notifier's files: nothing. The order history
(names, phones, amounts, addresses), the settings, the logs and the outboxes in the history's
file are owner-only (folders 0700, files 0600), also when an older version left them open, which
the first start of this one fixes. Checked for real: a second local user made for the test
(`useradd`) tries to read them."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from notifier.core import logs, paths
from notifier.core.events import OrderEvent, OrderKind
from notifier.core.ledger import Ledger
from notifier.core.order_details import OrderDetails
from notifier.core.print_queue import PrintQueue
from notifier.core.settings import Settings
from notifier.core.settings_file import save
from tests.fakes.local_user import open_folder

PHONE = "13812345678"


@pytest.fixture
def shop_home(monkeypatch):
    folder = open_folder()
    home = folder / "notifier"
    monkeypatch.setenv("NOTIFIER_HOME", str(home))
    yield home
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        root.removeHandler(handler)
        handler.close()
    shutil.rmtree(folder)


@contextmanager
def the_app_running() -> Iterator[list[Path]]:
    """What a start of the app writes: settings, an order with its customer's details in the
    history (and its print queue), a log line. Yields every file there while it runs."""
    save(Settings({"printer.shop_name": "老王面馆"}))
    ledger = Ledger(paths.ledger_file())
    queue = PrintQueue(ledger.path)
    queue.configure(Settings({"printer.print_on": "new_order", "printer.address": "10.0.0.9"}))
    ledger.record(OrderEvent(OrderKind.NEW_ORDER, "1", "json", "shop", customer="张三",
                             details=OrderDetails.of(phone=PHONE, address="幸福路 8 号")))
    logs.configure("INFO", to_file=True)
    logging.getLogger("notifier.test").info("order 1 for 张三 stored")
    try:
        yield [p for p in paths.config_dir().parent.rglob("*") if p.is_file()]
    finally:
        queue.close()
        ledger.close()


def test_another_user_reads_nothing_of_a_fresh_install(other_user, shop_home):
    with the_app_running() as files:
        assert {f.name for f in files} >= {"settings.toml", "ledger.sqlite3", "ledger.sqlite3-wal",
                                           "ledger.sqlite3-shm", "notifier.log"}
        for folder in (paths.config_dir(), paths.data_dir(), paths.log_dir()):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
            assert not other_user.can_read(folder)
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
            assert not other_user.can_read(path), path


def test_an_upgrade_closes_what_an_older_version_left_open(other_user, shop_home):
    """Found: ledger.sqlite3 was 0644 in 0755 folders: another user read a customer's name,
    phone, amount and address."""
    old_umask = os.umask(0o022)
    try:  # what the older version made, with the usual umask
        for name in ("config", "data", "logs"):
            (shop_home / name).mkdir(parents=True)
        (shop_home / "config" / "settings.toml").write_text('[printer]\nshop_name = "老王面馆"\n')
        (shop_home / "logs" / "notifier.log").write_text(f"order for {PHONE}\n")
        with closing(sqlite3.connect(shop_home / "data" / "ledger.sqlite3")) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE t(phone TEXT)")
            db.execute("INSERT INTO t VALUES (?)", (PHONE,))
            db.commit()
    finally:
        os.umask(old_umask)
    ledger_file = shop_home / "data" / "ledger.sqlite3"
    assert other_user.can_read(ledger_file), "the old state is what the finding saw"
    with the_app_running() as files:
        for path in files + [shop_home / "config", shop_home / "data", shop_home / "logs"]:
            assert not other_user.can_read(path), path
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    assert stat.S_IMODE(ledger_file.stat().st_mode) == 0o600

"""Make the README's screenshots from real windows, in Chinese and English.

    dbus-run-session -- .venv/bin/python packaging/tools/make_screenshots.py [--out docs/screenshots]

Writes orders_window_<lang>.png (at the window's default size, one order of each outcome),
settings_<page>_<lang>.png (every page of the settings dialog), tray_menu_<lang>.png and
notification_<lang>.png. The clock is fixed (a Thursday evening) and so are the orders, so the
pictures do not depend on when they are made. Without a display it
starts its own Xvfb; without a notification daemon on the bus it starts dunst (Debian package
`dunst`), so the notification is drawn by a real daemon. The test suite uses the same scenes
(tests/desktop/test_screenshots.py) and writes its pictures to a temp folder only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

LANGUAGES = ("zh_CN", "en")
# Thursday 12 November 2026, 18:42 local time: after the lunch rush, in the dinner one.
NOW = datetime(2026, 11, 12, 18, 42).timestamp()
ORDER_URL = "http://admin.example/#/order?orderId={order_id}"
# (hour, minute, order number, amount, customer); the last two are not acknowledged yet.
ORDERS = (
    (8, 12, "11305801", "23.00", "孙丽"), (10, 47, "11305812", "45.50", "Zhang San"),
    (11, 20, "11305817", "32.00", "李娜"), (11, 53, "11305820", "88.80", "王芳"),
    (12, 5, "11305823", "56.50", "张伟"), (12, 31, "11305826", "19.90", "刘洋"),
    (12, 58, "11305829", "124.00", "陈静"), (13, 16, "11305833", "67.20", "赵磊"),
    (17, 44, "11305840", "36.00", "周杰"), (18, 9, "11305844", "58.00", "吴敏"),
    (18, 30, "B-20261112-5846", "42.50", "郑凯"), (18, 39, "11305848", "56.50", "张伟"),
)
WAITING = 2
TARGET = "skytakeout:shop:8080"  # the outbox's target for the decisions of the scene
# How the acknowledged orders ended, by number (the others: accepted here). One of each outcome;
# the two newest still wait (one with a long number: its last digits stay visible).
OUTCOMES = {"11305844": "accepted_here", "11305840": "accepted_elsewhere", "11305833": "rejected_here",
            "11305829": "rejected_elsewhere", "11305826": "cancelled", "11305823": "acknowledged",
            "11305820": "unsent_accept"}
# 派送 / 完成 after 接单, by number (the other accepted orders wait to be sent out).
PROGRESS = {"11305801": "completed", "11305812": "completed", "11305817": "completed",
            "11305833": "completed", "11305840": "delivering"}
SKYTAKEOUT = {"connection.protocol": "skytakeout", "connection.url": "ws://192.168.1.20:8080/ws/",
              "skytakeout.admin_url": "http://192.168.1.20:8080", "skytakeout.admin_user": "admin",
              "alerts.quiet_start": "22:30", "alerts.quiet_end": "07:00", "alerts.order_url": ORDER_URL,
              "printer.print_on": "new_order", "printer.address": "192.168.1.50:9100",
              "printer.copies": 2, "printer.shop_name": "老王面馆",
              "escalation.connection_when": "outside_quiet_hours"}
# The dialog's own page order, so each picture is named after the page it shows.
from notifier.desktop.settings_layout import PAGES  # noqa: E402


def at(hour: int, minute: int) -> float:
    return datetime.fromtimestamp(NOW).replace(hour=hour, minute=minute, second=0).timestamp()


def fill_ledger(path: Path):
    """A ledger holding the fixed day of orders, with a clock standing at NOW; each acknowledged
    order ended as OUTCOMES says, through the app's own writes (the outbox for decisions here)."""
    from notifier.core.action_outbox import ACCEPT, REJECT, ActionOutbox
    from notifier.core.events import OrderEvent, OrderKind
    from notifier.core.ledger import Ending, Ledger

    clock = [NOW]
    ledger = Ledger(path, clock=lambda: clock[0])
    for n, (hour, minute, number, amount, customer) in enumerate(ORDERS):
        clock[0] = at(hour, minute)
        ledger.record(OrderEvent(kind=OrderKind.NEW_ORDER, order_id=str(4400 + n), source="skytakeout",
                                 server="shop:8080", order_number=number, amount=Decimal(amount),
                                 customer=customer, text=f"订单号：{number}"))
    reminded = ORDERS[-WAITING]
    clock[0] = at(18, 41)
    ledger.record(OrderEvent(kind=OrderKind.REMINDER, order_id=str(4400 + len(ORDERS) - WAITING),
                             source="skytakeout", server="shop:8080", order_number=reminded[2], text="顾客催单"))
    outbox = ActionOutbox(path, clock=lambda: clock[0])
    decided = [(n, number) for n, (_h, _m, number, *_rest) in enumerate(ORDERS[:-WAITING])]
    # The one not sent yet last: the outbox sends in order, so it would go before later ones.
    decided.sort(key=lambda item: OUTCOMES.get(item[1]) == "unsent_accept")
    for n, number in decided:
        hour, minute = ORDERS[n][:2]
        clock[0] = at(hour, minute + 1)
        order_id, how = str(4400 + n), OUTCOMES.get(number, "accepted_here")
        if how == "acknowledged":
            ledger.acknowledge([ledger.find(OrderEvent(OrderKind.NEW_ORDER, order_id, "skytakeout", "shop:8080").key).id])
        elif how in ("accepted_elsewhere", "rejected_elsewhere", "cancelled"):
            ledger.end_order("skytakeout", "shop:8080", order_id, how,
                             "顾客不想要了" if how == Ending.CANCELLED else None, connection_id="")
        else:
            action = REJECT if how == "rejected_here" else ACCEPT
            outbox.decide(TARGET, "skytakeout", "shop:8080", order_id, action,
                          "菜品已售完" if action == REJECT else None, connection_id="")
            if how != "unsent_accept":  # sent and taken by the back end
                sent = outbox.next_action(TARGET)
                outbox.mark_sending(sent.id)
                outbox.mark_done(sent.id)
    # How far the accepted orders got: the morning's completed, one out for delivery now.
    for n, (_h, _m, number, *_rest) in enumerate(ORDERS):
        if number in PROGRESS:
            ledger.set_progress("skytakeout", "shop:8080", str(4400 + n), PROGRESS[number], connection_id="")
    clock[0] = NOW
    return ledger, outbox


class SceneDecisions:
    """What the orders window asks of the app's decisions, for a shop whose back end takes them:
    accept / reject offered, and which decisions wait to be sent (the scene's outbox)."""

    available = True

    def __init__(self, outbox):
        self.outbox = outbox

    def unsent(self) -> set:
        return self.outbox.unsent_orders()


class SceneLife:
    """What the orders window asks of the app's order life: every step after 接单 offered where
    the order's state allows it (a sky-take-out back end with an admin account takes them all)."""

    @staticmethod
    def offered(entry) -> tuple[str, ...]:
        from notifier.core.order_state import LIFE_ACTIONS, offered

        return offered(entry.state, frozenset(LIFE_ACTIONS))


def orders_window(ledger, outbox):
    """The orders window at its default size (as a shop owner first sees it)."""
    from PySide6.QtCore import QCoreApplication

    from notifier.core.settings import Settings
    from notifier.core.today import at_a_glance
    from notifier.desktop.order_life import glance_header
    from notifier.desktop.orders_window import OrdersWindow

    window = OrdersWindow(ledger, lambda: Settings({"alerts.order_url": ORDER_URL}), clock=lambda: NOW)
    window.set_decisions(SceneDecisions(outbox))
    window.set_order_life(SceneLife())
    language = "zh_CN" if QCoreApplication.translate("OrderLife", "Completed") != "Completed" else "en"
    window.set_glance(glance_header(at_a_glance(ledger, now=NOW), language))
    return window


def settings_dialog():
    from notifier.core.secrets import MemorySecrets
    from notifier.core.settings import Settings
    from notifier.desktop.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(SKYTAKEOUT), MemorySecrets({"skytakeout_admin_password": "x",
                                                                 "escalation_targets": "x"}))
    dialog.resize(800, 780)  # tall enough for the longest page without scrolling
    return dialog


def tray_menu_picture(tray, submenu=None):
    """The open menu with a submenu beside it (the mute one unless told), and the tray icon above,
    on one picture."""
    from PySide6.QtGui import QColor, QPainter, QPixmap

    from notifier.desktop.tray import paint_icon

    submenu = submenu if submenu is not None else tray.mute_menu
    main, sub = tray.menu.grab(), submenu.grab()
    margin = 12
    icon = paint_icon(48, tray.look, tray.count)
    sub_offset = tray.menu.actionGeometry(submenu.menuAction()).top()
    width = main.width() + sub.width() + margin * 3
    height = max(main.height(), sub.height() + sub_offset) + icon.height() + margin * 3
    canvas = QPixmap(width, height)
    canvas.fill(QColor("#dfe3e8"))
    painter = QPainter(canvas)
    painter.drawPixmap(margin, margin, icon)
    # Beside it, the same icon at the sizes a panel really shows it.
    left = margin * 2 + icon.width()
    for size in (22, 16):
        painter.drawPixmap(left, margin + (icon.height() - size) // 2, paint_icon(size, tray.look, tray.count))
        left += size + margin
    top = icon.height() + margin * 2
    painter.drawPixmap(margin, top, main)
    painter.drawPixmap(margin * 2 + main.width() - 4, top + sub_offset, sub)
    painter.end()
    return canvas


def wait(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get ready in time")
        QApplication.processEvents()
        time.sleep(0.01)


def settle(ms: int = 100) -> None:
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + ms / 1000
    while time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)


# -- making the pictures ---------------------------------------------------------------------


def shoot_orders(out: Path, language: str, work: Path) -> list[Path]:
    ledger, outbox = fill_ledger(work / f"ledger-{language}.sqlite3")
    window = orders_window(ledger, outbox)
    try:
        window.show()
        wait(window.isVisible)
        window.reload()
        # An order accepted here and not sent out yet: 派送 / 完成 / 取消 are offered.
        window.table.selectRow(next(r for r in range(window.model.rowCount())
                                    if window.model.entry(r).event.order_number == "11305844"))
        settle()
        path = out / f"orders_window_{language}.png"
        window.grab().save(str(path))
        return [path]
    finally:
        window.close()
        window.deleteLater()
        outbox.close()
        ledger.close()


def shoot_settings(out: Path, language: str) -> list[Path]:
    dialog = settings_dialog()
    paths = []
    try:
        dialog.show()
        wait(lambda: all(e.saved is not None for e in dialog.secret_editors.values()))
        for page, name in enumerate(PAGES):
            dialog.nav.setCurrentRow(page)
            settle()
            path = out / f"settings_{name}_{language}.png"
            dialog.grab().save(str(path))
            paths.append(path)
        return paths
    finally:
        dialog.close()
        dialog.deleteLater()


def shoot_tray(out: Path, language: str) -> list[Path]:
    from notifier.core.connection import ConnectionStatus, ConnState
    from notifier.core.shop_switch import ShopState
    from notifier.desktop.tray import Tray

    tray = Tray()
    try:
        tray.set_status(ConnectionStatus(ConnState.CONNECTED, "192.168.1.20:8080"))
        tray.set_count(WAITING)
        # Sky-take-out with an admin account takes decisions: the entries name the oldest order.
        from notifier.core.events import OrderEvent, OrderKind

        tray.set_decisions_available(True)
        # 营业中, ticked: a click closes the shop (打烊)
        tray.set_shop_states((ShopState("main", "小程序", True),))
        oldest = ORDERS[-WAITING]
        tray.set_oldest_order(OrderEvent(OrderKind.NEW_ORDER, str(4400 + len(ORDERS) - WAITING), "skytakeout",
                                         "shop:8080", order_number=oldest[2]))
        tray.menu.popup(tray.menu.pos())
        wait(tray.menu.isVisible)
        tray.mute_menu.popup(tray.menu.pos() + tray.menu.rect().topRight())
        wait(tray.mute_menu.isVisible)
        settle()
        path = out / f"tray_menu_{language}.png"
        tray_menu_picture(tray).save(str(path))
        return [path]
    finally:
        tray.mute_menu.hide()
        tray.menu.hide()
        tray.menu.deleteLater()
        tray.deleteLater()


def three_connections():
    """The shop of the several-connections pictures: its mini-program, 美团 over RabbitMQ, and the
    chain's order server."""
    from notifier.core.connections import Connection, with_connections
    from notifier.core.settings import Settings

    return with_connections(Settings({**SKYTAKEOUT, "alerts.order_url": ORDER_URL}), (
        Connection("main", "小程序").with_values(SKYTAKEOUT),
        Connection("c4f1a2", "美团", "#e4572e").with_values(
            {"connection.protocol": "amqp", "connection.url": "amqp://shop@mq.meituan.example:5672/"}),
        Connection("c9b3d0", "总店", "#2a9d8f").with_values(
            {"connection.protocol": "notifier", "connection.url": "wss://hq.example/ws", "connection.shop": "north"}),
    ))


def shoot_connections(out: Path, language: str, work: Path) -> list[Path]:
    """The Connections page (美团 chosen, its Test answered), the tray menu with three connections
    (美团 down; 小程序 open and 总店 closed, with the submenu that switches one alone) and the
    orders window showing 美团's orders only."""
    from notifier.core.connection import ConnectionStatus, ConnState, combined
    from notifier.core.events import OrderEvent, OrderKind
    from notifier.core.ledger import Ledger
    from notifier.core.secrets import MemorySecrets
    from notifier.core.shop_switch import ShopState
    from notifier.desktop.orders_window import OrdersWindow
    from notifier.desktop.settings_dialog import SettingsDialog
    from notifier.desktop.tray import Tray

    settings = three_connections()
    made = []
    dialog = SettingsDialog(settings, MemorySecrets({"skytakeout_admin_password": "x"}))
    dialog.resize(800, 560)
    try:
        dialog.show()
        wait(dialog.isVisible)
        dialog.nav.setCurrentRow(PAGES.index("connections"))
        page = dialog.connections_page
        page.list.setCurrentRow(1)
        # The answer as a real probe gives it (the picture's hosts are made up).
        page.show_test_result(page.connections()[1], ConnectionStatus(ConnState.CONNECTED, "mq.meituan.example:5672"))
        settle()
        made.append(out / f"connections_page_{language}.png")
        dialog.grab().save(str(made[-1]))
    finally:
        dialog.close()
        dialog.deleteLater()

    tray = Tray()
    try:
        up = ConnectionStatus(ConnState.CONNECTED, "192.168.1.20:8080")
        tray.set_status(combined([
            ("小程序", up),
            ("美团", ConnectionStatus(ConnState.WAITING, "mq.meituan.example:5672", retry_in=8,
                                      reason=ConnState.UNREACHABLE)),
            ("总店", ConnectionStatus(ConnState.CONNECTED, "hq.example (north)"))]))
        tray.set_count(3)
        tray.set_shop_states((ShopState("main", "小程序", True), ShopState("c9b3d0", "总店", False)))
        tray.menu.popup(tray.menu.pos())
        wait(tray.menu.isVisible)
        tray.shop_menu.popup(tray.menu.pos() + tray.menu.rect().topRight())
        wait(tray.shop_menu.isVisible)
        settle()
        made.append(out / f"tray_menu_connections_{language}.png")
        tray_menu_picture(tray, tray.shop_menu).save(str(made[-1]))
    finally:
        tray.shop_menu.hide()
        tray.menu.hide()
        tray.menu.deleteLater()
        tray.deleteLater()

    clock = [NOW]
    ledger = Ledger(work / f"connections-{language}.sqlite3", clock=lambda: clock[0])
    shops = (("小程序", ""), ("美团", "c4f1a2"), ("总店", "c9b3d0"))
    for n, (hour, minute, number, amount, customer) in enumerate(ORDERS):
        name, scope = shops[n % 3]
        clock[0] = at(hour, minute)
        ledger.record(OrderEvent(OrderKind.NEW_ORDER, str(4400 + n), "skytakeout", "shop:8080",
                                 order_number=number, amount=Decimal(amount), customer=customer,
                                 connection=name, connection_id=scope))
    clock[0] = NOW
    window = OrdersWindow(ledger, lambda: settings, clock=lambda: NOW)
    try:
        window.show()
        wait(window.isVisible)
        window.set_filter("all")
        window.connection_filter.choose("美团")
        window.reload()
        settle()
        made.append(out / f"orders_window_connections_{language}.png")
        window.grab().save(str(made[-1]))
    finally:
        window.close()
        window.deleteLater()
        ledger.close()
    return made


def shoot_notification(out: Path, language: str) -> list[Path]:
    """The order's notification as the daemon on the bus draws it, cut from the screen."""
    from PySide6.QtGui import QGuiApplication

    from notifier.core import wording
    from notifier.core.events import OrderEvent, OrderKind
    from notifier.desktop.notify import Notifier

    hour, minute, number, amount, customer = ORDERS[-1]
    event = OrderEvent(kind=OrderKind.NEW_ORDER, order_id="4411", source="skytakeout", order_number=number,
                       amount=Decimal(amount), customer=customer)
    screen = QGuiApplication.primaryScreen()
    blank = screen.grabWindow(0).toImage()
    notifier = Notifier()
    try:
        notifier.show(wording.notification_title(event, language), wording.notification_body(event, language),
                      key="shot")
        changed: list = []

        def drawn() -> bool:
            image = screen.grabWindow(0).toImage()
            if image != blank:
                changed[:] = [image]
            return bool(changed)

        wait(drawn)
        settle(400)  # the daemon's fade-in
        image = screen.grabWindow(0).toImage()
        box = _changed_box(blank, image)
        margin = 16
        picture = image.copy(max(0, box[0] - margin), max(0, box[1] - margin),
                             box[2] - box[0] + 2 * margin, box[3] - box[1] + 2 * margin)
        path = out / f"notification_{language}.png"
        picture.save(str(path))
        return [path]
    finally:
        notifier.close()
        subprocess.run(["dunstctl", "close-all"], capture_output=True, timeout=5, check=False)
        settle(300)


def _changed_box(before, after) -> tuple[int, int, int, int]:
    """The smallest rectangle holding every pixel that changed (the notification)."""
    xs, ys = [], []
    for y in range(0, after.height(), 2):
        for x in range(0, after.width(), 2):
            if after.pixel(x, y) != before.pixel(x, y):
                xs.append(x)
                ys.append(y)
    if not xs:
        raise RuntimeError("no notification appeared on the screen")
    return min(xs), min(ys), max(xs) + 2, max(ys) + 2


# -- the session ----------------------------------------------------------------------------


def _notification_server_running() -> bool:
    """Whether a notification daemon owns its name on the session bus (asked without starting
    one by D-Bus activation, which would start it without our display)."""
    try:
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        return False
    try:
        with open_dbus_connection(bus="SESSION") as conn:
            reply = conn.send_and_get_reply(message_bus.NameHasOwner("org.freedesktop.Notifications"), timeout=2)
            return bool(reply.body[0])
    except Exception:  # noqa: BLE001 - no bus: the caller says so
        return False


def start_session(started: list[subprocess.Popen]) -> None:
    """A display and a notification daemon when there are none."""
    if not os.environ.get("DISPLAY"):
        display = next(n for n in range(90, 120) if not Path(f"/tmp/.X11-unix/X{n}").exists())
        started.append(subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        os.environ["DISPLAY"] = f":{display}"
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{display}").exists():
            if time.monotonic() > deadline:
                sys.exit("Xvfb did not start; install the Debian package xvfb.")
            time.sleep(0.05)
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        sys.exit("No session bus: run this as `dbus-run-session -- python packaging/tools/make_screenshots.py`.")
    if not _notification_server_running():
        if not shutil.which("dunst"):
            sys.exit("No notification daemon is running and dunst is not installed (apt-get install dunst).")
        started.append(subprocess.Popen(["dunst"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while not _notification_server_running():
            if time.monotonic() > deadline:
                sys.exit("dunst did not start.")
            time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder to write to")
    args = parser.parse_args()
    started: list[subprocess.Popen] = []
    try:
        start_session(started)
        import tempfile

        from PySide6.QtWidgets import QApplication

        from notifier.desktop.i18n import install_translators

        os.environ.setdefault("NOTIFIER_TTS_ENGINE", "mock")
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Order Notifier")
        args.out.mkdir(parents=True, exist_ok=True)
        made: list[Path] = []
        with tempfile.TemporaryDirectory() as work:
            os.environ["NOTIFIER_HOME"] = work  # nothing of the user's own settings or ledger
            for language in LANGUAGES:
                install_translators(app, language)
                made += shoot_orders(args.out, language, Path(work))
                made += shoot_settings(args.out, language)
                made += shoot_tray(args.out, language)
                made += shoot_connections(args.out, language, Path(work))
                made += shoot_notification(args.out, language)
        print("\n".join(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path) for path in made))
        return 0
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())

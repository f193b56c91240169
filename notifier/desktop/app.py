"""The tray app: wires the core (settings, ledger, source) to the alert centre, tray and windows.

Start-up is ordered for speed, because a shop PC boots with this in its login items: the Qt
application and the connection start first; tray, notifications and voice are built while the
source connects; windows and dialogs are only built when first shown; speech engines, voice lists
and the keyring are never touched on this path (the source reads its token on its own thread).

With no display (Linux without DISPLAY/WAYLAND_DISPLAY and no QT_QPA_PLATFORM) the app runs on
Qt's offscreen platform and prints one line per notification and per announcement, so
`notifier --demo` shows the whole path on a server or in a container.
"""

from __future__ import annotations

import json
import linecache
import logging
import os
import signal
import socket
import sys
import threading
import time

from notifier.core.launch import Launch

log = logging.getLogger(__name__)

EXPIRE_FIRST_MS = 60_000
EXPIRE_EVERY_MS = 24 * 3600 * 1000
WINDOW_REFRESH_MS = 250
SETTLE_MS = 3000
ORDERS_SETTLE_MS = 15_000  # quiet after orders, before what they filled is given back


def give_back_heap() -> None:
    """Return the malloc heap's free pages to the system (glibc only; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def settle_memory() -> None:
    """Once start-up is over: keep its objects out of garbage collection and return freed memory.

    `gc.freeze()` moves everything alive now (modules, Qt wrappers, settings) to a generation the
    collector never scans, so later collections are short and do not show up as latency spikes;
    `malloc_trim` gives the start-up's freed heap back to the system (glibc only).

    PySide6 reads the source of every module imported after it (`inspect.getsource`, to see
    whether the module uses its `__feature__` switches), which leaves each file's lines in
    `linecache`: ~70 files, 3-4 MB of strings nobody needs until a traceback is printed (and
    then linecache reads the file again).
    """
    import gc

    linecache.clearcache()
    gc.collect()
    gc.freeze()
    give_back_heap()


def needs_offscreen(environ: dict[str, str] | None = None, platform: str = sys.platform) -> bool:
    """No display to draw on: Linux (or other X11/Wayland systems) without a display variable."""
    env = os.environ if environ is None else environ
    if platform in ("win32", "darwin") or env.get("QT_QPA_PLATFORM"):
        return False
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


class ConsoleLog:
    """The console mode's output: whole lines, flushed, safe against a closed pipe."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def line(self, what: str, text: str) -> None:
        from notifier.core.text import plain

        text = plain(text, 300)  # one line, whatever the order text held
        try:
            print(f"{time.strftime('%H:%M:%S')} {what}: {text}", file=self.stream, flush=True)
        except (BrokenPipeError, ValueError, OSError):
            pass


def run_app(launch: Launch) -> int:
    """`notifier` with no subcommand, once the entry point has resolved the settings and, for the
    demo, started the embedded server."""
    console = needs_offscreen()
    if console:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    return NotifierApp(launch, console=console).run()


class NotifierApp:
    """Owns every long-lived part of the running app. Built by `run`, torn down at quit."""

    def __init__(self, launch: Launch, *, console: bool = False):
        self.launch = launch
        self.base_settings = launch.settings  # saved settings + this run's overrides; what the dialog edits
        self.settings = launch.connection_settings(launch.settings)  # what the connection uses
        self.console = ConsoleLog() if console else None
        self.orders_window = None
        self.settings_dialog = None
        self.tray = None
        self._status = None

    # -- start-up ------------------------------------------------------------------------

    def run(self) -> int:
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        from notifier import __version__

        QApplication.setApplicationName("Order Notifier")
        QApplication.setOrganizationName("OrderNotifier")
        QApplication.setApplicationVersion(__version__)
        QApplication.setDesktopFileName("order-notifier")
        self.qapp = QApplication.instance() or QApplication(sys.argv[:1])
        self.qapp.setQuitOnLastWindowClosed(False)

        from notifier.desktop.single_instance import SingleInstance

        self.single = SingleInstance()
        if not self.single.acquire("show"):
            self._say_console("started", "Order Notifier is already running; its window was brought up.")
            print("Order Notifier is already running; its window was brought up.", file=sys.stderr)
            return 0
        self.single.activated.connect(lambda msg: self.show_orders() if msg == "show" else None)

        self._start_core()
        linecache.clearcache()  # see settle_memory: freed early, the space is reused right away
        self._start_desktop()
        # `notifier doctor` asks the running app about its voice instead of opening an engine.
        self.single.answer("voice-status", lambda: json.dumps(self.announcer.status()))
        linecache.clearcache()
        self._install_signal_handlers()
        self.qapp.aboutToQuit.connect(self._shutdown)

        self._expire_timer = QTimer(self.qapp)
        self._expire_timer.timeout.connect(self._expire)
        self._expire_timer.start(EXPIRE_FIRST_MS)
        QTimer.singleShot(SETTLE_MS, settle_memory)
        return self.qapp.exec()

    def _start_core(self) -> None:
        from notifier.core import paths
        from notifier.core.intake import OrderIntake
        from notifier.core.ledger import Ledger
        from notifier.core.print_queue import PrintQueue
        from notifier.desktop.bridge import CoreBridge

        self.language = self._install_translators(self.base_settings)
        launch = self.launch
        if launch.secrets is not None:
            self.secrets = launch.secrets  # the demo's token
        else:
            from notifier.core.secrets import SecretStore

            self.secrets = SecretStore()
        self.ledger = Ledger(launch.ledger_path or paths.ledger_file())
        # Before the source starts: the first order of this run must already queue its ticket.
        self.print_queue = PrintQueue(self.ledger.path)
        self.print_queue.configure(self.settings)
        self.bridge = CoreBridge()
        self.intake = OrderIntake(self.ledger, self.secrets)
        self.intake.on_order(self.bridge.push_order)
        self.intake.on_status(self.bridge.push_status)
        self.intake.on_details(self.bridge.push_details)
        self.intake.tell_untold()  # queued in the bridge until the alert centre listens
        # Nothing set up yet (no settings file, nothing on the command line): ask first.
        self.first_run = not (launch.demo or launch.has_overrides or launch.config_path.exists())
        if not self.first_run:
            self.intake.start(self.settings)

    def _start_desktop(self) -> None:
        from notifier.desktop.alerts import AlertCentre
        from notifier.desktop.decisions import OrderDecisions
        from notifier.desktop.notify import Notifier
        from notifier.desktop.tray import Tray
        from notifier.desktop.voice import Announcer

        self.tray = Tray()
        self.notifier = Notifier(tray_icon=self.tray.icon)
        # Speech runs in a helper process started right away: nothing here waits for it.
        self.announcer = Announcer(self.settings)
        self.announcer.voice_problem.connect(self.tray.set_voice_problem)
        self.alerts = AlertCentre(self.settings, self.ledger, self.notifier, self.announcer)
        self._start_printing()
        self._start_escalation()
        self.decisions = OrderDecisions(self.ledger, self.intake, self.notifier, self.alerts)
        self.decisions.available_changed.connect(self.tray.set_decisions_available)
        self.decisions.changed.connect(self.printing.wake)  # "print on accept" queued a ticket
        self.tray.accept_order.connect(self.decisions.accept)
        self.tray.reject_order.connect(lambda event: self.decisions.reject(event))
        # The tray's accept / reject entries name the order waiting longest.
        self.alerts.badge_changed.connect(self._name_oldest_order)
        self.decisions.changed.connect(self._name_oldest_order)
        self.decisions.refresh()
        self._start_order_life()

        self._start_shop_counter()
        # Orders that accept themselves are announced as such and never ring (shop_counter.py).
        self.bridge.orders.connect(lambda events: self.alerts.on_orders(self.counter.take_auto_accepted(events)))
        # Each order's popup leaves from the thread that stored it (popup_lane.py), except while
        # auto-accept may take the order: that is decided here, on the main thread.
        self.alerts.lane.steps_aside = lambda: self.counter.auto_accepting
        self.bridge.early = self.alerts.lane.offer
        # After the alert centre's voice lines: escalation's bookkeeping (~0.1-0.2 ms).
        self.bridge.orders.connect(self.escalations.on_orders)
        # After the alert centre: the ticket is drawn (Python, holding the interpreter for a few
        # ms) once the popups of the batch are written to the bus, not while they are. A missed
        # nudge costs nothing: the job is in the ledger's transaction and the worker polls.
        self.bridge.orders.connect(self.printing.wake)
        self.bridge.details.connect(self.alerts.on_details)
        self.bridge.orders.connect(self._orders_arrived)
        # Last: nothing of today's figures comes before a new order's popup and voice.
        self.bridge.orders.connect(lambda _events: self.today.refresh())
        # A burst fills the ledger's page cache and the heap (1,000 orders: ~1 MB that stays);
        # once orders pause, that goes back (the next order pays ~0.01 ms for a cold cache).
        from PySide6.QtCore import QTimer

        self._orders_settle = QTimer(self.qapp)
        self._orders_settle.setSingleShot(True)
        self._orders_settle.setInterval(ORDERS_SETTLE_MS)
        self._orders_settle.timeout.connect(self._settle_after_orders)
        self.bridge.orders.connect(lambda _events: self._orders_settle.start())
        self.bridge.status.connect(self._status_changed)
        self.alerts.badge_changed.connect(self.tray.set_count)
        self.alerts.mute_changed.connect(self.tray.set_muted)
        self.alerts.show_order.connect(self.show_orders)

        tray = self.tray
        tray.open_orders.connect(lambda: self.show_orders())
        tray.acknowledge_all.connect(self.acknowledge_all)
        tray.mute.connect(self.mute)
        tray.reconnect.connect(self.reconnect)
        tray.open_settings.connect(lambda: self.show_settings())
        tray.open_log_folder.connect(self.open_log_folder)
        tray.about.connect(self.show_about)
        tray.quit.connect(self.quit)

        if self.console:
            self.alerts.notified.connect(lambda title, body: self.console.line("notified", f"{title} — {body}"))
            self.announcer.started.connect(lambda text: self.console.line("announced", text))
            self.announcer.voice_problem.connect(
                lambda text: self.console.line("voice", text or "available again"))
        # The badge for orders left unacknowledged from an earlier run (one COUNT query).
        self.alerts.refresh_badge()

        if self.console:
            self.console.line("started", f"Order Notifier {self.qapp.applicationVersion()} (no display: console mode)")
        elif Tray.available():
            tray.show()
        else:
            # Some desktops (GNOME without the AppIndicator extension) have no tray: the window
            # is the app then, and the owner is told why.
            log.warning("no system tray: showing the orders window instead")
            self.show_orders()
            self._tell_no_tray()
        if self.first_run and not self.console:
            self.show_settings(first_run=True)

    def _start_printing(self) -> None:
        """Kitchen tickets (notifier/desktop/printing.py): the queue fills itself as orders are
        stored; the worker is nudged by each batch of new orders once its popups are on their way
        (see _start_desktop) and its trouble shown in the tray."""
        from notifier.desktop.printing import PrintDesk

        self.printing = PrintDesk(self.print_queue, self.settings, announce=self.announcer.announce,
                                  parent=self.qapp)
        self.printing.problem_changed.connect(self._printer_problem)

    def _start_shop_counter(self) -> None:
        """营业 / 打烊 on the tray, the opening hours and auto-accept (desktop/shop_counter.py)."""
        from notifier.desktop.shop_counter import ShopCounter

        self.counter = ShopCounter(self.settings, self.intake, self.decisions, self.ledger, self.print_queue,
                                   self.notifier, self.announcer, ring=self.alerts.on_orders,
                                   waiting=lambda: self.tray.count,
                                   voice_allowed=self.alerts.voice_allowed, parent=self.qapp)
        self.counter.state_changed.connect(self.tray.set_shop_states)
        self.counter.auto_accept_line.connect(self.tray.set_auto_accept_line)
        self.tray.shop_open_wanted.connect(self.counter.want_open)
        self.tray.connection_open_wanted.connect(self.counter.want_open_on)
        self.printing.problem_changed.connect(self.counter.set_printer_problem)
        if self.console:
            self.counter.state_changed.connect(self._console_shop_states)
            self.counter.auto_accept_line.connect(lambda line: self.console.line("auto-accept", line or "on"))
        self.counter.refresh()

    def _console_shop_states(self, states) -> None:
        """营业 / 打烊 on the console: "open", or "小程序 open; 总店 closed" with several."""
        def word(is_open: bool | None) -> str:
            return "unknown" if is_open is None else ("open" if is_open else "closed")

        if len(states) == 1:
            self.console.line("shop", word(states[0].is_open))
        elif states:
            self.console.line("shop", "; ".join(f"{state.name} {word(state.is_open)}" for state in states))

    def _start_escalation(self) -> None:
        """Orders nobody acts on ring louder, then go to the owner's phone; so does a connection
        that stays down (notifier/desktop/escalation.py). Sending runs on its own threads."""
        from notifier.core.phone_sender import targets_from
        from notifier.desktop.escalation import Escalations

        self.escalations = Escalations(self.settings, self.ledger, self.notifier, self.announcer,
                                       targets_from(self.secrets), voice_allowed=self.alerts.voice_allowed,
                                       repeating=lambda: self.alerts.repeating, parent=self.qapp)
        self.alerts.is_urgent = self.escalations.is_urgent
        self.escalations.problem_changed.connect(self._phone_problem)
        if self.console:
            self.escalations.phoned.connect(lambda title: self.console.line("phone", title))

    def _phone_problem(self, sentence: str) -> None:
        self.tray.set_phone_problem(sentence)
        if self.console and sentence:
            self.console.line("phone", sentence)

    def _printer_problem(self, sentence: str) -> None:
        self.tray.set_printer_problem(sentence)
        if self.console and sentence:
            self.console.line("printer", sentence)

    def _install_translators(self, settings) -> str:
        from notifier.core import i18n

        try:
            from notifier.desktop.i18n import install_translators
        except ImportError:
            return i18n.set_language(settings["general.language"])
        from notifier.desktop.identity import apply_identity

        language = install_translators(self.qapp, settings["general.language"])
        apply_identity(self.qapp)  # window icon, and the app's name in the new language
        return language

    def quit(self) -> None:
        """Quit for good (the tray's Quit, Ctrl+C, SIGTERM). Not QApplication.quit(): since Qt 6
        that first asks every window to close and gives up when one refuses, and the orders
        window refuses (closing it only hides it to the tray), so with the window open Quit
        only hid it and SIGTERM was ignored. exit() also ends a dialog's own event loop."""
        self.qapp.exit(0)

    def _install_signal_handlers(self) -> None:
        """Ctrl+C / SIGTERM quit cleanly. Python runs signal handlers only when it gets control,
        so a socket pair wakes the Qt loop (no polling timer)."""
        from PySide6.QtCore import QSocketNotifier

        self._sig_r, self._sig_w = socket.socketpair()
        self._sig_r.setblocking(False)
        self._sig_w.setblocking(False)
        try:
            signal.set_wakeup_fd(self._sig_w.fileno())
        except ValueError:  # not the main thread (embedded use): leave signals alone
            return
        self._sig_notifier = QSocketNotifier(self._sig_r.fileno(), QSocketNotifier.Type.Read, self.qapp)

        def _drain() -> None:
            try:
                received = self._sig_r.recv(64)  # the wakeup fd gets each signal's number
            except OSError:
                return
            if signal.SIGINT in received or signal.SIGTERM in received:
                self.quit()

        self._sig_notifier.activated.connect(_drain)
        # Quit from the event loop (_drain), never from the Python handler itself: that runs
        # wherever the main thread happens to be — inside a ledger query, say — and quitting
        # there closed the ledger under its own lock, a deadlock that ignored every signal.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: None)

    def _start_order_life(self) -> None:
        """派送 / 完成 / 取消 (popup, window, the tray's orders under way) and today's figures
        (window header, tray tooltip), refreshed as orders change."""
        from PySide6.QtWidgets import QMenu

        from notifier.desktop.order_life import OrderLife, TodayGlance

        self.life = OrderLife(self.decisions, self.ledger, self.intake, self.notifier)
        # 取消 confirmed here, or heard of from another PC, queued a 作废 slip where it printed.
        self.life.changed.connect(self.printing.wake)
        self.under_way_menu = QMenu()
        self.tray.add_orders_menu(self.under_way_menu)
        self.tray.menu.aboutToShow.connect(lambda: self.life.fill_menu(self.under_way_menu))
        self.life.fill_menu(self.under_way_menu)
        self.today = TodayGlance(self.ledger, lambda: self.intake.source)
        self.today.updated.connect(self._show_glance)
        for changed in (self.life.changed, self.decisions.changed):  # new orders: _start_desktop
            changed.connect(lambda *_args: self.today.refresh())
        self.today.refresh()

    def _show_glance(self, glance) -> None:
        from notifier.core import wording
        from notifier.desktop.order_life import glance_header, glance_tooltip

        language = wording.effective_language(self.settings)
        self.tray.set_glance(glance_tooltip(glance, language))
        if self.orders_window is not None:
            self.orders_window.set_glance(glance_header(glance, language))

    # -- what happens while running ------------------------------------------------------

    def _orders_arrived(self, events: list) -> None:
        if self.orders_window is not None and self.orders_window.isVisible():
            # A burst refreshes the table once, a moment after it settles.
            if not self._refresh_timer.isActive():
                self._refresh_timer.start(WINDOW_REFRESH_MS)

    def _settle_after_orders(self) -> None:
        import gc

        started = time.monotonic()
        self.ledger.release_memory()
        gc.collect()
        linecache.clearcache()  # modules first imported for these orders (PySide reads their source)
        give_back_heap()
        log.debug("memory given back after the orders paused (%.1f ms)", (time.monotonic() - started) * 1000)

    def _status_changed(self, status) -> None:
        self._status = status
        self.decisions.refresh()  # a new source (settings changed) announces itself here
        self.counter.refresh()
        self.alerts.on_status(status)
        self.escalations.on_status(status)
        self.tray.set_status(status)
        if self.console:
            self.console.line("connection", status.sentence())

    def _name_oldest_order(self, *_args) -> None:
        self.tray.set_oldest_order(self.decisions.oldest_waiting())

    def acknowledge_all(self) -> None:
        self.alerts.acknowledge_all()
        if self.orders_window is not None:
            self.orders_window.refresh()

    def mute(self, seconds: int) -> None:
        from notifier.desktop.tray import MUTE_OFF, MUTE_TOMORROW

        if seconds == MUTE_OFF:
            self.alerts.unmute()
        elif seconds == MUTE_TOMORROW:
            self.alerts.mute_until_tomorrow()
        else:
            self.alerts.mute_for(seconds)

    def reconnect(self) -> None:
        sources = self.intake.sources()
        for source in sources.values():
            source.reconnect_now()
        if not sources:
            self._restart_connection(restart_all=True)

    def _restart_connection(self, *, restart_all: bool = False, restart: set[str] = frozenset()) -> None:
        """Start what the settings ask for: only the connections that changed, and those in
        `restart`, unless `restart_all` (their secrets changed). Stopping a source joins its
        thread: never on the main thread."""
        threading.Thread(target=self.intake.start, args=(self.settings,),
                         kwargs={"restart_all": restart_all, "restart": set(restart)},
                         name="restart-source", daemon=True).start()

    def show_orders(self, event=None) -> None:
        if self.console:
            return
        if self.orders_window is None:
            from PySide6.QtCore import QTimer

            from notifier.desktop.orders_window import OrdersWindow

            self.orders_window = OrdersWindow(self.ledger, lambda: self.settings)
            self.orders_window.acknowledged.connect(self.alerts.on_acknowledged)
            self.orders_window.set_decisions(self.decisions)
            self.orders_window.set_reprint(self.printing.reprint)
            self.orders_window.set_order_life(self.life)
            self.decisions.changed.connect(self.orders_window.refresh)
            self.life.changed.connect(self.orders_window.refresh)
            if self.today.glance is not None:
                self._show_glance(self.today.glance)
            self._refresh_timer = QTimer(self.orders_window, singleShot=True)
            self._refresh_timer.timeout.connect(self.orders_window.refresh)
        else:
            self.orders_window.refresh()
        if event is not None:
            self.orders_window.focus_order(event)
        self.orders_window.show()
        self.orders_window.raise_()
        self.orders_window.activateWindow()

    def show_settings(self, first_run: bool = False) -> None:
        if self.console:
            return
        if self.settings_dialog is None:
            from notifier.desktop.settings_dialog import SettingsDialog

            # The demo's server and shop are shown as they are used, and not saved.
            fixed = {key: value for key, value in self.settings.items()
                     if value != self.base_settings[key]} if self.launch.demo else {}
            dialog = SettingsDialog(
                self.base_settings, self.secrets, first_run=first_run, voice=self.announcer, fixed=fixed
            )
            dialog.saved.connect(lambda new: self.apply_settings(new, secrets_changed=dialog.secrets_changed,
                                                                 restart=dialog.restart_connections))
            self.settings_dialog = dialog
            self.settings_dialog.finished.connect(self._settings_closed)
        self.settings_dialog.show()
        self.settings_dialog.raise_()
        self.settings_dialog.activateWindow()

    def _settings_closed(self, _result: int) -> None:
        # Rebuilt from the current settings next time, so Cancel really leaves nothing behind.
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()
            self.settings_dialog = None

    def apply_settings(self, new, *, secrets_changed: bool = False, restart: set[str] = frozenset()) -> None:
        """Use saved settings now; reconnect the connections that changed, every one when the
        Connection page's secrets changed, and those in `restart` (their secrets changed)."""
        old_base, old = self.base_settings, self.settings
        self.base_settings = new
        self.settings = self.launch.connection_settings(new)
        if new["general.start_at_login"] != old_base["general.start_at_login"]:
            from notifier.desktop import autostart

            try:
                autostart.set_enabled(new["general.start_at_login"])
            except OSError as exc:
                log.warning("could not change start at login: %s", exc)
        if new["general.language"] != old_base["general.language"]:
            self.language = self._install_translators(new)
            self.tray.retranslate()  # the menu is built once; the windows follow LanguageChange
        self.alerts.apply_settings(self.settings)
        self.announcer.apply_settings(self.settings)
        self.printing.apply_settings(self.settings)
        self.escalations.apply_settings(self.settings)
        self.counter.apply_settings(self.settings)
        was_waiting = self.first_run
        self.first_run = False
        if was_waiting or secrets_changed or restart or self.settings.connection_changed(old):
            self._restart_connection(restart_all=secrets_changed, restart=restart)

    def open_log_folder(self) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        from notifier.core import paths

        QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.log_dir())))

    def show_about(self) -> None:
        from PySide6.QtCore import QCoreApplication, Qt
        from PySide6.QtWidgets import QMessageBox

        from notifier import __version__

        box = QMessageBox(QMessageBox.Icon.Information, "Order Notifier", "")
        box.setText(
            QCoreApplication.translate(
                "App",
                "Order Notifier {version}\nAnnounces new shop orders aloud until someone "
                "accepts them or stops the ringing.",
            ).format(version=__version__)
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()
        self._about = box

    def _tell_no_tray(self) -> None:
        from PySide6.QtCore import QCoreApplication
        from PySide6.QtWidgets import QMessageBox

        text = QCoreApplication.translate(
            "App",
            "This desktop has no system tray, so Order Notifier shows its window instead. "
            "Closing the window keeps the notifier running; start it again to bring the "
            "window back.",
        )
        box = QMessageBox(QMessageBox.Icon.Information, "Order Notifier", text, parent=self.orders_window)
        box.setModal(False)
        box.show()
        self._no_tray_box = box

    def _say_console(self, what: str, text: str) -> None:
        if self.console:
            self.console.line(what, text)

    def _expire(self) -> None:
        self._expire_timer.start(EXPIRE_EVERY_MS)
        threading.Thread(
            target=self.ledger.expire, args=(self.settings["ledger.retention_days"],), daemon=True
        ).start()

    def _shutdown(self) -> None:
        if getattr(self, "_shut_down", False):
            return
        self._shut_down = True
        log.info("quitting")
        try:
            self.intake.stop()
            if getattr(self, "alerts", None) is not None:
                self.alerts.stop()
            if getattr(self, "life", None) is not None:
                self.life.stop()
            if getattr(self, "decisions", None) is not None:
                self.decisions.stop()
            if getattr(self, "today", None) is not None:
                self.today.stop()
            if getattr(self, "printing", None) is not None:
                self.printing.stop()
            if getattr(self, "escalations", None) is not None:
                self.escalations.stop()
        finally:
            self.single.release()
            self.ledger.close()

"""Native notifications for orders: freedesktop on Linux, plyer on Windows/macOS, tray balloons last.

`Notifier.show()` never blocks the main thread: it cleans the text and either writes the D-Bus
message to the bus socket itself, without waiting (a few tens of microseconds; no thread wake-up
between the order and its popup), or hands it to the backend's own thread when the socket could
not take it at once. Everything shown is plain text: markup in an order is
escaped where the server would render it, control characters are removed, and long text is cut
to what the platform accepts. A backend that fails is logged once and the next one is used.

Linux: we speak to `org.freedesktop.Notifications` ourselves, over jeepney (pure Python; keyring
already depends on it on Linux) in one thread of our own. Not plyer: without dbus-python it runs
`notify-send` as a subprocess per notification (~5-10 ms of fork/exec each, and no click
handling). Not QtDBus either: PySide6 cannot marshal a D-Bus uint32 (a Python int goes out as
int32, checked with dbus-monitor), so Notify's `replaces_id u` would be refused by GDBus servers
such as GNOME Shell's.
"""

from __future__ import annotations

import logging
import os
import queue
import selectors
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QObject, Signal

from notifier.core.paths import resources_dir
from notifier.core.text import plain
from notifier.desktop.notify_wire import NOTIFY_SIGNATURE, NotifyWire

log = logging.getLogger(__name__)

APP_NAME = "Order Notifier"
NOTIFICATION_ICON_PX = 48

# Limits per backend (title chars, body chars). freedesktop has none by spec, but servers
# draw a few lines; plyer on Windows raises past 64/256 inside its own thread.
LIMITS = {"freedesktop": (200, 1000), "plyer": (64, 256), "tray": (200, 1000)}


def markup_escaped(text: str) -> str:
    """`text` as the body markup of a server that reads it: what `html.escape(text, quote=False)`
    gives, without loading the html package's entity tables (~0.5 MB) into the tray app."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class BackendError(RuntimeError):
    """This backend cannot show notifications here; use the next one."""


@dataclass(slots=True)
class _Popup:
    title: str
    body: str
    key: str | None
    action: str = ""  # the label of the "open this order" action, in the user's language
    # More buttons for an order's notification: (action id, label), e.g. accept / reject.
    extra: tuple[tuple[str, str], ...] = ()
    # An update of the notification already shown for `key` (its text replaced in place), not a
    # new one; `replaces_id` is that notification's id once the backend's thread has found it.
    update: bool = False
    replaces_id: int = 0
    # With `update`: shown as a new notification when the key's one is not up (any more).
    show_if_gone: bool = False
    # Not a notification at all: close every one shown for `key` (CloseNotification).
    withdraw: bool = False


class _Freedesktop:
    """org.freedesktop.Notifications over one jeepney connection in a thread of its own."""

    name = "freedesktop (org.freedesktop.Notifications)"
    limits = LIMITS["freedesktop"]

    BUS_NAME = "org.freedesktop.Notifications"
    PATH = "/org/freedesktop/Notifications"

    def __init__(self, activated: Callable[[str], None], failed: Callable[..., None],
                 invoked: Callable[[str, str], None] = lambda _k, _a: None):
        if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            raise BackendError("no session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
        try:
            from jeepney import DBusAddress
        except ImportError as exc:
            raise BackendError(f"jeepney is not installed: {exc}") from None
        self._address = DBusAddress(self.PATH, self.BUS_NAME, self.BUS_NAME)
        self._wire = NotifyWire(self.BUS_NAME, self.PATH, self.BUS_NAME)
        self._activated = activated
        self._invoked = invoked
        self._failed = failed
        self._queue: queue.SimpleQueue[_Popup | None] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._broken = ""
        # Checking "broken" and queueing must be one step against the thread giving up, or a
        # popup queued in between would be in nobody's hands.
        self._handover = threading.Lock()
        self._thread: threading.Thread | None = None
        # Set by the thread once the server has answered: from then on `show` writes Notify
        # messages to the socket itself. One writer at a time; a message a non-blocking write cut
        # short leaves its end in `_tail`, which the thread sends before anything else.
        self._conn = None
        self._send_lock = threading.Lock()
        self._tail = b""
        self._sent: dict[int, _Popup] = {}  # our serial -> popup, until the reply gives its id
        # Updates of a notification whose id has not come back yet (thread only): sent with it.
        self._deferred: dict[str, _Popup] = {}
        self._markup = False
        self._actions = False
        # A 48 px icon: daemons show the icon at the size it is sent (dunst does, beside the
        # text), and 128 px squeezed "New order #11305848" onto two lines. Sent as the app icon
        # and as the image-path hint, which daemons that draw an image prefer.
        icon = resources_dir() / "icons" / f"order-notifier-{NOTIFICATION_ICON_PX}.png"
        self._icon = str(icon) if icon.exists() else ""
        # Connected now rather than at the first popup, which waited 15-25 ms for it (authenticate,
        # Hello, match rules, capabilities) and was the slowest of every run.
        with self._handover:
            self._start_thread()

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="notifications", daemon=True)
            self._thread.start()

    def show(self, popup: _Popup) -> None:
        with self._handover:
            if self._broken:
                raise BackendError(self._broken)
            self._start_thread()
            if self._queue.empty() and self._send_now(popup):
                return
            self._queue.put(popup)
        self._wake()

    def show_now(self, popup: _Popup) -> bool:
        """Write `popup` to the bus at once from any thread, or do nothing and return False:
        no connection yet, another write half done, or popups queued before it (which must
        come first)."""
        with self._handover:
            return not self._broken and self._queue.empty() and self._send_now(popup)

    def replace(self, popup: _Popup) -> None:
        """Replace the text of the notification shown for `popup.key` (Notify with its id as
        `replaces_id`), or close it (`popup.withdraw`), on the thread, which knows the ids;
        nothing if it is not shown (any more), unless `popup.show_if_gone`."""
        with self._handover:
            if self._broken:
                raise BackendError(self._broken)
            started = self._thread is not None
            if started:
                self._queue.put(popup)
        if started:
            self._wake()
        elif popup.show_if_gone and not popup.withdraw:  # nothing was shown yet: news is new
            popup.update = False
            self.show(popup)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:  # the pipe is full of wake-ups already: the thread is awake
            pass

    def _send_now(self, popup: _Popup) -> bool:
        """Write the Notify call to the bus socket without ever waiting; False: let the thread."""
        conn = self._conn
        if conn is None or not self._send_lock.acquire(blocking=False):
            return False
        try:
            if self._tail:
                return False
            serial = next(conn.outgoing_serial)
            data = self._wire.message(serial, *self._notify_args(popup))  # notify_wire: why
            self._sent[serial] = popup  # before the write: the reply may come at once
            try:
                written = conn.sock.send(data, socket.MSG_DONTWAIT)
            except OSError:  # full (or broken: the thread finds out and gives up properly)
                del self._sent[serial]
                return False
            if written < len(data):
                self._tail = data[written:]
                self._wake()
            return True
        finally:
            self._send_lock.release()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            try:
                os.write(self._wake_w, b"!")
            except OSError:
                pass

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        from jeepney import MatchRule, MessageType, message_bus, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        try:
            conn = open_dbus_connection(bus="SESSION")
            for member in ("ActionInvoked", "NotificationClosed"):
                rule = MatchRule(type="signal", interface=self.BUS_NAME, member=member,
                                 path=self.PATH)
                conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=5)
            reply = conn.send_and_get_reply(new_method_call(self._address, "GetCapabilities"), timeout=5)
            if reply.header.message_type is MessageType.error:
                raise OSError(f"{reply.header.fields.get(4, 'error')}: {reply.body}")
            capabilities = set(reply.body[0])
        except Exception as exc:  # noqa: BLE001 - any failure here means: use the next backend
            self._give_up(f"no notification server on the session bus: {exc}")
            return
        self._markup = "body-markup" in capabilities
        self._actions = "actions" in capabilities
        log.info("notification server capabilities: %s", ", ".join(sorted(capabilities)))
        self._conn = conn

        sent = self._sent
        shown: dict[int, tuple[str, set[str]]] = {}  # notification id -> (key, extra action ids)
        selector = selectors.DefaultSelector()
        selector.register(conn.sock, selectors.EVENT_READ, "bus")
        selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while True:
                for selected, _events in selector.select():
                    if selected.data == "wake":
                        os.read(self._wake_r, 4096)
                        with self._send_lock:
                            if self._tail:
                                conn.sock.sendall(self._tail)
                                self._tail = b""
                        while True:
                            try:
                                popup = self._queue.get_nowait()
                            except queue.Empty:
                                break
                            if popup is None:
                                return
                            if popup.update:
                                self._send_update(popup, sent, shown)
                                continue
                            with self._send_lock:
                                serial = next(conn.outgoing_serial)
                                sent[serial] = popup
                                conn.send(self._notify_message(popup), serial=serial)
                # Drain every complete message jeepney has read (it buffers more than one).
                while True:
                    try:
                        message = conn.receive(timeout=0)
                    except TimeoutError:
                        break
                    self._incoming(message, sent, shown)
        except Exception as exc:  # noqa: BLE001
            with self._send_lock:  # from here on `show` queues, and the thread hands those over
                self._conn = None
                pending = list(sent.values())
            self._give_up(f"notification connection failed: {exc}", pending)
        finally:
            self._conn = None
            with self._send_lock:  # no writer is half-way through a message when it closes
                selector.close()
                conn.close()

    def _send_update(self, popup: _Popup, sent: dict, shown: dict) -> None:
        """On the thread: Notify with `replaces_id` (or CloseNotification, `withdraw`) if the
        key's notification is up; kept for later if its Notify still waits for the id; else
        shown anew if `show_if_gone`, or dropped (replacing a closed one would open a second
        popup, which only news may do)."""
        from jeepney import new_method_call

        targets = [i for i, (key, _extra) in shown.items() if key == popup.key]
        conn = self._conn
        with self._send_lock:
            if not targets:
                if any(p.key == popup.key and not p.update for p in sent.values()):
                    self._deferred[popup.key] = popup
                elif popup.show_if_gone and not popup.withdraw and conn is not None:
                    popup.update = False
                    serial = next(conn.outgoing_serial)
                    sent[serial] = popup
                    conn.send(self._notify_message(popup), serial=serial)
                return
            if conn is None:
                return
            if popup.withdraw:
                for target in targets:
                    conn.send(new_method_call(self._address, "CloseNotification", "u", (target,)))
                return
            popup.replaces_id = targets[-1]
            serial = next(conn.outgoing_serial)
            sent[serial] = popup
            conn.send(self._notify_message(popup), serial=serial)

    def _notify_message(self, popup: _Popup):
        from jeepney import new_method_call  # already loaded: a dictionary look-up

        return new_method_call(self._address, "Notify", NOTIFY_SIGNATURE, self._notify_args(popup))

    def _notify_args(self, popup: _Popup) -> tuple:
        body = markup_escaped(popup.body) if self._markup else popup.body
        actions = ["default", popup.action or "Open"] if self._actions and popup.key else []
        if actions:
            for action_id, label in popup.extra:
                actions += [action_id, label]
        hints = {"urgency": ("y", 1), "category": ("s", "im.received")}
        if self._icon:
            hints["image-path"] = ("s", self._icon)
        return (APP_NAME, popup.replaces_id, self._icon, popup.title, body, actions, hints, -1)

    def _incoming(self, message, sent: dict, shown: dict) -> None:
        from jeepney import HeaderFields, MessageType

        header = message.header
        kind = header.message_type
        if kind in (MessageType.method_return, MessageType.error):
            popup = sent.pop(header.fields.get(HeaderFields.reply_serial, -1), None)
            if popup is None:
                return
            if kind is MessageType.error:
                self._give_up(f"Notify refused: {header.fields.get(HeaderFields.error_name)} "
                              f"{message.body}", [popup])
            elif popup.key:
                shown[message.body[0]] = (popup.key, {a for a, _label in popup.extra})
                if len(shown) > 500:  # clicks only matter for recent notifications
                    for old in list(shown)[:250]:
                        del shown[old]
                waiting = self._deferred.pop(popup.key, None) if not popup.update else None
                if waiting is not None:
                    self._send_update(waiting, sent, shown)
        elif kind is MessageType.signal:
            member = header.fields.get(HeaderFields.member)
            if member == "ActionInvoked":
                key, extra = shown.get(message.body[0], (None, ()))
                if key and message.body[1] == "default":
                    self._activated(key)
                elif key and message.body[1] in extra:
                    self._invoked(key, message.body[1])
                elif key:  # a button of a popup replaced since (the order was decided elsewhere)
                    log.info("a click on %r is no longer offered: ignored", message.body[1][:40])
            elif member == "NotificationClosed":
                closed = shown.pop(message.body[0], None)
                if closed is not None:
                    self._deferred.pop(closed[0], None)

    def _give_up(self, reason: str, pending: list[_Popup] | None = None) -> None:
        with self._handover:
            if self._broken:
                return
            self._broken = reason
            left = list(pending or [])
            while True:
                try:
                    popup = self._queue.get_nowait()
                except queue.Empty:
                    break
                if popup is not None:
                    left.append(popup)
        self._failed(self, left, reason)


class _Plyer:
    """plyer's native notification (Windows toast / macOS), called in a worker thread."""

    name = "plyer"
    limits = LIMITS["plyer"]

    def __init__(self, failed: Callable[..., None]):
        try:
            from plyer import notification
        except ImportError as exc:
            raise BackendError(f"plyer is not installed: {exc}") from None
        self._notification = notification
        self._failed = failed
        self._queue: queue.SimpleQueue[_Popup] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._broken = ""
        icon = resources_dir() / "icons" / ("order-notifier.ico" if sys.platform == "win32"
                                            else "order-notifier-128.png")
        self._icon = str(icon) if icon.exists() else ""

    def show(self, popup: _Popup) -> None:
        if self._broken:
            raise BackendError(self._broken)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="notifications", daemon=True)
            self._thread.start()
        self._queue.put(popup)

    def close(self) -> None:
        pass

    def _run(self) -> None:
        while True:
            popup = self._queue.get()
            try:
                self._notification.notify(title=popup.title, message=popup.body,
                                          app_name=APP_NAME, app_icon=self._icon, timeout=10)
            except Exception as exc:  # noqa: BLE001 - plyer raises anything (NotImplementedError...)
                self._broken = f"plyer failed: {exc}"
                self._failed(self, [popup], self._broken)
                return


class _TrayMessage:
    """QSystemTrayIcon.showMessage: no dependency, but only with a visible tray icon."""

    name = "tray icon message"
    limits = LIMITS["tray"]

    def __init__(self, tray_icon):
        if tray_icon is None:
            raise BackendError("no tray icon")
        self._icon = tray_icon

    def show(self, popup: _Popup) -> None:
        if not self._icon.isVisible():
            raise BackendError("the tray icon is not shown")
        self._icon.showMessage(popup.title, popup.body)

    def close(self) -> None:
        pass


class Notifier(QObject):
    """Shows one notification per call, through the first backend that works here."""

    activated = Signal(str)  # key of the notification the owner clicked
    action_invoked = Signal(str, str)  # (key, action id) of an extra button (accept, reject)
    # A backend's thread gave up: (backend, popups it still held, reason). Queued to our thread.
    _backend_failed = Signal(object, object, str)

    def __init__(self, tray_icon=None, parent: QObject | None = None):
        super().__init__(parent)
        self._tray_icon = tray_icon
        self._backend_failed.connect(self._on_backend_failed)
        self._backends: list = []
        self._logged: set[str] = set()
        self._order_actions: tuple[tuple[str, str], ...] = ()
        for make in self._candidates():
            try:
                self._backends.append(make())
            except BackendError as exc:  # expected on some machines (no tray icon, no bus)
                log.info("notification backend unavailable: %s", exc)

    def _candidates(self) -> list[Callable[[], object]]:
        failed = self._backend_failed.emit

        def freedesktop():
            return _Freedesktop(self.activated.emit, failed, self.action_invoked.emit)

        def plyer():
            return _Plyer(failed)

        def tray():
            return _TrayMessage(self._tray_icon)

        if sys.platform.startswith("linux") or "bsd" in sys.platform:
            return [freedesktop, tray]
        return [plyer, tray]

    def backend_name(self) -> str:
        """The backend notifications go to now ("none" when there is none)."""
        return self._backends[0].name if self._backends else "none"

    def set_order_actions(self, actions: tuple[tuple[str, str], ...]) -> None:
        """Buttons (action id, label) added to every order's notification from now on, e.g.
        accept / reject when the shop's back end takes them; () for none."""
        self._order_actions = tuple(actions)

    def show(self, title: str, body: str, *, key: str | None = None) -> None:
        """Show a notification; returns at once, whatever the platform does with it."""
        # Translated here, on the main thread, in the language in use now.
        self._show(_Popup(title, body, key, QCoreApplication.translate("Notifier", "Open"),
                          self._order_actions if key else ()))

    def show_now(self, title: str, body: str, *, key: str) -> bool:
        """An order's notification written to the bus now, from any thread (popup_lane.py), or
        False and nothing shown: the backend here cannot write without waiting (no bus
        connection yet, a write in progress, popups queued before it, no freedesktop server);
        then `show` on the main thread shows it."""
        backends = self._backends
        backend = backends[0] if backends else None
        show_now = getattr(backend, "show_now", None)
        if show_now is None:
            return False
        title_limit, body_limit = backend.limits
        # translate() is thread-safe; the label is the one `show` would use.
        popup = _Popup(plain(title, title_limit), plain(body, body_limit, multiline=True), key,
                       QCoreApplication.translate("Notifier", "Open"), self._order_actions)
        try:
            return show_now(popup)
        except Exception:  # noqa: BLE001 - the main thread's `show` tries again and reports
            log.debug("show_now failed", exc_info=True)
            return False

    def update(self, title: str, body: str, *, key: str, decided: bool = False,
               show_if_gone: bool = False, actions: tuple[tuple[str, str], ...] | None = None) -> bool:
        """Replace the text of the notification shown for `key`, in place (freedesktop's
        `replaces_id`). `decided`: the order was accepted, rejected or cancelled, so the new text
        offers no accept / reject any more. Where the backend cannot replace one, or it was
        closed, nothing is shown (a second popup for the same order would be worse than the
        first one's text) unless `show_if_gone` (news: a new notification then). Returns whether
        something was handed to the backend. `actions`: these buttons instead (the order's
        next steps after 接单, see order_life)."""
        if not self._backends:
            return False
        backend = self._backends[0]
        replace = getattr(backend, "replace", None)
        if replace is None:
            if show_if_gone:
                self._show(_Popup(title, body, key, QCoreApplication.translate("Notifier", "Open"),
                                  actions or ()))
            return show_if_gone
        title_limit, body_limit = backend.limits
        popup = _Popup(plain(title, title_limit), plain(body, body_limit, multiline=True), key,
                       QCoreApplication.translate("Notifier", "Open"),
                       actions if actions is not None else () if decided else self._order_actions,
                       update=True, show_if_gone=show_if_gone)
        try:
            replace(popup)
        except BackendError:
            return False  # the next show() finds out and moves to the next backend
        return True

    def withdraw(self, key: str) -> bool:
        """Close the notification shown for `key` (freedesktop's CloseNotification): its order
        was decided here, its buttons mean nothing now. Backends that cannot (tray balloons,
        plyer) leave it to expire. Returns whether the backend was asked."""
        replace = getattr(self._backends[0], "replace", None) if self._backends else None
        if replace is None:
            return False
        try:
            replace(_Popup("", "", key, withdraw=True, update=True))
        except BackendError:
            return False
        return True

    def _show(self, popup: _Popup) -> None:
        while self._backends:
            backend = self._backends[0]
            title_limit, body_limit = backend.limits
            shown = _Popup(plain(popup.title, title_limit),
                           plain(popup.body, body_limit, multiline=True), popup.key, popup.action,
                           popup.extra)
            try:
                backend.show(shown)
                return
            except BackendError as exc:
                self._drop(backend, str(exc))
            except Exception as exc:  # noqa: BLE001 - a backend must never take the app down
                self._drop(backend, f"{type(exc).__name__}: {exc}")
        self._log_once("no notification backend works here; notifications are not shown")

    def _drop(self, backend, reason: str) -> None:
        if backend in self._backends:
            self._backends.remove(backend)
            backend.close()
            self._log_once(f"notifications via {backend.name} failed ({reason}); "
                           f"now using {self.backend_name()}")

    def _on_backend_failed(self, backend, popups: list[_Popup], reason: str) -> None:
        self._drop(backend, reason)
        for popup in popups:  # what the failed backend still held is shown by the next one
            if not popup.update:  # an update there would be a second popup
                self._show(popup)

    def _log_once(self, message: str) -> None:
        if message not in self._logged:
            self._logged.add(message)
            log.warning(message)

    def close(self) -> None:
        for backend in self._backends:
            backend.close()

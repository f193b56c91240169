"""A notification server for tests: owns org.freedesktop.Notifications and writes down every call.

The test session (tests/harness/desktop-session) starts this instead of a real desktop's
notification daemon. Each Notify call becomes one JSON line in $NOTIFIER_TEST_NOTIFY_LOG, so a
test can assert what a user would have seen pop up; each CloseNotification call (the app took a
notification away) one line in the file beside it, `closed_log(...)`. A test can also "click" a notification's
action or dismiss it through the extra interface `org.notifier.Test` on the same connection,
which emits the same signals a real server would.

Uses jeepney (pure Python, already installed as a keyring dependency on Linux). The product code
never imports this module.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
IFACE = "org.freedesktop.Notifications"
TEST_IFACE = "org.notifier.Test"
CAPABILITIES = ["actions", "body", "body-markup", "icon-static", "persistence"]

# NotificationClosed reasons from the freedesktop spec.
CLOSED_DISMISSED = 2
CLOSED_BY_CALL = 3

INTROSPECTION = f"""<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<node>
 <interface name="{IFACE}">
  <method name="Notify">
   <arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
   <arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
   <arg type="a{{sv}}" direction="in"/><arg type="i" direction="in"/>
   <arg type="u" direction="out"/>
  </method>
  <method name="CloseNotification"><arg type="u" direction="in"/></method>
  <method name="GetCapabilities"><arg type="as" direction="out"/></method>
  <method name="GetServerInformation">
   <arg type="s" direction="out"/><arg type="s" direction="out"/>
   <arg type="s" direction="out"/><arg type="s" direction="out"/>
  </method>
  <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
  <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
 </interface>
 <interface name="{TEST_IFACE}">
  <method name="InvokeAction"><arg type="u" direction="in"/><arg type="s" direction="in"/></method>
  <method name="Dismiss"><arg type="u" direction="in"/></method>
 </interface>
 <interface name="org.freedesktop.DBus.Introspectable">
  <method name="Introspect"><arg type="s" direction="out"/></method>
 </interface>
</node>
"""


def closed_log(log_path: Path) -> Path:
    """Where the recorder writes the CloseNotification calls, beside the Notify log."""
    return log_path.with_name(log_path.stem + "-closed.jsonl")


class Recorder:
    """Answers the Notifications interface and appends each Notify call to a log file."""

    def __init__(self, conn, log_path: Path):
        self.conn = conn
        self.log = log_path.open("a", encoding="utf-8")
        self.closed = closed_log(log_path).open("a", encoding="utf-8")
        self.next_id = 1
        self.emitter = DBusAddress(OBJECT_PATH, interface=IFACE)

    def handle(self, msg) -> None:
        fields = msg.header.fields
        iface = fields.get(HeaderFields.interface)
        member = fields.get(HeaderFields.member)
        if iface in (IFACE, None) and member == "Notify":
            self.conn.send(new_method_return(msg, "u", (self.notify(*msg.body),)))
        elif iface in (IFACE, None) and member == "CloseNotification":
            self.closed.write(json.dumps({"t": time.time(), "id": msg.body[0]}) + "\n")
            self.closed.flush()
            self.conn.send(new_method_return(msg))
            self.emit("NotificationClosed", "uu", (msg.body[0], CLOSED_BY_CALL))
        elif iface in (IFACE, None) and member == "GetCapabilities":
            self.conn.send(new_method_return(msg, "as", (CAPABILITIES,)))
        elif iface in (IFACE, None) and member == "GetServerInformation":
            info = ("notifier-test-recorder", "Order Notifier tests", "1.0", "1.2")
            self.conn.send(new_method_return(msg, "ssss", info))
        elif iface in (TEST_IFACE, None) and member == "InvokeAction":
            notification_id, action_key = msg.body
            self.conn.send(new_method_return(msg))
            self.emit("ActionInvoked", "us", (notification_id, action_key))
            # A real server closes a notification once one of its actions was clicked.
            self.emit("NotificationClosed", "uu", (notification_id, CLOSED_DISMISSED))
        elif iface in (TEST_IFACE, None) and member == "Dismiss":
            self.conn.send(new_method_return(msg))
            self.emit("NotificationClosed", "uu", (msg.body[0], CLOSED_DISMISSED))
        elif member == "Introspect":
            self.conn.send(new_method_return(msg, "s", (INTROSPECTION,)))
        elif member == "Ping":
            self.conn.send(new_method_return(msg))
        else:
            error = "org.freedesktop.DBus.Error.UnknownMethod"
            self.conn.send(new_error(msg, error, "s", (f"no method {iface}.{member}",)))

    def notify(self, app_name, replaces_id, app_icon, summary, body, actions, hints, timeout) -> int:
        if replaces_id:
            notification_id = replaces_id
        else:
            notification_id = self.next_id
            self.next_id += 1
        entry = {
            "t": time.time(),
            "t_mono_ns": time.monotonic_ns(),
            "app_name": app_name,
            "replaces_id": replaces_id,
            "app_icon": app_icon,
            "summary": summary,
            "body": body,
            "actions": list(actions),
            "hints_keys": sorted(hints),
            "expire_timeout": timeout,
            "id": notification_id,
        }
        self.log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.log.flush()
        return notification_id

    def emit(self, signal: str, signature: str, body: tuple) -> None:
        self.conn.send(new_signal(self.emitter, signal, signature, body))


def main() -> int:
    log_path = Path(os.environ["NOTIFIER_TEST_NOTIFY_LOG"])
    log_path.touch()
    conn = open_dbus_connection(bus="SESSION")
    # Flag 4 = DO_NOT_QUEUE: if some other notification daemon already owns the name, fail loudly
    # instead of waiting in line and recording nothing.
    reply = conn.send_and_get_reply(message_bus.RequestName(BUS_NAME, 4), timeout=5)
    if reply.body[0] != 1:
        print(f"notification recorder: could not own {BUS_NAME} (reply {reply.body[0]})",
              file=sys.stderr)
        return 1
    recorder = Recorder(conn, log_path)
    while True:
        try:
            msg = conn.receive()
        except (ConnectionResetError, EOFError, OSError):
            return 0  # the session bus went away: the session is over
        if msg.header.message_type is not MessageType.method_call:
            continue
        try:
            recorder.handle(msg)
        except Exception as exc:  # noqa: BLE001 - one bad call must not end the recording
            print(f"notification recorder: bad call: {exc!r}", file=sys.stderr, flush=True)
            error = "org.freedesktop.DBus.Error.InvalidArgs"
            conn.send(new_error(msg, error, "s", (f"{type(exc).__name__}: {exc}",)))


if __name__ == "__main__":
    raise SystemExit(main())

"""A minimal StatusNotifierWatcher (org.kde.StatusNotifierWatcher) with a host registered.

Qt (PySide6 and PyQt6 alike) puts a QSystemTrayIcon on D-Bus when such a watcher says a host is
registered, and then sends `QSystemTrayIcon.showMessage` as an
`org.freedesktop.Notifications.Notify` call (PLATFORM-NOTES.md). Programs that notify through
their tray icon — gotify-tray, the peer of the desktop benchmark — then reach the session's
notification recorder like ours, which speaks to the notification server itself. Without a
watcher they draw Qt's own balloon on the display, which nothing on the bus sees.

Started by tests/benchmarks/bench_desktop.py inside the harness session; the tests do not use it
(their tray host is trayer, over XEmbed). Uses jeepney, like the notification recorder.
"""

from __future__ import annotations

import sys

from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

BUS_NAME = "org.kde.StatusNotifierWatcher"
IFACE = "org.kde.StatusNotifierWatcher"
PROPS = "org.freedesktop.DBus.Properties"

INTROSPECTION = f"""<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<node>
 <interface name="{IFACE}">
  <method name="RegisterStatusNotifierItem"><arg type="s" direction="in"/></method>
  <method name="RegisterStatusNotifierHost"><arg type="s" direction="in"/></method>
  <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
  <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
  <property name="ProtocolVersion" type="i" access="read"/>
  <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
  <signal name="StatusNotifierHostRegistered"/>
 </interface>
 <interface name="{PROPS}">
  <method name="Get"><arg type="s" direction="in"/><arg type="s" direction="in"/>
   <arg type="v" direction="out"/></method>
  <method name="GetAll"><arg type="s" direction="in"/><arg type="a{{sv}}" direction="out"/></method>
 </interface>
 <interface name="org.freedesktop.DBus.Introspectable">
  <method name="Introspect"><arg type="s" direction="out"/></method>
 </interface>
</node>
"""


def main() -> int:
    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName(BUS_NAME, 4), timeout=5)
    if reply.body[0] != 1:
        print(f"status notifier watcher: could not own {BUS_NAME} (reply {reply.body[0]})",
              file=sys.stderr)
        return 1
    items: list[str] = []

    def properties() -> dict[str, tuple[str, object]]:
        return {"RegisteredStatusNotifierItems": ("as", list(items)),
                "IsStatusNotifierHostRegistered": ("b", True), "ProtocolVersion": ("i", 0)}

    print("status notifier watcher: ready", flush=True)
    while True:
        try:
            msg = conn.receive()
        except (ConnectionResetError, EOFError, OSError):
            return 0  # the session bus went away
        if msg.header.message_type is not MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        if member == "RegisterStatusNotifierItem":
            service = msg.body[0]
            sender = msg.header.fields.get(HeaderFields.sender)
            items.append(service if service.startswith(":") or "/" not in service else sender + service)
            conn.send(new_method_return(msg))
        elif member == "RegisterStatusNotifierHost":
            conn.send(new_method_return(msg))
        elif member == "Get":
            kind, value = properties().get(msg.body[1], ("b", False))
            conn.send(new_method_return(msg, "v", ((kind, value),)))
        elif member == "GetAll":
            conn.send(new_method_return(msg, "a{sv}", (properties(),)))
        elif member == "Introspect":
            conn.send(new_method_return(msg, "s", (INTROSPECTION,)))
        elif member == "Ping":
            conn.send(new_method_return(msg))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s",
                                (f"no method {member}",)))


if __name__ == "__main__":
    raise SystemExit(main())

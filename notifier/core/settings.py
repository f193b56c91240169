"""Every setting, declared once as data; the file format, validation and the dialog follow from it.

Settings live in a TOML file (`[alerts]`, `[voice]`, … one table per group, and the list of
connections: see `notifier.core.connections`; read and written by `notifier.core.settings_file`). Secrets are
declared here too, so the dialog can offer them, but they are only ever stored in the OS keyring
(see `notifier.core.secrets`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from notifier.core.hhmm import parse_hhmm
from notifier.core.i18n import tr
from notifier.core.shop_hours import HoursError, parse_hours

log = logging.getLogger(__name__)


class SettingsError(ValueError):
    """A setting has a value it cannot take; the message names the setting and the problem."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Setting:
    key: str  # "group.name"
    type: type  # str, int, float, bool
    default: Any
    label: str  # English; translated through tr()
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    kind: str = ""  # presentation hint: "path", "url", "multiline", "time", "list"
    # Presentation only (the settings dialog): tucked under "Advanced" / shown only for these
    # protocols (empty: for every protocol; the skytakeout and json groups follow their name).
    advanced: bool = False
    protocols: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1]

    def applies_to(self, protocol: str) -> bool:
        """Whether this setting means anything for a connection of this protocol."""
        if self.protocols:
            return protocol in self.protocols
        return protocol in GROUP_PROTOCOLS.get(self.group, (protocol,))

    def coerce(self, value: Any) -> Any:
        """The value in this setting's type, or SettingsError saying what is wrong."""
        expected = self.type
        if expected is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            raise SettingsError(self.key, tr("must be true or false (got {value!r})", value=value))
        if expected is int:
            if isinstance(value, bool) or not isinstance(value, int | str | float):
                raise SettingsError(self.key, tr("must be a whole number (got {value!r})", value=value))
            try:
                number = int(value) if not isinstance(value, float) or value.is_integer() else None
            except ValueError:
                number = None
            if number is None:
                raise SettingsError(self.key, tr("must be a whole number (got {value!r})", value=value))
            value = number
        elif expected is float:
            if isinstance(value, bool):
                raise SettingsError(self.key, tr("must be a number (got {value!r})", value=value))
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise SettingsError(self.key, tr("must be a number (got {value!r})", value=value)) from None
        elif expected is str:
            if not isinstance(value, str):
                raise SettingsError(self.key, tr("must be text (got {value!r})", value=value))
            if self.choices and value not in self.choices:
                raise SettingsError(
                    self.key,
                    tr("must be one of {choices} (got {value!r})", choices=", ".join(self.choices), value=value),
                )
        if self.minimum is not None and value < self.minimum:
            raise SettingsError(
                self.key, tr("must be at least {minimum} (got {value})", minimum=self.minimum, value=value)
            )
        if self.maximum is not None and value > self.maximum:
            raise SettingsError(
                self.key, tr("must be at most {maximum} (got {value})", maximum=self.maximum, value=value)
            )
        return value


@dataclass(frozen=True, slots=True)
class SecretSpec:
    name: str  # keyring user name under the service name
    label: str
    used_by: tuple[str, ...]  # protocols that need it


PROTOCOLS = ("skytakeout", "json", "notifier", "amqp")
STATION_ROLES = ("counter", "kitchen", "station")

ROUTE_HELP = "Station only: dishes whose name contains one of these words (e.g. 奶茶,咖啡,饮料)."


def _further_printer(n: int, role: str) -> tuple[Setting, ...]:
    """A printer beside the first (`[printer<n>]`, core/stations.py): its role and connection;
    the rest of the ticket's template is the first printer's."""
    group = f"printer{n}"
    return (
        Setting(f"{group}.role", str, role, "Role", choices=STATION_ROLES),
        Setting(f"{group}.kind", str, "escpos_network", "Printer",
                choices=("escpos_network", "escpos_serial", "escpos_usb", "system")),
        Setting(f"{group}.address", str, "", "Printer address", help="Empty: this printer is not used."),
        Setting(f"{group}.paper", str, "80mm", "Paper width", choices=("58mm", "80mm", "a4")),
        Setting(f"{group}.copies", int, 1, "Copies of each ticket", minimum=1, maximum=5),
        Setting(f"{group}.route", str, "", "Dishes for this printer", kind="list", help=ROUTE_HELP),
        Setting(f"{group}.chinese", str, "gb18030", "Chinese text on thermal printers",
                choices=("gb18030", "image")),
    )

# The kind of server as a shop names it (English; translated through tr()): the name a connection
# upgraded from a single-connection settings file starts with.
PROTOCOL_LABELS = {"skytakeout": "Sky-take-out", "json": "JSON server", "notifier": "Order server",
                   "amqp": "RabbitMQ"}

SETTINGS: tuple[Setting, ...] = (
    # Connection
    Setting("connection.protocol", str, "notifier", "Protocol", choices=PROTOCOLS,
            help="Which kind of push server the shop uses."),
    Setting("connection.url", str, "", "Server address", kind="url",
            help="ws:// or wss:// address. Sky-take-out: the /ws/ base, e.g. ws://shop:8080/ws/ . "
                 "RabbitMQ: amqp://USER@HOST:5672/VHOST (the password goes in the keyring)"),
    Setting("connection.shop", str, "", "Shop", help="Shop name on an Order Notifier server.",
            protocols=("notifier",)),
    Setting("connection.ca_file", str, "", "CA certificate file", kind="path",
            help="For servers with a private certificate authority.", advanced=True),
    Setting("connection.verify_tls", bool, True, "Verify the server's certificate",
            help="Turn off only for testing: anyone on the network could pretend to be the server.",
            advanced=True),
    Setting("connection.proxy", str, "", "HTTP proxy", kind="url", help="http://host:port, or empty.",
            advanced=True),
    Setting("connection.ping_interval", int, 20, "Ping every (s)", minimum=5, maximum=300, advanced=True),
    Setting("connection.ping_timeout", int, 10, "Answer expected within (s)", minimum=2, maximum=120,
            advanced=True),
    Setting("connection.connect_timeout", int, 10, "Connect timeout (s)", minimum=2, maximum=120, advanced=True),
    Setting("connection.max_frame_kib", int, 1024, "Largest message (KiB)", minimum=16, maximum=65536,
            advanced=True),
    # Auto-accept (自动接单, core/auto_accept.py): a setting of the connection, so that each
    # connection keeps its own once the app holds several. Changing it does not reconnect.
    Setting("connection.auto_accept", bool, False, "Accept new orders by themselves",
            help="Only while the shop is open, and paused while the printer does not print. "
                 "Each order is still announced and printed."),
    Setting("connection.auto_accept_per_hour", int, 0, "Accept by themselves at most (orders per hour, 0 = no limit)",
            minimum=0, maximum=1000),
    # Sky-take-out admin API: catches up orders that were paid while we were offline.
    Setting("skytakeout.admin_url", str, "", "Admin API address", kind="url",
            help="e.g. http://shop:8080 ; empty to use live messages only."),
    Setting("skytakeout.admin_user", str, "", "Admin user name"),
    Setting("skytakeout.pull_interval", int, 180, "Check for missed orders every (s)", minimum=30, maximum=3600,
            advanced=True),
    Setting("skytakeout.status_poll_interval", int, 15, "Check ringing orders every (s)", minimum=2,
            maximum=300, advanced=True,
            help="While an order rings, how often the admin API is asked whether it was accepted, "
                 "rejected or cancelled elsewhere."),
    # RabbitMQ (protocol "amqp"): a durable queue the shop's order system publishes to.
    Setting("amqp.vhost", str, "", "Virtual host", help="Empty: the one in the address, else /."),
    Setting("amqp.user", str, "", "User name", help="Empty: the one in the address."),
    Setting("amqp.exchange", str, "orders", "Exchange",
            help="Durable direct exchange the orders are published to; empty for the default exchange."),
    Setting("amqp.queue", str, "orders", "Queue", help="Durable queue the notifier consumes."),
    Setting("amqp.routing_key", str, "order", "Routing key", help="Binds the queue to the exchange."),
    Setting("amqp.prefetch", int, 20, "Messages fetched ahead", minimum=1, maximum=1000,
            advanced=True),
    Setting("amqp.declare", bool, True, "Create the exchange and queue if missing",
            help="Off: use existing ones exactly as they are (e.g. a queue with a dead-letter exchange)."),
    Setting("amqp.reply_routing_key", str, "", "Routing key for accept / reject",
            help="Empty: acknowledging stays on this PC. Else accepted and rejected orders are "
                 "published (persistent, confirmed) to the reply exchange with this key."),
    Setting("amqp.reply_exchange", str, "", "Exchange for accept / reject",
            help="Empty: the default exchange (the routing key is then a queue name)."),
    # JSON field mapping (dotted paths into the message; also used for RabbitMQ message bodies)
    Setting("json.kind_field", str, "", "Field holding the message kind",
            help="Empty: every message is a new order."),
    Setting("json.new_order_values", str, "1,new_order,new,paid", "Kind values meaning a new order", kind="list"),
    Setting("json.reminder_values", str, "2,reminder,remind", "Kind values meaning a reminder", kind="list"),
    Setting("json.cancelled_values", str, "cancel,cancelled", "Kind values meaning a cancellation", kind="list"),
    Setting("json.order_id_field", str, "order_id", "Order id field"),
    Setting("json.order_number_field", str, "order_number", "Order number field"),
    Setting("json.amount_field", str, "order_amount", "Amount field"),
    Setting("json.customer_field", str, "customer_name", "Customer field"),
    Setting("json.text_field", str, "content", "Text field"),
    # What a kitchen ticket prints (docs/printing.md): a list of items, the remark, phone, address.
    Setting("json.items_field", str, "items", "Items field",
            help="A list of the order's dishes; empty: the messages carry none."),
    Setting("json.item_fields", str, "name,quantity,price,notes", "Fields of each item", kind="list",
            help="In this order: the dish's name, quantity, price and notes (e.g. dishName,count,price,spec)."),
    Setting("json.remark_field", str, "remark", "Remark field"),
    Setting("json.phone_field", str, "phone", "Phone field"),
    Setting("json.address_field", str, "address", "Address field"),
    # Alerts
    Setting("alerts.notify_new_order", bool, True, "Notification for new orders"),
    Setting("alerts.notify_reminder", bool, True, "Notification for reminders"),
    Setting("alerts.voice_new_order", bool, True, "Announce new orders aloud"),
    Setting("alerts.voice_reminder", bool, True, "Announce reminders aloud"),
    Setting("alerts.chime", bool, True, "Chime before announcements"),
    Setting("alerts.repeat_interval", int, 60, "Repeat unacknowledged orders every (s, 0 = once)", minimum=0, maximum=3600),
    Setting("alerts.repeat_limit", int, 10, "Repeat at most (times)", minimum=0, maximum=1000),
    Setting("alerts.burst_threshold", int, 3, "Summarise when more orders arrive at once than", minimum=1, maximum=1000),
    Setting("alerts.disconnect_alert_after", int, 30, "Announce a lost connection after (s, 0 = never)", minimum=0, maximum=3600),
    Setting("alerts.quiet_start", str, "", "Quiet hours from (HH:MM)", kind="time"),
    Setting("alerts.quiet_end", str, "", "Quiet hours until (HH:MM)", kind="time"),
    Setting("alerts.quiet_follows_hours", bool, False, "Quiet hours follow the opening hours",
            help="The voice is off whenever the opening hours say the shop is closed."),
    Setting("alerts.order_url", str, "", "Open an order in the browser at", kind="url",
            help="e.g. http://admin.example/#/order?orderId={order_id}"),
    # Voice
    Setting("voice.engine", str, "", "Speech engine", help="Empty: the best one on this system.",
            advanced=True),
    Setting("voice.name", str, "", "Voice", help="Empty: a voice for the language."),
    Setting("voice.volume", float, 1.0, "Volume", minimum=0.0, maximum=1.0),
    Setting("voice.rate", float, 0.0, "Speed", minimum=-1.0, maximum=1.0),
    Setting("voice.template_new_order_zh", str, "您有新的订单，订单号 {number}，金额 {amount}",
            "New order announcement (Chinese)", kind="multiline"),
    Setting("voice.template_reminder_zh", str, "顾客催单，订单号 {number}，请尽快处理",
            "Reminder announcement (Chinese)", kind="multiline"),
    Setting("voice.template_new_order_en", str, "New order {number}, {amount}",
            "New order announcement (English)", kind="multiline"),
    Setting("voice.template_reminder_en", str, "Customer reminder for order {number}",
            "Reminder announcement (English)", kind="multiline"),
    # Kitchen tickets (docs/printing.md). Never a reminder: only new orders, and reprints asked for.
    Setting("printer.print_on", str, "off", "Print a kitchen ticket", choices=("off", "new_order", "accept"),
            help="new_order: every new order as it arrives; accept: when the order is accepted."),
    Setting("printer.kind", str, "escpos_network", "Printer",
            choices=("escpos_network", "escpos_serial", "escpos_usb", "system"),
            help="escpos_network: a thermal receipt printer on the network (port 9100); "
                 "escpos_serial: one on a serial port; escpos_usb: one on USB; "
                 "system: a printer installed in the operating system."),
    Setting("printer.address", str, "", "Printer address",
            help="Network printer: host or host:port (e.g. 192.168.1.50:9100). "
                 "Serial printer: the port, with the baud rate if not 9600 (/dev/ttyUSB0:19200, COM3). "
                 "USB printer: VID:PID in hex, as lsusb shows it (e.g. 0416:5011). "
                 "System printer: its name (empty: the default printer)."),
    Setting("printer.paper", str, "80mm", "Paper width", choices=("58mm", "80mm", "a4")),
    Setting("printer.copies", int, 1, "Copies of each ticket", minimum=1, maximum=5,
            help="e.g. 2: one for the kitchen, one for the rider."),
    Setting("printer.chinese", str, "gb18030", "Chinese text on thermal printers",
            choices=("gb18030", "image"),
            help="gb18030: the printer's own Chinese font (fast); image: the ticket drawn as a "
                 "picture (for printers without a Chinese font)."),
    Setting("printer.shop_name", str, "", "Shop name on the ticket"),
    Setting("printer.show_time", bool, True, "Print the order time"),
    Setting("printer.show_items", bool, True, "Print the items"),
    Setting("printer.show_remark", bool, True, "Print the remark"),
    Setting("printer.show_amount", bool, True, "Print the amount"),
    Setting("printer.show_customer", bool, True, "Print the customer's name"),
    Setting("printer.show_phone", bool, True, "Print the customer's phone"),
    Setting("printer.mask_phone", bool, True, "Hide the middle digits of the phone"),
    Setting("printer.show_address", bool, True, "Print the delivery address"),
    Setting("printer.show_qr", bool, True, "Print a QR code of the order's address",
            help="Uses the order page address set on the Alerts page."),
    Setting("printer.timeout", int, 5, "Printer answer expected within (s)", minimum=1, maximum=60,
            advanced=True),
    # The first printer's role (core/stations.py); more printers below: a printer for each station.
    Setting("printer.role", str, "counter", "Role", choices=STATION_ROLES,
            help="counter: the whole receipt (amount, customer); kitchen: dishes and remark only, "
                 "in big type; station: only the dishes named below (e.g. drinks to the bar)."),
    Setting("printer.route", str, "", "Dishes for this printer", kind="list", help=ROUTE_HELP),
    *_further_printer(2, "kitchen"),
    *_further_printer(3, "station"),
    # Opening hours (core/shop_hours.py): open (营业) and close (打烊) the shop by themselves.
    Setting("shop.hours", str, "", "Opening hours",
            help="Empty: the shop is opened and closed from the tray only. Every day: 10:00-22:00. "
                 "By day: mon-fri 10:00-14:00,17:00-22:00; sat,sun 09:00-02:00 (past midnight allowed)."),
    # General
    Setting("general.language", str, "system", "Language", choices=("system", "zh_CN", "en")),
    Setting("general.start_at_login", bool, False, "Start at login"),
    Setting("general.log_level", str, "INFO", "Log level", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    Setting("ledger.retention_days", int, 90, "Keep order history for (days)", minimum=1, maximum=3650),
    # Escalation (docs/escalation.md): an order nobody acts on rings louder, then goes to the
    # owner's phone through the targets in the keyring secret `escalation_targets`.
    Setting("escalation.louder_after", int, 3, "Ring louder after (min, 0 = never)", minimum=0, maximum=120,
            help="An order nobody has acted on is announced again with a louder, more urgent sound."),
    Setting("escalation.phone_after", int, 5, "Send to the phone after (min, 0 = never)", minimum=0,
            maximum=240, help="The order is sent to the phone alert targets below."),
    Setting("escalation.connection_after", int, 5, "Send a lost connection to the phone after (min, 0 = never)",
            minimum=0, maximum=240,
            help="And again when it is back, with how many orders arrived meanwhile."),
    Setting("escalation.connection_when", str, "always", "Send a lost connection", choices=("always", "outside_quiet_hours"),
            help="outside_quiet_hours: not while the quiet hours (alerts) say the shop is closed."),
    Setting("escalation.shop_name", str, "", "Shop name in phone messages",
            help="Empty: the shop name on the ticket, else the connection's shop."),
    # Secrets: where a headless listener finds them besides the keyring (notifier.core.secrets)
    Setting("secrets.file", str, "", "Secret file", kind="path", advanced=True,
            help="For listeners without a keyring: a file only you can read (chmod 600), with "
                 "lines like notifier_token = \"...\". Empty: the keyring only."),
)

SECRETS: tuple[SecretSpec, ...] = (
    SecretSpec("notifier_token", "Shop client token", ("notifier",)),
    SecretSpec("skytakeout_admin_password", "Admin password", ("skytakeout",)),
    SecretSpec("json_token", "Bearer token (optional)", ("json",)),
    SecretSpec("amqp_password", "RabbitMQ password", ("amqp",)),
    # Escalation: Apprise URLs (they hold tokens), one per line; every protocol can use them.
    SecretSpec("escalation_targets", "Phone alert targets (Apprise URLs)", PROTOCOLS),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
# Groups that only mean something for some protocols (the dialog hides them for the others).
GROUP_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "skytakeout": ("skytakeout",), "json": ("json", "amqp"), "amqp": ("amqp",)}
CONNECTION_GROUPS = ("connection", "skytakeout", "json", "amqp")
# Settings of the connection that the running app follows without reconnecting.
LIVE_CONNECTION_KEYS = frozenset(("connection.auto_accept", "connection.auto_accept_per_hour"))


class Settings(Mapping[str, Any]):
    """A validated, immutable set of values for every declared setting."""

    def __init__(self, values: Mapping[str, Any] | None = None, connections: tuple[Any, ...] = ()):
        # The shop's connections (core.connections.Connection), () for a file from before the
        # list; the flat connection keys are the first one's (connections.with_connections).
        self.connections = tuple(connections)
        merged = {s.key: s.default for s in SETTINGS}
        for key, value in (values or {}).items():
            spec = BY_KEY.get(key)
            if spec is None:
                raise SettingsError(key, tr("is not a known setting"))
            merged[key] = spec.coerce(value)
        _check_together(merged)
        self._values = merged

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def updated(self, changes: Mapping[str, Any]) -> Settings:
        values = dict(self._values)
        values.update(changes)
        return Settings(values, self.connections)

    def with_connections(self, connections: tuple[Any, ...]) -> Settings:
        """These values with another list of connections (see connections.with_connections,
        which also makes the flat connection keys the first one's)."""
        return Settings(self._values, connections)

    def changed_groups(self, other: Settings) -> set[str]:
        return {BY_KEY[k].group for k in self._values if self._values[k] != other._values[k]}

    def connection_changed(self, other: Settings) -> bool:
        return any(BY_KEY[k].group in CONNECTION_GROUPS and k not in LIVE_CONNECTION_KEYS
                   and self._values[k] != other._values[k] for k in self._values) \
            or self.connections != other.connections

    def as_toml_dict(self, only_changed: bool = True) -> dict[str, dict[str, Any]]:
        """The flat values by group (the file adds the list: settings_file.save)."""
        tables: dict[str, dict[str, Any]] = {}
        for spec in SETTINGS:
            value = self._values[spec.key]
            if only_changed and value == spec.default:
                continue
            tables.setdefault(spec.group, {})[spec.name] = value
        return tables


def _check_together(values: dict[str, Any]) -> None:
    if values["connection.ping_timeout"] >= values["connection.ping_interval"]:
        raise SettingsError(
            "connection.ping_timeout",
            tr("must be shorter than the ping interval ({interval} s)", interval=values["connection.ping_interval"]),
        )
    for key in ("alerts.quiet_start", "alerts.quiet_end"):
        if values[key] and parse_hhmm(values[key]) is None:
            raise SettingsError(key, tr("must be a time like 22:30 (got {value!r})", value=values[key]))
    if values["shop.hours"]:
        try:
            parse_hours(values["shop.hours"])
        except HoursError as exc:
            raise SettingsError("shop.hours", str(exc)) from None
    url = values["connection.url"]
    if url and not url.startswith(("ws://", "wss://", "amqp://", "amqps://")):
        raise SettingsError("connection.url", tr("must start with ws:// or wss:// (got {value!r})", value=url))
    if values["connection.protocol"] == "amqp" and url:
        _check_amqp_url(url)


def _check_amqp_url(url: str) -> None:
    from urllib.parse import urlsplit

    if not url.startswith(("amqp://", "amqps://")):
        raise SettingsError(
            "connection.url", tr("must start with amqp:// or amqps:// for RabbitMQ (got {value!r})", value=url)
        )
    try:
        has_password = urlsplit(url).password is not None
    except ValueError:
        has_password = False
    if has_password:
        # Never echo the value: it is a password.
        raise SettingsError(
            "connection.url",
            tr("must not contain the password; save it with `notifier secret set amqp_password` instead"),
        )


def flatten(tables: Mapping[str, Any]) -> dict[str, Any]:
    """TOML tables to dotted keys: {"connection": {"url": u}} -> {"connection.url": u}."""
    flat: dict[str, Any] = {}
    for group, table in tables.items():
        if not isinstance(table, Mapping):
            raise SettingsError(group, tr("must be a table of settings"))
        for name, value in table.items():
            flat[f"{group}.{name}"] = value
    return flat


def parse_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]



"""How each setting is shown in the settings dialog: one presentation table keyed by setting.

What a setting *is* (type, default, bounds, English label and help, the protocols it means
something for) is declared once in `notifier.core.settings`. What the dialog makes of it lives
here, one row per setting or secret, in the order the rows appear: the page and section it
sits in, the kind of editor, a shorter label where the declared one would wrap, the grey hint
(per protocol where it differs), the placeholder, and the names of choices. A setting declared
in core and missing here still appears, at the end of its page, with the editor its type gets.

Texts are translated when the table is read (`rows()`, `sections()`), so a language change in
the running app is picked up by the next dialog; their catalog context is "SettingsDialog".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from PySide6.QtCore import QCoreApplication

from notifier.core.i18n import tr as core_tr
from notifier.core.settings import BY_KEY, SECRETS, SETTINGS, SecretSpec, Setting

PAGES = ("connection", "connections", "alerts", "escalation", "voice", "printer", "general")
PAGE_OF_GROUP = {"connection": "connection", "skytakeout": "connection", "json": "connection",
                 "amqp": "connection", "alerts": "alerts", "voice": "voice", "printer": "printer",
                 "general": "general", "ledger": "general", "escalation": "escalation", "shop": "alerts",
                 "printer2": "printer", "printer3": "printer"}



@dataclass(frozen=True)
class Section:
    """A titled box on a page; `advanced` ones are folded behind "Show advanced settings"."""

    page: str
    name: str
    title: str
    advanced: bool = False


@dataclass(frozen=True)
class Row:
    """One setting (or secret) as the dialog shows it.

    `editor`: "" picks by type (check box, drop-down, spin box, slider, line); otherwise one of
    settings_editors.EDITORS ("time", "path", "multiline", "voice_engine", "voice_name",
    "printer_address", "secret"). `label`/`hint`: None means the declaration's, translated. `by_protocol`: the
    (placeholder, hint) for each protocol, where the field means different things per protocol.
    """

    key: str
    page: str
    section: str
    editor: str = ""
    label: str | None = None
    hint: str | None = None
    placeholder: str = ""
    by_protocol: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    choices: Mapping[str, str] = field(default_factory=dict)
    secret: bool = False

    def spec(self) -> Setting | SecretSpec:
        return BY_KEY[self.key] if not self.secret else next(s for s in SECRETS if s.name == self.key)

    def label_text(self) -> str:
        return self.label if self.label is not None else core_tr(self.spec().label)

    def hint_text(self) -> str:
        if self.hint is not None:
            return self.hint
        spec = self.spec()
        return core_tr(spec.help) if isinstance(spec, Setting) and spec.help else ""

    def hint_for(self, protocol: str) -> tuple[str, str]:
        """(placeholder, hint) with this protocol chosen."""
        return self.by_protocol.get(protocol, (self.placeholder, self.hint_text()))

    def applies_to(self, protocol: str) -> bool:
        spec = self.spec()
        return spec.applies_to(protocol) if isinstance(spec, Setting) else protocol in spec.used_by


def sections() -> tuple[Section, ...]:
    """Every section in page order (advanced ones last on their page)."""
    return (
        Section("connection", "server", QCoreApplication.translate("SettingsDialog", "Order server")),
        Section("connection", "skytakeout", QCoreApplication.translate("SettingsDialog", "Sky-take-out admin account (catches orders missed while offline)")),
        Section("connection", "amqp", QCoreApplication.translate("SettingsDialog", "RabbitMQ queue")),
        Section("connection", "json", QCoreApplication.translate("SettingsDialog", "Message fields")),
        Section("connection", "auto_accept", QCoreApplication.translate("SettingsDialog", "Auto-accept (自动接单)")),
        Section("connection", "advanced", QCoreApplication.translate("SettingsDialog", "Advanced"), advanced=True),
        Section("alerts", "what", QCoreApplication.translate("SettingsDialog", "What to announce")),
        Section("alerts", "repeats", QCoreApplication.translate("SettingsDialog", "Repeats and summaries")),
        Section("alerts", "quiet", QCoreApplication.translate("SettingsDialog", "Quiet hours (voice off, notifications still shown)")),
        Section("alerts", "hours", QCoreApplication.translate("SettingsDialog", "Opening hours (营业 / 打烊 by themselves)")),
        Section("alerts", "browser", QCoreApplication.translate("SettingsDialog", "Opening orders")),
        # Escalation (desktop/escalation.py): louder, then the owner's phone.
        Section("escalation", "steps", QCoreApplication.translate("SettingsDialog", "When nobody acts on an order")),
        Section("escalation", "phone", QCoreApplication.translate("SettingsDialog", "The owner's phone")),
        Section("escalation", "connection", QCoreApplication.translate("SettingsDialog", "When the connection is lost")),
        Section("voice", "voice", QCoreApplication.translate("SettingsDialog", "Voice")),
        Section("voice", "templates", QCoreApplication.translate("SettingsDialog", "What is said")),
        Section("voice", "advanced", QCoreApplication.translate("SettingsDialog", "Advanced"), advanced=True),
        Section("printer", "printer", QCoreApplication.translate("SettingsDialog", "Kitchen tickets")),
        Section("printer", "ticket", QCoreApplication.translate("SettingsDialog", "What the ticket shows")),
        Section("printer", "printer2", QCoreApplication.translate("SettingsDialog", "Second printer (a station)")),
        Section("printer", "printer3", QCoreApplication.translate("SettingsDialog", "Third printer (a station)")),
        Section("printer", "advanced", QCoreApplication.translate("SettingsDialog", "Advanced"), advanced=True),
        Section("general", "general", QCoreApplication.translate("SettingsDialog", "General")),
    )


def page_titles() -> dict[str, str]:
    return {"connection": QCoreApplication.translate("SettingsDialog", "Connection"),
            "connections": QCoreApplication.translate("SettingsDialog", "Connections"), "alerts": QCoreApplication.translate("SettingsDialog", "Alerts"), "voice": QCoreApplication.translate("SettingsDialog", "Voice"),
            "escalation": QCoreApplication.translate("SettingsDialog", "Escalation"),
            "printer": QCoreApplication.translate("SettingsDialog", "Printer"),
            "general": QCoreApplication.translate("SettingsDialog", "General")}


def _address_hints() -> dict[str, tuple[str, str]]:
    return {
        "skytakeout": ("ws://shop:8080/ws/", QCoreApplication.translate("SettingsDialog",
            "The sky-take-out server's WebSocket base, ending in /ws/ (e.g. ws://shop:8080/ws/).")),
        "json": ("wss://push.example.com/orders", QCoreApplication.translate("SettingsDialog",
            "The ws:// or wss:// address the server sends its order messages on.")),
        "notifier": ("wss://orders.example.com/ws", QCoreApplication.translate("SettingsDialog",
            "The wss:// address of your Order Notifier server.")),
        "amqp": ("amqp://shop@mq.example.com:5672/orders", QCoreApplication.translate("SettingsDialog",
            "amqp://USER@HOST:5672/VHOST — the password goes in the field below, not here.")),
    }


def _role_choices() -> dict[str, str]:
    return {"counter": QCoreApplication.translate("SettingsDialog", "Counter: the whole receipt"),
            "kitchen": QCoreApplication.translate("SettingsDialog", "Kitchen: dishes and remark, big type"),
            "station": QCoreApplication.translate("SettingsDialog", "Station: only the dishes named below")}


def _station_rows(n: int) -> list[Row]:
    """A further printer (core/stations.py): its role, connection, paper and dishes."""
    group, section = f"printer{n}", ("printer", f"printer{n}")
    return [
        Row(f"{group}.role", *section, choices=_role_choices()),
        Row(f"{group}.kind", *section, choices={
            "escpos_network": QCoreApplication.translate("SettingsDialog", "Receipt printer on the network (ESC/POS)"),
            "escpos_serial": QCoreApplication.translate("SettingsDialog", "Receipt printer on a serial port (ESC/POS)"),
            "escpos_usb": QCoreApplication.translate("SettingsDialog", "Receipt printer on USB (ESC/POS)"),
            "system": QCoreApplication.translate("SettingsDialog", "A printer of this computer")}),
        Row(f"{group}.address", *section, placeholder="192.168.1.51:9100"),
        Row(f"{group}.paper", *section, choices={
            "58mm": QCoreApplication.translate("SettingsDialog", "58 mm roll"),
            "80mm": QCoreApplication.translate("SettingsDialog", "80 mm roll"), "a4": "A4"}),
        Row(f"{group}.copies", *section, label=QCoreApplication.translate("SettingsDialog", "Copies")),
        Row(f"{group}.route", *section, placeholder="奶茶,咖啡,饮料"),
        Row(f"{group}.chinese", *section, label=QCoreApplication.translate("SettingsDialog", "Chinese text"),
            choices={"gb18030": QCoreApplication.translate("SettingsDialog", "Printer's own font (GB18030)"),
                     "image": QCoreApplication.translate("SettingsDialog", "Drawn as a picture")}),
    ]


def _listed_rows() -> list[Row]:
    connection = ("connection", "server")
    advanced = ("connection", "advanced")
    return [
        Row("connection.protocol", *connection, choices={
            "skytakeout": QCoreApplication.translate("SettingsDialog", "Sky-take-out (苍穹外卖)"),
            "json": QCoreApplication.translate("SettingsDialog", "Other server sending JSON over WebSocket"),
            "notifier": QCoreApplication.translate("SettingsDialog", "Order Notifier server"),
            "amqp": QCoreApplication.translate("SettingsDialog", "RabbitMQ queue")}),
        Row("connection.url", *connection, by_protocol=_address_hints()),
        Row("connection.shop", *connection, placeholder="noodle-bar"),
        Row("notifier_token", *connection, editor="secret", secret=True),
        Row("json_token", *connection, editor="secret", secret=True),
        Row("skytakeout.admin_url", "connection", "skytakeout", placeholder="http://shop:8080"),
        Row("skytakeout.admin_user", "connection", "skytakeout", placeholder="admin"),
        Row("skytakeout_admin_password", "connection", "skytakeout", editor="secret", secret=True),
        Row("amqp.user", "connection", "amqp"),
        Row("amqp_password", "connection", "amqp", editor="secret", secret=True),
        Row("amqp.vhost", "connection", "amqp"),
        Row("amqp.exchange", "connection", "amqp"),
        Row("amqp.queue", "connection", "amqp"),
        Row("amqp.routing_key", "connection", "amqp"),
        Row("amqp.declare", "connection", "amqp"),
        Row("amqp.reply_routing_key", "connection", "amqp"),
        Row("amqp.reply_exchange", "connection", "amqp"),
        *(Row(spec.key, "connection", "json") for spec in SETTINGS if spec.group == "json"),
        Row("connection.auto_accept", "connection", "auto_accept"),
        Row("connection.auto_accept_per_hour", "connection", "auto_accept",
            label=QCoreApplication.translate("SettingsDialog", "At most (orders per hour)"),
            hint=QCoreApplication.translate("SettingsDialog", "0: no limit. Above it, orders ring as usual.")),
        Row("connection.ca_file", *advanced, editor="path"),
        # For machines without a keyring (the dialog still saves passwords to the keyring only).
        Row("secrets.file", *advanced, editor="path"),
        Row("connection.verify_tls", *advanced),
        Row("connection.proxy", *advanced, placeholder="http://proxy:3128"),
        Row("connection.ping_interval", *advanced),
        Row("connection.ping_timeout", *advanced),
        Row("connection.connect_timeout", *advanced),
        Row("connection.max_frame_kib", *advanced),
        Row("skytakeout.pull_interval", *advanced, label=QCoreApplication.translate("SettingsDialog", "Check for missed orders (s)"),
            hint=QCoreApplication.translate("SettingsDialog", "How often the admin API is asked for orders paid while offline.")),
        Row("amqp.prefetch", *advanced),
        *(Row(key, "alerts", "what") for key in (
            "alerts.notify_new_order", "alerts.notify_reminder", "alerts.voice_new_order",
            "alerts.voice_reminder", "alerts.chime")),
        # The declared labels of these four carry their explanation in brackets and wrap; the
        # dialog gives them a short label and the explanation as the hint under the field.
        Row("alerts.repeat_interval", "alerts", "repeats", label=QCoreApplication.translate("SettingsDialog", "Repeat every (s)"),
            hint=QCoreApplication.translate("SettingsDialog", "Until the order is accepted or its ringing stopped. 0: remind only once.")),
        Row("alerts.repeat_limit", "alerts", "repeats", label=QCoreApplication.translate("SettingsDialog", "Repeat at most (times)")),
        Row("alerts.burst_threshold", "alerts", "repeats", label=QCoreApplication.translate("SettingsDialog", "Summarise above (orders)"),
            hint=QCoreApplication.translate("SettingsDialog", "When more orders than this arrive at once, one notification and one "
                    "sentence tell them all.")),
        Row("alerts.disconnect_alert_after", "alerts", "repeats", label=QCoreApplication.translate("SettingsDialog", "Announce a lost connection after (s)"),
            hint=QCoreApplication.translate("SettingsDialog", "0: never.")),
        Row("alerts.quiet_start", "alerts", "quiet", editor="time", label=QCoreApplication.translate("SettingsDialog", "From"), placeholder="22:30",
            hint=QCoreApplication.translate("SettingsDialog", "For example 22:30; empty: no quiet hours.")),
        Row("alerts.quiet_end", "alerts", "quiet", editor="time", label=QCoreApplication.translate("SettingsDialog", "Until"), placeholder="07:00",
            hint=QCoreApplication.translate("SettingsDialog", "For example 07:00, the next morning.")),
        Row("shop.hours", "alerts", "hours", placeholder="mon-fri 10:00-22:00; sat,sun 09:00-02:00",
            label=QCoreApplication.translate("SettingsDialog", "Open"),
            hint=QCoreApplication.translate("SettingsDialog", "Every day: 10:00-22:00. By day: mon-fri "
                                            "10:00-14:00,17:00-22:00; sat,sun 09:00-02:00 (past midnight "
                                            "allowed). The shop opens and closes by itself at these times; "
                                            "the tray can still open or close it in between. Empty: no "
                                            "opening hours.")),
        Row("alerts.quiet_follows_hours", "alerts", "hours"),
        Row("alerts.order_url", "alerts", "browser", label=QCoreApplication.translate("SettingsDialog", "Order page address"),
            placeholder="http://admin.example/#/order?orderId={order_id}",
            hint=QCoreApplication.translate("SettingsDialog", "{order_id} and {order_number} are filled in. Used by a click on a "
                    "notification, by “Open in browser” and by the ticket's QR code.")),
        # Escalation: the declared labels carry "(min, 0 = never)"; here a short label and a hint.
        Row("escalation.louder_after", "escalation", "steps",
            label=QCoreApplication.translate("SettingsDialog", "Ring louder after (min)"),
            hint=QCoreApplication.translate("SettingsDialog", "The order is announced again with a louder, more "
                                            "urgent sound. 0: never.")),
        Row("escalation.phone_after", "escalation", "steps",
            label=QCoreApplication.translate("SettingsDialog", "Send to the phone after (min)"),
            hint=QCoreApplication.translate("SettingsDialog", "One message per order; orders waiting together "
                                            "are one message. 0: never.")),
        Row("escalation.shop_name", "escalation", "phone"),
        Row("escalation_targets", "escalation", "phone", editor="secret", secret=True,
            label=QCoreApplication.translate("SettingsDialog", "Send to")),
        Row("escalation.connection_after", "escalation", "connection",
            label=QCoreApplication.translate("SettingsDialog", "Send to the phone after (min)"),
            hint=QCoreApplication.translate("SettingsDialog", "And again when it is back, with how many orders "
                                            "arrived meanwhile. 0: never.")),
        Row("escalation.connection_when", "escalation", "connection",
            label=QCoreApplication.translate("SettingsDialog", "Send"), choices={
                "always": QCoreApplication.translate("SettingsDialog", "Always"),
                "outside_quiet_hours": QCoreApplication.translate("SettingsDialog",
                                                                  "Not during the quiet hours (shop closed)")},
            hint=QCoreApplication.translate("SettingsDialog", "Until opening hours can be set, the quiet hours "
                                            "on the Alerts page stand for “closed”.")),
        Row("voice.name", "voice", "voice", editor="voice_name"),
        Row("voice.volume", "voice", "voice"),
        Row("voice.rate", "voice", "voice"),
        *(Row(spec.key, "voice", "templates", editor="multiline")
          for spec in SETTINGS if spec.key.startswith("voice.template_")),
        Row("voice.engine", "voice", "advanced", editor="voice_engine"),
        Row("printer.print_on", "printer", "printer", choices={
            "off": QCoreApplication.translate("SettingsDialog", "Never"),
            "new_order": QCoreApplication.translate("SettingsDialog", "Every new order"),
            "accept": QCoreApplication.translate("SettingsDialog", "When an order is accepted")},
            hint=QCoreApplication.translate("SettingsDialog", "Reminders are never printed.")),
        Row("printer.kind", "printer", "printer", choices={
            "escpos_network": QCoreApplication.translate("SettingsDialog", "Receipt printer on the network (ESC/POS)"),
            "escpos_serial": QCoreApplication.translate("SettingsDialog", "Receipt printer on a serial port (ESC/POS)"),
            "escpos_usb": QCoreApplication.translate("SettingsDialog", "Receipt printer on USB (ESC/POS)"),
            "system": QCoreApplication.translate("SettingsDialog", "A printer of this computer")}, hint=""),
        Row("printer.address", "printer", "printer", editor="printer_address",
            placeholder="192.168.1.50:9100"),
        Row("printer.paper", "printer", "printer", choices={
            "58mm": QCoreApplication.translate("SettingsDialog", "58 mm roll"),
            "80mm": QCoreApplication.translate("SettingsDialog", "80 mm roll"), "a4": "A4"}),
        Row("printer.copies", "printer", "printer", label=QCoreApplication.translate("SettingsDialog", "Copies")),
        Row("printer.chinese", "printer", "printer", label=QCoreApplication.translate("SettingsDialog", "Chinese text"),
            choices={"gb18030": QCoreApplication.translate("SettingsDialog", "Printer's own font (GB18030)"),
                     "image": QCoreApplication.translate("SettingsDialog", "Drawn as a picture")},
            hint=QCoreApplication.translate("SettingsDialog", "A printer without a Chinese font prints "
                                            "garbled text: choose “Drawn as a picture” (slower).")),
        Row("printer.role", "printer", "printer", choices=_role_choices()),
        Row("printer.route", "printer", "printer", placeholder="奶茶,咖啡,饮料"),
        *(row for n in (2, 3) for row in _station_rows(n)),
        *(Row(key, "printer", "ticket") for key in (
            "printer.shop_name", "printer.show_time", "printer.show_items", "printer.show_remark",
            "printer.show_amount", "printer.show_customer", "printer.show_phone",
            "printer.mask_phone", "printer.show_address")),
        Row("printer.show_qr", "printer", "ticket", hint=QCoreApplication.translate(
            "SettingsDialog", "The QR code opens the order page set on the Alerts page.")),
        Row("printer.timeout", "printer", "advanced"),
        Row("general.language", "general", "general", choices={
            "system": QCoreApplication.translate("SettingsDialog", "Same as the system"), "zh_CN": "中文", "en": "English"}),
        Row("general.start_at_login", "general", "general"),
        Row("general.log_level", "general", "general", choices={
            "DEBUG": QCoreApplication.translate("SettingsDialog", "Debug (everything)"), "INFO": QCoreApplication.translate("SettingsDialog", "Normal"),
            "WARNING": QCoreApplication.translate("SettingsDialog", "Warnings and errors"), "ERROR": QCoreApplication.translate("SettingsDialog", "Errors only")}),
        Row("ledger.retention_days", "general", "general"),
    ]


def rows() -> list[Row]:
    """Every declared setting and secret, in the order shown; unlisted ones at their page's end."""
    listed = _listed_rows()
    seen = {row.key for row in listed}
    for spec in SETTINGS:
        if spec.key not in seen:
            page = PAGE_OF_GROUP.get(spec.group, "general")
            listed.append(Row(spec.key, page, "advanced" if spec.advanced and page == "connection" else "other"))
    for secret in SECRETS:
        if secret.name not in seen:
            listed.append(Row(secret.name, "connection", "server", editor="secret", secret=True))
    return listed


def row_for(key: str) -> Row:
    return next(row for row in rows() if row.key == key)

"""The owner's phone, reached through Apprise: the targets, what they are called, one send.

A target is an Apprise URL, the form the services' own guides give: 企业微信群机器人
`wecombot://KEY`, 钉钉 `dingtalk://SECRET@TOKEN` (signed) or `dingtalk://TOKEN`, 飞书
`feishu://SECRET@TOKEN` (signed) or `feishu://TOKEN`, Server酱 `schan://SENDKEY`, Bark
`bark://HOST/DEVICE_KEY`, ntfy `ntfy://HOST/TOPIC` (or `ntfy://TOPIC` on ntfy.sh), any webhook
`json://HOST/PATH`. Several targets are kept as one secret in the keyring, one per line (or
separated by spaces).

Every URL holds a token, so nothing here ever prints one: targets are named by `describe`
(the service, and the host where it is the owner's own server), Apprise's own log (which quotes
URLs and tokens, e.g. "An invalid DingTalk API Token (…)") is never let through to ours — it
only feeds `Delivery.reason` through a filter that keeps status codes — and urllib3's debug lines
(which carry the request path with its `access_token=`) are kept below the log level.

Where Apprise 2.3 does not send what the vendor documents (DingTalk's signature, Feishu's
signed body) or takes a refusal for success (DingTalk, WeCom), `_checked_classes` sends instead,
on Apprise's parsing; see there.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from notifier.core.escalation_wording import PhoneMessage
from notifier.core.i18n import tr

log = logging.getLogger(__name__)

# How long one service may take to answer (connect, then read), in seconds.
TIMEOUT_S = 10.0

# schema -> the name a shop owner knows the service by; hosts are shown only for services
# where the host is the owner's own server (never a token).
SERVICES: dict[str, str] = {
    "wecombot": "企业微信群机器人 (WeCom)",
    "dingtalk": "钉钉 (DingTalk)",
    "feishu": "飞书 (Feishu)",
    "schan": "Server酱 (ServerChan)",
    "bark": "Bark", "barks": "Bark",
    "ntfy": "ntfy", "ntfys": "ntfy",
    "json": "JSON webhook", "jsons": "JSON webhook",
}
OWN_HOST = {"bark", "barks", "ntfy", "ntfys", "json", "jsons"}
SIGNED = {"dingtalk", "feishu"}

_SCHEMA = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)


def split_targets(text: str) -> list[str]:
    """The targets in the stored secret: one per line or separated by spaces; `#` lines are notes."""
    targets = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            targets.extend(part for part in line.split() if part)
    return targets


def schema_of(url: str) -> str:
    match = _SCHEMA.match(url.strip())
    return match.group(1).lower() if match else ""


def describe(url: str) -> str:
    """What the owner may be shown of a target: the service, "signed", and the host of a server
    of their own. Never the token, the key, the topic or the path."""
    schema = schema_of(url)
    if not schema:
        return tr("not an address (it must start like dingtalk:// or ntfy://)")
    name = SERVICES.get(schema, schema)
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        has_path = bool(parts.path.strip("/"))
        signed = schema in SIGNED and bool(parts.username)
    except ValueError:
        return name
    if signed:
        name = tr("{service}, signed", service=name)
    # `ntfy://TOPIC` has the topic where the host goes: that one is a secret, not shown.
    if schema in OWN_HOST and host and has_path:
        name = tr("{service} at {host}", service=name, host=host)
    return name


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one send to one target went. `reason` is ours, never the service's text."""

    ok: bool
    reason: str = ""
    unusable: bool = False  # the target itself is wrong: trying again cannot help


class _Reasons(logging.Handler):
    """Keeps, from Apprise's log records of one thread, only what says why a send failed:
    an HTTP status code, or that the service could not be reached. Nothing else is kept."""

    _STATUS = re.compile(r"error=(\d{3})\b")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.thread = threading.get_ident()
        self.status: str | None = None
        self.unreachable = False
        self.refused = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a record we cannot read tells us nothing
            return
        match = self._STATUS.search(text)
        if match:
            self.status = match.group(1)
        lowered = text.lower()
        if "connection error" in lowered:
            self.unreachable = True
        if "rejected" in lowered or "refused" in lowered:
            self.refused = True

    def reason(self) -> str:
        if self.status:
            return tr("the service answered HTTP {status}", status=self.status)
        if self.unreachable:
            return tr("the service could not be reached")
        if self.refused:
            return tr("the service refused the message")
        return tr("the service did not take the message")


_quiet_lock = threading.Lock()
_quieted = False


def quiet_apprise() -> None:
    """Apprise's log quotes URLs and tokens, and urllib3's debug lines carry request paths with
    their keys: neither may reach our log, whatever its level."""
    global _quieted
    with _quiet_lock:
        if _quieted:
            return
        apprise_log = logging.getLogger("apprise")
        apprise_log.propagate = False
        apprise_log.setLevel(logging.DEBUG)  # for _Reasons, the only handler it ever has
        for handler in list(apprise_log.handlers):
            apprise_log.removeHandler(handler)
        logging.getLogger("urllib3").setLevel(logging.ERROR)
        _quieted = True


def feishu_sign(secret: str, timestamp: str) -> str:
    """Feishu's custom-bot signature: HMAC-SHA256 keyed with "timestamp\\nsecret" over nothing,
    base64 (as Feishu's documentation computes it)."""
    import hashlib  # here: the app loads this module at start, and hmac/hashlib load OpenSSL
    import hmac

    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", digestmod=hashlib.sha256).digest()).decode()


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk's 加签: HMAC-SHA256 keyed with the secret over "timestamp\\nsecret", base64.
    URL-encoded once, by the HTTP client, as a query parameter."""
    import hashlib  # see feishu_sign
    import hmac

    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def _post_checked(plugin, url: str, payload: dict, params: dict | None = None) -> bool:
    """POST JSON the way the Apprise plugin would, and believe the service only when it says so:
    these services answer a refusal (bad signature, keyword rule, wrong key) with HTTP 200 and
    a non-zero `errcode` or `code` in the body."""
    import requests

    plugin.throttle()
    try:
        answer = requests.post(
            url, params=params, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers={"User-Agent": plugin.app_id, "Content-Type": "application/json; charset=utf-8"},
            verify=plugin.verify_certificate, timeout=plugin.request_timeout,
            allow_redirects=plugin.redirects)
    except requests.RequestException:
        plugin.logger.warning("A Connection error occurred")
        return False
    if answer.status_code != 200:
        plugin.logger.warning(f"Failed to send: error={answer.status_code}.")
        return False
    try:
        body = json.loads(answer.content)
    except ValueError:
        body = {}
    code = body.get("errcode", body.get("code")) if isinstance(body, dict) else None
    if code:
        plugin.logger.warning("The service rejected our notification")
        return False
    return True


def _text(title: str, body: str) -> str:
    return f"{title}\r\n{body}" if title else body


@functools.cache
def _checked_classes() -> dict[str, type]:
    """Where Apprise 2.3 does not do what the vendor documents, the part that does, per schema.

    - DingTalk: Apprise URL-encodes the `sign` and then hands it to requests as a parameter,
      which encodes it again; DingTalk answers "sign not match" (310000) — with HTTP 200, which
      Apprise takes for success. Here the sign is encoded once and the answer's `errcode` read.
    - WeCom: the answer's `errcode` is read (a wrong key is HTTP 200, errcode 93000).
    - Feishu with a secret (`feishu://SECRET@TOKEN`): Apprise does not sign Feishu at all; the
      body gets `timestamp` and `sign` as Feishu documents.
    URL parsing, validation and limits stay Apprise's.
    """
    from apprise.plugins.dingtalk import NotifyDingTalk
    from apprise.plugins.feishu import NotifyFeishu
    from apprise.plugins.wecombot import NotifyWeComBot

    class CheckedDingTalk(NotifyDingTalk):
        def send(self, body, title="", notify_type=None, **kwargs):
            payload = {"msgtype": "text", "text": {"content": _text(title, body)},
                       "at": {"atMobiles": self.targets, "isAtAll": False}}
            params = None
            if self.secret:
                timestamp = str(round(time.time() * 1000))
                params = {"timestamp": timestamp, "sign": dingtalk_sign(self.secret, timestamp)}
            return _post_checked(self, self.notify_url.format(token=self.token), payload, params)

    class CheckedWeComBot(NotifyWeComBot):
        def send(self, body, title="", notify_type=None, **kwargs):
            # title_maxlen is 0 here: Apprise has already put the title into the body.
            return _post_checked(self, self.api_url, {"msgtype": "text", "text": {"content": body}})

    class SignedFeishu(NotifyFeishu):
        def __init__(self, token, secret: str, **kwargs):
            super().__init__(token, **kwargs)
            self.secret = secret

        def send(self, body, title="", notify_type=None, **kwargs):
            timestamp = str(int(time.time()))
            payload = {"timestamp": timestamp, "sign": feishu_sign(self.secret, timestamp),
                       "msg_type": "text", "content": {"text": _text(title, body)}}
            return _post_checked(self, self.notify_url.format(token=self.token), payload)

    return {"dingtalk": CheckedDingTalk, "wecombot": CheckedWeComBot, "feishu": SignedFeishu}


def _build(url: str, asset):
    """The Apprise plugin instance for a target, or None when the URL is not one."""
    from apprise import Apprise

    schema = schema_of(url)
    checked = _checked_classes().get(schema)
    if checked is None:
        return Apprise.instantiate(url, asset=asset)
    parsed = checked.parse_url(url)
    if not parsed:
        return None
    if schema == "feishu":
        if not parsed.get("user"):
            return Apprise.instantiate(url, asset=asset)  # unsigned: Apprise's own Feishu
        parsed["secret"] = checked.unquote(parsed.pop("user"))
        parsed.pop("password", None)
    try:
        return checked(asset=asset, **parsed)
    except Exception:  # noqa: BLE001 - Apprise's "invalid token" error quotes the token
        return None


def _built(url: str, asset):
    """(the Apprise plugin for the target, None) or (None, why it cannot be used, without the URL)."""
    if not schema_of(url):
        return None, describe(url)
    plugin = _build(url, asset)
    if plugin is None:
        return None, tr("{service}: the address is not complete or not one Apprise knows",
                        service=SERVICES.get(schema_of(url), schema_of(url)))
    return plugin, None


def check(url: str) -> str | None:
    """None when Apprise can use the target; else why not (without the URL)."""
    quiet_apprise()
    from apprise import AppriseAsset

    return _built(url, AppriseAsset())[1]


def send(url: str, message: PhoneMessage, *, timeout: float = TIMEOUT_S) -> Delivery:
    """Send one message to one target, in the caller's thread (a network wait of up to
    about twice `timeout`). Never raises for the target's faults; the reason names no secret."""
    quiet_apprise()
    from apprise import AppriseAsset

    # Built once per send: building is a good share of a send's CPU (a server sends thousands).
    plugin, problem = _built(url, AppriseAsset(app_id="Order Notifier", app_desc="Order Notifier"))
    if problem is not None:
        return Delivery(False, problem, unusable=True)
    plugin.socket_connect_timeout = plugin.socket_read_timeout = timeout
    reasons = _Reasons()
    apprise_log = logging.getLogger("apprise")
    apprise_log.addHandler(reasons)
    try:
        ok = plugin.notify(body=message.body, title=message.title)
    except Exception as exc:  # noqa: BLE001 - a plugin bug is this target's failure, no more
        log.warning("sending to %s failed: %s", describe(url), type(exc).__name__)
        return Delivery(False, tr("the service did not take the message"))
    finally:
        apprise_log.removeHandler(reasons)
    return Delivery(True) if ok else Delivery(False, reasons.reason())

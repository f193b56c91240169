"""Doubles of the phone services' HTTP APIs on 127.0.0.1, checking requests as each vendor
documents them, and answering as the vendor does (most of them with HTTP 200 and a JSON code).

- 钉钉 DingTalk custom robot: `POST /robot/send?access_token=TOKEN`, JSON `{"msgtype":"text",
  "text":{"content":…}}`; with 加签 on, query `timestamp` (ms, within an hour of now) and `sign` =
  base64(HMAC-SHA256(key=secret, msg="timestamp\\nsecret")); a wrong one answers
  `{"errcode":310000,"errmsg":"sign not match"}`.
- 飞书 Feishu custom bot: `POST /open-apis/bot/v2/hook/TOKEN`, JSON `{"msg_type":"text","content":
  {"text":…}}`; with 签名校验 on, the body has `timestamp` (s, within an hour) and `sign` =
  base64(HMAC-SHA256(key="timestamp\\nsecret", msg="")); a wrong one answers `{"code":19021,…}`.
- 企业微信 WeCom group robot: `POST /cgi-bin/webhook/send?key=KEY`, JSON `{"msgtype":"text",
  "text":{"content":…}}` → `{"errcode":0,"errmsg":"ok"}`.
- Server酱 ServerChan Turbo: `POST /SENDKEY.send` with form fields `title`, `desp`.
- Bark: `POST /push` with JSON `{"device_key","title","body",…}`.
- ntfy: `POST /TOPIC` (message as the body, `X-Title`/`X-Priority`/`X-Tags` headers) or a JSON
  publish `POST /` with `{"topic","message","title",…}`.
- any JSON webhook: whatever JSON is posted.

Every request is recorded (`requests`); `fail_next(n, status)` answers the next n requests with
that HTTP status, `hold()` keeps requests waiting until `release()` (a service that hangs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.fakes.util import wait_until

HOUR_MS = 3600 * 1000


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    answer: dict = field(default_factory=dict)
    status: int = 200

    def json(self) -> dict:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """As DingTalk's documentation computes it (before URL-encoding)."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp: str) -> str:
    """As Feishu's documentation computes it: the key is "timestamp\\nsecret", the message empty."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class PhoneServices:
    """One HTTP server answering as all the vendors above (by path)."""

    def __init__(self, *, dingtalk_secret: str | None = None, feishu_secret: str | None = None):
        self.dingtalk_secret = dingtalk_secret
        self.feishu_secret = feishu_secret
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._failures: list[int] = []
        self._released = threading.Event()
        self._released.set()
        self.holding = 0
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                record = Recorded("POST", parts.path, query, {k.lower(): v for k, v in self.headers.items()},
                                  body)
                double._answer(record)
                payload = json.dumps(record.answer).encode()
                self.send_response(record.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), name="phone-services",
                                        daemon=True)

    def __enter__(self) -> PhoneServices:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    # -- what a test controls ----------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def succeed(self) -> None:
        """No more made-up failures."""
        with self._lock:
            self._failures.clear()

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def ntfy_url(self, topic: str = "orders") -> str:
        """This double as an ntfy server, as an Apprise target."""
        return f"ntfy://127.0.0.1:{self.port}/{topic}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        wait_until(lambda: len(self.requests) >= count, timeout, message=f"{count} requests")
        return list(self.requests)

    # -- the vendors -------------------------------------------------------------------------

    def _answer(self, record: Recorded) -> None:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if not self._released.is_set():
            with self._lock:
                self.holding += 1
            self._released.wait(30)
        with self._lock:
            self.requests.append(record)
        if failure is not None:
            record.status, record.answer = failure, {"error": "made to fail"}
            return
        path = record.path
        if path == "/robot/send":
            record.answer = self._dingtalk(record)
        elif path.startswith("/open-apis/bot/v2/hook/"):
            record.answer = self._feishu(record)
        elif path == "/cgi-bin/webhook/send":
            record.answer = self._wecom(record)
        elif path.endswith(".send"):
            record.answer = {"code": 0, "message": "", "data": {"pushid": "1"}}
        else:
            record.answer = {"code": 200, "message": "success"}  # Bark, ntfy, webhooks

    def _dingtalk(self, record: Recorded) -> dict:
        if not record.query.get("access_token"):
            return {"errcode": 300001, "errmsg": "token is not exist"}
        if self.dingtalk_secret is not None:
            timestamp, sign = record.query.get("timestamp", ""), record.query.get("sign", "")
            fresh = timestamp.isdigit() and abs(int(timestamp) - time.time() * 1000) < HOUR_MS
            if not fresh or sign != dingtalk_sign(self.dingtalk_secret, timestamp):
                return {"errcode": 310000, "errmsg": "sign not match"}
        body = record.json()
        if body.get("msgtype") != "text" or not body.get("text", {}).get("content"):
            return {"errcode": 40035, "errmsg": "missing param"}
        return {"errcode": 0, "errmsg": "ok"}

    def _feishu(self, record: Recorded) -> dict:
        body = record.json()
        if self.feishu_secret is not None:
            timestamp, sign = str(body.get("timestamp", "")), body.get("sign", "")
            fresh = timestamp.isdigit() and abs(int(timestamp) - time.time()) < 3600
            if not fresh or sign != feishu_sign(self.feishu_secret, timestamp):
                record.status = 200
                return {"code": 19021, "msg": "sign match fail or timestamp is not within one hour "
                                              "from current time", "data": {}}
        if body.get("msg_type") != "text" or not body.get("content", {}).get("text"):
            return {"code": 9499, "msg": "Bad Request", "data": {}}
        return {"code": 0, "msg": "success", "data": {}}

    def _wecom(self, record: Recorded) -> dict:
        if not record.query.get("key"):
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        body = record.json()
        if body.get("msgtype") != "text" or not body.get("text", {}).get("content"):
            return {"errcode": 40008, "errmsg": "invalid message type"}
        return {"errcode": 0, "errmsg": "ok"}

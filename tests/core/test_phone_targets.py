"""Phone alert targets through Apprise, against doubles of the services' HTTP APIs on 127.0.0.1
(tests/fakes/phone_services.py) that check each request as the vendor documents it.

DingTalk, Feishu, WeCom and ServerChan have their host fixed in Apprise (`notify_url`, an https
address of the vendor's). The tests point that one class attribute at the double (`monkeypatch`,
plain http on 127.0.0.1): everything else — the URL parsing, the signature, the JSON body, the
headers — is the request Apprise (or our signed Feishu) really builds and sends, so what the
double checks is what the vendor would receive, only on another host. Bark, ntfy and JSON
webhooks take their host from the target URL, so those point at the double the way a shop would
point them at its own server.
"""

from __future__ import annotations

import io
import logging
from decimal import Decimal

import pytest
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.feishu import NotifyFeishu
from apprise.plugins.serverchan import NotifyServerChan
from apprise.plugins.wecombot import NotifyWeComBot

from notifier.core import escalation_wording as words
from notifier.core import logs, phone_targets
from notifier.core.events import OrderEvent, OrderKind
from tests.fakes.phone_services import PhoneServices

DING_SECRET = "SEC0123456789abcdef0123456789abcdef"
DING_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
FEISHU_SECRET = "fs8Kq2secretVALUE"
FEISHU_TOKEN = "0f1e2d3c-4b5a-6978-8a9b-acbdcedfe0f1"
WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
SCHAN_KEY = "SCT123456TabcdEFGhijk"


@pytest.fixture
def services(monkeypatch):
    with PhoneServices(dingtalk_secret=DING_SECRET, feishu_secret=FEISHU_SECRET) as double:
        monkeypatch.setattr(NotifyDingTalk, "notify_url", double.base + "/robot/send?access_token={token}")
        monkeypatch.setattr(NotifyFeishu, "notify_url", double.base + "/open-apis/bot/v2/hook/{token}")
        monkeypatch.setattr(NotifyWeComBot, "notify_url", double.base + "/cgi-bin/webhook/send?key={key}")
        monkeypatch.setattr(NotifyServerChan, "notify_url", double.base + "/{token}.send")
        yield double


def order(number: str, amount: str | None = "56.50") -> OrderEvent:
    return OrderEvent(OrderKind.NEW_ORDER, f"id-{number}", "notifier", "shop.example", order_number=number,
                      amount=Decimal(amount) if amount else None)


def message() -> words.PhoneMessage:
    return words.orders_message([order("1234")], 312, "老王面馆", "zh_CN")


def test_dingtalk_signed_request_as_dingtalk_documents_it(services):
    delivery = phone_targets.send(f"dingtalk://{DING_SECRET}@{DING_TOKEN}", message())

    assert delivery.ok
    [request] = services.requests
    assert request.query["access_token"] == DING_TOKEN
    assert request.answer == {"errcode": 0, "errmsg": "ok"}  # timestamp fresh, sign matches
    content = request.json()["text"]["content"]
    assert "老王面馆" in content and "1234" in content and "56.50" in content and "5 分钟" in content


def test_dingtalk_with_the_wrong_secret_is_refused_by_the_double(services):
    # The double really checks the signature: the same request signed with another secret fails.
    phone_targets.send(f"dingtalk://SEC999wrong999@{DING_TOKEN}", message())
    assert services.requests[0].answer["errcode"] == 310000


def test_feishu_signed_body_as_feishu_documents_it(services):
    delivery = phone_targets.send(f"feishu://{FEISHU_SECRET}@{FEISHU_TOKEN}", message())

    assert delivery.ok
    [request] = services.requests
    assert request.path == f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}"
    body = request.json()
    assert request.answer["code"] == 0  # the double verified timestamp and sign
    assert set(body) >= {"timestamp", "sign", "msg_type", "content"}
    assert "老王面馆" in body["content"]["text"]


def test_feishu_refusing_a_bad_signature_is_a_failed_delivery(services):
    delivery = phone_targets.send(f"feishu://wrongsecret@{FEISHU_TOKEN}", message())
    assert not delivery.ok
    assert services.requests[0].answer["code"] == 19021
    assert delivery.reason == "the service refused the message"


def test_wecom_bot_json_message(services):
    delivery = phone_targets.send(f"wecombot://{WECOM_KEY}", message())

    assert delivery.ok
    [request] = services.requests
    assert request.query == {"key": WECOM_KEY}
    assert request.headers["content-type"].startswith("application/json")
    body = request.json()
    assert body["msgtype"] == "text" and "1234" in body["text"]["content"]
    assert request.answer == {"errcode": 0, "errmsg": "ok"}


def test_serverchan_form_fields(services):
    assert phone_targets.send(f"schan://{SCHAN_KEY}", message()).ok
    [request] = services.requests
    assert request.path == f"/{SCHAN_KEY}.send"
    form = request.form()
    assert "1234" in form["title"] and "56.50" in form["desp"]


def test_bark_push_path_and_device_key(services):
    assert phone_targets.send(f"bark://127.0.0.1:{services.port}/DEVICEKEY123", message()).ok
    [request] = services.requests
    assert request.path == "/push"
    body = request.json()
    assert body["device_key"] == "DEVICEKEY123"
    assert "1234" in body["title"] and "56.50" in body["body"]


def test_ntfy_topic_and_headers(services):
    url = f"ntfy://127.0.0.1:{services.port}/shop-orders?priority=high&tags=bell"
    assert phone_targets.send(url, message()).ok
    [request] = services.requests
    body = request.json()
    assert body["topic"] == "shop-orders"
    assert "1234" in body["title"] and "56.50" in body["message"]
    assert request.headers["x-priority"] == "high"
    assert request.headers["x-tags"] == "bell"


def test_json_webhook(services):
    assert phone_targets.send(f"json://127.0.0.1:{services.port}/orders/hook", message()).ok
    [request] = services.requests
    assert request.path == "/orders/hook"
    assert "1234" in request.json()["title"]


def test_a_failing_service_is_a_reason_without_the_url(services):
    services.fail_next(1, 503)
    delivery = phone_targets.send(f"dingtalk://{DING_SECRET}@{DING_TOKEN}", message())
    assert not delivery.ok
    assert delivery.reason == "the service answered HTTP 503"
    assert DING_TOKEN not in delivery.reason and DING_SECRET not in delivery.reason


def test_no_token_reaches_the_log_file_or_the_console_even_at_debug(services):
    """Apprise's own log quotes tokens ("An invalid DingTalk API Token (…)", "DingTalk URL: …
    access_token=…") and urllib3's debug lines carry the request path: with the app's own log
    set up at DEBUG (file and console), none of it may arrive there."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    console = io.StringIO()
    try:
        logs.configure("DEBUG", to_file=True, stream=console)
        logging.getLogger("notifier.test").debug("the log takes debug lines")
        services.fail_next(1, 500)
        phone_targets.send(f"dingtalk://{DING_SECRET}@{DING_TOKEN}", message())
        phone_targets.send(f"dingtalk://{DING_SECRET}@{DING_TOKEN}", message())
        phone_targets.send("dingtalk://not-a-valid-token!!@x", message())  # Apprise logs the token
        phone_targets.send(f"wecombot://{WECOM_KEY}", message())
        unreachable = phone_targets.send("ntfy://127.0.0.1:9/secret-topic-42", message())
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            handler.close()
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
    assert not unreachable.ok and unreachable.reason == "the service could not be reached"
    assert len(services.requests) == 3
    text = console.getvalue() + logs.log_file().read_text(encoding="utf-8")
    assert text.count("the log takes debug lines") == 2  # console and file both listened
    for secret in (DING_SECRET, DING_TOKEN, WECOM_KEY, "secret-topic-42", "not-a-valid-token"):
        assert secret not in text


def test_describe_names_the_service_never_the_token():
    assert phone_targets.describe(f"dingtalk://{DING_SECRET}@{DING_TOKEN}") == "钉钉 (DingTalk), signed"
    assert phone_targets.describe(f"wecombot://{WECOM_KEY}") == "企业微信群机器人 (WeCom)"
    assert phone_targets.describe("ntfy://ntfy.example.com/secret-topic") == "ntfy at ntfy.example.com"
    assert phone_targets.describe("ntfy://secret-topic") == "ntfy"  # the topic is the secret there
    assert phone_targets.describe("bark://user:pw@bark.example.com/KEY") == "Bark at bark.example.com"
    assert "dingtalk://" in phone_targets.describe("just some text")  # says what an address looks like


def test_an_incomplete_target_is_a_sentence_not_an_exception():
    assert phone_targets.check(f"dingtalk://{DING_SECRET}@{DING_TOKEN}") is None
    problem = phone_targets.check("dingtalk://")
    assert problem == "钉钉 (DingTalk): the address is not complete or not one Apprise knows"
    delivery = phone_targets.send("dingtalk://", message())
    assert not delivery.ok and delivery.reason == problem


def test_targets_one_per_line_or_space_separated_with_notes():
    text = f"# the owner's phone\ndingtalk://{DING_TOKEN}  ntfy://h/t\n\n  json://h/p \n"
    assert phone_targets.split_targets(text) == [f"dingtalk://{DING_TOKEN}", "ntfy://h/t", "json://h/p"]

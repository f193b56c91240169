"""The phone sender (notifier.core.phone_sender): real Apprise sends to service doubles on
127.0.0.1, with retry delays of a few hundredths of a second set by the test."""

from __future__ import annotations

import threading

import pytest

from notifier.core.connection import Backoff
from notifier.core.escalation_wording import PhoneMessage
from notifier.core.phone_sender import PhoneSender, targets_from
from notifier.core.secrets import MemorySecrets
from tests.fakes.phone_services import PhoneServices
from tests.helpers import wait_until

FAST = {"backoff": lambda: Backoff(0.05, 0.2)}


@pytest.fixture
def service():
    with PhoneServices() as double:
        yield double


@pytest.fixture
def other_service():
    with PhoneServices() as double:
        yield double


def ntfy(double: PhoneServices, topic: str = "orders") -> str:
    return f"ntfy://127.0.0.1:{double.port}/{topic}"


def fixed(*urls: str):
    return lambda: (list(urls), None)


class Changes:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.count += 1


def test_a_failing_target_is_retried_reported_and_cleared(service):
    changes = Changes()
    sender = PhoneSender(fixed(ntfy(service)), on_change=changes, **FAST)
    try:
        service.fail_next(2, 500)
        sender.put(PhoneMessage("订单 #1234 已等待 5 分钟", "body"))
        problem = wait_until(sender.problems, message="the failure reported")
        assert problem == ["ntfy at 127.0.0.1: the service answered HTTP 500; trying again in 1 s"]
        wait_until(lambda: sender.sent == 1, message="sent on a later try")
        assert [r.status for r in service.requests] == [500, 500, 200]
        assert service.requests[-1].json()["title"] == "订单 #1234 已等待 5 分钟"
        wait_until(lambda: sender.problems() == [], message="the problem cleared")
        assert changes.count >= 3  # told of each failure and of the success
    finally:
        sender.stop()


def test_a_hanging_target_delays_neither_the_caller_nor_another_target(service, other_service):
    service.hold()  # answers nothing until released
    sender = PhoneSender(fixed(ntfy(service), f"json://127.0.0.1:{other_service.port}/hook"), **FAST)
    try:
        sender.put(PhoneMessage("first", "x"))
        sender.put(PhoneMessage("second", "x"))  # returns at once, though one target hangs
        other = other_service.wait_for(2)
        assert [r.json()["title"] for r in other] == ["first", "second"]
        assert service.requests == [] and service.holding == 1  # still waiting on the first
        service.release()
        wait_until(lambda: [r.json()["title"] for r in service.requests] == ["first", "second"])
    finally:
        service.release()
        sender.stop()


def test_an_unsent_lost_connection_message_is_replaced_by_the_back_message(service):
    sender = PhoneSender(fixed(ntfy(service)), backoff=lambda: Backoff(0.4, 0.4))
    try:
        service.fail_next(1, 502)
        sender.put(PhoneMessage("lost", "x", replaces="connection"))
        wait_until(lambda: len(service.requests) == 1)  # failed; the retry waits 0.2-0.4 s
        sender.put(PhoneMessage("back", "x", replaces="connection"))
        sender.put(PhoneMessage("order", "x"))
        wait_until(lambda: sender.sent == 2)
        delivered = [r.json()["title"] for r in service.requests if r.status == 200]
        assert delivered == ["back", "order"]
    finally:
        sender.stop()


def test_the_same_target_twice_gets_one_message(service):
    sender = PhoneSender(fixed(ntfy(service), ntfy(service)), **FAST)
    try:
        sender.put(PhoneMessage("once", "x"))
        wait_until(lambda: sender.sent == 1)
        sender.put(PhoneMessage("marker", "x"))
        wait_until(lambda: sender.sent == 2)
        assert [r.json()["title"] for r in service.requests] == ["once", "marker"]
    finally:
        sender.stop()


def test_a_message_failing_past_the_limit_is_given_up_and_said(service):
    sender = PhoneSender(fixed(ntfy(service)), give_up_after_s=0.3, **FAST)
    try:
        service.fail_next(1000, 500)
        sender.put(PhoneMessage("doomed", "x"))
        wait_until(lambda: any("given up" in p for p in sender.problems()), message="given up")
        assert sender.waiting() == 0
    finally:
        sender.stop()


def test_a_keyring_that_cannot_be_read_is_reported():
    sender = PhoneSender(lambda: ([], "The keyring (Secret Service) is locked; unlock it to use saved passwords."))
    try:
        sender.put(PhoneMessage("t", "b"))
        wait_until(sender.problems)
        assert sender.problems() == ["Phone alerts: The keyring (Secret Service) is locked; unlock it to "
                                     "use saved passwords."]
    finally:
        sender.stop()


def test_a_removed_target_takes_its_waiting_messages_and_problem_with_it(service, other_service):
    targets = [ntfy(service)]
    sender = PhoneSender(lambda: (list(targets), None), backoff=lambda: Backoff(0.2, 0.2))
    try:
        service.fail_next(1000, 500)
        sender.put(PhoneMessage("to the broken one", "x"))
        wait_until(sender.problems)
        targets[:] = [ntfy(other_service)]
        sender.put(PhoneMessage("to the new one", "x"))
        other_service.wait_for(1)
        wait_until(lambda: sender.problems() == [] and sender.waiting() == 0)
    finally:
        sender.stop()


def test_targets_come_from_the_keyring_secret():
    secrets = MemorySecrets({"escalation_targets": "ntfy://h/a\njson://h/b"})
    assert targets_from(secrets)() == (["ntfy://h/a", "json://h/b"], None)
    assert targets_from(MemorySecrets())() == ([], None)  # none saved: no phone alerts, no problem


def test_a_wrong_address_is_said_once_and_not_tried_again(service):
    sender = PhoneSender(fixed("dingtalk://", ntfy(service)), **FAST)
    try:
        sender.put(PhoneMessage("first", "x"))
        service.wait_for(1)  # the good target got it
        wait_until(sender.problems)
        assert sender.problems() == ["钉钉 (DingTalk): the address is not complete or not one Apprise knows"]
        wait_until(lambda: sender.waiting() == 0)  # nothing kept for retrying
    finally:
        sender.stop()

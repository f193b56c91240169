"""`notifier doctor` on the escalation's phone targets: it lists them by service from the
session's real keyring, never their tokens, and `--send-test` sends a test message to each (a
phone service double on 127.0.0.1)."""

from __future__ import annotations

import io

import pytest

from notifier.core.secrets import MemorySecrets, SecretStore
from notifier.core.settings import Settings
from notifier.desktop.doctor import FAIL, OK, WARN, phone_finding, run_doctor
from tests.fakes.phone_services import PhoneServices


@pytest.mark.needs_session
def test_the_doctor_lists_the_targets_from_the_keyring_and_sends_a_test(fresh_keyring, monkeypatch):
    with PhoneServices() as phone:
        targets = f"ntfy://127.0.0.1:{phone.port}/secret-topic-1\njson://127.0.0.1:{phone.port}/hook-secret"
        assert SecretStore().set("escalation_targets", targets) is None
        settings = Settings({"general.language": "en", "escalation.shop_name": "Noodle Bar"})

        listed = phone_finding(settings)
        assert listed.verdict == OK
        assert listed.detail.startswith("2 target(s): ntfy at 127.0.0.1, JSON webhook at 127.0.0.1; ")
        assert phone.requests == []  # listing sends nothing

        # The whole doctor, as `notifier doctor --no-voices --send-test` runs it.
        monkeypatch.setenv("NOTIFIER_TTS_ENGINE", "none")
        out = io.StringIO()
        run_doctor(settings, voices=False, send_test=True, stream=out)
        line = next(text for text in out.getvalue().splitlines() if "Phone alerts" in text)
        assert line == ("[  ok] Phone alerts: 2 target(s): ntfy at 127.0.0.1, JSON webhook at 127.0.0.1; "
                        "✓ ntfy at 127.0.0.1: sent; ✓ JSON webhook at 127.0.0.1: sent")
        assert [r.json()["title"] for r in phone.requests] == ["[Noodle Bar] Test message"] * 2
        assert "secret" not in out.getvalue()


def test_an_unusable_target_fails_and_a_failing_one_warns():
    settings = Settings({"general.language": "en"})
    broken = phone_finding(settings, secrets=MemorySecrets({"escalation_targets": "dingtalk:// hello"}))
    assert broken.verdict == FAIL
    assert broken.detail.endswith("钉钉 (DingTalk): the address is not complete or not one Apprise knows; "
                                  "not an address (it must start like dingtalk:// or ntfy://)")
    with PhoneServices() as phone:
        phone.fail_next(1, 500)
        secrets = MemorySecrets({"escalation_targets": f"ntfy://127.0.0.1:{phone.port}/t"})
        failing = phone_finding(settings, send=True, secrets=secrets)
    assert failing.verdict == WARN
    assert failing.detail.endswith("✗ ntfy at 127.0.0.1: the service answered HTTP 500")
    assert phone_finding(settings, secrets=MemorySecrets()).detail.startswith("no targets saved")

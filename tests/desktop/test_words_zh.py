"""Every sentence the shop owner reads under zh_CN is Chinese, and says what the thing does.

Found on real parts: `connection refused` in the tray's printer line and in `notifier doctor`,
and `（9）` (a signal number) in the voice's tooltip after the speech helper was killed. (确认 on
buttons that only silence this PC: tests/desktop/test_decisions.py, with a back end that takes
decisions.)
"""

from __future__ import annotations

import os
import re
import signal

import pytest
from helpers import free_port, wait_voice_ready

from notifier.core import i18n
from notifier.core.settings import Settings
from notifier.desktop.i18n import install_translators


@pytest.fixture
def chinese(qapp):
    install_translators(qapp, "zh_CN")
    yield
    install_translators(qapp, "en")


def english_words(text: str) -> list[str]:
    """Latin words in a sentence (an address like 127.0.0.1:9100 is not a word)."""
    return re.findall(r"(?<![\w.:/-])[A-Za-z]{3,}(?![\w.:/-])", text)


def test_an_unreachable_printer_is_said_in_chinese_in_the_doctor_and_the_tray(chinese):
    from notifier.core.connection import ConnectionStatus, ConnState
    from notifier.core.reconnect import classify_network_error
    from notifier.desktop.doctor import printer_finding

    port = free_port()  # nothing listens there: the printer is switched off
    finding = printer_finding(Settings({"printer.print_on": "new_order", "printer.address": f"127.0.0.1:{port}"}))
    assert finding.verdict == "warn"
    assert "connection refused" not in finding.line() and not english_words(finding.detail), finding.line()
    assert finding.detail.startswith(f"127.0.0.1:{port} 拒绝连接"), finding.detail
    # The tray's printer line is made of the printer worker's status, the same way.
    state, detail = classify_network_error(ConnectionRefusedError())
    status = ConnectionStatus(ConnState.WAITING, f"127.0.0.1:{port}", detail, retry_in=5, reason=state)
    assert status.problem() == f"127.0.0.1:{port} 拒绝连接"
    assert i18n.language() == "zh_CN"


@pytest.mark.needs_session
def test_a_killed_speech_helper_is_told_in_chinese_without_a_signal_number(qtbot, chinese, monkeypatch):
    from notifier.desktop.voice import Announcer

    monkeypatch.delenv("NOTIFIER_TTS_ENGINE", raising=False)
    announcer = Announcer(Settings({"general.language": "zh_CN"}))
    problems: list[str] = []
    announcer.voice_problem.connect(problems.append)
    try:
        wait_voice_ready(qtbot, announcer)
        problems.clear()  # a cold first helper replaced on the way there was its own news
        os.kill(announcer.helper_pid(), signal.SIGKILL)
        qtbot.waitUntil(lambda: bool(problems) and problems[0] != "", timeout=5_000)
        told = problems[0]
        assert told == "语音辅助进程意外停止，正在重新启动。", told
        assert not re.search(r"\d", told), "no signal number"
    finally:
        announcer.shutdown()

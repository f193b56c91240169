"""The speech helper starts without the command line: its memory counts against the app's for as
long as the app runs (docs/benchmarks.md, issue 27), and the command line's modules (the
settings, every subcommand, the keyring's hashing) are ~3 MB it never uses.

A real helper process, started exactly as the app starts it, with Qt's silent test engine.
"""

from __future__ import annotations

import json
import os
import subprocess

from notifier.desktop.speech_helper import SUBCOMMAND
from notifier.desktop.speech_supervisor import helper_command
from notifier.launcher import SPEECH_HELPER

# Loaded by the command line, never needed to speak.
COMMAND_LINE_MODULES = ("notifier.cli", "notifier.commands", "notifier.core.settings", "notifier.core.secrets", "hmac")


def test_the_entry_knows_the_helpers_subcommand():
    assert SPEECH_HELPER == SUBCOMMAND


def test_the_helper_answers_without_loading_the_command_line(tmp_path):
    command = helper_command()
    command[1:1] = ["-X", "importtime"]  # each imported module, on stderr
    env = {**os.environ, "NOTIFIER_TTS_ENGINE": "mock", "NOTIFIER_HOME": str(tmp_path),
           "QT_QPA_PLATFORM": "offscreen"}
    helper = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, text=True, encoding="utf-8")
    try:
        ready = json.loads(helper.stdout.readline())
        assert ready["event"] == "ready" and ready["engine"] == "mock", ready
        helper.stdin.write(json.dumps({"op": "ping", "id": 7}) + "\n")
        helper.stdin.flush()
        assert json.loads(helper.stdout.readline()) == {"event": "pong", "id": 7}
        _out, err = helper.communicate(timeout=10)  # closes stdin: the app is gone, the helper ends
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait()
    assert helper.returncode == 0
    imported = {line.split("|")[-1].strip() for line in err.splitlines() if line.startswith("import time:")}
    assert "notifier.desktop.speech_helper" in imported  # the listing is there
    assert not [name for name in COMMAND_LINE_MODULES if name in imported]

"""The mistakes people make on the command line: each one is told in one sentence, exit status 2.

Run in-process against `notifier.cli.main` (what `python -m notifier` and the frozen program
call), with real files, folders and sockets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import one_sentence

from notifier.server.store import EventStore

ROOT = Path(__file__).resolve().parents[2]


def test_a_config_file_that_does_not_exist_is_named_not_ignored(notifier, tmp_path):
    missing = tmp_path / "shop.toml"
    for argv in (["--config", str(missing), "listen"], ["listen", "--config", str(missing)],
                 ["--config", str(missing)]):  # the app itself, too: it does not start
        ran = notifier(*argv)
        assert ran.code == 2
        assert one_sentence(ran.err) == f"The settings file {missing} does not exist."


def test_a_config_folder_is_refused_in_a_sentence(notifier, tmp_path):
    ran = notifier("--config", str(tmp_path), "listen")
    assert ran.code == 2
    assert one_sentence(ran.err) == f"{tmp_path} is a folder, not a settings file."


def test_a_broken_settings_file_names_the_setting(notifier, tmp_path):
    config = tmp_path / "settings.toml"
    config.write_text('[connection]\nping_interval = "often"\n', encoding="utf-8")
    ran = notifier("--config", str(config), "listen")
    assert ran.code == 2
    assert "connection.ping_interval" in one_sentence(ran.err)


def test_server_port_in_use_is_a_sentence_not_a_traceback(notifier, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        ran = notifier("server", "--data-dir", str(tmp_path / "srv"), "--port", str(port))
    assert ran.code == 2
    line = one_sentence(ran.err)
    assert line.startswith(f"The server cannot listen on 127.0.0.1 port {port}:") and "in use" in line


@pytest.mark.parametrize("port", ["99999", "-1", "http", ""])
def test_server_port_out_of_range_is_refused(notifier, tmp_path, port):
    ran = notifier("server", "--data-dir", str(tmp_path), "run", "--port", port)
    assert ran.code == 2
    assert "a port is a number from 0 to 65535" in one_sentence(ran.err)


def test_server_commands_take_data_dir_after_the_action_too(notifier, tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    ran = notifier("server", "add-shop", "noodle", "--data-dir", str(after))
    assert ran.code == 0, ran.err
    ran = notifier("server", "--data-dir", str(before), "add-shop", "dumplings")
    assert ran.code == 0, ran.err
    # After the action wins over before it, like every other option.
    ran = notifier("server", "--data-dir", str(before), "list-shops", "--data-dir", str(after))
    assert ran.code == 0 and "noodle" in ran.out and "dumplings" not in ran.out
    for folder, shop in ((after, "noodle"), (before, "dumplings")):
        store = EventStore(folder)
        try:
            assert [s.name for s in store.shops()] == [shop]
        finally:
            store.close()


def test_a_server_data_dir_that_is_a_file_is_a_sentence(notifier, tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    ran = notifier("server", "list-shops", "--data-dir", str(afile))
    assert ran.code == 2
    assert one_sentence(ran.err).startswith(f"The server's data folder {afile} cannot be used:")


def test_send_to_a_websocket_address_says_send_needs_http(notifier, monkeypatch):
    monkeypatch.setenv("NOTIFIER_INGEST_SECRET", "s" * 32)
    ran = notifier("send", "--url", "ws://127.0.0.1:8765", "--shop", "noodle", "--order-id", "1")
    assert ran.code == 2
    assert "http:// or https://" in one_sentence(ran.err)


def test_send_with_a_missing_ca_file_is_a_sentence(notifier, monkeypatch, tmp_path):
    monkeypatch.setenv("NOTIFIER_INGEST_SECRET", "s" * 32)
    ran = notifier("send", "--url", "https://127.0.0.1:9", "--shop", "noodle", "--order-id", "1",
                   "--ca-file", str(tmp_path / "ca.pem"))
    assert ran.code == 2
    assert one_sentence(ran.err).startswith(f"The CA file {tmp_path / 'ca.pem'} cannot be used:")


def test_a_wrong_flag_is_one_line_with_where_to_look(notifier):
    ran = notifier("listen", "--ping", "3")
    assert ran.code == 2
    line = one_sentence(ran.err)
    assert "unrecognized arguments: --ping" in line and "notifier --help" in line


def test_secret_set_without_a_name_lists_the_names(notifier):
    ran = notifier("secret", "set")
    assert ran.code == 2
    assert "notifier_token" in one_sentence(ran.err)


def test_secret_status_speaks_chinese_under_a_chinese_locale(notifier, monkeypatch):
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    ran = notifier("secret", "status")
    assert ran.code == 0
    first = ran.out.splitlines()[0]
    assert first.startswith("notifier_token: ") and "密钥" in first, ran.out


def test_the_saved_language_wins_over_the_locale(notifier, monkeypatch, notifier_home):
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    (notifier_home / "config").mkdir(exist_ok=True)
    (notifier_home / "config" / "settings.toml").write_text('[general]\nlanguage = "en"\n', encoding="utf-8")
    ran = notifier("secret", "status")
    assert ran.out.splitlines()[0].startswith("notifier_token: No system keyring is available")


def test_a_mistake_is_said_in_chinese_under_a_chinese_locale(notifier, monkeypatch, tmp_path):
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    ran = notifier("--config", str(tmp_path / "missing.toml"), "listen")
    assert ran.code == 2
    assert "不存在" in one_sentence(ran.err)


def test_doctor_speaks_the_owners_language(notifier_home):
    """`notifier doctor` under LANG=zh_CN (a real process: the doctor starts Qt)."""
    env = {"LANG": "zh_CN.UTF-8", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "QT_QPA_PLATFORM": "offscreen",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", "NOTIFIER_HOME": str(notifier_home),
           "NOTIFIER_TTS_ENGINE": "none"}
    done = subprocess.run([sys.executable, "-m", "notifier", "doctor", "--no-voices"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=90)
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    # Every line in the owner's language; only the verdict tag ([  ok], [warn], [FAIL]) is fixed.
    keyring_line = next(line for line in lines if line.startswith("[warn] 密钥环"))
    assert keyring_line.endswith(": 无密钥环"), done.stdout
    speech_line = next(line for line in lines if line.startswith("[warn] 语音"))
    assert "语音已关闭" in speech_line, done.stdout
    assert next(line for line in lines if line.startswith("[  ok] 文件")).startswith("[  ok] 文件: 设置 ")
    assert not [line for line in lines if "no " in line or "available" in line], done.stdout


def test_an_unexpected_error_is_one_sentence_and_the_traceback_goes_to_the_log(notifier, monkeypatch,
                                                                                notifier_home):
    import notifier.commands.send as send

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug, not a mistake")

    monkeypatch.setattr(send, "tls_context", broken)
    monkeypatch.setenv("NOTIFIER_INGEST_SECRET", "s" * 32)
    ran = notifier("send", "--url", "http://127.0.0.1:9", "--shop", "noodle", "--order-id", "1")
    assert ran.code == 1
    log = notifier_home / "logs" / "notifier.log"
    assert one_sentence(ran.err) == (
        f"Order Notifier stopped on an unexpected error (RuntimeError); the details are in {log}.")
    assert "a bug, not a mistake" not in ran.err
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and "RuntimeError: a bug, not a mistake" in text


def test_secret_for_an_unknown_connection_is_a_sentence_listing_the_names(notifier, tmp_path):
    from notifier.core.connections import Connection, with_connections
    from notifier.core.settings import Settings
    from notifier.core.settings_file import save

    config = tmp_path / "settings.toml"
    save(with_connections(Settings(), (Connection("main", "小程序"), Connection("c2", "总店"))), config)
    for argv in (("set", "notifier_token"), ("delete", "notifier_token"), ("status",)):
        ran = notifier("secret", *argv, "--connection", "美团", "--config", str(config), stdin="x\n")
        assert ran.code == 2 and ran.out == ""
        assert one_sentence(ran.err) == "No connection is called '美团'; the settings have: 小程序、总店."
    app_wide = notifier("secret", "set", "escalation_targets", "--connection", "总店", "--config", str(config), stdin="x\n")
    assert app_wide.code == 2
    assert one_sentence(app_wide.err).startswith("escalation_targets belongs to the whole app")

"""Settings: validation that names the setting, the TOML file, and saving that survives a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from notifier.core import settings_file as settings_module
from notifier.core.settings import SETTINGS, Settings, SettingsError
from notifier.core.settings_file import load, save

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_valid_and_every_setting_is_declared_once():
    values = Settings()
    assert len({s.key for s in SETTINGS}) == len(SETTINGS) == len(values)
    for spec in SETTINGS:
        assert values[spec.key] == spec.default
        assert spec.coerce(spec.default) == spec.default


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"connection.ping_interval": 10, "connection.ping_timeout": 10}, "connection.ping_timeout",
         "shorter than the ping interval"),
        ({"connection.ping_interval": 2}, "connection.ping_interval", "at least 5"),
        ({"connection.ping_interval": "often"}, "connection.ping_interval", "whole number"),
        ({"connection.ping_interval": 7.5}, "connection.ping_interval", "whole number"),
        ({"connection.verify_tls": "maybe"}, "connection.verify_tls", "true or false"),
        ({"connection.protocol": "mqtt"}, "connection.protocol", "one of"),
        ({"connection.url": "http://shop/ws/"}, "connection.url", "ws://"),
        ({"voice.volume": 1.5}, "voice.volume", "at most 1"),
        ({"alerts.quiet_start": "25:00"}, "alerts.quiet_start", "like 22:30"),
        ({"connection.nonsense": 1}, "connection.nonsense", "not a known setting"),
        ({"skytakeout.admin_user": 5}, "skytakeout.admin_user", "text"),
    ],
)
def test_invalid_values_name_the_setting_and_the_problem(changes, key, words):
    with pytest.raises(SettingsError) as caught:
        Settings(changes)
    assert caught.value.key == key
    assert key in str(caught.value) and words in str(caught.value)


def test_text_from_the_command_line_is_converted():
    values = Settings({"connection.ping_interval": "5", "connection.ping_timeout": "2",
                       "connection.verify_tls": "false", "voice.volume": "0.5"})
    assert (values["connection.ping_interval"], values["connection.ping_timeout"]) == (5, 2)
    assert values["connection.verify_tls"] is False and values["voice.volume"] == 0.5


def test_updated_is_a_new_validated_value_and_reports_what_changed():
    base = Settings()
    changed = base.updated({"connection.url": "ws://shop:8080/ws/", "alerts.chime": False})
    assert base["connection.url"] == "" and changed["connection.url"] == "ws://shop:8080/ws/"
    assert changed.changed_groups(base) == {"connection", "alerts"}
    assert changed.connection_changed(base)
    assert not base.updated({"alerts.chime": False}).connection_changed(base)
    with pytest.raises(SettingsError):
        base.updated({"connection.ping_timeout": 30})


def test_toml_round_trip_keeps_every_value(tmp_path):
    path = tmp_path / "settings.toml"
    values = Settings({
        "connection.protocol": "skytakeout", "connection.url": "ws://店铺.example:8080/ws/",
        "connection.ping_interval": 15, "connection.verify_tls": False, "voice.volume": 0.25,
        "voice.template_new_order_zh": "新订单 {number}\n金额 \"{amount}\"", "alerts.quiet_start": "22:30",
    })
    save(values, path)
    assert load(path) == values
    text = path.read_text("utf-8")
    # The connection is the first of the list (core.connections); only what differs from defaults.
    assert "[connections.connection]" in text and "ping_timeout" not in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_missing_file_means_defaults_and_a_broken_one_names_the_file(tmp_path):
    assert load(tmp_path / "absent.toml") == Settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("[connection\nurl = 1")
    with pytest.raises(SettingsError, match="broken.toml"):
        load(broken)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[connection]\nping_interval = 'soon'\n")
    with pytest.raises(SettingsError, match="connection.ping_interval"):
        load(wrong)


def test_default_location_follows_notifier_home(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFIER_HOME", str(tmp_path / "portable"))
    saved = save(Settings({"alerts.chime": False}))
    assert saved == tmp_path / "portable" / "config" / "settings.toml"
    assert load()["alerts.chime"] is False


def test_a_crash_in_the_middle_of_saving_leaves_the_old_file(tmp_path):
    path = tmp_path / "settings.toml"
    old = Settings({"connection.url": "ws://old:8080/ws/"})
    save(old, path)
    before = path.read_bytes()
    # A real crash: the saving process is killed at the worst moment, new data written to the
    # temporary file but not yet renamed over the settings.
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from notifier.core import settings_file as s\n"
        "from notifier.core.settings import Settings\n"
        "os.replace = lambda *a: os.kill(os.getpid(), 9)\n"
        "s.save(Settings({'connection.url': 'ws://new:8080/ws/'}), Path(sys.argv[1]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=30)
    assert done.returncode == -9
    assert path.read_bytes() == before
    assert load(path) == old
    # The next save still works, and leftovers of the crashed one do not confuse it.
    save(Settings({"connection.url": "ws://new:8080/ws/"}), path)
    assert load(path)["connection.url"] == "ws://new:8080/ws/"


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    path = folder / "settings.toml"
    save(Settings(), path)
    before = path.read_bytes()

    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        settings_module.save(Settings({"alerts.chime": False}), path)
    assert path.read_bytes() == before
    assert [p.name for p in folder.iterdir()] == ["settings.toml"]
